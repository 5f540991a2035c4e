"""Emergency paging over the real server on a fake clock: the on-duty expert's workspace rings
(the ``/staff`` namespace) and ``page.sent`` carries the gateway's data; unanswered in the
configured time, the backup on the rota is paged (the clock moves, ``tick()`` runs: no
sleeping), then the coordinators; acceptance answers, hands back a join link, cancels the other
pages; every step is on the case's audit trail; the metrics count it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.fakes import FakeClock
from tests.sio import RawClient
from tests.workflow.helpers import WorkflowServer, cardiology_on_duty, case_body, workflow_server
from vidconsult.account_admin import create_account
from vidconsult.config import Settings
from web.workflow_keys import PAGING

PASSWORD = "correct horse battery"


@pytest.fixture
async def wf(settings: Settings, clock: FakeClock) -> AsyncIterator[WorkflowServer]:
    """As tests/workflow/conftest.py's, with a 30 s answer time and no paging loop."""
    async with serving(settings, clock) as server:
        yield server


@contextlib.asynccontextmanager
async def serving(settings: Settings, clock: FakeClock) -> AsyncIterator[WorkflowServer]:
    settings = settings.model_copy(
        update={"scheduler_interval": 0, "paging_interval": 0, "paging_answer_seconds": 30}
    )
    async with workflow_server(settings, clock) as server:
        yield server


async def account(settings: Settings, username: str, role: str, **kw: Any) -> None:
    await asyncio.to_thread(
        create_account, settings.data_dir, username, role, PASSWORD, username.title(), **kw
    )


async def login(wf: WorkflowServer, username: str) -> str:
    got = await wf.ok(
        "POST", "/api/v1/auth/login", {"username": username, "password": PASSWORD}, token=""
    )
    return got["token"]


@pytest.fixture
async def duty(wf: WorkflowServer, settings: Settings) -> WorkflowServer:
    return await on_duty(wf, settings)


async def on_duty(wf: WorkflowServer, settings: Settings) -> WorkflowServer:
    await cardiology_on_duty(wf)  # zhou first, wang the backup
    await account(settings, "zhou", "expert", phone="+86 138 0000 0001")
    await account(settings, "wang", "expert", phone="+86 138 0000 0002")
    await account(settings, "li.coord", "coordinator", phone="+86 138 0000 0009")
    await account(settings, "vil.doctor", "doctor", unit_id="vil-1")
    return wf


async def staff(wf: WorkflowServer, make: Any, token: str) -> RawClient:
    client: RawClient = make()
    await client.connect_staff(wf.url, token)
    return client


@pytest.fixture
async def clients() -> AsyncIterator[Any]:
    made: list[RawClient] = []

    def make() -> RawClient:
        made.append(RawClient())
        return made[-1]

    yield make
    for c in made:
        await c.close()


def audit_actions(case: dict[str, Any]) -> list[tuple[str, str]]:
    skip = {"transition", "created"}
    return [(row["action"], row["note"]) for row in case["audit"] if row["action"] not in skip]


async def test_page_rings_escalates_to_the_backup_and_the_answer_lands_in_the_room(
    duty: WorkflowServer, clients: Any
) -> None:
    wf = duty
    zhou, wang, coord = [await login(wf, u) for u in ("zhou", "wang", "li.coord")]
    zhou_ws = await staff(wf, clients, zhou)
    wang_ws = await staff(wf, clients, wang)
    coord_ws = await staff(wf, clients, coord)
    zhou_ring = zhou_ws.expect("page.ring")

    # the unit doctor files the emergency for their own unit
    doctor = await login(wf, "vil.doctor")
    got = await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201, token=doctor)
    case_id, room_id = got["case"]["id"], got["room"]["id"]
    assert [link["kind"] for link in got["links"]] == ["unit"]  # never the expert's token
    ring = await asyncio.wait_for(zhou_ring, 5)
    assert (ring["case_id"], ring["room_id"], ring["target"]["id"], ring["step"]) == (
        case_id,
        room_id,
        "zhou",
        1,
    )
    assert ring["escalates_at"] == (wf.clock.now() + timedelta(seconds=30)).isoformat()
    assert ring["answer_url"].endswith(f"/workspace#page={case_id}.p0")
    assert wang_ws.seen("page.ring") == []
    [sent] = wf.seen("page.sent")
    assert sent["target"] == {"kind": "expert", "id": "zhou"}
    assert sent["contacts"] == [{"name": "Zhou", "phone": "+86 138 0000 0001"}]
    mine = await wf.ok("GET", "/api/v1/pages/mine", token=zhou)
    assert [p["page_id"] for p in mine["pages"]] == [f"{case_id}.p0"]
    assert (await wf.ok("GET", "/api/v1/pages/mine", token=wang))["pages"] == []

    # 29 s: nothing; 30 s: the backup is paged
    pager = wf.app[PAGING]
    wf.clock.advance(seconds=29)
    assert await pager.tick() == 0
    wang_ring = wang_ws.expect("page.ring")
    wf.clock.advance(seconds=1)
    assert await pager.tick() == 1
    assert (await asyncio.wait_for(wang_ring, 5))["target"]["id"] == "wang"
    assert coord_ws.seen("page.ring") == []

    # nobody but the paged person answers a page
    err = await wf.ok("POST", f"/api/v1/pages/{case_id}.p1/accept", status=403, token=zhou)
    assert err["error"]["code"] == "not_paged"
    # the backup accepts: the answer carries their join link; the other page stops ringing
    zhou_closed = zhou_ws.expect("page.closed")
    wf.clock.advance(seconds=4)
    accepted = await wf.ok("POST", f"/api/v1/pages/{case_id}.p1/accept", token=wang)
    link = accepted["link"]
    claims = wf.verify(link["token"])
    assert (claims.room, claims.identity, claims.role.value) == (room_id, "wang", "expert")
    assert accepted["paging"]["answered_by"] == "wang"
    assert (await asyncio.wait_for(zhou_closed, 5))["status"] == "cancelled"
    err = await wf.ok("POST", f"/api/v1/pages/{case_id}.p0/accept", status=409, token=zhou)
    assert err["error"]["code"] == "page_answered"
    # the backup joins the room: the first expert's arrival is recorded
    wf.clock.advance(seconds=6)
    c = clients()
    await c.connect(wf.url, link["token"])
    await c.request("join")

    case = await wf.ok("GET", f"/api/v1/cases/{case_id}")
    assert "wang" in case["expert_ids"]  # so they sign the report
    actions = audit_actions(case)
    assert [a for a, _ in actions] == [
        "page.sent",
        "page.unanswered",
        "page.sent",
        "expert.added",
        "page.accepted",
        "page.cancelled",
        "expert.arrived",
    ]
    assert "expert zhou" in actions[0][1] and "expert wang" in actions[2][1]
    assert "34.0 s after the request" in actions[4][1]
    times = [row["at"] for row in case["audit"] if row["action"].startswith("page.")]
    assert times == sorted(times) and times[0] != times[-1]
    board = await wf.ok("GET", "/api/v1/paging")
    [row] = board["pagings"]
    assert row["state"] == "answered" and row["answered_by"] == "wang"
    assert [p["status"] for p in row["pages"]] == ["cancelled", "accepted"]
    assert row["elapsed_seconds"] == 34.0 and row["first_expert_at"] is not None
    assert board["answer_within_seconds"] == 30
    # the backup signs the report from their workspace login
    report = {"diagnosis": "STEMI", "treatment_plan": "PCI"}
    done = await wf.ok("POST", f"/api/v1/cases/{case_id}/report", report, token=wang)
    assert done["report"]["signed_by"] == "wang"

    metrics = await wf.api("GET", "/metrics", token="")
    text = metrics[1]
    assert "vidconsult_emergency_time_to_acknowledge_seconds_count 1.0" in text
    assert 'vidconsult_emergency_time_to_acknowledge_seconds_bucket{le="60.0"} 1.0' in text
    assert 'vidconsult_emergency_time_to_acknowledge_seconds_bucket{le="30.0"} 0.0' in text
    assert "vidconsult_emergency_time_to_first_expert_seconds_sum 40.0" in text
    assert "vidconsult_pages_sent_total 2.0" in text
    # the statistics read the same arrival from the case's trail: 40 s to the first expert
    stats = (await wf.ok("GET", "/api/v1/stats?period=month"))["overall"]
    assert stats["emergency_to_expert_count"] == 1
    assert stats["emergency_to_expert_median_s"] == stats["emergency_to_expert_p90_s"] == 40.0


async def test_unanswered_pages_reach_the_coordinators_and_decline_moves_on(
    duty: WorkflowServer, clients: Any
) -> None:
    wf = duty
    zhou, coord = await login(wf, "zhou"), await login(wf, "li.coord")
    coord_ws = await staff(wf, clients, coord)
    got = await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201)
    case_id = got["case"]["id"]
    # zhou declines: wang is paged at once; wang never answers: the coordinators are
    await wf.ok("POST", f"/api/v1/pages/{case_id}.p0/decline", token=zhou)
    coord_ring = coord_ws.expect("page.ring")
    wf.clock.advance(seconds=30)
    await wf.app[PAGING].tick()
    ring = await asyncio.wait_for(coord_ring, 5)
    assert ring["target"] == {"kind": "coordinator", "id": "coordinators"} and ring["step"] == 3
    assert [e["target"]["id"] for e in wf.seen("page.sent")] == ["zhou", "wang", "coordinators"]
    assert wf.seen("page.sent")[-1]["contacts"] == [
        {"name": "Li.Coord", "phone": "+86 138 0000 0009"}
    ]
    accepted = await wf.ok("POST", f"/api/v1/pages/{case_id}.p2/accept", token=coord)
    assert accepted["link"]["role"] == "coordinator"
    case = await wf.ok("GET", f"/api/v1/cases/{case_id}")
    assert [a for a, _ in audit_actions(case)] == [
        "page.sent",
        "page.declined",
        "page.sent",
        "page.unanswered",
        "page.sent",
        "page.accepted",
        "page.cancelled",
    ]


async def test_open_pages_survive_a_restart_and_the_clock_resumes(
    settings: Settings, clock: FakeClock, clients: Any
) -> None:
    async with serving(settings, clock) as wf:
        await on_duty(wf, settings)
        zhou, wang = await login(wf, "zhou"), await login(wf, "wang")
        got = await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201)
        case_id, room_id = got["case"]["id"], got["room"]["id"]
        opened = wf.clock.now()
        wf.clock.advance(seconds=20)
    # the server stops 20 s into the first page, and starts again on the same data
    async with serving(settings, clock) as wf:
        pager = wf.app[PAGING]
        # the page still rings for zhou, with its own clock; the board has it
        [page] = (await wf.ok("GET", "/api/v1/pages/mine", token=zhou))["pages"]
        assert page["page_id"] == f"{case_id}.p0" and page["status"] == "ringing"
        assert datetime.fromisoformat(page["sent_at"]) == opened
        assert datetime.fromisoformat(page["escalates_at"]) == opened + timedelta(seconds=30)
        [row] = (await wf.ok("GET", "/api/v1/paging"))["pagings"]
        assert row["case_id"] == case_id and row["state"] == "paging"
        assert [p["target"]["id"] for p in row["pages"]] == ["zhou"]
        # 29 s after the page: nothing; 30 s: the backup's workspace rings
        wang_ws = await staff(wf, clients, wang)
        wang_ring = wang_ws.expect("page.ring")
        wf.clock.advance(seconds=9)
        assert await pager.tick() == 0
        wf.clock.advance(seconds=1)
        assert await pager.tick() == 1
        assert (await asyncio.wait_for(wang_ring, 5))["page_id"] == f"{case_id}.p1"
        # the backup answers and lands in the room the emergency opened before the restart
        accepted = await wf.ok("POST", f"/api/v1/pages/{case_id}.p1/accept", token=wang)
        assert wf.verify(accepted["link"]["token"]).room == room_id
        case = await wf.ok("GET", f"/api/v1/cases/{case_id}")
        assert [a for a, _ in audit_actions(case)] == [
            "page.sent",
            "page.unanswered",
            "page.sent",
            "expert.added",
            "page.accepted",
            "page.cancelled",
        ]
    # and once more: the answer is kept, nothing rings any more
    async with serving(settings, clock) as wf:
        assert (await wf.ok("GET", "/api/v1/pages/mine", token=zhou))["pages"] == []
        [row] = (await wf.ok("GET", "/api/v1/paging"))["pagings"]
        assert row["state"] == "answered" and row["answered_by"] == "wang"
        assert [p["status"] for p in row["pages"]] == ["cancelled", "accepted"]
        assert await wf.app[PAGING].tick() == 0


async def test_staff_channel_refuses_room_tokens_and_anonymous(duty: WorkflowServer) -> None:
    import socketio

    room = await duty.create_room("x")
    for token in ("", "garbage", duty.mint("kiosk", "patient", room=room["id"])):
        client = socketio.AsyncClient(reconnection=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(
                duty.url,
                auth={"token": token},
                transports=["websocket"],
                namespaces=["/staff"],
                wait_timeout=5,
            )
        await client.disconnect()
