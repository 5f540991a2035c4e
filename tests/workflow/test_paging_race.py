"""An acceptance and an escalation (or two acceptances, an acceptance and a decline) at the same
instant on two nodes sharing one PostgreSQL store: exactly one outcome, decided by the store's
compare-and-set on the paging's revision, and nothing lost.

The two writes are interleaved deterministically: one node's write is held at the store's door
(a gate around ``save_paging``; the change was already made on that node's copy) while the other
node's change lands, then let through. The clock is a fake one; nothing sleeps. With the old
"the later write wins" store each of these fails: the held write overwrote the other."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeClock
from tests.postgres import PostgresServer
from tests.workflow.helpers import WorkflowServer, cardiology_on_duty, case_body
from tests.workflow.test_paging_nodes import node, sent
from vidconsult.config import Settings
from vidconsult.domain.paging import Paging
from web.workflow_keys import PAGING


class Gate:
    """Holds the next ``save_paging`` of one node until :attr:`go` is set (the change is made,
    its write not yet in the store); everything else goes straight to the store."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.reached = asyncio.Event()
        self.go = asyncio.Event()
        self._armed = True

    async def save_paging(self, paging: Paging, outbox: Any = ()) -> Any:
        if self._armed:
            self._armed = False
            self.reached.set()
            await self.go.wait()
        return await self._store.save_paging(paging, outbox)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class Pushes:
    """What a node pushed to workspaces (the /staff namespace's port), in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def to_person(self, identity: str, event: str, payload: dict[str, Any]) -> int:
        self.sent.append((identity, event, payload))
        return 1

    async def to_coordinators(self, event: str, payload: dict[str, Any]) -> int:
        self.sent.append(("coordinators", event, payload))
        return 1

    def to(self, identity: str) -> list[tuple[str, str, str]]:
        return [(e, p["page_id"], p["status"]) for i, e, p in self.sent if i == identity]


def gate(server: WorkflowServer) -> Gate:
    service = server.app[PAGING]
    held = Gate(service._store)
    service._store = held
    return held


@contextlib.asynccontextmanager
async def two_nodes(
    settings: Settings, clock: FakeClock, postgres: PostgresServer, tmp_path: Path
) -> AsyncIterator[tuple[WorkflowServer, WorkflowServer, str]]:
    """Nodes a and b; b holds the scheduler's lease (b escalates); an emergency filed on a,
    zhou's page ringing, wang the backup."""
    url = postgres.new_database()
    async with node(settings, clock, url, tmp_path / "a") as a:
        await cardiology_on_duty(a)
        async with node(settings, clock, url, tmp_path / "b") as b:
            assert await b.app[PAGING].tick() == 0  # b takes the lease
            for n in (a, b):
                n.app[PAGING].push = Pushes()
            case = (await a.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"]
            yield a, b, case["id"]


def pushes(server: WorkflowServer) -> Pushes:
    push = server.app[PAGING].push
    assert isinstance(push, Pushes)
    return push


async def stored(server: WorkflowServer, case_id: str) -> Paging:
    """The store's copy (what every node reads)."""
    since = server.clock.now() - timedelta(hours=1)
    (paging,) = [
        p for p in await server.app[PAGING]._store.list_pagings(since=since) if p.case_id == case_id
    ]
    return paging


async def test_accept_lands_first_the_escalation_pages_no_one(
    settings: Settings, clock: FakeClock, postgres: PostgresServer, tmp_path: Path
) -> None:
    async with two_nodes(settings, clock, postgres, tmp_path) as (a, b, case_id):
        zhou = a.mint("zhou", "expert")
        clock.advance(seconds=20)  # zhou's page ran out: b escalates to wang...
        held = gate(b)
        escalation = asyncio.create_task(b.app[PAGING].tick())
        await held.reached.wait()  # ...made on b's copy, its write held
        # the same instant, zhou accepts on a: it lands first
        got = await a.ok("POST", f"/api/v1/pages/{case_id}.p0/accept", token=zhou)
        assert got["paging"]["state"] == "answered"
        held.go.set()
        assert await escalation == 0  # re-decided on the store's copy: answered, no one paged
        paging = await stored(a, case_id)
        assert paging.state.value == "answered" and paging.answered_by == "zhou"
        assert [(p.id, p.status.value) for p in paging.pages] == [(f"{case_id}.p0", "accepted")]
        assert sent((a, b), case_id) == ["zhou"]  # wang was never paged
        assert pushes(b).to("wang") == [] and pushes(a).to("wang") == []
        # both nodes' boards agree, and a later tick still pages no one
        clock.advance(seconds=60)
        assert await b.app[PAGING].tick() == 0
        board = await b.ok("GET", "/api/v1/paging")
        (mine,) = [p for p in board["pagings"] if p["case_id"] == case_id]
        assert mine["state"] == "answered" and len(mine["pages"]) == 1


async def test_escalation_lands_first_the_accept_still_answers_and_stops_the_backup(
    settings: Settings, clock: FakeClock, postgres: PostgresServer, tmp_path: Path
) -> None:
    async with two_nodes(settings, clock, postgres, tmp_path) as (a, b, case_id):
        zhou = a.mint("zhou", "expert")
        clock.advance(seconds=20)
        held = gate(a)
        accept = asyncio.create_task(
            a.api("POST", f"/api/v1/pages/{case_id}.p0/accept", token=zhou)
        )
        await held.reached.wait()  # zhou's acceptance made on a's copy, its write held
        assert await b.app[PAGING].tick() == 1  # the escalation lands first: wang rings
        assert pushes(b).to("wang") == [("page.ring", f"{case_id}.p1", "ringing")]
        held.go.set()
        status, got = await accept
        # an unanswered page stays open: zhou's acceptance is made again on the store's
        # copy and answers; wang's page, sent a moment before, is cancelled and wang told
        assert status == 200, got
        assert [(p["page_id"], p["status"]) for p in got["paging"]["pages"]] == [
            (f"{case_id}.p0", "accepted"),
            (f"{case_id}.p1", "cancelled"),
        ]
        paging = await stored(b, case_id)
        assert paging.answered_by == "zhou"
        assert [p.status.value for p in paging.pages] == ["accepted", "cancelled"]
        assert pushes(a).to("wang") == [("page.closed", f"{case_id}.p1", "cancelled")]
        case = await a.ok("GET", f"/api/v1/cases/{case_id}")
        actions = [(row["action"], row["note"].split(" · ")[0]) for row in case["audit"]]
        assert ("page.cancelled", "expert wang") in actions
        assert ("page.accepted", "expert zhou") in actions
        # wang's workspace, opened now, has nothing ringing
        wang = b.mint("wang", "expert")
        assert (await b.ok("GET", "/api/v1/pages/mine", token=wang))["pages"] == []


@pytest.mark.parametrize("loser", ["accept", "decline"])
async def test_two_answers_at_once_the_second_is_refused(
    loser: str,
    settings: Settings,
    clock: FakeClock,
    postgres: PostgresServer,
    tmp_path: Path,
) -> None:
    async with two_nodes(settings, clock, postgres, tmp_path) as (a, b, case_id):
        clock.advance(seconds=20)
        assert await b.app[PAGING].tick() == 1  # zhou's page unanswered (open), wang's rings
        held = gate(a)
        zhou = a.mint("zhou", "expert")
        late = asyncio.create_task(a.api("POST", f"/api/v1/pages/{case_id}.p0/{loser}", token=zhou))
        await held.reached.wait()
        wang = b.mint("wang", "expert")
        got = await b.ok("POST", f"/api/v1/pages/{case_id}.p1/accept", token=wang)
        assert got["paging"]["answered_by"] == "wang"
        held.go.set()
        status, body = await late
        assert status == 409, body
        assert body["error"]["code"] == "page_answered"
        assert "wang" in body["error"]["message"]
        paging = await stored(a, case_id)
        assert paging.answered_by == "wang"
        assert [p.status.value for p in paging.pages] == ["cancelled", "accepted"]


async def test_accept_while_the_room_ends_is_refused_as_ended(
    settings: Settings, clock: FakeClock, postgres: PostgresServer, tmp_path: Path
) -> None:
    async with two_nodes(settings, clock, postgres, tmp_path) as (a, b, case_id):
        assert await b.app[PAGING].tick() == 0  # b reads the paging (nothing due)
        held = gate(a)
        zhou = a.mint("zhou", "expert")
        accept = asyncio.create_task(
            a.api("POST", f"/api/v1/pages/{case_id}.p0/accept", token=zhou)
        )
        await held.reached.wait()
        # the room ends on b (its node): every open page is cancelled, first
        await b.app[PAGING].on_event("room.ended", {"case_id": case_id})
        held.go.set()
        status, body = await accept
        assert status == 409, body
        assert body["error"]["code"] == "page_closed"
        paging = await stored(a, case_id)
        assert paging.state.value == "closed" and paging.answered_by is None
        assert [p.status.value for p in paging.pages] == ["cancelled"]


async def test_decline_and_escalation_at_once_page_the_backup_once(
    settings: Settings, clock: FakeClock, postgres: PostgresServer, tmp_path: Path
) -> None:
    """Both move the paging to wang: whichever lands second is made again on the store's copy
    and pages no one (the old code paged wang twice, and kept one of the two pages)."""
    async with two_nodes(settings, clock, postgres, tmp_path) as (a, b, case_id):
        clock.advance(seconds=20)
        held = gate(a)
        zhou = a.mint("zhou", "expert")
        decline = asyncio.create_task(
            a.api("POST", f"/api/v1/pages/{case_id}.p0/decline", token=zhou)
        )
        await held.reached.wait()  # zhou's decline paged wang on a's copy; its write waits
        assert await b.app[PAGING].tick() == 1  # the escalation pages wang, first
        held.go.set()
        status, body = await decline
        assert status == 200, body
        assert sent((a, b), case_id) == ["wang", "zhou"]  # wang once
        rings = [e for n in (a, b) for e in pushes(n).to("wang") if e[0] == "page.ring"]
        assert rings == [("page.ring", f"{case_id}.p1", "ringing")]
        paging = await stored(a, case_id)
        assert [(p.id, p.status.value) for p in paging.pages] == [
            (f"{case_id}.p0", "declined"),
            (f"{case_id}.p1", "ringing"),
        ]
