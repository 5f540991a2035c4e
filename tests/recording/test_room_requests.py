"""Recording started and stopped by a room admin over signaling; everyone is told."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import ServerHandle
from vidconsult.client import ClientError, RoomClient


async def test_admin_stops_and_starts_recording_from_the_room(
    rec_server: ServerHandle, media_files: dict[str, Path]
) -> None:
    room = await rec_server.create_room("Neurology")
    rid = room["id"]
    doctor = RoomClient(rec_server.url, rec_server.mint("dr-wu", "doctor", room=rid))
    patient = RoomClient(rec_server.url, rec_server.mint("pt-liu", "patient", room=rid))
    try:
        await doctor.connect()
        await patient.connect()
        await doctor.publish_file(str(media_files["a"]), loop=True)
        # consultations record by default once media flows
        started = await patient.wait_event("recording.started", timeout=30)
        # a patient is not a room admin
        try:
            await patient.request("recording.stop")
        except ClientError as exc:
            assert exc.code == "permission_denied"
        else:
            raise AssertionError("a patient stopped the recording")
        await doctor.request("recording.stop")
        stopped = await patient.wait_event("recording.stopped", timeout=30)
        assert stopped["reason"] == "stopped" and stopped["stopped_by"] == "dr-wu"
        _, state = await rec_server.api("GET", f"/api/v1/rooms/{rid}/recording")
        assert state["active"] is False

        await doctor.request("recording.start")
        again = await patient.wait_event(
            "recording.started", lambda d: d["session_id"] != started["session_id"], timeout=30
        )
        assert again["by"] == "dr-wu"
        _, state = await rec_server.api("GET", f"/api/v1/rooms/{rid}/recording")
        assert state["active"] is True
    finally:
        await doctor.close()
        await patient.close()
