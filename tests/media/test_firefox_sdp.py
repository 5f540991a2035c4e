"""Offers in Firefox's shape, with real aiortc peers over UDP: a ``max-bundle`` offer (JSEP
5.2.1) writes every section after the first with port 0 and ``a=bundle-only``; those sections
carry media over the first one's transport and are published tracks, not rejected ones."""

from __future__ import annotations

import re

from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from media import AiortcMediaEngine
from media.sdp import bundle_only_mids, parse_remote
from tests.media.conftest import ROOM, FakeListener, Peers, next_frame, published
from vidconsult.domain.rooms import TrackKind


def firefox_max_bundle(sdp: str) -> str:
    """Every section after the first: port 0, a=bundle-only, no candidates (as Firefox)."""
    head, *sections = re.split(r"(?=^m=)", sdp, flags=re.MULTILINE)
    out = [head, sections[0]]
    for section in sections[1:]:
        lines = section.splitlines()
        first = lines[0].split(" ")
        first[1] = "0"
        kept = [
            line
            for line in lines[1:]
            if not line.startswith(("a=candidate:", "a=end-of-candidates"))
        ]
        out.append("\r\n".join([" ".join(first), "a=bundle-only", *kept]) + "\r\n")
    return "".join(out)


async def test_bundle_only_sections_are_found() -> None:
    sdp = (
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
        "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=bundle-only\r\na=mid:1\r\n"
        "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\n"
    )
    assert bundle_only_mids(sdp) == {"1"}


async def test_firefox_bundle_only_video_is_published_and_forwarded(
    engine: AiortcMediaEngine, listener: FakeListener, peers: Peers
) -> None:
    offers: list[str] = []

    def shape(sdp: str) -> str:
        offers.append(firefox_max_bundle(sdp))
        return offers[-1]

    await peers.publisher("firefox", AudioStreamTrack(), VideoStreamTrack(), offer_filter=shape)
    remote = parse_remote(offers[0], "offer", expected_type="offer", max_bytes=1 << 17)
    video = next(m for m in remote.parsed.media if m.kind == "video")
    assert video.port == 0 and remote.accepted(video)  # the shape under test

    tracks = await published(listener, "firefox", 2)
    assert {t.kind for t in tracks} == {TrackKind.AUDIO, TrackKind.VIDEO}
    bob = await peers.subscriber("bob")
    for track in tracks:
        await engine.subscribe(ROOM, "bob", "firefox", track.sid)
    await listener.wait_answered("bob", lambda m: len(m) == 2)
    sid = next(t.sid for t in tracks if t.kind is TrackKind.VIDEO)
    frame = await next_frame(bob.track(bob.mid_of(sid)))
    assert frame.width > 0
