"""A new subscriber starts with the publisher's last whole keyframe, sent at once
(media/keyframe_cache.py, Downstream.start_with), then continues at the next live keyframe:
the unit alone, and with real aiortc peers over UDP (VP8 and H.264)."""

from __future__ import annotations

import time

import pytest

from media import AiortcMediaEngine
from media.keyframe_cache import MAX_AGE, KeyframeCache
from media.passthrough import PassthroughForwarder
from tests.media.conftest import FakeListener, Peers, Pulse, published
from tests.media.encoded import same_frame, video_clip
from tests.media.test_passthrough import publish_clip, subscribe

# VP8 payload descriptors: S=1 partition 0 + a key frame header / + an inter frame header;
# a continuation packet (S=0)
KEY, DELTA, MORE = b"\x10\x00kf", b"\x10\x01df", b"\x00\x00xx"


def test_keeps_the_last_whole_keyframe_per_layer() -> None:
    cache = KeyframeCache(2, "video/vp8")
    cache.add(0, 10, 900, 0, KEY, 1.0)
    cache.add(0, 11, 900, 0, MORE, 1.0)
    assert cache.get(0, 1.0) is None  # no marker yet: not whole
    cache.add(0, 12, 900, 1, MORE, 1.0)
    assert [p[0] for p in cache.get(0, 1.0) or []] == [10, 11, 12]
    assert cache.get(1, 1.0) is None  # per layer
    for seq, ts, payload in ((13, 1800, DELTA), (14, 1800, MORE)):
        cache.add(0, seq, ts, 1, payload, 1.1)  # delta frames leave it in place
    assert [p[0] for p in cache.get(0, 1.2) or []] == [10, 11, 12]
    assert cache.get(0, 1.0 + MAX_AGE + 0.1) is None  # too old to show first


def test_a_keyframe_with_a_gap_or_a_stray_timestamp_is_not_kept() -> None:
    cache = KeyframeCache(1, "video/vp8")
    cache.add(0, 10, 900, 1, KEY, 1.0)  # one-packet keyframe: kept
    cache.add(0, 20, 1800, 0, KEY, 2.0)
    cache.add(0, 22, 1800, 1, MORE, 2.0)  # 21 lost
    assert [p[0] for p in cache.get(0, 2.0) or []] == [10]
    cache.add(0, 30, 2700, 0, KEY, 3.0)
    cache.add(0, 29, 1800, 1, MORE, 3.0)  # a late packet of an older frame
    cache.add(0, 31, 2700, 1, MORE, 3.0)
    assert [p[0] for p in cache.get(0, 3.0) or []] == [10]
    cache.clear()
    assert cache.get(0, 3.0) is None


@pytest.mark.parametrize("forward_mode", ["passthrough"])
@pytest.mark.parametrize("codec", ["video/vp8", "video/h264"])
async def test_a_late_subscriber_gets_the_kept_keyframe_then_the_next_live_one(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers, codec: str
) -> None:
    """Without the kept keyframe, a late subscriber's first frame is the publisher's next one
    (after a PLI round trip; this clip's next scheduled one, here); with it, the first frame
    is the last keyframe the publisher sent before the subscriber came up, and the next is a
    live keyframe: no delta frame referencing what the subscriber never got in between."""
    clip = video_clip(codec)  # a keyframe every 30 frames (1 s); PLIs do not make one
    _, track, _ = await publish_clip(engine, peers, "alice", clip)
    (info,) = await published(listener, "alice", 1)
    fwd = engine._forwarder
    assert isinstance(fwd, PassthroughForwarder)
    src = fwd.source(info.sid)
    assert src is not None and src.keyframes is not None
    kept = Pulse()
    sink = src.ingress.sink
    assert sink is not None

    def counted(*packet: object) -> None:
        sink(*packet)  # type: ignore[arg-type]
        kept.notify()

    src.ingress.sink = counted
    # the first keyframe has passed and a few delta frames after it
    await kept.until(
        lambda: src.keyframes.get(0, time.monotonic()) is not None and len(track.sent) > 5, 10
    )
    src.ingress.sink = sink

    _, bob = await subscribe(engine, listener, peers, "bob", info.sid)
    await bob.wait(lambda t: len(t.frames) >= 3)
    first, second = bob.frames[0], bob.frames[1]
    earlier_keys = [i for i in clip.keyframes if same_frame(codec, clip.frames[i], first.data)]
    assert first.keyframe and earlier_keys, "the first frame is not a keyframe of the clip"
    assert second.keyframe, "a delta frame followed the kept keyframe"
    assert (second.rtp_timestamp - first.rtp_timestamp) % (1 << 32) < 1 << 31  # in order
