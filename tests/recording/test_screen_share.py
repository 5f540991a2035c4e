"""Screen share (issue 10): a second video track declared as ``screen`` reaches the others
as such and is recorded as a file of its own, which the recording index lists as ``screen``."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiortc.mediastreams import VideoStreamTrack

from tests.helpers import ServerHandle
from vidconsult.client import RoomClient


async def test_a_shared_screen_is_its_own_track_and_its_own_file(
    rec_server: ServerHandle, media_files: dict[str, Path]
) -> None:
    room = await rec_server.create_room("Cardiology consult", case_id="case-ecg")
    rid = room["id"]
    expert = RoomClient(rec_server.url, rec_server.mint("dr-li", "expert", room=rid))
    patient = RoomClient(rec_server.url, rec_server.mint("pt-wang", "patient", room=rid))
    try:
        await expert.connect()
        await patient.connect()
        camera = await expert.publish_file(str(media_files["a"]), loop=True)
        await expert.wait_event("recording.started")  # consultations record by default
        shared = await expert.publish(VideoStreamTrack(), source="screen")
        (screen_sid,) = shared.values()
        assert screen_sid not in camera.values()

        seen = await patient.wait_for_track("dr-li", "video", source="screen")
        assert seen.track_sid == screen_sid
        assert (await seen.next_frame(timeout=20)).width > 0
        cam = await patient.wait_for_track("dr-li", "video", source="camera")
        assert cam.track_sid != screen_sid
        # the roster says which of its tracks is the screen
        _, view = await rec_server.api("GET", f"/api/v1/rooms/{rid}")
        (who,) = [p for p in view["participants"] if p["identity"] == "dr-li"]
        sources = {t["sid"]: t["source"] for t in who["tracks"]}
        assert sources[screen_sid] == "screen"
        assert sorted(sources.values()) == ["camera", "microphone", "screen"]

        for _ in range(100):  # the screen's file opens when its track reaches the recorder
            _, status = await rec_server.api("GET", f"/api/v1/rooms/{rid}/recording")
            if any(f["source"] == "screen" for f in status["files"]):
                break
            await asyncio.sleep(0.1)
        await seen.wait_frames(seen.frames + 30, timeout=20)
        code, _ = await rec_server.api("POST", f"/api/v1/rooms/{rid}/recording/stop")
        assert code == 200
    finally:
        await expert.close()
        await patient.close()

    _, listing = await rec_server.api("GET", f"/api/v1/recordings?room_id={rid}")
    files = [(r["identity"], r["source"]) for r in listing["recordings"]]
    assert sorted(files) == [("dr-li", "camera"), ("dr-li", "screen")]
    (screen,) = [r for r in listing["recordings"] if r["source"] == "screen"]
    assert screen["kinds"] == ["video"] and screen["status"] == "completed"
    (cam_file,) = [r for r in listing["recordings"] if r["source"] == "camera"]
    assert sorted(cam_file["kinds"]) == ["audio", "video"]
