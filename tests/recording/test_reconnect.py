"""A participant whose address changes mid-call is back with its media within 10 s, and its
recording stays one chain across the gap.

The participant (a Python client publishing a live camera and microphone) runs on another machine: a
network namespace joined to this one by a veth pair. Mid-call its address is taken away and a
new one given (as hotel Wi-Fi does); the client notices the address gone, rejoins on a new
connection with the same token, and publishes again. A doctor on this machine sees its video
again, and it sees the doctor's, within 10 s of the change. The recording of the room holds
the participant's two files (before and after the gap) in the same recording session, both
complete, chained in the room's signed manifest, which verifies.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.helpers import SECRET, ServerHandle
from tests.netns import OtherMachine, ip, new_block, other_machine
from vidconsult import areas
from vidconsult.app import run_server
from vidconsult.client import RemoteTrack, RoomClient
from vidconsult.config import Settings
from vidconsult.store.recording_files import verify
from vidconsult.tokens import TokenSigner
from web.recordings_api import RECORDINGS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

REPO = Path(__file__).resolve().parents[2]
BACK_WITHIN = 10.0


@pytest.fixture
def machine() -> Iterator[OtherMachine]:
    with other_machine() as m:
        yield m


@pytest.fixture
async def server(tmp_path: Path, machine: OtherMachine) -> AsyncIterator[tuple[ServerHandle, str]]:
    """The server on every address (the other machine reaches it on its end of the link)."""
    settings = Settings.from_env(
        {},
        host="0.0.0.0",
        port=0,
        data_dir=tmp_path / "var",
        secret=SECRET,
        media_mode="passthrough",
    )
    async with (
        run_server(settings, installers=[areas.install_recordings]) as running,
        aiohttp.ClientSession() as session,
    ):
        handle = ServerHandle(
            url=f"http://127.0.0.1:{running.port}",
            signer=TokenSigner(SECRET.encode()),
            app=running.app,
            session=session,
        )
        yield handle, f"http://{machine.host_ip}:{running.port}"


class Peer:
    """The participant's process in the namespace, and the events it wrote."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []

    async def next(self, name: str, timeout: float = 30) -> dict[str, Any]:
        for event in self.events:
            if event["event"] == name and not event.get("taken"):
                event["taken"] = True
                return event
        assert self.proc.stdout is not None
        while True:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            if not line:
                err = await self.proc.stderr.read() if self.proc.stderr else b""
                raise AssertionError(f"peer exited: {err.decode()[-3000:]}")
            event = json.loads(line)
            self.events.append(event)
            if event["event"] == name:
                event["taken"] = True
                return event


async def test_address_change_mid_call(
    server: tuple[ServerHandle, str], machine: OtherMachine
) -> None:
    handle, remote_url = server
    room = await handle.create_room("Expert on hotel Wi-Fi", case_id="case-roam")
    rid = room["id"]
    doctor_frames: dict[str, float] = {}  # track sid -> when its 5th frame came
    notices: set[asyncio.Future[None]] = set()

    def on_track(remote: RemoteTrack) -> None:
        if remote.publisher == "dr-roaming" and remote.kind == "video":

            def on_frame(_: Any) -> None:
                if remote.frames == 5:
                    doctor_frames[remote.track_sid] = time.time()
                    # wake the test's wait_until (it re-checks on the client's notices)
                    notices.add(asyncio.ensure_future(doctor._notify()))

            remote.on_frame = on_frame

    doctor = RoomClient(handle.url, handle.mint("dr-local", "doctor", room=rid), on_track=on_track)
    proc = await asyncio.create_subprocess_exec(
        "ip",
        "netns",
        "exec",
        machine.name,
        sys.executable,
        "-m",
        "tests.reconnect_peer",
        remote_url,
        handle.mint("dr-roaming", "expert", room=rid),
        cwd=str(REPO),
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    peer = Peer(proc)
    try:
        await doctor.connect()
        await doctor.publish(VideoStreamTrack(), AudioStreamTrack())
        await peer.next("joined")
        await peer.next("published")
        await peer.next("media")  # the roaming expert sees the doctor
        try:
            await doctor.wait_until(lambda: len(doctor_frames) == 1, 20)
        except TimeoutError:
            state = [(r.publisher, r.kind, r.frames) for r in doctor.remote_tracks.values()]
            raise AssertionError(f"doctor sees nothing: {doctor.subscribe_state} {state}") from None
        first_track = next(iter(doctor_frames))
        await doctor.wait_event("recording.started")
        await (await doctor.wait_for_track("dr-roaming", "audio")).wait_frames(20)

        # the address changes: a new /30 on the link, the old address gone, the way out
        # through the new one (the server's address stays the same)
        new_host, new_ip = new_block()
        ip("addr", "add", f"{new_host}/30", "dev", machine.host_link)
        ip("-n", machine.name, "addr", "add", f"{new_ip}/30", "dev", machine.link)
        changed_at = time.time()
        ip("-n", machine.name, "addr", "del", f"{machine.ip}/30", "dev", machine.link)
        ip("-n", machine.name, "route", "add", "default", "via", new_host)

        rejoining = await peer.next("rejoining", timeout=BACK_WITHIN)
        assert "address gone" in rejoining["reason"], rejoining
        rejoined = await peer.next("rejoined", timeout=BACK_WITHIN)
        back = await peer.next("media", timeout=BACK_WITHIN)  # it sees the doctor again
        try:
            await doctor.wait_until(lambda: len(doctor_frames) == 2, BACK_WITHIN)
        except TimeoutError:
            state = [
                (r.publisher, r.kind, r.track_sid, r.frames) for r in doctor.remote_tracks.values()
            ]
            raise AssertionError(
                f"doctor: {doctor.subscribe_state} {state} {doctor_frames} "
                f"{[(e, d.get('tracks') if isinstance(d, dict) else d) for e, d in doctor.events]}"
            ) from None
        doctor_sees = doctor_frames[next(s for s in doctor_frames if s != first_track)]
        delays = {
            "rejoined": rejoined["at"] - changed_at,
            "expert sees doctor": back["at"] - changed_at,
            "doctor sees expert": doctor_sees - changed_at,
        }
        print(f"\nafter the address change: {delays}")
        assert all(0 < d < BACK_WITHIN for d in delays.values()), delays
        # the room saw no one leave: a rejoin replaces the session in place
        assert not [d for e, d in doctor.events if e == "participant.left"], doctor.events
        # but back in its seat (docs/protocol.md, "Reconnection"), not joined anew
        seated = [
            e
            for e, d in doctor.events
            if isinstance(d, dict) and (d.get("participant") or {}).get("identity") == "dr-roaming"
        ]
        assert seated[-1] == "participant.reconnected", seated
        await (await doctor.wait_for_track("dr-roaming", "audio")).wait_frames(20)
        await asyncio.sleep(2)  # a stretch of media after the gap, for the recording
        status, stopped = await handle.api("POST", f"/api/v1/rooms/{rid}/recording/stop")
        assert status == 200 and stopped["active"] is False, stopped
    finally:
        await doctor.close()
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()

    status, listing = await handle.api("GET", f"/api/v1/recordings?room_id={rid}")
    assert status == 200, listing
    files = sorted(
        (r for r in listing["recordings"] if r["identity"] == "dr-roaming"),
        key=lambda r: r["offset_ms"],
    )
    assert len(files) == 2, files
    before, after = files
    assert before["session_id"] == after["session_id"]  # one room recording
    for rec in files:
        assert rec["status"] == "completed", rec
        assert sorted(rec["kinds"]) == ["audio", "video"], rec
    gap = (after["offset_ms"] - before["offset_ms"] - before["duration_ms"]) / 1000
    assert -0.5 < gap < BACK_WITHIN, (gap, files)
    archive = handle.app[RECORDINGS].archive
    checked, problems = await asyncio.to_thread(verify, archive, SECRET.encode(), rid)
    assert problems == [] and checked >= 3, problems
    (manifest,) = archive.manifests(rid)
    entries = json.loads(manifest.read_text())["entries"]  # noqa: ASYNC240 - a small file
    chained = [e.get("recording_id") for e in entries if e.get("event") == "file"]
    assert before["id"] in chained and after["id"] in chained, entries
