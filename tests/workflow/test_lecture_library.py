"""Lectures from the coordinator's side: recorded by default, attendance counted, the audience's
questions (the room's chat) kept with the lecture, and the replay library that units' staff
watch from (recording index rows stand in for media here; tests/browser plays a real one)."""

from __future__ import annotations

from datetime import timedelta

from tests.workflow.helpers import WorkflowServer, cst
from vidconsult.domain.recordings import Recording, RecordingStatus
from web.recordings_api import RECORDINGS
from web.workflow_keys import SCHEDULER


async def test_lecture_records_counts_its_audience_and_keeps_questions(
    wf: WorkflowServer, clients
) -> None:
    for unit in ("cty-1", "vil-1", "vil-2"):
        await wf.unit(unit)
    await wf.expert("wang")
    lecture = await wf.ok(
        "POST",
        "/api/v1/lectures",
        {
            "title": "ECG for village doctors",
            "presenter_id": "wang",
            "audience_unit_ids": ["cty-1", "vil-1", "vil-2"],
            "start": cst(10, 19).isoformat(),
            "end": cst(10, 20).isoformat(),
        },
        status=201,
    )
    room_id = lecture["room"]["room_id"]
    # recorded by default, like a consultation
    status = await wf.ok("GET", f"/api/v1/rooms/{room_id}/recording")
    assert status["policy"]["enabled"] is True

    links = (await wf.ok("GET", f"/api/v1/lectures/{lecture['id']}/links"))["links"]
    wf.clock.current = cst(10, 18, 55)
    await wf.app[SCHEDULER].tick()
    viewers = []
    for unit in ("unit-vil-1", "unit-cty-1"):
        viewer = clients()
        await viewer.connect(wf.url, next(x["token"] for x in links if x["identity"] == unit))
        await viewer.request("join")
        viewers.append(viewer)
    # a question from the village, by chat
    sent = await viewers[0].request("chat.send", {"text": "Is ST elevation in aVR urgent?"})
    assert sent["ok"] is True
    activity = await wf.ok("GET", f"/api/v1/lectures/{lecture['id']}/activity")
    assert (activity["audience_invited"], activity["audience_joined"]) == (3, 2)
    assert activity["audience_now"] == 2
    assert activity["audience_identities"] == ["unit-cty-1", "unit-vil-1"]
    assert activity["presenter_joined"] is False
    [question] = activity["questions"]
    assert question["text"] == "Is ST elevation in aVR urgent?"
    assert question["identity"] == "unit-vil-1" and question["sent_at"].endswith("+00:00")
    # the county leaves (a dropped connection would keep its seat for the reconnect grace)
    await viewers[1].request("leave")
    await viewers[1].close()
    activity = await wf.ok("GET", f"/api/v1/lectures/{lecture['id']}/activity")
    assert (activity["audience_joined"], activity["audience_now"]) == (2, 1)

    # the library: the lecture (started) with its finished recording
    store = wf.app[RECORDINGS].store
    rec = Recording(
        id="rec_0123456789ab",
        room_id=room_id,
        case_id=None,
        identity="wang",
        role="expert",
        session_id="ses_1",
        path="2026/03/10/x/wang-rec_0123456789ab.webm",
        started_at=cst(10, 19),
        kinds=["audio", "video"],
        codecs=["opus", "vp8"],
    )
    await store.add_recording(rec)
    rec.status = RecordingStatus.COMPLETED
    rec.ended_at = cst(10, 19) + timedelta(minutes=50)
    rec.duration_ms = 50 * 60_000
    await store.save_recording(rec)
    wf.clock.current = cst(10, 19, 5)
    unit_doctor = wf.mint("dr.zhao", "doctor")  # a room-less staff token
    library = await wf.ok("GET", "/api/v1/library", token=unit_doctor)
    [entry] = library["lectures"]
    assert entry["id"] == lecture["id"] and entry["questions"] == 1
    assert entry["attendance"]["audience_joined"] == 2
    assert [r["id"] for r in entry["recordings"]] == ["rec_0123456789ab"]
    link = await wf.ok("GET", "/api/v1/library/recordings/rec_0123456789ab/link", token=unit_doctor)
    assert "/api/v1/recordings/rec_0123456789ab/content?" in link["url"]
    log = await wf.ok("GET", f"/api/v1/rooms/{room_id}/access-log")
    assert [(e["actor"], e["action"]) for e in log["entries"]] == [("dr.zhao", "recording.play")]
    # a patient's room token may not browse it
    patient = wf.mint("patient-x", "patient", room="rm_other")
    status_code, err = await wf.api("GET", "/api/v1/library", token=patient)
    assert status_code == 403
