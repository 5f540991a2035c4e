"""The Python client rejoins by itself (real server, real aiortc peers over loopback)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import TwoInARoom
from tests.helpers import SECRET, ServerHandle
from vidconsult.client import RoomClient
from vidconsult.store.recording_files import verify
from web.recordings_api import RECORDINGS


async def _sees(client: RoomClient, publisher: str, other_than: set[str]) -> str:
    """Wait until ``client`` decodes video from ``publisher`` on a track not in
    ``other_than``; returns its sid."""

    def new() -> str | None:
        for sid, remote in client.remote_tracks.items():
            if remote.publisher == publisher and remote.kind == "video" and sid not in other_than:
                return sid
        return None

    await client.wait_until(lambda: new() is not None, 10)
    sid = new()
    assert sid is not None
    try:
        await client.remote_tracks[sid].wait_frames(5, timeout=10)
    except TimeoutError:
        remote = client.remote_tracks[sid]
        info = []
        for t in client._sub.getTransceivers():
            r = t.receiver
            stats = await r.getStats()
            info.append(
                (
                    t.mid,
                    t.currentDirection,
                    r.track.readyState if r.track else None,
                    r.track is remote.track,
                    [(s.type, getattr(s, "packetsReceived", None)) for s in stats.values()],
                )
            )
        raise AssertionError(f"{remote.frames} {remote.ended.is_set()} {info}") from None
    return sid


async def test_dropped_connection_rejoins_with_media(
    live_server: ServerHandle, two_in_a_room: Callable[..., Awaitable[TwoInARoom]]
) -> None:
    pair = await two_in_a_room(("dr-li", "doctor"), ("kiosk", "interpreter"))
    rid, doctor, kiosk = pair.room_id, pair.first, pair.second
    first = await _sees(doctor, "kiosk", set())
    await _sees(kiosk, "dr-li", set())
    audio_sid = next(s for s, r in kiosk.remote_tracks.items() if r.kind == "audio")
    own_audio = next(sid for sid in kiosk.own_tracks.values() if sid != first)
    await kiosk.set_muted(own_audio, True)

    # the kiosk's connection drops without a word (a dead link looks so to the client)
    await kiosk.sio.eio.disconnect(abort=True)
    rejoined = await kiosk.wait_event("rejoined", timeout=10)
    assert rejoined["reason"] == "disconnected" and kiosk.rejoins == 1
    # both see each other again, on new tracks
    await _sees(doctor, "kiosk", {first})
    await _sees(kiosk, "dr-li", set())
    # subscribed to the same tracks of the doctor again (the doctor never left)
    audio = await kiosk.wait_for_track("dr-li", "audio")
    assert audio.track_sid == audio_sid
    await audio.wait_frames(10)
    # the mute chosen before the drop holds on the new connection
    new_sids = set(kiosk.own_tracks.values())
    assert own_audio not in new_sids
    await doctor.wait_event(
        "track.muted",
        lambda d: d["identity"] == "kiosk" and d["muted"] and d["track_sid"] in new_sids,
        timeout=10,
    )
    # the server saw this drop (the socket closed): it held the kiosk's seat, and the room
    # saw it reconnecting, then back; never a leave and a join
    await doctor.wait_event("participant.reconnecting", lambda d: d["identity"] == "kiosk")
    back = await doctor.wait_event(
        "participant.reconnected", lambda d: d["participant"]["identity"] == "kiosk"
    )
    assert back["participant"]["reconnecting"] is False
    names = [e for e, d in doctor.events if _about(d) == "kiosk"]
    assert "participant.left" not in names, names
    assert names.count("participant.joined") == 1, names  # its first join only
    assert doctor.participants["kiosk"]["reconnecting"] is False
    await audio.wait_frames(50)  # a stretch of media after the gap, for the recording
    status, stopped = await live_server.api("POST", f"/api/v1/rooms/{rid}/recording/stop")
    assert status == 200 and stopped["active"] is False, stopped
    await kiosk.close()
    await doctor.close()

    # the recording went on across the gap: the kiosk's two files in the one room recording,
    # both complete, chained in the room's signed manifest
    status, listing = await live_server.api("GET", f"/api/v1/recordings?room_id={rid}")
    assert status == 200, listing
    files = sorted(
        (r for r in listing["recordings"] if r["identity"] == "kiosk"), key=lambda r: r["offset_ms"]
    )
    assert len(files) == 2 and files[0]["session_id"] == files[1]["session_id"], files
    assert all(r["status"] == "completed" for r in files), files
    archive = live_server.app[RECORDINGS].archive
    checked, problems = await asyncio.to_thread(verify, archive, SECRET.encode(), rid)
    assert problems == [] and checked >= 3, problems


def _about(data: Any) -> str | None:
    """The identity a room event is about."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("participant"), dict):
        return data["participant"].get("identity")
    return data.get("identity")


@pytest.mark.settings(reconnect_grace_seconds=1.0)
async def test_a_seat_not_resumed_in_time_is_left(
    live_server: ServerHandle, two_in_a_room: Callable[..., Awaitable[TwoInARoom]]
) -> None:
    pair = await two_in_a_room(
        ("dr-li", "doctor"),
        ("kiosk", "interpreter"),
        publish=("kiosk",),
        second_options={"reconnect": False},
    )
    rid, doctor, kiosk = pair.room_id, pair.first, pair.second
    await _sees(doctor, "kiosk", set())
    await kiosk.sio.eio.disconnect(abort=True)  # gone, and it does not come back
    await doctor.wait_event("participant.reconnecting", lambda d: d["identity"] == "kiosk")
    status, view = await live_server.api("GET", f"/api/v1/rooms/{rid}")
    assert [p["reconnecting"] for p in view["participants"] if p["identity"] == "kiosk"] == [True]
    left = await doctor.wait_event(
        "participant.left", lambda d: d["identity"] == "kiosk", timeout=10
    )
    assert left["reason"] == "disconnected"
    status, view = await live_server.api("GET", f"/api/v1/rooms/{rid}")
    assert [p["identity"] for p in view["participants"]] == ["dr-li"]


async def test_no_rejoin_after_removal(
    two_in_a_room: Callable[..., Awaitable[TwoInARoom]],
) -> None:
    pair = await two_in_a_room(publish=())
    doctor, patient = pair.first, pair.second
    await doctor.request("admin.remove", {"identity": "pt-wang"})
    await asyncio.wait_for(patient.disconnected.wait(), 10)
    assert patient.closed_reason and patient.rejoins == 0 and not patient.rejoining
