"""What the writer promises about the disk, checked where the file meets the OS: the file is
fsync'ed every ``FSYNC_INTERVAL`` while it is written (a SIGKILL keeps the page cache, so only
the fsync protects a power loss: ``test_crash.py`` cannot see it), what was muxed is readable by a
second reader while the file is open, and the recorded sha256 is that of the whole file."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import av
import pytest

from media.recording import writer as writer_module
from media.recording.writer import BATCH_INTERVAL, FSYNC_INTERVAL, ContainerWriter
from tests.recording import synth

# the writer's loop may be in its 0.5 s queue wait, then in a batch pause, when the interval
# runs out; and two shared cores add scheduling delay
SLACK = 0.5 + BATCH_INTERVAL + 0.5
EBML_MAGIC = bytes.fromhex("1a45dfa3")
TRACKS_ID = bytes.fromhex("1654ae6b")  # Matroska's Tracks element


class SeenFile:
    """The writer's file, recording when each write reached the OS (``opener`` seam)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(path, "w+b", buffering=0)  # noqa: SIM115 - the writer closes it
        self.writes: list[float] = []
        self.fd = self._fh.fileno()

    def write(self, data: Any) -> int:
        written = self._fh.write(data)
        self.writes.append(time.monotonic())
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)


def _wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """The writer runs on its own thread: poll its observable state, briefly."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _readable_until(path: Path) -> dict[str, float]:
    """What a second reader finds in a file still being written: per kind, the last pts (s)."""
    last: dict[str, float] = {}
    try:
        with av.open(str(path)) as container:
            for packet in container.demux():
                if packet.pts is not None and packet.time_base is not None:
                    last[packet.stream.type] = float(packet.pts * packet.time_base)
    except av.error.EOFError:
        pass  # the end of what is on disk so far
    return last


@pytest.fixture(scope="module")
def packets() -> list[synth.Encoded]:
    return synth.encode(5, [1.0], size=(160, 120))


def _put(writer: ContainerWriter, packet: synth.Encoded) -> None:
    sid = "TR_v" if packet.kind == "video" else "TR_a"
    writer.put(sid, packet.data, int(packet.t * 1000), packet.keyframe)


@pytest.mark.slow
def test_the_file_is_fsynced_every_interval_while_written(
    tmp_path: Path, packets: list[synth.Encoded], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[SeenFile] = []
    syncs: list[tuple[float, int]] = []
    real_fsync = os.fsync

    def opener(path: Path) -> IO[bytes]:
        seen.append(SeenFile(path))
        return seen[-1]  # type: ignore[return-value]

    def fsync(fd: int) -> None:
        syncs.append((time.monotonic(), fd))
        real_fsync(fd)

    monkeypatch.setattr(writer_module.os, "fsync", fsync)
    writer = ContainerWriter(tmp_path / "p.webm", "webm", header_timeout=0.3, opener=opener)
    writer.add_track("TR_v", "video", "video/VP8")
    writer.add_track("TR_a", "audio", "audio/opus")
    start = time.monotonic()
    for packet in packets:  # in real time: the fsync interval is wall-clock time
        time.sleep(max(0.0, start + packet.t - time.monotonic()))
        _put(writer, packet)
    finishing = time.monotonic()
    result = writer.finish().result(timeout=10)
    assert result.error is None
    (fh,) = seen
    mine = [t for t, fd in syncs if fd == fh.fd]
    periodic = [t for t in mine if t < finishing]
    assert fh.writes, "nothing was written"
    header = fh.writes[0]  # the writer syncs once the file has a header
    assert len(periodic) >= 2, (periodic, header, finishing)
    marks = [header, *periodic, finishing]
    gaps = [b - a for a, b in zip(marks, marks[1:], strict=False)]
    assert max(gaps) <= FSYNC_INTERVAL + SLACK, gaps
    # closing: the last bytes written (trailer) are synced too, after they were written
    assert mine[-1] >= fh.writes[-1] and mine[-1] >= finishing


def test_the_header_and_every_finished_cluster_are_readable_before_close(
    tmp_path: Path, packets: list[synth.Encoded]
) -> None:
    path = tmp_path / "live.webm"
    writer = ContainerWriter(path, "webm", header_timeout=0.3)
    writer.add_track("TR_v", "video", "video/VP8")
    writer.add_track("TR_a", "audio", "audio/opus")
    try:
        # half a second of media: no cluster is complete yet, only the header is due
        early = [p for p in packets if p.t < 0.5]
        for packet in early:
            _put(writer, packet)
        _wait_until(lambda: writer._state.packets >= len(early))
        # the header reached the file at once: EBML magic, then the tracks with their codecs
        head = path.read_bytes()
        assert head.startswith(EBML_MAGIC), head[:16]
        assert TRACKS_ID in head and b"V_VP8" in head and b"A_OPUS" in head
        # the rest: every cluster the muxer closed (one per second) is in the file
        for packet in packets[len(early) :]:
            _put(writer, packet)
        _wait_until(lambda: writer._state.packets >= len(packets))
        _wait_until(lambda: min(_readable_until(path).values(), default=0.0) >= 3.9)
    finally:
        result = writer.finish().result(timeout=10)
    assert result.error is None


def test_the_recorded_sha256_is_that_of_the_whole_file(tmp_path: Path) -> None:
    """A file over 1 MiB (the digest's read size): the result's hash and size are the file's."""
    path = tmp_path / "big.webm"
    writer = ContainerWriter(path, "webm", header_timeout=0.3)
    writer.add_track("TR_a", "audio", "audio/opus")
    chunk = os.urandom(4000)  # the muxer does not look inside Opus packets
    for i in range(400):
        writer.put("TR_a", chunk[i:] + chunk[:i], i * 20, True)
    result = writer.finish().result(timeout=30)
    assert result.error is None
    data = path.read_bytes()
    assert len(data) > (1 << 20)
    assert (result.size, result.sha256) == (len(data), hashlib.sha256(data).hexdigest())
