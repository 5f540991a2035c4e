"""Decode / re-encode forwarding: the ``reencode`` :class:`~media.forwarding.Forwarder`.

aiortc decodes every received track (in its receiver's decoder thread) into frames; one pump
task per published track reads them and fans them out to the outputs, and each subscriber's
RTCRtpSender encodes its own copy. This is what ``aiortc.contrib.media.MediaRelay`` does; it
is written out here because an SFU needs three things MediaRelay does not give:

* an output that can be switched to another source or idled without ever raising
  ``MediaStreamError`` into the sender (an RTCRtpSender whose track raises stops its RTP task
  for good, so its transceiver could never be reused);
* a source consumer that can be stopped (MediaRelay's reader runs until the source ends, which
  never happens for a receiver that was never started);
* a bounded buffer per output (latest video frame, a few audio frames) instead of an unbounded
  queue behind a slow encoder.

The pump always consumes its source, subscribed or not, so aiortc's unbounded queue of decoded
frames never grows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from fractions import Fraction
from typing import Any

from aiortc import RTCRtpCodecCapability
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame
from av.frame import Frame
from av.packet import Packet

from media.forwarding import ForwarderStats, PublisherSource

logger = logging.getLogger(__name__)

#: frames an output buffers before dropping the oldest: the newest picture for video,
#: 200 ms for audio (an encoder that falls behind skips, it does not queue up latency)
BUFFER_FRAMES = {"video": 1, "audio": 10}
VIDEO_FRAME_SECONDS = Fraction(1, 30)  # assumed spacing at a switch between sources


class OutputTrack(MediaStreamTrack):
    """The track one subscriber's sender reads; fed by at most one source at a time.

    The sender derives RTP timestamps from frame pts, and every source has its own pts origin.
    When an output is switched to another source, later frames are re-stamped to continue the
    output's timeline (receivers freeze on RTP timestamp jumps within one SSRC); frames are
    shared by all outputs of a source, so a re-stamped frame is a copy.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._frames: deque[Frame | Packet] = deque(maxlen=BUFFER_FRAMES[kind])
        self._ready = asyncio.Event()
        self.source: _Source | None = None
        self.frames_out = 0
        self._switched = False
        self._offset = 0
        self._last: AudioFrame | VideoFrame | None = None  # as sent, re-stamped
        self._last_pts = 0

    def switch(self) -> None:
        """The next frames come from another source than the previous ones."""
        self._switched = self._last is not None

    def push(self, frame: Frame | Packet) -> None:
        self._frames.append(frame)
        self._ready.set()

    def idle(self) -> None:
        self.source = None
        self._frames.clear()

    async def recv(self) -> Frame | Packet:
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        self.frames_out += 1
        frame = self._frames.popleft()
        if isinstance(frame, AudioFrame | VideoFrame):
            frame = self._restamp(frame)
        return frame

    def _restamp(self, frame: AudioFrame | VideoFrame) -> AudioFrame | VideoFrame:
        pts, time_base = frame.pts, frame.time_base
        if pts is None or time_base is None:
            return frame
        if self._switched and self._last is not None:
            self._switched = False
            continues = time_base == self._last.time_base
            next_pts = self._last_pts + _duration(self._last)
            self._offset = next_pts - pts if continues else 0
        if self._offset:
            try:
                frame = _copy_frame(frame)
            except Exception:  # never raise into the sender: that stops it for good
                logger.warning("cannot re-stamp %s frames, timestamps will jump", self.kind)
                self._offset = 0
                return frame
            pts += self._offset
            frame.pts = pts
        self._last, self._last_pts = frame, pts
        return frame

    def stop(self) -> None:
        super().stop()
        self.idle()
        self._ready.set()  # a parked recv() wakes up and raises MediaStreamError


def _duration(frame: AudioFrame | VideoFrame) -> int:
    assert frame.time_base is not None
    if isinstance(frame, AudioFrame):
        return round(Fraction(frame.samples, frame.sample_rate) / frame.time_base)
    return max(1, round(VIDEO_FRAME_SECONDS / frame.time_base))


def _copy_frame(frame: AudioFrame | VideoFrame) -> AudioFrame | VideoFrame:
    copy: AudioFrame | VideoFrame
    if isinstance(frame, AudioFrame):
        copy = AudioFrame.from_ndarray(
            frame.to_ndarray(), format=frame.format.name, layout=frame.layout.name
        )
        copy.sample_rate = frame.sample_rate
    else:
        copy = VideoFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name)
    copy.pts = frame.pts
    copy.time_base = frame.time_base
    return copy


class _Source:
    def __init__(self, source: PublisherSource) -> None:
        self.info = source
        self.outputs: set[OutputTrack] = set()
        self.muted = False
        self.frames_in = 0
        self.task = asyncio.get_running_loop().create_task(
            self._pump(), name=f"media-pump-{source.track_sid}"
        )

    async def _pump(self) -> None:
        track = self.info.track
        try:
            while True:
                frame = await track.recv()
                self.frames_in += 1
                if self.muted:
                    continue
                for output in self.outputs:
                    output.push(frame)
        except MediaStreamError:
            logger.debug("source ended track=%s", self.info.track_sid)
        except Exception:
            logger.exception("source pump failed track=%s", self.info.track_sid)


class RelayForwarder:
    def __init__(self) -> None:
        self._sources: dict[str, _Source] = {}
        self._outputs: set[OutputTrack] = set()
        self._frames_in_done = 0
        self._frames_out_done = 0

    def attach(self, source: PublisherSource) -> None:
        if source.track_sid in self._sources:
            raise ValueError(f"track {source.track_sid} is already attached")
        self._sources[source.track_sid] = _Source(source)

    def detach(self, track_sid: str) -> None:
        src = self._sources.pop(track_sid, None)
        if src is None:
            return
        src.task.cancel()
        self._frames_in_done += src.frames_in
        for output in src.outputs:
            output.idle()
        src.outputs.clear()

    def subscribe(self, track_sid: str, reuse: MediaStreamTrack | None = None) -> MediaStreamTrack:
        src = self._sources.get(track_sid)
        if src is None:
            raise KeyError(track_sid)
        if reuse is not None:
            if not isinstance(reuse, OutputTrack) or reuse not in self._outputs:
                raise ValueError("can only reuse an output of this forwarder")
            if reuse.kind != src.info.kind:
                raise ValueError(f"cannot reuse a {reuse.kind} output for {src.info.kind}")
            self.unsubscribe(reuse)
            reuse.switch()
            output = reuse
        else:
            output = OutputTrack(src.info.kind)
            self._outputs.add(output)
        output.source = src
        src.outputs.add(output)
        return output

    def bind(self, output: MediaStreamTrack, sender: object) -> None:
        pass  # the sender encodes what the output yields

    def unsubscribe(self, output: MediaStreamTrack) -> None:
        if isinstance(output, OutputTrack):
            if output.source is not None:
                output.source.outputs.discard(output)
            output.idle()

    def release(self, output: MediaStreamTrack) -> None:
        if isinstance(output, OutputTrack) and output in self._outputs:
            self.unsubscribe(output)
            self._outputs.discard(output)
            self._frames_out_done += output.frames_out
            output.stop()

    def set_muted(self, track_sid: str, muted: bool) -> None:
        src = self._sources.get(track_sid)
        if src is not None:
            src.muted = muted

    def codec_preferences(self, track_sid: str) -> list[RTCRtpCodecCapability] | None:
        return None  # re-encoding: the subscriber may negotiate any codec

    def link(self, output: MediaStreamTrack) -> dict[str, Any] | None:
        return None  # each sender encodes for its own link (aiortc's REMB handling)

    def stats(self) -> ForwarderStats:
        return ForwarderStats(
            sources=len(self._sources),
            outputs=len(self._outputs),
            frames_in=self._frames_in_done + sum(s.frames_in for s in self._sources.values()),
            frames_out=self._frames_out_done + sum(o.frames_out for o in self._outputs),
        )

    async def close(self) -> None:
        tasks = [src.task for src in self._sources.values()]
        for sid in list(self._sources):
            self.detach(sid)
        for output in list(self._outputs):
            self.release(output)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
