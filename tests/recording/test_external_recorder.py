"""The external recorder: an SDK client with the recorder role, in encoded mode, writes the
server's archive format (one file per participant, the publishers' own packets, a signed
manifest) while the server's own recording is disabled for the room."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.helpers import SECRET, ServerHandle
from tests.recording import synth
from vidconsult.client import RoomClient
from vidconsult.external_recorder import ExternalRecorder
from vidconsult.store.recording_files import ArchiveFiles, verify


async def test_external_recorder_archives_a_room(rec_server: ServerHandle,
                                                 media_files: dict[str, Path],
                                                 tmp_path: Path) -> None:
    room = await rec_server.create_room("Cardiology consult", case_id="case-7")
    rid = room["id"]
    status, policy = await rec_server.api("PUT", f"/api/v1/rooms/{rid}/recording/policy",
                                          {"enabled": False})
    assert status == 200, policy
    key = SECRET.encode()
    archive = ArchiveFiles(tmp_path / "ext" / "recordings", key)
    recorder = ExternalRecorder(rec_server.url,
                                rec_server.mint("rec-1", "recorder", room=rid), archive)
    a = RoomClient(rec_server.url, rec_server.mint("dr-li", "doctor", room=rid))
    b = RoomClient(rec_server.url, rec_server.mint("pt-wang", "patient", room=rid))
    run = None
    try:
        await a.connect()
        await b.connect()
        run = asyncio.create_task(recorder.run())
        for _ in range(100):
            if recorder.client.identity or run.done():
                break
            await asyncio.sleep(0.05)
        assert recorder.client.identity == "rec-1" and not run.done()
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
        # no re-encoding: the file's payloads are a run of the publisher's own packets
        source = synth.payloads(media_files["a" if identity == "dr-li" else "b"], "video")
        got = synth.payloads(path, "video")
        start = source.index(got[0])
        assert got == source[start:start + len(got)]
    assert len({archive.resolve(r.path).parent for r in recs.values()}) == 1
    checked, problems = verify(archive, key, rid)
    assert checked == 2 and problems == [], problems
