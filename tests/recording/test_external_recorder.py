"""The external recorder: an SDK client with the recorder role, in encoded mode, writes the
server's archive format (one file per participant, the publishers' own packets, a signed
manifest) while the server's own recording is disabled for the room. With VP8 and H264
publishers, in process and as a real process stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

import av
import pytest

from media.taps import EncodedFrame, SenderReport
from tests.helpers import SECRET, ServerHandle
from tests.recording import synth
from vidconsult.app import SIGNALING
from vidconsult.client import RoomClient
from vidconsult.external_recorder import ExternalRecorder
from vidconsult.store.recording_files import ArchiveFiles, verify

ROOT = Path(__file__).parents[2]
#: the recorder machine's own signing secret (never the server's: see archive import)
RECORDER_SECRET = "recorder-secret-" + "r" * 40


class _Span:
    """An extra encoded tap on a recorded track: how much media time (RTP) it has delivered;
    ``reached`` is set at ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.first: int | None = None
        self.span = 0.0
        self.reached = asyncio.Event()

    def on_frame(self, frame: EncodedFrame) -> None:
        if self.first is None:
            self.first = frame.rtp_timestamp
        self.span = ((frame.rtp_timestamp - self.first) & 0xFFFFFFFF) / frame.clock_rate
        if self.span >= self.seconds:
            self.reached.set()

    def on_sender_report(self, report: SenderReport) -> None:
        pass

    def on_end(self, track_sid: str) -> None:
        pass


async def _room(handle: ServerHandle, name: str, case_id: str | None = None) -> str:
    """A room whose server-side recording is off: only the external recorder records it."""
    room = await handle.create_room(name, **({"case_id": case_id} if case_id else {}))
    status, policy = await handle.api(
        "PUT", f"/api/v1/rooms/{room['id']}/recording/policy", {"enabled": False}
    )
    assert status == 200, policy
    return str(room["id"])


def _recorder(
    handle: ServerHandle, rid: str, tmp_path: Path, key: bytes, **kw: float
) -> tuple[ArchiveFiles, ExternalRecorder]:
    archive = ArchiveFiles(tmp_path / "ext" / "recordings", key)
    return archive, ExternalRecorder(
        handle.url, handle.mint("rec-1", "recorder", room=rid), archive, **kw
    )


async def _joined(recorder: ExternalRecorder, run: asyncio.Task[None]) -> None:
    for _ in range(100):
        if recorder.client.identity or run.done():
            break
        await asyncio.sleep(0.05)
    assert recorder.client.identity == "rec-1" and not run.done()


def _is_run(got: list, source: list) -> bool:
    """``got`` is the publisher's own frames, not re-encoded: a new subscriber (the recorder)
    is first sent the publisher's last whole keyframe, kept by the server
    (media/keyframe_cache.py, b16d50f), then the live stream from the next keyframe on; so its
    first frame is one of ``source``'s, the rest a contiguous run of ``source``."""
    if len(got) < 2 or got[0] not in source or got[1] not in source:
        return False
    start = source.index(got[1])
    return got[1:] == source[start : start + len(got) - 1]


async def test_external_recorder_archives_a_room(
    rec_server: ServerHandle, media_files: dict[str, Path], tmp_path: Path
) -> None:
    rid = await _room(rec_server, "Cardiology consult", case_id="case-7")
    key = SECRET.encode()
    archive, recorder = _recorder(rec_server, rid, tmp_path, key)
    a = RoomClient(rec_server.url, rec_server.mint("dr-li", "doctor", room=rid))
    b = RoomClient(rec_server.url, rec_server.mint("pt-wang", "patient", room=rid))
    run = None
    try:
        await a.connect()
        await b.connect()
        run = asyncio.create_task(recorder.run())
        await _joined(recorder, run)
        await a.publish_file(str(media_files["a"]), loop=False)
        await b.publish_file(str(media_files["b"]), loop=False)
        await recorder.client.wait_until(lambda: len(recorder.client.remote_tracks) == 4)
        await asyncio.sleep(6)
        assert "rec-1" not in a.participants and "rec-1" not in b.participants
        assert set(a.participants) == {"pt-wang"} and set(b.participants) == {"dr-li"}
        recorder.stop()
        await asyncio.wait_for(run, 20)
    finally:
        if run is not None and not run.done():
            run.cancel()
        await a.close()
        await b.close()

    # the server recorded nothing for the room
    status, listing = await rec_server.api("GET", f"/api/v1/recordings?room_id={rid}")
    assert listing["recordings"] == []

    recs = {r.identity: r for r in recorder.finished}
    assert set(recs) == {"dr-li", "pt-wang"}
    for identity, rec in recs.items():
        assert rec.error is None and rec.role in ("doctor", "patient")
        path = archive.resolve(rec.path)
        assert path.suffix == ".webm" and path.name.startswith(f"{identity}-rec_")
        summary = synth.decode_summary(path)
        assert summary["codecs"] == {"video": "vp8", "audio": "opus"}
        assert abs(summary["duration"] - 6.0) < 1.0, (identity, summary)
        # no re-encoding: the file's payloads are the publisher's own packets
        source = synth.payloads(media_files["a" if identity == "dr-li" else "b"], "video")
        assert _is_run(synth.payloads(path, "video"), source)
    assert len({archive.resolve(r.path).parent for r in recs.values()}) == 1
    checked, problems = verify(archive, key, rid)
    assert checked == 2 and problems == [], problems


async def test_external_recorder_h264_publisher(
    rec_server: ServerHandle, h264_file: Path, media_files: dict[str, Path], tmp_path: Path
) -> None:
    """An H264 publisher gets a Matroska file with its own H264 access units (picture size from
    the SPS), next to a VP8 publisher's WebM in the same room directory."""
    rid = await _room(rec_server, "Neurology consult")
    key = RECORDER_SECRET.encode()
    archive, recorder = _recorder(rec_server, rid, tmp_path, key)
    a = RoomClient(rec_server.url, rec_server.mint("dr-li", "doctor", room=rid))
    b = RoomClient(rec_server.url, rec_server.mint("pt-wang", "patient", room=rid))
    run = None
    spans: list[_Span] = []
    try:
        await a.connect()
        await b.connect()
        run = asyncio.create_task(recorder.run())
        await _joined(recorder, run)
        await a.publish_file(str(h264_file), loop=False)
        await b.publish_file(str(media_files["b"]), loop=False)
        for identity, codec in (("dr-li", "video/H264"), ("pt-wang", "video/VP8")):
            video = await recorder.client.wait_for_track(identity, "video")
            assert video.codec == codec, (identity, video.codec)
            await recorder.client.wait_for_track(identity, "audio")
            spans.append(_Span(4.0))
            video.add_tap(spans[-1])
        await asyncio.wait_for(asyncio.gather(*(s.reached.wait() for s in spans)), 10)
        # the room forwards it: the other participant decodes the H264 pictures
        seen = await b.wait_for_track("dr-li", "video")
        await seen.wait_frames(15, timeout=5)
        assert (seen.last_frame.width, seen.last_frame.height) == (320, 180)
        recorder.stop()
        await asyncio.wait_for(run, 15)
    finally:
        if run is not None and not run.done():
            run.cancel()
        await a.close()
        await b.close()

    recs = {r.identity: r for r in recorder.finished}
    assert set(recs) == {"dr-li", "pt-wang"}
    assert all(r.error is None for r in recs.values()), recs
    h264 = archive.resolve(recs["dr-li"].path)
    assert h264.suffix == ".mkv" and h264.name.startswith("dr-li-rec_")
    assert recs["dr-li"].codecs == ["audio/opus", "video/H264"]
    with av.open(str(h264)) as c:
        assert c.format.name.startswith("matroska")
        video = c.streams.video[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (320, 180)
    summary = synth.decode_summary(h264)
    assert summary["codecs"] == {"video": "h264", "audio": "opus"}
    assert summary["counts"]["video"] >= 45, summary  # 3 s at 15 fps, all decodable
    assert 3.5 <= summary["duration"] <= spans[0].span + 1.5, (summary, spans[0].span)
    # the publisher's own access units: a run of the source's, unit for unit
    got = [synth.avcc_units(p) for p in synth.payloads(h264, "video")]
    source = [synth.avcc_units(p) for p in synth.payloads(h264_file, "video")]
    assert _is_run(got, source)
    assert got[0][0][0] & 0x1F == 7  # starts on a keyframe with its SPS
    video_t, audio_t = synth.flash_times(h264)
    assert len(video_t) >= 1 and len(audio_t) >= 1
    for v in video_t:
        assert min(abs(v - x) for x in audio_t) < 0.1, (video_t, audio_t)

    vp8 = archive.resolve(recs["pt-wang"].path)
    assert vp8.suffix == ".webm" and vp8.parent == h264.parent
    assert synth.decode_summary(vp8)["codecs"] == {"video": "vp8", "audio": "opus"}
    checked, problems = verify(archive, key, rid)
    assert checked == 2 and problems == [], problems


async def test_external_recorder_joins_a_running_room(
    rec_server: ServerHandle,
    media_files: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Joining while a consultation runs, the server's subscribe offer for the tracks already
    published can reach the recorder before the reply to its join (forced here): its file must
    still be the room's (directory, manifest, tags) with the publisher's role."""
    rid = await _room(rec_server, "Ward round", case_id="case-3")
    # the reply to the recorder's join is held until the server has sent it the subscribe
    # offer, then until the recorder answers it (an SDK that handles the offer at once), or 1 s
    signaling = rec_server.app[SIGNALING]
    offered, answered = asyncio.Event(), asyncio.Event()
    answered_before_reply: list[bool] = []
    send = signaling.notifier.send

    async def send_noting_offers(room_id: str, identity: str, event: str, payload: dict) -> None:
        await send(room_id, identity, event, payload)
        if identity == "rec-1" and event == "subscribe.offer":
            offered.set()

    schema, join = signaling._handlers["join"]
    answer_schema, answer = signaling._handlers["subscribe.answer"]

    async def join_replying_late(session, payload):  # noqa: ANN001, ANN202
        result = await join(session, payload)
        if session.claims.identity == "rec-1":
            await asyncio.wait_for(offered.wait(), 5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answered.wait(), 1.0)
            answered_before_reply.append(answered.is_set())
        return result

    async def answer_noted(session, payload):  # noqa: ANN001, ANN202
        if session.claims.identity == "rec-1":
            answered.set()
        return await answer(session, payload)

    monkeypatch.setattr(signaling.notifier, "send", send_noting_offers)
    monkeypatch.setitem(signaling._handlers, "join", (schema, join_replying_late))
    monkeypatch.setitem(signaling._handlers, "subscribe.answer", (answer_schema, answer_noted))
    key = RECORDER_SECRET.encode()
    archive, recorder = _recorder(rec_server, rid, tmp_path, key)
    a = RoomClient(rec_server.url, rec_server.mint("dr-li", "doctor", room=rid))
    run = None
    try:
        await a.connect()
        await a.publish_file(str(media_files["a"]), loop=False)
        run = asyncio.create_task(recorder.run())
        video = await recorder.client.wait_for_track("dr-li", "video")
        assert not run.done()
        # the SDK held the offer until the join's reply
        assert answered_before_reply == [False]
        span = _Span(2.0)
        video.add_tap(span)
        await asyncio.wait_for(span.reached.wait(), 8)
        recorder.stop()
        await asyncio.wait_for(run, 15)
    finally:
        if run is not None and not run.done():
            run.cancel()
        await a.close()

    assert len(recorder.finished) == 1
    rec = recorder.finished[0]
    assert (rec.room_id, rec.case_id, rec.identity, rec.role) == (
        rid,
        "case-3",
        "dr-li",
        "doctor",
    ), rec
    path = archive.resolve(rec.path)
    assert path.parent.name == rid
    with av.open(str(path)) as c:
        tags = {k.lower(): v for k, v in c.metadata.items()}
    assert (tags.get("room_id"), tags.get("role")) == (rid, "doctor"), tags
    assert synth.decode_summary(path)["duration"] >= 1.5
    checked, problems = verify(archive, key, rid)
    assert checked == 1 and problems == [], problems


async def test_external_recorder_process_stops_on_sigterm(
    rec_server: ServerHandle, media_files: dict[str, Path], tmp_path: Path
) -> None:
    """``python -m vidconsult.external_recorder`` as a process: SIGTERM while two files are
    being written finishes and chains both, exit code 0, ``archive verify`` passes."""
    rid = await _room(rec_server, "Night consult")
    data = tmp_path / "ext"
    a = RoomClient(rec_server.url, rec_server.mint("dr-li", "doctor", room=rid))
    b = RoomClient(rec_server.url, rec_server.mint("pt-wang", "patient", room=rid))
    proc = None
    log: list[str] = []
    files: list[Path] = []
    try:
        await a.connect()
        await b.connect()
        await a.publish_file(str(media_files["a"]), loop=False)
        await b.publish_file(str(media_files["b"]), loop=False)
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "vidconsult.external_recorder",
            "--url",
            rec_server.url,
            "--token",
            rec_server.mint("rec-1", "recorder", room=rid),
            "--data-dir",
            str(data),
            "--secret",
            RECORDER_SECRET,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )
        assert proc.stderr is not None and proc.stdout is not None
        stderr = proc.stderr

        async def drain() -> None:  # the log, read as it comes (a full pipe would block it)
            while line := await stderr.readline():
                log.append(line.decode(errors="replace").rstrip())

        drainer = asyncio.create_task(drain())
        # both files open, then both hold a few seconds of media on disk
        deadline = time.monotonic() + 12
        while sum("external recording started" in line for line in log) < 2:
            assert time.monotonic() < deadline and proc.returncode is None, log[-20:]
            await asyncio.sleep(0.1)
        ends: list[float] = []
        while len(ends) < 2 or min(ends) < 3.0:
            assert time.monotonic() < deadline and proc.returncode is None, (ends, log[-20:])
            await asyncio.sleep(0.25)
            files = sorted((data / "recordings").rglob("*.webm"))
            ends = [await asyncio.to_thread(_recorded_until, f) for f in files]
        assert len(files) == 2
        assert "rec-1" not in a.participants and "rec-1" not in b.participants
        proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(asyncio.gather(proc.stdout.read(), proc.wait()), 15)
        await drainer
    finally:
        if proc is not None and proc.returncode is None:
            proc.kill()
            await proc.wait()
        await a.close()
        await b.close()

    assert proc.returncode == 0, log[-30:]
    printed = out.decode().splitlines()
    finished = [line.split() for line in printed if line.startswith("completed ")]
    assert len(finished) == 2, (printed, log[-30:])
    key = RECORDER_SECRET.encode()
    archive = ArchiveFiles(data / "recordings", key)
    assert {archive.resolve(rel) for _, rel, _, _ in finished} == {f.resolve() for f in files}
    for _status, rel, ms, _unit in finished:
        summary = synth.decode_summary(archive.resolve(rel))
        assert summary["codecs"] == {"video": "vp8", "audio": "opus"}
        # everything up to the signal, and the recorder's own account of it
        assert summary["duration"] >= 3.0, (rel, summary)
        assert abs(int(ms) / 1000 - summary["duration"]) < 0.5, (rel, ms, summary)
    checked, problems = verify(archive, key, rid)
    assert checked == 2 and problems == [], problems
    assert verify(ArchiveFiles(archive.root, SECRET.encode()), SECRET.encode(), rid)[1]


def _recorded_until(path: Path) -> float:
    """The last frame time of a file being written (0 while its header is not there)."""
    with contextlib.suppress(av.error.FFmpegError, OSError, ValueError):
        return float(synth.decode_summary(path)["end"])
    return 0.0


async def test_external_recorder_takes_a_late_video_track_into_a_new_file(
    rec_server: ServerHandle, tmp_path: Path
) -> None:
    """A camera whose first keyframe comes after the header timeout is left out of the first
    file; once it is ready the recorder opens a new file that has it, as the server does."""
    packets = [
        p for p in synth.encode(8, [3.0, 5.0]) if p.kind == "audio" or p.t >= 2.5
    ]  # video starts 2.5 s after the audio
    late = synth.write_file(tmp_path / "late.webm", packets)
    rid = await _room(rec_server, "Cardiology consult")
    archive, recorder = _recorder(rec_server, rid, tmp_path, SECRET.encode(), header_timeout=1.5)
    a = RoomClient(rec_server.url, rec_server.mint("dr-li", "doctor", room=rid))
    run = None
    try:
        await a.connect()
        run = asyncio.create_task(recorder.run())
        await _joined(recorder, run)
        await a.publish_file(str(late), loop=False)
        await recorder.client.wait_until(lambda: len(recorder.client.remote_tracks) == 2)

        # the second file (the one with the video) opens once the video is ready
        def rotated() -> bool:
            files = list(recorder._files.values())  # noqa: SLF001
            return len(recorder.finished) == 1 and any(
                "video" in {t.kind for t in f.tracks.values()} for f in files
            )

        for _ in range(300):  # the recorder's own state: polled, with a deadline
            if rotated() or run.done():
                break
            await asyncio.sleep(0.05)
        assert rotated(), (recorder.finished, recorder._files)  # noqa: SLF001
        span = _Span(2.0)
        video = next(t for t in recorder.client.remote_tracks.values() if t.kind == "video")
        video.add_tap(span)
        await asyncio.wait_for(span.reached.wait(), 15)
        recorder.stop()
        await asyncio.wait_for(run, 20)
    finally:
        if run is not None and not run.done():
            run.cancel()
        await a.close()
    files = sorted(recorder.finished, key=lambda r: r.started_at)
    assert [f.kinds for f in files] == [["audio"], ["audio", "video"]], files
    summary = synth.decode_summary(archive.resolve(files[1].path))
    assert summary["codecs"] == {"video": "vp8", "audio": "opus"}
    assert summary["counts"]["video"] >= 10  # it decodes: over half a second of 15 fps video
    checked, problems = verify(archive, SECRET.encode(), rid)
    assert checked == 2 and problems == [], problems
