"""Two SDK participants publish pre-encoded media (sent as is) through the real server in
passthrough mode; the recorder writes one file per participant with the publisher's packets."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.helpers import ServerHandle
from tests.recording import synth
from vidconsult.client import RoomClient
from web.recordings_api import RECORDINGS


async def _wait_status(handle: ServerHandle, room_id: str, active: bool) -> dict:
    for _ in range(100):
        status, data = await handle.api("GET", f"/api/v1/rooms/{room_id}/recording")
        if data["active"] == active and (not active or data["files"]):
            return data
        await asyncio.sleep(0.1)
    raise AssertionError(f"recording never became active={active}: {data}")


async def test_two_participants_recorded_in_sync(
    rec_server: ServerHandle, media_files: dict[str, Path]
) -> None:
    room = await rec_server.create_room("Cardiology consult", case_id="case-42")
    rid = room["id"]
    a = RoomClient(rec_server.url, rec_server.mint("dr-li", "doctor", room=rid))
    b = RoomClient(rec_server.url, rec_server.mint("pt-wang", "patient", room=rid))
    try:
        await a.connect()
        await b.connect()
        await a.publish_file(str(media_files["a"]), loop=False)
        started = await a.wait_event("recording.started")  # consultations record by default
        assert started["room_id"] == rid
        a_from = time.monotonic()
        await asyncio.sleep(3)  # b joins late
        await b.publish_file(str(media_files["b"]), loop=False)
        b_from = time.monotonic()
        await b.wait_event("recording.started")  # told on join, the session is running
        await asyncio.sleep(8)
        # what each file should span: ~11 s and ~8 s, more when publishing took a while (a
        # busy machine: b's publish_file was seen to take 2 s)
        spans = {"dr-li": time.monotonic() - a_from, "pt-wang": time.monotonic() - b_from}
        status, stopped = await rec_server.api("POST", f"/api/v1/rooms/{rid}/recording/stop")
        assert status == 200 and stopped["active"] is False
        await a.wait_event("recording.stopped")
    finally:
        await a.close()
        await b.close()

    status, listing = await rec_server.api("GET", f"/api/v1/recordings?room_id={rid}")
    recs = {r["identity"]: r for r in listing["recordings"]}
    assert set(recs) == {"dr-li", "pt-wang"}
    assert all(r["status"] == "completed" and r["case_id"] == "case-42" for r in recs.values())
    archive = rec_server.app[RECORDINGS].archive
    for identity, expected in spans.items():
        rec = recs[identity]
        path = archive.resolve(f"{rec['started_at'][:4]}") and archive.root
        found = list(archive.root.rglob(rec["file"]))
        assert len(found) == 1
        path = found[0]
        assert path.suffix == ".webm"
        summary = synth.decode_summary(path)
        assert summary["codecs"] == {"video": "vp8", "audio": "opus"}
        assert abs(summary["duration"] - expected) < 1.0, (identity, summary)
        assert abs(rec["duration_ms"] / 1000 - summary["duration"]) < 0.5
        # no re-encoding: the file's payloads are a run of the publisher's own packets
        source = synth.payloads(media_files["a" if identity == "dr-li" else "b"], "video")
        got = synth.payloads(path, "video")
        start = source.index(got[0])
        assert got == source[start : start + len(got)]
        video, audio = synth.flash_times(path)
        assert len(video) >= 2 and len(audio) >= 2
        for v in video:
            if v > summary["end"] - synth.FLASH_SECONDS:
                continue  # the stop cut this flash (dr-li's last is at ~11 s): maybe one track
            assert min(abs(v - x) for x in audio) < 0.1, (identity, video, audio)
    # the late joiner starts ~3 s after the first participant (as long as publishing took)
    gap = (recs["pt-wang"]["offset_ms"] - recs["dr-li"]["offset_ms"]) / 1000
    assert -1.0 < gap - (b_from - a_from) < 1.5, (gap, b_from - a_from)

    # the composite export: a late joiner appears at its offset
    status, job = await rec_server.api("POST", f"/api/v1/rooms/{rid}/exports")
    assert status == 202, job
    for _ in range(300):
        status, job = await rec_server.api("GET", f"/api/v1/exports/{job['id']}")
        if job["status"] != "running":
            break
        await asyncio.sleep(0.1)
    assert job["status"] == "done" and job["speed"] > 1.0, job
    status, link = await rec_server.api("GET", f"/api/v1/exports/{job['id']}/link")
    async with rec_server.session.get(link["url"]) as resp:
        assert resp.status == 200
        mp4 = Path(rec_server.app[RECORDINGS].archive.root / "composite-test.mp4")
        mp4.write_bytes(await resp.read())  # noqa: ASYNC240
    summary = synth.decode_summary(mp4)
    assert summary["codecs"] == {"video": "h264", "audio": "aac"}
    # Each tile is placed at its file's offset from the recording's start, dr-li's too: its
    # first frame comes some time after the recording started (the publish connection is still
    # being set up; 0.1 s here, more on a busy machine). A flash shows in the first composite
    # frame at or after it: 1/15 s late at most.
    cells = synth.cell_flash_times(mp4)
    for identity, cell in zip(("dr-li", "pt-wang"), cells, strict=True):
        offset = recs[identity]["offset_ms"] / 1000
        flashes = synth.flash_times(next(archive.root.rglob(recs[identity]["file"])))[0]
        late = cell[0] - (offset + flashes[0])
        assert -0.01 < late < 0.1, (identity, late, cell, offset, flashes)
