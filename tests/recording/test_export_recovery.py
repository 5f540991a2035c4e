"""An export the server was running when its process died is not left "running" for good: the
server is SIGKILLed with a job held mid-way (``serve_proc --hold-exports``), a new server on the
same data directory (the same SQLite files) says through the REST API that the job failed with
``export_interrupted``, its half-written file is gone and never served, and the coordinator can
start the export again (it completes). ``vidconsult archive recover``, run offline before any
server starts again, does the same for the job and its file, says so, and changes nothing when
run again."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from tests.helpers import SECRET, ServerHandle, served, server_process, sigkill
from tests.recording.archive_cli import archive_recover
from tests.recording.finished import add_finished_recording
from vidconsult import areas
from vidconsult.config import Settings
from vidconsult.tokens import TokenSigner
from web.recordings_api import EXPORTS, RECORDINGS

WAIT = 30  # a bound for the polls below, never a synchronisation


@asynccontextmanager
async def server_on(data: Path) -> AsyncIterator[ServerHandle]:
    settings = Settings.from_env(
        {}, host="127.0.0.1", port=0, data_dir=data, secret=SECRET, media_mode="passthrough"
    )
    async with served(settings, installers=[areas.install_recordings]) as handle:
        yield handle


async def poll(server: ServerHandle, path: str, done: Any) -> dict[str, Any]:
    """GET ``path`` until ``done(body)``, as the dashboard polls a job."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        status, body = await server.api("GET", path)
        assert status == 200, body
        if done(body):
            return body
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


async def killed_mid_export(
    data: Path, media_files: dict[str, Path]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A room with one finished recording, whose export the server (a process) was running,
    held mid-way, when it was SIGKILLed: (room, job)."""
    # a room with one finished recording (a real 14 s VP8 + Opus file in the archive)
    async with server_on(data) as first:
        room = await first.create_room("Cardiology · Anda County")
        service = first.app[RECORDINGS]
        started = datetime.now(UTC) - timedelta(minutes=5)
        await add_finished_recording(
            service.store, service.archive, room["id"], started, media_files["a"]
        )

    # the server, as a process, with the export held mid-way; then killed
    serving = server_process("tests.recording.serve_proc", str(data), SECRET, "--hold-exports")
    async with serving as (proc, url):
        async with aiohttp.ClientSession() as session:
            dying = ServerHandle(url, TokenSigner(SECRET.encode()), None, session)
            status, job = await dying.api("POST", f"/api/v1/rooms/{room['id']}/exports")
            assert status == 202, job
            held = await poll(dying, f"/api/v1/exports/{job['id']}", lambda j: j["progress"] > 0)
            assert held["status"] == "running" and held["progress"] == 0.5, held
        await sigkill(proc)
    return room, job


async def test_an_export_running_when_the_server_dies_is_failed_at_restart(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    data = tmp_path / "var"
    room, job = await killed_mid_export(data, media_files)
    exports_dir = data / "recordings" / "exports" / room["id"]
    part = exports_dir / f"{job['id']}.part.mp4"
    assert part.is_file()  # what the dead server left half-written

    # a new server on the same data directory
    async with server_on(data) as again:
        assert again.app[EXPORTS].output_path(job).parent == exports_dir
        status, failed = await again.api("GET", f"/api/v1/exports/{job['id']}")
        assert status == 200, failed
        assert failed["status"] == "failed", failed
        assert failed["error_code"] == "export_interrupted", failed
        assert failed["error"] == "server stopped while exporting", failed
        assert failed["node_id"] == again.app[EXPORTS].node_id
        # the half-written file is deleted, and nothing of it is handed out
        assert not part.exists() and not (exports_dir / f"{job['id']}.mp4").exists()
        status, refused = await again.api("GET", f"/api/v1/exports/{job['id']}/link")
        assert status == 409 and refused["error"]["code"] == "export_not_ready", refused

        # the coordinator starts it again: it completes and is served
        status, retry = await again.api("POST", f"/api/v1/rooms/{room['id']}/exports")
        assert status == 202, retry
        done = await poll(
            again, f"/api/v1/exports/{retry['id']}", lambda j: j["status"] != "running"
        )
        assert done["status"] == "done" and done["duration_s"] >= 13.0, done
        status, link = await again.api("GET", f"/api/v1/exports/{retry['id']}/link")
        assert status == 200, link
        async with again.session.get(link["url"]) as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
            assert len(await resp.read()) > 10_000
        # the interrupted job stays failed (a restart of a restart changes nothing)
        status, still = await again.api("GET", f"/api/v1/exports/{job['id']}")
        assert still["status"] == "failed" and still["error_code"] == "export_interrupted"


def stored_export(data: Path, job_id: str) -> dict[str, Any]:
    """The job as the SQLite index holds it (read-only, as an operator would look)."""
    conn = sqlite3.connect(f"file:{data / 'vidconsult.db'}?mode=ro", uri=True)
    try:
        [(doc,)] = conn.execute("SELECT data FROM recording_exports WHERE id = ?", (job_id,))
    finally:
        conn.close()
    return dict(json.loads(doc))


async def test_archive_recover_offline_fails_the_interrupted_export_and_deletes_its_file(
    tmp_path: Path, media_files: dict[str, Path]
) -> None:
    data = tmp_path / "var"
    room, job = await killed_mid_export(data, media_files)
    part = data / "recordings" / "exports" / room["id"] / f"{job['id']}.part.mp4"
    assert part.is_file()
    assert stored_export(data, job["id"])["status"] == "running"

    done = await asyncio.to_thread(archive_recover, data)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"export {job['id']} of room {room['id']} failed: export_interrupted" in lines, lines
    assert f"deleted exports/{room['id']}/{job['id']}.part.mp4" in lines, lines
    assert lines[-1] == "1 export(s) marked failed, 1 half-written file(s) deleted", lines
    assert not part.exists()
    failed = stored_export(data, job["id"])
    assert failed["status"] == "failed", failed
    assert failed["error_code"] == "export_interrupted", failed
    assert failed["error"] == "server stopped while exporting", failed

    # idempotent: a second run finds nothing and changes nothing
    again = await asyncio.to_thread(archive_recover, data)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == (
        "0 export(s) marked failed, 0 half-written file(s) deleted"
    ), again.stdout
    assert stored_export(data, job["id"]) == failed

    # the server, started afterwards, says the same and serves nothing of it
    async with server_on(data) as server:
        status, seen = await server.api("GET", f"/api/v1/exports/{job['id']}")
        assert status == 200, seen
        assert (seen["status"], seen["error_code"]) == ("failed", "export_interrupted"), seen
        status, refused = await server.api("GET", f"/api/v1/exports/{job['id']}/link")
        assert status == 409 and refused["error"]["code"] == "export_not_ready", refused
