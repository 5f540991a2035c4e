"""Edge cases of the recorder's file writing: a track that is not ready in time for the
header, a failing close(2), a disk that does not keep up, H264 without parameter sets, a VP8
track in a Matroska file and a track that ends while its tap is attached."""

from __future__ import annotations

import asyncio
import errno
import io
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import pytest

from media.recording import recorder as recorder_module
from media.recording import writer as writer_module
from media.recording.bitstream import nal_units
from media.recording.recorder import MAX_REANNOUNCE, TapRecorder
from media.recording.tap import ParticipantRecording
from media.recording.writer import ContainerWriter, WriterResult
from tests.recording import synth
from tests.recording.fakes import FakeEngine, FakeNotifier, FakeRooms, MemoryRecordingStore
from vidconsult.domain.recordings import RecordingStatus
from vidconsult.domain.rooms import Room
from vidconsult.errors import NotFound
from vidconsult.ports import PublishedTrack, RecordedFile, RecordingTarget, SystemClock
from vidconsult.services.recordings import RecordingService
from vidconsult.store.recording_files import ArchiveFiles

HEADER_TIMEOUT = 0.3


@pytest.fixture(scope="module")
def packets() -> list[synth.Encoded]:
    return synth.encode(4, [1.0], size=(320, 180))


def _wait(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


async def _await(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.02)


# What the writer and the recorder say when they leave a track out of a header and when they
# hear it is ready: the tests wait for these instead of sleeping past the header's timeout
# (the writer writes a header that timed out only when its thread next wakes, so a sleep
# raced it: the "late" video sometimes made it into the header).
LEFT_OUT = "track not ready for the header, left out"
ANNOUNCED = "track left out of the file is ready, announced again"
CAPPED = "track again not ready for a file header, not recorded"


def _said(caplog: pytest.LogCaptureFixture, text: str, *about: str) -> int:
    """How many log records carry ``text`` and every one of ``about`` (a path, a recording)."""
    return sum(
        1
        for r in list(caplog.records)
        if text in (m := r.getMessage()) and all(a in m for a in about)
    )


@pytest.fixture
def said(caplog: pytest.LogCaptureFixture) -> Callable[..., int]:
    caplog.set_level(logging.WARNING, logger="media.recording")
    return lambda text, *about: _said(caplog, text, *about)


def _streams(path: Path) -> list[str]:
    with av.open(str(path)) as c:
        return sorted(s.type for s in c.streams)


def _decoded_video_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


# fakes around TapRecorder / RecordingService ------------------------------------------------
class Listener:
    def __init__(self) -> None:
        self.published: list[tuple[str, str, PublishedTrack]] = []
        self.ended: list[str] = []
        self.failed: list[tuple[str, str]] = []

    def on_track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None:
        self.published.append((room_id, identity, track))

    def on_track_ended(self, room_id: str, identity: str, track_sid: str) -> None:
        pass

    def on_recording_failed(self, recording_id: str, error: str) -> None:
        self.failed.append((recording_id, error))

    def on_tracks_ended(self, recording_id: str) -> None:
        self.ended.append(recording_id)


AUDIO = PublishedTrack("TA", "audio", "audio/opus")
VIDEO = PublishedTrack("TV", "video", "video/VP8")


def _target(tmp_path: Path, rid: str, container: str = "webm") -> RecordingTarget:
    ext = "mkv" if container == "matroska" else "webm"
    return RecordingTarget(
        recording_id=rid,
        room_id="room1",
        identity="alice",
        path=str(tmp_path / f"{rid}.{ext}"),
        container=container,
        tags={},
    )


def _feed(engine: FakeEngine, sid: str, packets: list[synth.Encoded], kind: str, t0: float) -> None:
    tap = engine.taps[("alice", sid)]
    for p in packets:
        if p.kind == kind:
            tap._owner.put(sid, p.data, t0 + p.t, p.keyframe)


# finding 1: a track left out of the header -------------------------------------------------
def test_track_left_out_of_the_header_is_reported_once_ready(
    tmp_path: Path, packets: list[synth.Encoded], said: Callable[..., int]
) -> None:
    refused: list[str] = []
    writer = ContainerWriter(
        tmp_path / "p.webm", "webm", header_timeout=HEADER_TIMEOUT, on_track_refused=refused.append
    )
    rec = ParticipantRecording("rec_000000000001", writer, origin=0.0)
    rec.add_track("TR_v", "video", "video/VP8", 90000)
    rec.add_track("TR_a", "audio", "audio/opus", 48000)
    t0 = time.monotonic()
    for p in packets:
        if p.kind == "audio":
            rec.put("TR_a", p.data, t0 + p.t, True)
    _wait(lambda: said(LEFT_OUT, "track=TR_v") == 1)  # the header is written without video
    assert refused == []
    for p in packets:
        if p.kind == "video":
            rec.put("TR_v", p.data, t0 + p.t, p.keyframe)
    _wait(lambda: bool(refused))
    assert not writer.add_track("TR_v", "video", "video/VP8")  # a new file must take it
    result = writer.finish().result(timeout=10)
    assert refused == ["TR_v"]  # once, not per keyframe
    assert result.kinds == ["audio"]


async def test_recorder_announces_a_left_out_track_again(
    tmp_path: Path, packets: list[synth.Encoded], said: Callable[..., int]
) -> None:
    engine, listener = FakeEngine(), Listener()
    engine.tracks["room1"] = [("alice", AUDIO), ("alice", VIDEO)]
    rec = TapRecorder(engine, header_timeout=HEADER_TIMEOUT)
    rec.set_listener(listener)
    assert rec.start(
        _target(tmp_path, "rec_000000000001"), [AUDIO, VIDEO], origin=time.monotonic()
    ) == ["TA", "TV"]
    t0 = time.monotonic()
    _feed(engine, "TA", packets, "audio", t0)
    await _await(lambda: said(LEFT_OUT, "rec_000000000001", "track=TV") == 1)
    assert listener.published == []
    _feed(engine, "TV", packets, "video", t0)
    await _await(lambda: bool(listener.published))
    assert listener.published == [("room1", "alice", VIDEO)]
    assert ("alice", "TV") not in engine.taps  # detached from the file that left it out
    assert not rec.add_track("rec_000000000001", VIDEO)  # so the core starts a new file
    first = await rec.finish("rec_000000000001")
    assert first.kinds == ["audio"] and first.error is None
    # the new file takes both tracks and gets the video
    assert rec.start(
        _target(tmp_path, "rec_000000000002"), [AUDIO, VIDEO], origin=time.monotonic()
    ) == ["TA", "TV"]
    t1 = time.monotonic()
    _feed(engine, "TV", packets, "video", t1)
    _feed(engine, "TA", packets, "audio", t1)
    second = await rec.finish("rec_000000000002")
    assert second.kinds == ["audio", "video"] and second.error is None
    assert _streams(tmp_path / "rec_000000000002.webm") == ["audio", "video"]
    await rec.close()


def test_a_video_track_waiting_for_its_keyframe_asks_again_not_per_frame(
    tmp_path: Path,
    packets: list[synth.Encoded],
    said: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    refused: list[str] = []
    writer = ContainerWriter(
        tmp_path / "p.webm",
        "webm",
        header_timeout=HEADER_TIMEOUT,
        on_keyframe_wanted=asked.append,
        on_track_refused=refused.append,
    )
    writer.add_track("v", "video", "video/VP8")
    writer.add_track("a", "audio", "audio/opus")
    video = [p for p in packets if p.kind == "video"]
    deltas = [p for p in video if not p.keyframe]
    key = next(p for p in video if p.keyframe and p.t > 0)
    # the keyframe the tap's attach asked for does not come: deltas only, for a whole header
    # timeout; within KEYFRAME_RETRY of the first one nothing is asked again
    monkeypatch.setattr(writer_module, "KEYFRAME_RETRY", 60.0)
    for p in packets:
        if p.kind == "audio":
            writer.put("a", p.data, int(p.t * 1000), True)
    for p in deltas[:10]:
        writer.put("v", p.data, int(p.t * 1000), False)
    _wait(lambda: said(LEFT_OUT, "track=v") == 1)
    assert asked == []
    # past KEYFRAME_RETRY: the track the header left out asks again, at each retry
    monkeypatch.setattr(writer_module, "KEYFRAME_RETRY", 0.0)
    for p in deltas[10:13]:
        writer.put("v", p.data, int(p.t * 1000), False)
    _wait(lambda: len(asked) == 3)
    assert set(asked) == {"v"} and refused == []
    # the keyframe comes: the track is reported ready and asks no more
    writer.put("v", key.data, int(key.t * 1000), True)
    for p in deltas[13:16]:
        writer.put("v", p.data, int(p.t * 1000), False)
    result = writer.finish().result(timeout=10)
    assert refused == ["v"] and len(asked) == 3
    assert result.kinds == ["audio"]


async def test_the_recorder_asks_again_for_a_keyframe_that_did_not_come(
    tmp_path: Path,
    packets: list[synth.Encoded],
    said: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The keyframe asked when the tap was attached is lost (or the camera was muted then):
    the recorder asks again (a tap attached again asks the publisher) while the file waits,
    so the file that left the video out says it is ready once one comes, and the video gets
    a file. Before, it waited for a keyframe that only a subscriber's request would bring."""
    monkeypatch.setattr(writer_module, "KEYFRAME_RETRY", 0.0)
    engine, listener = FakeEngine(), Listener()
    engine.tracks["room1"] = [("alice", AUDIO), ("alice", VIDEO)]
    rec = TapRecorder(engine, header_timeout=HEADER_TIMEOUT)
    rec.set_listener(listener)
    rec.start(_target(tmp_path, "rec_000000000001"), [AUDIO, VIDEO], origin=time.monotonic())
    assert engine.tap_adds.count("TV") == 1  # the attach asks once
    video = [p for p in packets if p.kind == "video"]
    deltas = [p for p in video if not p.keyframe]
    owner = engine.taps[("alice", "TV")]._owner
    t0 = time.monotonic()
    _feed(engine, "TA", packets, "audio", t0)
    for p in deltas[:3]:
        owner.put("TV", p.data, t0 + p.t, False)
    await _await(lambda: said(LEFT_OUT, "rec_000000000001", "track=TV") == 1)
    assert engine.tap_adds.count("TV") >= 2  # asked again before the header
    asked = engine.tap_adds.count("TV")
    for p in deltas[3:6]:
        owner.put("TV", p.data, t0 + p.t, False)
    await _await(lambda: engine.tap_adds.count("TV") > asked)  # and after it
    assert listener.published == []
    key = next(p for p in video if p.keyframe and p.t > 0)
    owner.put("TV", key.data, t0 + key.t, True)
    await _await(lambda: bool(listener.published))
    assert listener.published == [("room1", "alice", VIDEO)]
    assert (await rec.finish("rec_000000000001")).kinds == ["audio"]
    await rec.close()


async def _late_video_file(
    rec: TapRecorder,
    engine: FakeEngine,
    tmp_path: Path,
    rid: str,
    packets: list[synth.Encoded],
    said: Callable[..., int],
) -> RecordedFile:
    """A file whose header is written without the video (awaited), then the video's keyframe
    comes and the recorder decides (announced again, or capped: awaited); the file is
    finished only after that decision."""
    rec.start(_target(tmp_path, rid), [AUDIO, VIDEO], origin=time.monotonic())
    t0 = time.monotonic()
    _feed(engine, "TA", packets[:20], "audio", t0)
    await _await(lambda: said(LEFT_OUT, rid, "track=TV") == 1)
    _feed(engine, "TV", packets[:20], "video", t0)
    await _await(lambda: said(ANNOUNCED, rid) + said(CAPPED, rid) == 1)
    result = await rec.finish(rid)
    assert result.kinds == ["audio"]
    return result


async def test_a_track_is_announced_again_a_bounded_number_of_times(
    tmp_path: Path, packets: list[synth.Encoded], said: Callable[..., int]
) -> None:
    engine, listener = FakeEngine(), Listener()
    engine.tracks["room1"] = [("alice", AUDIO), ("alice", VIDEO)]
    rec = TapRecorder(engine, header_timeout=HEADER_TIMEOUT)
    rec.set_listener(listener)
    # the keyframe always comes too late: two files announce it again, then the cap
    files = [
        await _late_video_file(rec, engine, tmp_path, f"rec_00000000000{n}", packets, said)
        for n in range(4)
    ]
    assert len(listener.published) == 2  # MAX_REANNOUNCE: no endless rotation
    assert said(CAPPED, "track=TV") == 2
    # a file the video was handed on from lacks nothing; one that kept it and never got it
    # says so (the index lists it: the medical record is not silently without the video)
    assert [f.missing for f in files] == [[], [], ["video"], ["video"]]
    await rec.close()


async def test_a_file_that_gets_the_video_starts_the_count_again(
    tmp_path: Path, packets: list[synth.Encoded], said: Callable[..., int]
) -> None:
    """The cap is for endless rotation, not for a session's lifetime: once a file took the
    track, a later late keyframe is announced again (before, the count only grew, and a long
    session, or one stopped and started again, recorded no video for the rest of it)."""
    engine, listener = FakeEngine(), Listener()
    engine.tracks["room1"] = [("alice", AUDIO), ("alice", VIDEO)]
    rec = TapRecorder(engine, header_timeout=HEADER_TIMEOUT)
    rec.set_listener(listener)
    await _late_video_file(rec, engine, tmp_path, "rec_000000000001", packets, said)
    assert len(listener.published) == 1
    # the new file takes the video (its keyframe in time)
    rec.start(_target(tmp_path, "rec_000000000002"), [AUDIO, VIDEO], origin=time.monotonic())
    t1 = time.monotonic()
    _feed(engine, "TV", packets, "video", t1)
    _feed(engine, "TA", packets, "audio", t1)
    taken = await rec.finish("rec_000000000002")
    assert taken.kinds == ["audio", "video"] and taken.missing == []
    # later (the recording stopped and started again): late keyframes again, each announced
    # again up to the cap, counted afresh
    for n in range(3, 6):
        await _late_video_file(rec, engine, tmp_path, f"rec_00000000000{n}", packets, said)
    assert len(listener.published) == 1 + MAX_REANNOUNCE
    assert said(CAPPED, "track=TV") == 1  # the cap still holds
    await rec.close()


# the service end to end (the harness of the review) -----------------------------------------
def _service(tmp_path: Path, engine: FakeEngine) -> tuple[RecordingService, TapRecorder]:
    room = Room(id="room1", name="R", created_at=datetime.now(UTC))
    rec = TapRecorder(engine, header_timeout=HEADER_TIMEOUT)
    archive = ArchiveFiles(tmp_path / "archive", b"k" * 32)
    svc = RecordingService(
        store=MemoryRecordingStore(),
        archive=archive,
        recorder=rec,
        rooms=FakeRooms(room),
        notifier=FakeNotifier(),  # type: ignore[arg-type]
        clock=SystemClock(),
    )
    return svc, rec


async def test_service_records_video_that_came_after_the_header(
    tmp_path: Path, packets: list[synth.Encoded], said: Callable[..., int]
) -> None:
    engine = FakeEngine()
    engine.tracks["room1"] = [("alice", AUDIO), ("alice", VIDEO)]
    svc, rec = _service(tmp_path, engine)
    await svc.start("room1", by="coord")
    t0 = time.monotonic()
    _feed(engine, "TA", packets, "audio", t0)
    (first,) = svc.store.recs
    await _await(lambda: said(LEFT_OUT, first, "track=TV") == 1)
    _feed(engine, "TV", packets, "video", t0)

    def rotated() -> bool:  # a second file's taps took both tracks
        owners = {engine.taps[k]._owner.recording_id for k in engine.taps}
        return len(owners) == 1 and first not in owners and len(svc.store.recs) == 2

    await _await(rotated)
    # the service's rotation: the new file's taps get the media from now on
    t1 = time.monotonic()
    _feed(engine, "TV", packets, "video", t1)
    _feed(engine, "TA", packets, "audio", t1)
    await svc.stop("room1", by="coord")
    files = list(svc.store.recs.values())
    with_video = [r for r in files if "video" in r.kinds]
    assert with_video and all(r.status is RecordingStatus.COMPLETED for r in with_video)
    # the first file handed the video on to the second: neither lacks it
    assert all(r.missing == [] for r in files)


async def test_service_says_a_file_lacks_the_video_it_never_got(
    tmp_path: Path,
    packets: list[synth.Encoded],
    said: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The capped track stays in a file that never gets it: the index (and the REST entry)
    says ``missing: ["video"]`` on a completed, audio-only file; before, only a log line."""
    monkeypatch.setattr(recorder_module, "MAX_REANNOUNCE", 0)  # capped at the first refusal
    engine = FakeEngine()
    engine.tracks["room1"] = [("alice", AUDIO), ("alice", VIDEO)]
    svc, rec = _service(tmp_path, engine)
    await svc.start("room1", by="coord")
    t0 = time.monotonic()
    _feed(engine, "TA", packets, "audio", t0)
    (rid,) = svc.store.recs
    await _await(lambda: said(LEFT_OUT, rid, "track=TV") == 1)
    _feed(engine, "TV", packets, "video", t0)
    await _await(lambda: said(CAPPED, rid) == 1)
    await svc.stop("room1", by="coord")
    (stored,) = svc.store.recs.values()
    assert stored.status is RecordingStatus.COMPLETED and stored.error is None
    assert stored.kinds == ["audio"] and stored.missing == ["video"]
    assert stored.to_dict()["missing"] == ["video"]


# finding 5: close(2) fails ------------------------------------------------------------------
class _EioOnClose(io.FileIO):
    def close(self) -> None:
        if not self.closed:
            super().close()
            raise OSError(errno.EIO, "Input/output error")


def test_a_failing_close_still_resolves_finish(
    tmp_path: Path, packets: list[synth.Encoded]
) -> None:
    def opener(path: Path) -> io.FileIO:
        return _EioOnClose(str(path), "w+")

    writer = ContainerWriter(
        tmp_path / "p.webm", "webm", opener=opener, header_timeout=HEADER_TIMEOUT
    )
    writer.add_track("a", "audio", "audio/opus")
    for p in packets:
        if p.kind == "audio":
            writer.put("a", p.data, int(p.t * 1000), True)
    result = writer.finish().result(timeout=10)
    assert result.error is not None and "Input/output error" in result.error


def test_finish_resolves_even_if_the_writer_thread_crashes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: ContainerWriter, container: Any, fh: Any) -> WriterResult:
        raise RuntimeError("bug")

    monkeypatch.setattr(ContainerWriter, "_close", boom)
    writer = ContainerWriter(tmp_path / "p.webm", "webm", header_timeout=HEADER_TIMEOUT)
    result = writer.finish().result(timeout=10)
    assert result.error == "RuntimeError: bug"


# finding 8: frames dropped when the disk does not keep up -------------------------------------
async def test_dropped_frames_fail_the_file_and_video_resumes_at_a_keyframe(
    tmp_path: Path, packets: list[synth.Encoded], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = FakeEngine()
    engine.tracks["room1"] = [("alice", VIDEO)]
    rec = TapRecorder(engine, header_timeout=HEADER_TIMEOUT)
    rec.set_listener(Listener())
    rec.start(_target(tmp_path, "rec_000000000001"), [VIDEO], origin=time.monotonic())
    entry = rec._open["rec_000000000001"]
    writer = entry.recording.writer
    video = [p for p in packets if p.kind == "video"]
    keys = [i for i, p in enumerate(video) if p.keyframe]
    assert len(keys) >= 3
    t0 = time.monotonic()
    tap_adds = len(engine.tap_adds)
    limit = writer_module.MAX_QUEUE
    for i, p in enumerate(video):
        # one delta frame after the 2nd keyframe finds the queue full
        monkeypatch.setattr(writer_module, "MAX_QUEUE", 0 if i == keys[1] + 2 else limit)
        entry.recording.put("TV", p.data, t0 + p.t, p.keyframe)
    assert len(engine.tap_adds) == tap_adds + 1  # a keyframe was asked for
    result = await rec.finish("rec_000000000001")
    skipped = keys[2] - (keys[1] + 2)  # the lost frame and the deltas up to the next keyframe
    assert writer.dropped == skipped
    assert result.error == f"frames_dropped: {skipped} (the disk did not keep up)"
    path = tmp_path / "rec_000000000001.webm"
    got = synth.payloads(path, "video")
    assert got == [p.data for i, p in enumerate(video) if not keys[1] + 2 <= i < keys[2]]
    assert _decoded_video_frames(path) == len(got)  # nothing undecodable in the file


# finding 9: VP8 in a Matroska file ----------------------------------------------------------
async def test_vp8_video_goes_into_a_matroska_file(tmp_path: Path) -> None:
    packets = synth.encode(3, [1.0], size=(320, 180))
    h264 = synth.encode(3, [1.0], video_codec="h264", size=(320, 180))
    camera = PublishedTrack("TV", "video", "video/H264")
    screen = PublishedTrack("TS", "video", "video/VP8")
    engine = FakeEngine()
    engine.tracks["room1"] = [("alice", AUDIO), ("alice", camera), ("alice", screen)]
    rec = TapRecorder(engine, header_timeout=2.0)
    rec.set_listener(Listener())
    assert rec.container_for(["audio/opus", "video/H264", "video/VP8"]) == ("matroska", "mkv")
    assert rec.start(
        _target(tmp_path, "rec_000000000001", "matroska"),
        [AUDIO, camera, screen],
        origin=time.monotonic(),
    ) == ["TA", "TV", "TS"]
    t0 = time.monotonic()
    _feed(engine, "TV", h264, "video", t0)
    _feed(engine, "TS", packets, "video", t0)
    _feed(engine, "TA", packets, "audio", t0)
    result = await rec.finish("rec_000000000001")
    assert result.error is None
    assert result.codecs == ["audio/opus", "video/H264", "video/VP8"]
    with av.open(str(tmp_path / "rec_000000000001.mkv")) as c:
        assert sorted(s.codec_context.name for s in c.streams) == ["h264", "opus", "vp8"]
    # WebM still takes no H264
    rec.start(_target(tmp_path, "rec_000000000002"), [AUDIO], origin=time.monotonic())
    assert not rec.add_track("rec_000000000002", camera)
    await rec.close()


# finding 10: H264 without parameter sets -----------------------------------------------------
def _annexb(units: list[bytes]) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + u for u in units)


def test_h264_waits_for_parameter_sets(tmp_path: Path) -> None:
    video = [
        p for p in synth.encode(3, [1.0], video_codec="h264", size=(320, 180)) if p.kind == "video"
    ]
    keys = [i for i, p in enumerate(video) if p.keyframe]
    units = nal_units(video[0].data)
    assert {7, 8, 5} <= {u[0] & 0x1F for u in units}
    params = _annexb([u for u in units if u[0] & 0x1F in (7, 8)])
    # a publisher that sends its parameter sets once (or out of band): IDRs without them
    stripped = [
        (
            _annexb([u for u in nal_units(p.data) if u[0] & 0x1F not in (7, 8)]),
            int(p.t * 1000),
            p.keyframe,
        )
        for p in video
    ]
    # the recording starts after the parameter sets went by: nothing can be written
    writer = ContainerWriter(tmp_path / "none.mkv", "matroska", header_timeout=HEADER_TIMEOUT)
    writer.add_track("v", "video", "video/H264")
    for data, pts, key in stripped[keys[1] :]:
        writer.put("v", data, pts, key)
    result = writer.finish().result(timeout=10)
    assert result.kinds == [] and result.packets == 0
    # SPS and PPS in a packet of their own before an IDR without them: the file opens at the
    # IDR, with them as its codec private
    writer = ContainerWriter(tmp_path / "p.mkv", "matroska", header_timeout=5.0)
    writer.add_track("v", "video", "video/H264")
    for data, pts, key in stripped[keys[1] - 2 : keys[1]]:
        writer.put("v", data, pts, key)  # deltas before: dropped
    writer.put("v", params, int(video[keys[1]].t * 1000) - 1, False)
    for data, pts, key in stripped[keys[1] :]:
        writer.put("v", data, pts, key)
    result = writer.finish().result(timeout=10)
    assert result.kinds == ["video"] and result.error is None
    assert _decoded_video_frames(tmp_path / "p.mkv") == len(video) - keys[1]


# finding 14: the tap cannot be attached -----------------------------------------------------
async def test_a_track_gone_before_its_tap_does_not_hold_the_file_open(tmp_path: Path) -> None:
    engine, listener = FakeEngine(), Listener()
    attach = engine.add_tap

    def add_tap(room_id: str, identity: str, sid: str, tap: Any) -> None:
        if sid == "TV":
            raise NotFound("gone")
        attach(room_id, identity, sid, tap)

    engine.add_tap = add_tap  # type: ignore[method-assign]
    rec = TapRecorder(engine, header_timeout=HEADER_TIMEOUT)
    rec.set_listener(listener)
    assert rec.start(
        _target(tmp_path, "rec_000000000001"), [AUDIO, VIDEO], origin=time.monotonic()
    ) == ["TA"]
    entry = rec._open["rec_000000000001"]
    assert list(entry.recording.taps) == ["TA"]
    assert list(entry.recording.writer._state.tracks) == ["TA"]
    engine.taps[("alice", "TA")].on_end("TA")  # she leaves
    assert listener.ended == ["rec_000000000001"]
    await rec.close()
