"""A recording or an export that fails for real carries a stable ``error_code`` beside its
diagnostic: the room's recordings folder cannot be written (a file stands where the room's
directory goes: root, who runs CI, ignores permission bits), and an export whose source file was
removed from the archive. The diagnostic stays (operators); the code is what a page turns into a
sentence (tests/browser/test_dashboard_recording_failures.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.helpers import ServerHandle
from vidconsult.client import RoomClient
from vidconsult.domain.recordings import room_directory
from web.recordings_api import RECORDINGS


def block_room_directory(server: ServerHandle, room_id: str) -> list[Path]:
    """A file where the room's recordings directory goes (today's, and either side of
    midnight): opening the room's files fails as a folder that cannot be written does."""
    root = server.app[RECORDINGS].archive.root
    now = datetime.now(UTC)
    blocks = []
    for day in (now - timedelta(days=1), now, now + timedelta(days=1)):
        path = root / room_directory(room_id, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not a directory\n")
        blocks.append(path)
    return blocks


async def exported(server: ServerHandle, room_id: str) -> dict[str, Any]:
    status, job = await server.api("POST", f"/api/v1/rooms/{room_id}/exports")
    assert status == 202, job
    while job["status"] == "running":  # polled as the dashboard does
        await asyncio.sleep(0.1)
        status, job = await server.api("GET", f"/api/v1/exports/{job['id']}")
        assert status == 200
    return job


async def test_an_unwritable_room_folder_and_a_missing_export_source_have_their_codes(
    rec_server: ServerHandle, media_files: dict[str, Path]
) -> None:
    blocked = await rec_server.create_room("Cardiology · blocked")
    block_room_directory(rec_server, blocked["id"])
    good = await rec_server.create_room("Cardiology · exported")
    clients = []
    try:
        for room in (blocked, good):
            rid = room["id"]
            client = RoomClient(rec_server.url, rec_server.mint("dr-li", "doctor", room=rid))
            clients.append(client)
            await client.connect()
            await client.publish_file(str(media_files["a"]), loop=True)
        # the blocked room's recording starts (a consultation records) and stops on the error
        stopped = await clients[0].wait_event("recording.stopped", timeout=30)
        assert "FileExistsError" in stopped["reason"], stopped
        await clients[1].wait_event("recording.started", timeout=30)
        await asyncio.sleep(2.0)  # what the good room records
        await rec_server.api("POST", f"/api/v1/rooms/{good['id']}/recording/stop")
    finally:
        for client in clients:
            await client.close()

    status, view = await rec_server.api("GET", f"/api/v1/rooms/{blocked['id']}/recording")
    assert status == 200 and view["active"] is False
    assert view["error_code"] == "storage_not_writable", view
    assert "FileExistsError" in view["error"]  # the diagnostic, for the operator
    _, active = await rec_server.api("GET", "/api/v1/recording/active")
    (row,) = [r for r in active["rooms"] if r["room_id"] == blocked["id"]]
    assert row["error_code"] == "storage_not_writable"
    # a track not ready when the first file's header was written gets a file of its own, which
    # fails (or completes) the same way: one file or two per room, each saying the same
    _, listing = await rec_server.api("GET", f"/api/v1/recordings?room_id={blocked['id']}")
    failed = listing["recordings"]
    assert failed and all(
        (r["status"], r["error_code"]) == ("failed", "storage_not_writable") for r in failed
    ), failed

    _, listing = await rec_server.api("GET", f"/api/v1/recordings?room_id={good['id']}")
    recorded = listing["recordings"]
    assert recorded and all(
        r["status"] == "completed" and r["error_code"] is None for r in recorded
    ), recorded
    # the export's sources are gone from the archive (moved, deleted, a disk not mounted)
    for each in recorded:
        (path,) = rec_server.app[RECORDINGS].archive.root.rglob(each["file"])
        path.unlink()
    job = await exported(rec_server, good["id"])
    assert (job["status"], job["error_code"]) == ("failed", "source_missing"), job
    # the diagnostic names the file as the archive does (no server directory)
    assert any(r["file"] in job["error"] for r in recorded), job
    assert str(path.parent.parent) not in job["error"], job
    # the stored job says the same after it left memory
    status, again = await rec_server.api("GET", f"/api/v1/exports/{job['id']}")
    assert (again["status"], again["error_code"]) == ("failed", "source_missing")
