"""SIGKILL the server 10 s into a recording: every file is still readable up to ~2 s before the
kill; at restart the index says ``interrupted`` and ``archive verify`` passes."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from tests.helpers import SECRET, server_process, sigkill
from tests.recording import synth
from vidconsult import archive_cli, areas
from vidconsult.app import run_server
from vidconsult.client import RoomClient
from vidconsult.config import Settings
from vidconsult.domain.roles import Role
from vidconsult.tokens import TokenSigner
from web import recordings_api


def _token(identity: str, role: Role, room: str | None = None) -> str:
    return TokenSigner(SECRET.encode()).mint(
        identity=identity, role=role, room=room, now=datetime.now(UTC), ttl=timedelta(hours=1)
    )


async def test_sigkill_keeps_files_playable(tmp_path: Path, media_files: dict[str, Path]) -> None:
    data = tmp_path / "var"
    clients: list[RoomClient] = []
    async with server_process("tests.recording.serve_proc", str(data), SECRET) as (proc, url):
        try:
            headers = {"Authorization": f"Bearer {_token('coord', Role.COORDINATOR)}"}
            async with aiohttp.ClientSession() as http:
                async with http.post(
                    url + "/api/v1/rooms", json={"name": "Emergency"}, headers=headers
                ) as resp:
                    rid = (await resp.json())["id"]
            for identity, role, name in (
                ("dr-li", Role.DOCTOR, "a"),
                ("pt-wang", Role.PATIENT, "b"),
            ):
                client = RoomClient(url, _token(identity, role, rid))
                clients.append(client)
                await client.connect()
                await client.publish_file(str(media_files[name]), loop=True)
            await clients[0].wait_event("recording.started")
            await asyncio.sleep(10)
            await sigkill(proc)
        finally:
            for client in clients:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close(), 3)

    files = sorted((data / "recordings").rglob("*.webm"))
    assert len(files) == 2
    for path in files:
        summary = synth.decode_summary(path)  # decodes every frame of the torn file
        assert summary["end"] >= 8.0, (path.name, summary)
        assert set(summary["counts"]) == {"audio", "video"}

    settings = Settings.from_env({}, host="127.0.0.1", port=0, data_dir=data, secret=SECRET)
    async with run_server(settings, installers=[areas.install_recordings]) as server:
        recs = await server.app[recordings_api.RECORDINGS].store.list_recordings(room_id=rid)
        assert [r.status.value for r in recs] == ["interrupted", "interrupted"]
        assert all(r.duration_ms >= 8000 and r.sha256 for r in recs)
    for path in files:
        assert synth.decode_summary(path)["end"] >= 8.0  # the remuxed, closed file
    args = ["verify", "--room", rid]
    assert archive_cli.run_cli(_parse(args), settings) == 0
    conn = sqlite3.connect(data / "vidconsult.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def _parse(argv: list[str]):  # noqa: ANN202
    import argparse

    parser = argparse.ArgumentParser()
    archive_cli.register_cli(parser.add_subparsers(dest="command"))
    return parser.parse_args(["archive", *argv])
