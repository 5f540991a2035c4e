"""The re-encode forwarder's fan-out, with synthetic frames and no network."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame

from media.forwarding import PublisherSource
from media.relay import RelayForwarder


class QueueTrack(MediaStreamTrack):
    """A source whose frames the test feeds; ``fed()`` returns once the pump took them all."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[VideoFrame | None] = asyncio.Queue()

    async def recv(self) -> VideoFrame:
        frame = await self.queue.get()
        self.queue.task_done()
        if frame is None:
            raise MediaStreamError
        return frame

    async def feed(self, *frames: VideoFrame | None) -> None:
        for frame in frames:
            self.queue.put_nowait(frame)
        await asyncio.wait_for(self.queue.join(), 5)


def frame(pts: int) -> VideoFrame:
    f = VideoFrame(width=16, height=16)
    f.pts = pts
    f.time_base = Fraction(1, 90000)
    return f


def attach(fwd: RelayForwarder, sid: str) -> QueueTrack:
    track = QueueTrack()
    fwd.attach(PublisherSource(sid, "video", "video/VP8", track, receiver=None))  # type: ignore[arg-type]
    return track


async def test_unsubscribed_source_is_consumed_and_outputs_get_the_latest_frame() -> None:
    fwd = RelayForwarder()
    src = attach(fwd, "TR_a")
    await src.feed(frame(1), frame(2))  # nobody subscribed: consumed anyway
    assert fwd.stats().frames_in == 2
    out = fwd.subscribe("TR_a")
    await src.feed(frame(3), frame(4))
    assert (await out.recv()).pts == 4  # video keeps only the newest frame
    await fwd.close()


async def test_mute_drops_frames_but_keeps_consuming() -> None:
    fwd = RelayForwarder()
    src = attach(fwd, "TR_a")
    out = fwd.subscribe("TR_a")
    fwd.set_muted("TR_a", True)
    await src.feed(frame(1), frame(2))
    assert fwd.stats().frames_in == 2
    fwd.set_muted("TR_a", False)
    await src.feed(frame(3))
    assert (await out.recv()).pts == 3
    assert fwd.stats().frames_out == 1
    await fwd.close()


async def test_output_survives_its_source_and_is_reused() -> None:
    """A sender's track must never raise while its transceiver may be reused."""
    fwd = RelayForwarder()
    first = attach(fwd, "TR_a")
    second = attach(fwd, "TR_b")
    out = fwd.subscribe("TR_a")
    pending = asyncio.ensure_future(out.recv())
    await first.feed(None)  # the source ends
    fwd.detach("TR_a")
    await asyncio.sleep(0)
    assert not pending.done()  # parked, not raising
    assert fwd.subscribe("TR_b", reuse=out) is out
    await second.feed(frame(7))
    assert (await asyncio.wait_for(pending, 5)).pts == 7
    with pytest.raises(ValueError):
        fwd.subscribe("TR_b", reuse=QueueTrack())

    fwd.release(out)  # the sender is gone: a parked recv() ends
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(out.recv(), 5)
    await fwd.close()
    assert fwd.stats().sources == 0 and fwd.stats().outputs == 0


async def test_switching_source_keeps_the_output_timeline_continuous() -> None:
    fwd = RelayForwarder()
    first = attach(fwd, "TR_a")
    second = attach(fwd, "TR_b")
    out = fwd.subscribe("TR_a")
    await first.feed(frame(900_000))
    shared = frame(5_000)
    assert (await out.recv()).pts == 900_000
    other = fwd.subscribe("TR_b")  # a plain subscriber of the second source
    fwd.subscribe("TR_b", reuse=out)
    await second.feed(shared)
    assert (await out.recv()).pts == 903_000  # one frame (1/30 s) after the last one
    assert (await other.recv()).pts == 5_000  # the shared frame itself is untouched
    assert shared.pts == 5_000
    await second.feed(frame(8_000))
    assert (await out.recv()).pts == 906_000
    await fwd.close()
