"""The archive around one short recorded session: who may fetch a file, signed links,
path traversal, tampering detected by ``archive verify``, retention and legal holds, a full
disk stopping the recording without harming the room."""

from __future__ import annotations

import argparse
import asyncio
import errno
from datetime import timedelta
from pathlib import Path

from tests.helpers import ServerHandle
from tests.recording import synth
from vidconsult import archive_cli
from vidconsult.client import RoomClient
from web.recordings_api import RECORDINGS


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    archive_cli.register_cli(parser.add_subparsers(dest="command"))
    return parser.parse_args(["archive", *argv])


async def _record(handle: ServerHandle, media: Path, seconds: float = 3) -> tuple[str, dict]:
    room = await handle.create_room("Neurology", case_id="case-7")
    rid = room["id"]
    a = RoomClient(handle.url, handle.mint("dr-zhao", "doctor", room=rid))
    try:
        await a.connect()
        await a.publish_file(str(media), loop=True)
        await a.wait_event("recording.started")
        await asyncio.sleep(seconds)
        await handle.api("DELETE", f"/api/v1/rooms/{rid}")  # ending the room stops it
    finally:
        await a.close()
    for _ in range(50):
        _, listing = await handle.api("GET", f"/api/v1/recordings?room_id={rid}")
        if listing["recordings"] and listing["recordings"][0]["status"] != "recording":
            return rid, listing["recordings"][0]
        await asyncio.sleep(0.1)
    raise AssertionError(listing)


async def test_access_tamper_and_retention(
    rec_server: ServerHandle, rec_settings, media_files: dict[str, Path], capsys
) -> None:
    rid, rec = await _record(rec_server, media_files["a"])
    base = f"/api/v1/recordings/{rec['id']}"

    # only authorized roles get a link
    patient = rec_server.mint("pt", "patient", room=rid)
    assert (await rec_server.api("GET", base + "/link", token=patient))[0] == 403
    other_doctor = rec_server.mint("dr-x", "doctor", room="rm_other")
    assert (await rec_server.api("GET", base + "/link", token=other_doctor))[0] == 403
    assert (await rec_server.api("GET", base + "/link", token=""))[0] == 401
    case_expert = rec_server.mint("prof", "expert", room="rm_any", case="case-7")
    assert (await rec_server.api("GET", base + "/link", token=case_expert))[0] == 200
    status, link = await rec_server.api("GET", base + "/link")
    assert status == 200
    async with rec_server.session.get(link["url"], headers={"Range": "bytes=0-99"}) as resp:
        assert resp.status == 206 and len(await resp.read()) == 100
        assert resp.headers["Content-Type"] == "video/webm"
    # a forged, altered or expired link is refused
    async with rec_server.session.get(link["url"].replace("sig=", "sig=0")) as resp:
        assert resp.status == 401
    expired = link["url"].split("?")[0] + "?expires=1000&sig=" + link["url"].split("sig=")[1]
    async with rec_server.session.get(expired) as resp:
        assert resp.status == 401
    service = rec_server.app[RECORDINGS]
    service.config.link_ttl = timedelta(seconds=-1)
    _, stale = await rec_server.api("GET", base + "/link")
    async with rec_server.session.get(stale["url"]) as resp:
        assert resp.status == 401
    service.config.link_ttl = timedelta(minutes=5)
    # path traversal
    for bad in ("..%2F..%2Fsecret.key", "..%2F..%2Fvidconsult.db", "%2e%2e"):
        status, _ = await rec_server.api("GET", f"/api/v1/recordings/{bad}/link")
        assert status in (403, 404), bad
        async with rec_server.session.get(
            rec_server.url + f"/api/v1/recordings/{bad}/content?expires=9999999999&sig=x",
        ) as resp:
            assert resp.status in (401, 404)

    # the archive verifies; one changed byte or a removed file is named
    assert archive_cli.run_cli(_args("verify"), rec_settings) == 0
    path = next(service.archive.root.rglob(rec["file"]))
    original = path.read_bytes()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    path.write_bytes(bytes(tampered))
    capsys.readouterr()
    assert archive_cli.run_cli(_args("verify", "--room", rid), rec_settings) == 1
    assert rec["file"] in capsys.readouterr().out
    path.unlink()
    assert archive_cli.run_cli(_args("verify"), rec_settings) == 1
    out = capsys.readouterr().out
    assert rec["file"] in out and "missing" in out
    path.write_bytes(original)
    assert archive_cli.run_cli(_args("verify"), rec_settings) == 0

    # retention: a held case keeps its files; without the hold they go, and verify still passes
    service.config.retention_days = 1
    clock = rec_server.app["clock"] if "clock" in rec_server.app else None  # noqa: F841
    from datetime import UTC, datetime

    class Later:
        def now(self) -> datetime:
            return datetime.now(UTC) + timedelta(days=2)

    service._clock = Later()  # noqa: SLF001 - the retention clock of this test
    assert (await rec_server.api("PUT", "/api/v1/cases/case-7/recording-hold", {"held": True}))[
        0
    ] == 200
    assert await service.purge() == []
    await rec_server.api("PUT", "/api/v1/cases/case-7/recording-hold", {"held": False})
    deleted = await service.purge()
    assert [r.id for r in deleted] == [rec["id"]] and not path.exists()
    assert archive_cli.run_cli(_args("verify"), rec_settings) == 0
    _, after = await rec_server.api("GET", base)
    assert after["status"] == "deleted"


class FullDisk:
    """A file that takes ``room`` bytes, then fails like a full disk."""

    def __init__(self, path: Path, room: int) -> None:
        self._fh = open(path, "w+b", buffering=0)  # noqa: SIM115
        self._room = room

    def write(self, data: bytes) -> int:
        if self._room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._room -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self._fh, name)


async def test_full_disk_stops_recording_not_the_room(
    rec_server: ServerHandle, media_files: dict[str, Path]
) -> None:
    service = rec_server.app[RECORDINGS]
    service._recorder._opener = lambda p: (
        p.parent.mkdir(parents=True, exist_ok=True),  # noqa: SLF001
        FullDisk(p, 20_000),
    )[1]
    room = await rec_server.create_room("Cardiology")
    rid = room["id"]
    a = RoomClient(rec_server.url, rec_server.mint("dr-li", "doctor", room=rid))
    b = RoomClient(rec_server.url, rec_server.mint("pt", "patient", room=rid))
    try:
        await a.connect()
        await b.connect()
        await a.publish_file(str(media_files["a"]), loop=True)
        stopped = await b.wait_event("recording.stopped", timeout=30)
        assert stopped["reason"] == "disk_full"
        status, view = await rec_server.api("GET", f"/api/v1/rooms/{rid}/recording")
        assert view["error"] == "disk_full" and view["active"] is False
        # the room goes on: media still flows
        video = await b.wait_for_track("dr-li", "video")
        await video.wait_frames(video.frames + 5)
        assert (await rec_server.api("GET", f"/api/v1/rooms/{rid}"))[1]["status"] == "open"
    finally:
        await a.close()
        await b.close()
    _, listing = await rec_server.api("GET", f"/api/v1/recordings?room_id={rid}")
    assert listing["recordings"][0]["status"] == "failed"
    assert listing["recordings"][0]["error"] == "disk_full"
    path = next(service.archive.root.rglob(listing["recordings"][0]["file"]))
    assert synth.decode_summary(path)["counts"]  # the prefix written before it filled up


async def test_a_file_that_got_no_media_is_failed_not_completed(
    rec_server: ServerHandle, media_files: dict[str, Path]
) -> None:
    """The field's worst recording bug is a 0-byte file reported as fine: when a published
    track's media never reaches the file, the recording says so."""
    service = rec_server.app[RECORDINGS]
    engine = service._recorder._engine  # noqa: SLF001
    engine.add_tap = lambda *args, **kwargs: None  # the taps never get a frame
    room = await rec_server.create_room("Cardiology")
    rid = room["id"]
    a = RoomClient(rec_server.url, rec_server.mint("dr-li", "doctor", room=rid))
    b = RoomClient(rec_server.url, rec_server.mint("pt", "patient", room=rid))
    try:
        await a.connect()
        await b.connect()
        await a.publish_file(str(media_files["a"]), loop=True)
        video = await b.wait_for_track("dr-li", "video")
        await video.wait_frames(10)  # the media flows in the room
        status, body = await rec_server.api("POST", f"/api/v1/rooms/{rid}/recording/stop")
        assert status == 200, body
    finally:
        await a.close()
        await b.close()
    _, listing = await rec_server.api("GET", f"/api/v1/recordings?room_id={rid}")
    [rec] = listing["recordings"]
    assert (rec["status"], rec["error"], rec["kinds"]) == ("failed", "no_media", [])
