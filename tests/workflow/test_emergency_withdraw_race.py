"""A withdrawal and an expert's join, ordered on the room's node (the real server, SQLite,
Socket.IO clients). A withdrawal checks that no expert is in the room, cancels the case, then
ends the room: an expert whose join lands between the check and the end must be refused before
it is admitted (``room_busy``, to try again: the withdrawal may yet fail), or be seen by the
check (409 ``expert_joined``); never admitted and then disconnected under a cancelled case.
Each race is pinned with a gate (an ``asyncio.Event``) where its window is, never with a
sleep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeClock
from tests.postgres import PostgresServer
from tests.sio import RawClient
from tests.workflow.helpers import WorkflowServer, cardiology_on_duty, case_body
from tests.workflow.test_emergency_withdrawn import WAIT, join_check, joined, link_of
from tests.workflow.test_paging import (  # noqa: F401 (fixtures)
    clients,
    duty,
    login,
    wf,
)
from tests.workflow.test_paging_nodes import node
from vidconsult.cluster.memory import MemoryHub
from vidconsult.config import Settings
from vidconsult.domain.rooms import Room
from vidconsult.errors import Unavailable
from vidconsult.tokens import TokenClaims
from web.keys import ROOM_ROUTER, ROOMS
from web.workflow_keys import CASES


class Gate:
    """Holds whoever passes it until :meth:`open`; ``reached`` is set when the first one
    arrives."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self._open = asyncio.Event()

    async def passing(self) -> None:
        self.reached.set()
        await self._open.wait()

    def open(self) -> None:
        self._open.set()


@dataclass(frozen=True)
class Opened:
    """An emergency whose requesting unit is in its room, on one node (``duty``), and how
    its requesting doctor withdraws it."""

    srv: WorkflowServer
    make: Any  # the test's client factory (the ``clients`` fixture)
    opened: dict[str, Any]
    unit: RawClient
    doctor: str  # the requesting doctor's token

    @property
    def path(self) -> str:
        return f"/api/v1/emergencies/{self.opened['case']['id']}/withdraw"

    def withdraw(self, reason: str = "patient stable") -> Awaitable[tuple[int, Any]]:
        return self.srv.api("POST", self.path, {"reason": reason}, token=self.doctor)

    def withdrawing(self, reason: str = "patient stable") -> asyncio.Task[tuple[int, Any]]:
        """The withdrawal, running (a test holds it at a gate)."""
        return asyncio.create_task(self.withdraw(reason))


@pytest.fixture
async def emergency(duty: WorkflowServer, clients: Any) -> Opened:  # noqa: F811
    doctor = await login(duty, "vil.doctor")
    opened = await duty.ok("POST", "/api/v1/emergencies", case_body(), status=201, token=doctor)
    unit = await joined(duty, clients, link_of(opened, "unit"))
    return Opened(duty, clients, opened, unit, doctor)


def expert_link(srv: WorkflowServer) -> str:
    """The summoned expert's link (it goes with the page, not to the requesting clinic)."""
    return link_of({"links": srv.seen("emergency.requested")[-1]["links"]}, "expert")


def admitted(srv: WorkflowServer, identity: str) -> bool:
    return any(e["identity"] == identity for e in srv.seen("participant.joined"))


def gate_first_case_update(monkeypatch: pytest.MonkeyPatch, cases: Any) -> Gate:
    """A gate that holds the first change of a case (a withdrawal's cancellation, after its
    hold) until it is opened; later changes go by."""
    gate, update = Gate(), cases.update

    async def gated_update(case_id: str, change: Callable[..., Any]) -> Any:
        if not gate.reached.is_set():
            await gate.passing()
        return await update(case_id, change)

    monkeypatch.setattr(cases, "update", gated_update)
    return gate


def gate_seating(monkeypatch: pytest.MonkeyPatch, rooms: Any, identity: str) -> Gate:
    """A gate that holds ``identity``'s join while the room seats it (its media being set up
    under the room's lock)."""
    gate, media = Gate(), rooms._media
    add = media.add_participant

    async def gated_add(room_id: str, who: str, **kw: Any) -> None:
        if who == identity:
            await gate.passing()
        await add(room_id, who, **kw)

    monkeypatch.setattr(media, "add_participant", gated_add)
    return gate


async def expert_joins(make: Any, url: str, link: str) -> tuple[RawClient, dict[str, Any]]:
    """The summoned expert connects with ``link`` and asks to join: (its client, the answer)."""
    expert: RawClient = make()
    await expert.connect(url, link)
    return expert, await asyncio.wait_for(expert.request("join"), WAIT)


TwoNodes = tuple[WorkflowServer, WorkflowServer, WorkflowServer, dict[str, Any], RawClient]


@pytest.fixture
async def on_two_nodes(
    settings: Settings,
    clock: FakeClock,
    postgres: PostgresServer,
    tmp_path: Path,
    clients: Any,  # noqa: F811
) -> AsyncIterator[TwoNodes]:
    """Two nodes on one PostgreSQL and a MemoryHub live state, an emergency opened on the
    first with its unit in the room through the second: (the first node, the room's node,
    the other one, the opened emergency, the unit's client)."""
    url, hub = postgres.new_database(), MemoryHub(ttl=30.0)
    async with (
        node(settings, clock, url, tmp_path / "a", live=hub.node("a")) as a,
        node(settings, clock, url, tmp_path / "b", live=hub.node("b")) as b,
    ):
        await cardiology_on_duty(a)
        opened = await a.ok("POST", "/api/v1/emergencies", case_body(), status=201)
        unit = await joined(b, clients, link_of(opened, "unit"))
        home = await hub.node("a").placement.where(opened["room"]["id"])
        assert home in ("a", "b")
        here, there = (a, b) if home == "a" else (b, a)
        yield a, here, there, opened, unit


async def test_an_expert_joining_between_the_check_and_the_end_is_refused_before_entering(
    emergency: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, opened, unit, make = emergency.srv, emergency.opened, emergency.unit, emergency.make
    # the window: the withdrawal has checked who is in the room and cancels the case (the
    # room's end comes after it); it is held there while the expert joins
    # (the expert's answer to its page, on its join, is a later change: it goes by)
    gate = gate_first_case_update(monkeypatch, srv.app[CASES])
    withdrawal = emergency.withdrawing()
    await asyncio.wait_for(gate.reached.wait(), WAIT)

    expert, answer = await expert_joins(make, srv.url, expert_link(srv))
    # refused before it is admitted: to try again (the withdrawal may yet fail)
    assert "room" not in answer, answer
    assert answer["error"]["code"] == "room_busy", answer
    assert not admitted(srv, "zhou")

    told = unit.expect("room.ended")
    gate.open()
    status, body = await asyncio.wait_for(withdrawal, WAIT)
    assert status == 200, body
    assert body["status"] == "cancelled"
    assert await asyncio.wait_for(told, WAIT) == {"reason": "emergency_withdrawn_by_unit"}
    room = await srv.ok("GET", f"/api/v1/rooms/{opened['room']['id']}")
    assert (room["status"], room["end_reason"]) == ("ended", "emergency_withdrawn_by_unit")
    assert not admitted(srv, "zhou") and not expert.seen("room.ended")
    # its try again finds the room ended; the link check (which its page asks then) says by whom
    answer = await asyncio.wait_for(expert.request("join"), WAIT)
    assert answer["error"]["code"] == "room_ended", answer
    check = await join_check(srv, expert_link(srv))
    assert (check["ok"], check["code"]) == (False, "emergency_withdrawn_by_unit"), check


async def test_a_withdrawal_arriving_while_an_expert_is_being_admitted_is_refused(
    emergency: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, opened, unit, make = emergency.srv, emergency.opened, emergency.unit, emergency.make
    # the expert's join is held while the room admits it (its seat taken, its media being set
    # up under the room's lock); the withdrawal arrives then
    gate = gate_seating(monkeypatch, srv.app[ROOMS], "zhou")
    expert: RawClient = make()
    await expert.connect(srv.url, expert_link(srv))
    joining = asyncio.create_task(expert.request("join"))
    await asyncio.wait_for(gate.reached.wait(), WAIT)
    withdrawal = emergency.withdrawing()
    gate.open()
    answer = await asyncio.wait_for(joining, WAIT)
    assert "room" in answer, answer
    status, body = await asyncio.wait_for(withdrawal, WAIT)
    assert (status, body["error"]["code"]) == (409, "expert_joined"), body
    # nothing changed: the consultation goes on, and the room admits again
    case = await srv.ok("GET", f"/api/v1/cases/{opened['case']['id']}")
    assert case["status"] == "in_progress"
    room = await srv.ok("GET", f"/api/v1/rooms/{opened['room']['id']}")
    assert room["status"] == "open"
    assert {p["identity"] for p in room["participants"]} == {"unit-vil-1", "zhou"}
    assert not unit.seen("room.ended") and not expert.seen("room.ended")
    coord = await joined(srv, make, srv.mint("li.coord", "coordinator", room=room["id"]))
    assert coord.sio.connected


async def test_a_join_checked_before_the_end_never_enters_the_ended_room(
    emergency: Opened,
) -> None:
    """The expert's join has passed the room's checks (open) when the withdrawal runs from
    start to end; it then goes on: it must find the room ended, not a new empty one."""
    srv, opened, unit, make = emergency.srv, emergency.opened, emergency.unit, emergency.make
    gate, rooms = Gate(), srv.app[ROOMS]
    admit = rooms._admission
    assert admit is not None

    checks: list[str] = []

    async def gated_admission(room: Room, claims: TokenClaims) -> Room:
        checked = await admit(room, claims)
        checks.append(claims.identity)
        if checks.count("zhou") == 2:
            # the join's own check (the first: whether it waits in the lobby), passed: the
            # room is open when the join goes on to take its seat
            await gate.passing()
        return checked

    expert: RawClient = make()
    await expert.connect(srv.url, expert_link(srv))
    rooms.set_admission(gated_admission)
    joining = asyncio.create_task(expert.request("join"))
    await asyncio.wait_for(gate.reached.wait(), WAIT)
    status, body = await emergency.withdraw()
    assert status == 200, body
    await asyncio.wait_for(unit.disconnected.wait(), WAIT)
    gate.open()
    answer = await asyncio.wait_for(joining, WAIT)
    assert "room" not in answer, answer
    assert answer["error"]["code"] == "room_ended", answer
    assert not admitted(srv, "zhou")
    assert rooms.participants(opened["room"]["id"], include_hidden=True) == []


async def test_a_withdrawal_whose_cancellation_fails_gives_the_room_back(
    emergency: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, unit, make = emergency.srv, emergency.unit, emergency.make
    cases = srv.app[CASES]
    update = cases.update

    async def failing_update(case_id: str, change: Callable[..., Any]) -> Any:
        raise Unavailable("the store is not answering", code="store_unavailable")

    monkeypatch.setattr(cases, "update", failing_update)
    status, body = await emergency.withdraw()
    assert (status, body["error"]["code"]) == (503, "store_unavailable"), body
    monkeypatch.setattr(cases, "update", update)
    # nothing changed: the room is open and the expert takes a seat in it
    expert = await joined(srv, make, expert_link(srv))
    assert admitted(srv, "zhou") and not unit.seen("room.ended")
    assert expert.sio.connected


async def test_a_hold_whose_end_never_comes_lapses_and_the_room_admits_again(
    emergency: Opened,
) -> None:
    """The node that held the room for a withdrawal died before cancelling the case: the
    emergency goes on, so the hold lapses and the expert's join is admitted."""
    srv, opened, unit, make = emergency.srv, emergency.opened, emergency.unit, emergency.make
    rooms = srv.app[ROOMS]
    await rooms.hold_for_end(
        opened["room"]["id"], "emergency_withdrawn_by_unit", lambda people: None, lapse=timedelta(0)
    )
    # the lapse's timer runs at the loop's next turn, before the expert's connection is served
    expert = await joined(srv, make, expert_link(srv))
    assert admitted(srv, "zhou") and expert.sio.connected
    assert not unit.seen("room.ended")


async def test_two_nodes_the_hold_is_on_the_rooms_node(
    on_two_nodes: TwoNodes,
    clients: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A coordinator withdraws the emergency on the node that does not hold its room: the
    hold is asked of the room's node over the node link, and an expert whose join (through
    either node) lands inside the withdrawal's window is refused there before it takes a
    seat."""
    a, here, there, opened, unit = on_two_nodes
    case_id = opened["case"]["id"]
    gate = gate_first_case_update(monkeypatch, there.app[CASES])
    withdrawal = asyncio.create_task(
        there.api("POST", f"/api/v1/cases/{case_id}/cancel", {"reason": "duplicate"})
    )
    await asyncio.wait_for(gate.reached.wait(), WAIT)
    # through the node that does not hold the room: relayed
    _, answer = await expert_joins(clients, there.url, expert_link(a))
    assert "room" not in answer, answer
    assert answer["error"]["code"] == "room_busy", answer
    assert not admitted(here, "zhou") and not admitted(there, "zhou")

    told = unit.expect("room.ended")
    gate.open()
    status, body = await asyncio.wait_for(withdrawal, WAIT)
    assert (status, body["status"]) == (200, "cancelled"), body
    assert await asyncio.wait_for(told, WAIT) == {"reason": "emergency_withdrawn_by_centre"}
    assert not admitted(here, "zhou") and not admitted(there, "zhou")


async def test_two_nodes_a_hold_the_asker_gave_up_on_is_not_left_behind(
    on_two_nodes: TwoNodes,
    clients: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The room's node is slow to take the room's lock (a coordinator's join holds it while
    its media is set up): the withdrawing node stops waiting (503 ``node_unavailable``:
    nothing changed). The hold must not be made after that, when the join lets the lock go:
    nobody would end or release it, and for its 30 s the on-duty expert would be turned away
    (then told 'withdrawn by the centre: you are no longer needed here'; now 'busy' until the
    lapse) from an emergency that goes on."""
    a, here, there, opened, unit = on_two_nodes
    case_id, room_id = opened["case"]["id"], opened["room"]["id"]
    rooms = here.app[ROOMS]
    gate = gate_seating(monkeypatch, rooms, "li.coord")
    coord: RawClient = clients()
    await coord.connect(here.url, here.mint("li.coord", "coordinator", room=room_id))
    joining = asyncio.create_task(coord.request("join"))
    await asyncio.wait_for(gate.reached.wait(), WAIT)
    # the withdrawing node waits half a second for the room's node (5 s in production)
    monkeypatch.setattr(there.app[ROOM_ROUTER], "_timeout", 0.5)
    status, body = await asyncio.wait_for(
        there.api("POST", f"/api/v1/cases/{case_id}/cancel", {"reason": "duplicate"}), WAIT
    )
    assert (status, body["error"]["code"]) == (503, "node_unavailable"), body
    gate.open()
    assert "room" in await asyncio.wait_for(joining, WAIT)
    async with rooms._live[room_id].lock:  # whoever waited for the lock before has run
        pass

    expert = await joined(here, clients, expert_link(a))
    assert admitted(here, "zhou") and expert.sio.connected
    case = await a.ok("GET", f"/api/v1/cases/{case_id}")
    assert case["status"] != "cancelled"
    assert not unit.seen("room.ended")


async def test_a_second_withdrawal_that_fails_does_not_give_back_the_first_ones_hold(
    emergency: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clinic and a coordinator withdraw the same emergency at once. The clinic's has
    cancelled the case and is about to end the room (held there by a gate); the
    coordinator's finds the case withdrawn already and the room open, so it holds and ends
    the room itself, with the reason of the clinic's (the first hold's): the same outcome,
    200. An expert joining then is refused (to try again), never seated and then
    disconnected by the clinic's end."""
    srv, opened, unit = emergency.srv, emergency.opened, emergency.unit
    case_id = opened["case"]["id"]
    gate, rooms = Gate(), srv.app[ROOMS]
    end_room = rooms.end_room

    async def gated_end(room_id: str, reason: str = "ended") -> Room:
        if not gate.reached.is_set():
            await gate.passing()
        return await end_room(room_id, reason)

    monkeypatch.setattr(rooms, "end_room", gated_end)
    first = emergency.withdrawing()
    await asyncio.wait_for(gate.reached.wait(), WAIT)
    status, body = await srv.api("POST", f"/api/v1/cases/{case_id}/cancel", {"reason": "dup"})
    assert (status, body["status"]) == (200, "cancelled"), body
    room = await srv.ok("GET", f"/api/v1/rooms/{opened['room']['id']}")
    assert (room["status"], room["end_reason"]) == ("ended", "emergency_withdrawn_by_unit")

    check = await join_check(srv, expert_link(srv))
    assert (check["ok"], check["code"]) == (False, "emergency_withdrawn_by_unit"), check
    gate.open()
    status, body = await asyncio.wait_for(first, WAIT)
    assert (status, body["status"]) == (200, "cancelled"), body
    assert await asyncio.wait_for(unit.disconnected.wait(), WAIT) is True
    assert not admitted(srv, "zhou")


async def test_a_withdrawal_whose_rooms_end_failed_is_finished_by_its_retry(
    emergency: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case is cancelled, then the room's node does not answer its end (503). The retry
    finds the case withdrawn already: it ends the room (the same outcome, 200), where it used
    to get 409 illegal_transition and leave the room of a cancelled case to admit people
    again once the hold lapsed."""
    srv, opened, unit = emergency.srv, emergency.opened, emergency.unit
    router = srv.app[ROOM_ROUTER]
    end_room = router.end_room

    async def silent_end(room_id: str, reason: str) -> Room:
        raise Unavailable("the room's node did not answer", code="node_unavailable")

    monkeypatch.setattr(router, "end_room", silent_end)
    status, body = await emergency.withdraw()
    assert (status, body["error"]["code"]) == (503, "node_unavailable"), body
    case = await srv.ok("GET", f"/api/v1/cases/{opened['case']['id']}")
    assert case["status"] == "cancelled"
    assert (await srv.ok("GET", f"/api/v1/rooms/{opened['room']['id']}"))["status"] == "open"

    monkeypatch.setattr(router, "end_room", end_room)
    told = unit.expect("room.ended")
    status, body = await emergency.withdraw()
    assert (status, body.get("status")) == (200, "cancelled"), body
    assert await asyncio.wait_for(told, WAIT) == {"reason": "emergency_withdrawn_by_unit"}
    room = await srv.ok("GET", f"/api/v1/rooms/{opened['room']['id']}")
    assert (room["status"], room["end_reason"]) == ("ended", "emergency_withdrawn_by_unit")
    # once it is closed, a further withdrawal changes nothing (as before)
    err = await srv.ok(
        "POST", emergency.path, {"reason": "again"}, status=409, token=emergency.doctor
    )
    assert err["error"]["code"] == "illegal_transition"


async def test_a_withdrawal_losing_the_cancellation_gives_back_only_its_own_hold(
    emergency: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The clinic and a coordinator withdraw at once and both hold the room. The
    coordinator's cancels the case first and is about to end the room (a gate); the clinic's
    then finds the case cancelled (409) and gives back its hold, not the coordinator's: an
    expert joining then is refused, not seated and then disconnected by that end."""
    srv, opened, make = emergency.srv, emergency.opened, emergency.make
    case_id = opened["case"]["id"]
    held, ending = Gate(), Gate()
    cases, rooms = srv.app[CASES], srv.app[ROOMS]
    update, end_room = cases.update, rooms.end_room

    async def gated_update(case_id: str, change: Callable[..., Any]) -> Any:
        if not held.reached.is_set():  # the clinic's, after its hold
            await held.passing()
        return await update(case_id, change)

    async def gated_end(room_id: str, reason: str = "ended") -> Room:
        await ending.passing()  # the coordinator's
        return await end_room(room_id, reason)

    monkeypatch.setattr(cases, "update", gated_update)
    monkeypatch.setattr(rooms, "end_room", gated_end)
    clinic = emergency.withdrawing("stable")
    await asyncio.wait_for(held.reached.wait(), WAIT)
    centre = asyncio.create_task(
        srv.api("POST", f"/api/v1/cases/{case_id}/cancel", {"reason": "dup"})
    )
    await asyncio.wait_for(ending.reached.wait(), WAIT)
    held.open()
    status, body = await asyncio.wait_for(clinic, WAIT)
    assert (status, body["error"]["code"]) == (409, "illegal_transition"), body

    expert, answer = await expert_joins(make, srv.url, expert_link(srv))
    assert "room" not in answer, answer
    assert answer["error"]["code"] == "room_busy", answer
    ending.open()
    status, body = await asyncio.wait_for(centre, WAIT)
    assert (status, body["status"]) == (200, "cancelled"), body
    room = await srv.ok("GET", f"/api/v1/rooms/{opened['room']['id']}")
    assert (room["status"], room["end_reason"]) == ("ended", "emergency_withdrawn_by_centre")
    assert not admitted(srv, "zhou") and not expert.seen("room.ended")


def lapse_holds(rooms: Any, room_id: str) -> None:
    """The room's holds lapse now, as their 30 s timers would (or as a restart of the room's
    node forgets them)."""
    for hold, (_, timer) in list(rooms._closing.get(room_id, {}).items()):
        timer.cancel()
        rooms._closing_lapsed(room_id, hold)
    assert room_id not in rooms._closing


async def test_a_withdrawn_emergencys_room_admits_nobody_once_its_hold_lapses(
    emergency: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case is cancelled, the room's end fails (503) and nobody retries: the hold lapses
    (or the room's node restarts and forgets it). The room must still admit nobody: its
    expert, joining then, is refused with who withdrew it, and the link check says so."""
    srv, opened, unit, make = emergency.srv, emergency.opened, emergency.unit, emergency.make
    room_id, router = opened["room"]["id"], srv.app[ROOM_ROUTER]

    async def silent_end(room_id: str, reason: str) -> Room:
        raise Unavailable("the room's node did not answer", code="node_unavailable")

    monkeypatch.setattr(router, "end_room", silent_end)
    status, body = await emergency.withdraw()
    assert (status, body["error"]["code"]) == (503, "node_unavailable"), body
    assert (await srv.ok("GET", f"/api/v1/rooms/{room_id}"))["status"] == "open"
    lapse_holds(srv.app[ROOMS], room_id)

    check = await join_check(srv, expert_link(srv))
    assert (check["ok"], check["code"]) == (False, "emergency_withdrawn_by_unit"), check
    _, answer = await expert_joins(make, srv.url, expert_link(srv))
    assert "room" not in answer, answer
    assert answer["error"]["code"] == "emergency_withdrawn_by_unit", answer
    assert not admitted(srv, "zhou")
    # the retry still ends it, with the same reason
    told = unit.expect("room.ended")
    monkeypatch.undo()
    status, body = await emergency.withdraw()
    assert (status, body.get("status")) == (200, "cancelled"), body
    assert await asyncio.wait_for(told, WAIT) == {"reason": "emergency_withdrawn_by_unit"}


async def test_a_join_refused_during_a_withdrawal_that_fails_is_told_to_try_again(
    emergency: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The expert joins while the withdrawal holds the room, and the withdrawal then fails
    (the case's cancellation is refused: the room is given back). The expert was not to be
    told "withdrawn": it is told the room is busy (``room_busy``), and its next try takes a
    seat in the consultation that goes on."""
    srv, unit, make = emergency.srv, emergency.unit, emergency.make
    cases = srv.app[CASES]
    gate, update = Gate(), cases.update

    async def failing_update(case_id: str, change: Callable[..., Any]) -> Any:
        await gate.passing()
        raise Unavailable("the store is not answering", code="store_unavailable")

    monkeypatch.setattr(cases, "update", failing_update)
    withdrawal = emergency.withdrawing()
    await asyncio.wait_for(gate.reached.wait(), WAIT)
    expert, answer = await expert_joins(make, srv.url, expert_link(srv))
    assert "room" not in answer, answer
    assert answer["error"]["code"] == "room_busy", answer
    gate.open()
    status, body = await asyncio.wait_for(withdrawal, WAIT)
    assert (status, body["error"]["code"]) == (503, "store_unavailable"), body
    monkeypatch.setattr(cases, "update", update)

    answer = await asyncio.wait_for(expert.request("join"), WAIT)
    assert "room" in answer, answer
    assert admitted(srv, "zhou") and not unit.seen("room.ended")
