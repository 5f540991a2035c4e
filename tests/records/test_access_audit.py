"""Access to medical data lands on the audit trail: every playback or download link and export
of a recording, every view and download of an attachment (who, role, when, what), on the case's
trail for coordinators, and on the room's log for recordings without a case."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes import FakeClock
from tests.helpers import ServerHandle
from tests.installed import serve
from vidconsult import areas
from vidconsult.config import Settings
from vidconsult.domain.cases import Patient, Sex, Urgency, open_case
from vidconsult.domain.recordings import Recording, RecordingStatus
from vidconsult.workflow_app import STORES
from web.recordings_api import RECORDINGS

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4 + b"\n%%EOF\n"
CASE = "case_0a1b2c3d4e5f"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC))


@pytest.fixture
async def server(settings: Settings, clock: FakeClock) -> AsyncIterator[ServerHandle]:
    installers = [areas.install_records, areas.install_recordings, areas.install_access]
    async with serve(settings, installers, clock=clock) as handle:
        case = open_case(
            case_id=CASE,
            patient=Patient("Wang Fang", Sex.FEMALE, age_years=61),
            referring_unit_id="unit_1",
            referring_doctor="Dr Zhou",
            specialty="cardiology",
            urgency=Urgency.ROUTINE,
            clinical_summary="chest pain on exertion",
            requested_at=clock.now(),
            requested_by="coordinator",
        )
        await handle.app[STORES].cases.create_case(case)
        yield handle


async def add_recording(server: ServerHandle, rec_id: str, room_id: str, case_id: str | None):
    await server.app[RECORDINGS].store.add_recording(
        Recording(
            id=rec_id,
            room_id=room_id,
            case_id=case_id,
            identity="dr-li",
            role="doctor",
            path=f"2026/12/05/{room_id}/dr-li.webm",
            started_at=datetime.now(UTC) - timedelta(hours=1),
            status=RecordingStatus.COMPLETED,
        )
    )


async def trail(server: ServerHandle, token: str | None = None) -> list[dict]:
    status, case = await server.api("GET", f"/api/v1/cases/{CASE}", token=token)
    assert status == 200, case
    return case["audit"]


def accesses(audit: list[dict]) -> list[tuple[str, str, str, str]]:
    return [(e["actor"], e["role"], e["action"], e["subject"]) for e in audit if "subject" in e]


async def test_recording_links_and_exports_land_on_the_case_trail(
    server: ServerHandle, clock: FakeClock
) -> None:
    room = await server.create_room("Cardiology", case_id=CASE)
    await add_recording(server, "rec_000000000001", room["id"], CASE)
    doctor = server.mint("dr-li", "doctor", room=room["id"])

    clock.advance(seconds=1)
    assert (await server.api("GET", "/api/v1/recordings/rec_000000000001/link", token=doctor))[
        0
    ] == 200
    clock.advance(seconds=1)
    status, _ = await server.api("GET", "/api/v1/recordings/rec_000000000001/link?purpose=download")
    assert status == 200
    assert (await server.api("GET", "/api/v1/recordings/rec_000000000001/link?purpose=x"))[0] == 400
    clock.advance(seconds=1)
    status, job = await server.api("POST", f"/api/v1/rooms/{room['id']}/exports")
    assert status == 202, job
    done = {**job, "id": "exp_00000000000d", "status": "done"}
    await server.app[RECORDINGS].store.save_export(done)
    clock.advance(seconds=1)
    assert (await server.api("GET", "/api/v1/exports/exp_00000000000d/link"))[0] == 200

    audit = await trail(server)
    assert accesses(audit) == [
        ("dr-li", "doctor", "recording.play", "rec_000000000001"),
        ("coordinator", "coordinator", "recording.download", "rec_000000000001"),
        ("coordinator", "coordinator", "recording.export", job["id"]),
        ("coordinator", "coordinator", "export.download", "exp_00000000000d"),
    ]
    # in time order with the case's own entries, each with when and which room
    assert audit[0]["action"] == "created"
    times = [datetime.fromisoformat(e["at"]) for e in audit]
    assert times == sorted(times)
    assert audit[1]["room_id"] == room["id"] and audit[1]["note"] == "dr-li.webm"


async def test_attachment_views_and_downloads_land_on_the_case_trail(
    server: ServerHandle, clock: FakeClock
) -> None:
    status, att = await server.api(
        "POST",
        f"/api/v1/cases/{CASE}/attachments",
        params={"filename": "ecg.pdf"},
        data=PDF,
        headers={"Content-Type": "application/pdf"},
    )
    assert status == 201, att
    patient = server.mint("pt", "patient", room="rm_x", case=CASE)
    clock.advance(seconds=1)
    status, seen = await server.api(
        "GET", f"/api/v1/cases/{CASE}/attachments/{att['id']}", token=patient
    )
    assert status == 200
    clock.advance(seconds=1)
    # the patient's signed link: no bearer header, still the patient's download
    async with server.session.get(seen["download_url"]) as resp:
        assert resp.status == 200 and await resp.read() == PDF
    clock.advance(seconds=1)
    async with server.session.get(
        server.url + att["content_url"],
        headers={"Authorization": f"Bearer {server.coordinator_token}"},
    ) as resp:
        assert resp.status == 200

    assert accesses(await trail(server)) == [
        ("pt", "patient", "attachment.view", att["id"]),
        ("pt", "patient", "attachment.download", att["id"]),
        ("coordinator", "coordinator", "attachment.download", att["id"]),
    ]
    # who a link was handed to is signed: it cannot be rewritten to blame someone else
    parts = urlsplit(seen["download_url"])
    query = parse_qs(parts.query)
    who, _, mac = query["signature"][0].partition(".")
    forged = f"{parts.path}?expires={query['expires'][0]}&signature=Y29vcmQKY29vcmQ.{mac}"
    async with server.session.get(server.url + forged) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "link_invalid"


async def test_only_coordinators_read_the_access_entries(server: ServerHandle) -> None:
    room = await server.create_room("Cardiology", case_id=CASE)
    await add_recording(server, "rec_000000000002", room["id"], CASE)
    assert (await server.api("GET", "/api/v1/recordings/rec_000000000002/link"))[0] == 200
    coordinator_view = accesses(await trail(server))
    assert coordinator_view == [
        ("coordinator", "coordinator", "recording.play", "rec_000000000002")
    ]
    # the case's expert reads the case, not who opened its records
    stores = server.app[STORES]
    case = await stores.cases.get_case(CASE)
    case.expert_ids = ("exp_1",)
    await stores.cases.save_case(case, revision=len(case.audit))
    expert = server.mint("exp_1", "expert")
    assert accesses(await trail(server, expert)) == []
    doctor = server.mint("dr-li", "doctor", room=room["id"])
    path = f"/api/v1/rooms/{room['id']}/access-log"
    assert (await server.api("GET", path, token=doctor))[0] == 403
    assert (await server.api("GET", path, token=expert))[0] == 403


async def test_recordings_without_a_case_land_on_the_rooms_log(server: ServerHandle) -> None:
    room = await server.create_room("Teaching")
    await add_recording(server, "rec_000000000003", room["id"], None)
    doctor = server.mint("dr-li", "doctor", room=room["id"])
    path = "/api/v1/recordings/rec_000000000003/link?purpose=download"
    assert (await server.api("GET", path, token=doctor))[0] == 200
    status, body = await server.api("GET", f"/api/v1/rooms/{room['id']}/access-log")
    assert status == 200, body
    assert [
        (e["actor"], e["role"], e["action"], e["subject"], e["case_id"]) for e in body["entries"]
    ] == [("dr-li", "doctor", "recording.download", "rec_000000000003", None)]
