"""A paging change the store does not take is not made: nothing is decided in one node's memory.

- ``page_moved_on``: every compare-and-set of this node loses (another writer lands a change of
  the same paging just before each of its writes, 5 times in a row): the expert gets 409
  ``page_moved_on``, and nothing of the acceptance is anywhere (store, memory, case, events).
- A store outage (the seam :class:`Outage` raises as the PostgreSQL store does when the database
  is gone, or SQLite's own error): an acceptance or a decline answers 503 ``store_unavailable``
  with ``Retry-After``, the node's copy stays the stored one; the escalation, a paging's first
  page and a cancellation are made by the first tick after the store is back.

The real server on real SQLite (and two nodes on PostgreSQL for the last test); only the paging
store is wrapped."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeClock
from tests.postgres import PostgresServer
from tests.workflow.helpers import WorkflowServer, case_body
from tests.workflow.test_paging import on_duty, serving
from tests.workflow.test_paging_race import stored, two_nodes
from vidconsult.config import Settings
from vidconsult.domain.paging import Paging
from vidconsult.errors import Unavailable
from vidconsult.services.paging import FULL_CHECK_EVERY
from vidconsult.workflow_app import STORES
from web.workflow_keys import CASES, PAGING


class Overtaken:
    """Before each write of this node, another writer lands a change of the same paging (the
    stored copy written again: its revision moves on), so this node's compare-and-set loses
    every time, on the real store."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.lost = 0

    async def save_paging(self, paging: Paging, outbox: Any = ()) -> bool:
        other = await self._store.get_paging(paging.case_id)
        assert other is not None and await self._store.save_paging(other)
        landed = await self._store.save_paging(paging, outbox)
        self.lost += not landed
        return bool(landed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def db_gone() -> Exception:
    """What the PostgreSQL store raises when the database cannot be reached."""
    return Unavailable(
        "the database cannot be reached; try again shortly", code="store_unavailable"
    )


def sqlite_failed() -> Exception:
    return sqlite3.OperationalError("disk I/O error")


class Outage:
    """The paging store while the database is down (``down``): every call raises ``fail()``
    and nothing reaches the store; back up, calls go through. ``writes_only``: reads still
    work (the database went away between a node's read and its write)."""

    def __init__(self, store: Any, fail: Any = db_gone, *, writes_only: bool = False) -> None:
        self._store = store
        self._fail = fail
        self._writes_only = writes_only
        self.down = True
        self.refused = 0

    def _check(self, write: bool = False) -> None:
        if self.down and (write or not self._writes_only):
            self.refused += 1
            raise self._fail()

    async def save_paging(self, paging: Paging, outbox: Any = ()) -> bool:
        self._check(write=True)
        return bool(await self._store.save_paging(paging, outbox))

    async def get_paging(self, case_id: str) -> Paging | None:
        self._check()
        return await self._store.get_paging(case_id)  # type: ignore[no-any-return]

    async def list_pagings(self, **kw: Any) -> list[Paging]:
        self._check()
        return await self._store.list_pagings(**kw)  # type: ignore[no-any-return]


def wrap(server: WorkflowServer, seam: Any) -> Any:
    service = server.app[PAGING]
    real = service._store
    service._store = seam(real)
    return service._store


def unwrap(server: WorkflowServer, seam: Any) -> None:
    server.app[PAGING]._store = seam._store


@pytest.fixture
async def duty(settings: Settings, clock: FakeClock) -> AsyncIterator[WorkflowServer]:
    async with serving(settings, clock) as wf:
        yield await on_duty(wf, settings)


async def emergency_at_the_backup(wf: WorkflowServer) -> str:
    """An emergency whose first page (zhou) went unanswered: wang's page rings."""
    case_id: str = (await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"][
        "id"
    ]
    wf.clock.advance(seconds=30)
    assert await wf.app[PAGING].tick() == 1
    return case_id


async def real_copy(wf: WorkflowServer, case_id: str) -> Paging:
    store = wf.app[PAGING]._store
    store = getattr(store, "_store", store)
    paging = await store.get_paging(case_id)
    assert paging is not None
    return paging  # type: ignore[no-any-return]


async def untouched(wf: WorkflowServer, case_id: str, before: Paging, events: int) -> None:
    """Nothing of a refused change anywhere: the store and this node's copy are as before,
    no event went out, the case has no note of it and no new expert."""
    kept = await real_copy(wf, case_id)
    assert kept == before and kept.revision >= before.revision
    mine = wf.app[PAGING].of_case(case_id)
    assert mine == kept and mine.revision == kept.revision  # memory = the store
    assert len(wf.events) == events, wf.events[events:]
    case = await wf.ok("GET", f"/api/v1/cases/{case_id}")
    actions = [row["action"] for row in case["audit"]]
    assert "page.accepted" not in actions and "page.declined" not in actions
    assert "expert.added" not in actions
    assert case["expert_ids"] == ["zhou"]


# -- page_moved_on ----------------------------------------------------------------------------
async def test_an_answer_that_loses_five_times_is_refused_and_leaves_nothing(
    duty: WorkflowServer,
) -> None:
    wf = duty
    case_id = await emergency_at_the_backup(wf)
    wang = wf.mint("wang", "expert")
    before = await real_copy(wf, case_id)
    events = len(wf.events)
    seam = wrap(wf, Overtaken)

    status, body = await wf.api("POST", f"/api/v1/pages/{case_id}.p1/accept", token=wang)
    assert status == 409, body
    assert body["error"]["code"] == "page_moved_on"
    assert "try again" in body["error"]["message"]
    assert seam.lost == 5  # five compare-and-sets lost in a row, then refused
    await untouched(wf, case_id, before, events)
    assert wf.app[PAGING].time_to_ack.count == 0
    # a decline the same way; and the escalation, due now, is skipped (the next tick does it)
    status, body = await wf.api("POST", f"/api/v1/pages/{case_id}.p1/decline", token=wang)
    assert (status, body["error"]["code"]) == (409, "page_moved_on")
    wf.clock.advance(seconds=30)
    assert await wf.app[PAGING].tick() == 0
    await untouched(wf, case_id, await real_copy(wf, case_id), events)
    assert [p.status.value for p in (await real_copy(wf, case_id)).pages] == [
        "unanswered",
        "ringing",
    ]

    unwrap(wf, seam)  # the other writer stops: the same answer lands
    got = await wf.ok("POST", f"/api/v1/pages/{case_id}.p1/accept", token=wang)
    assert got["paging"]["answered_by"] == "wang"
    assert [e for e, _ in wf.events[events:]].count("page.accepted") == 1


# -- the store down ---------------------------------------------------------------------------
@pytest.mark.parametrize("fail", [db_gone, sqlite_failed], ids=["postgres-gone", "sqlite-error"])
async def test_an_answer_the_store_cannot_take_is_503_and_the_page_stays_open(
    fail: Any, duty: WorkflowServer
) -> None:
    wf = duty
    case_id = await emergency_at_the_backup(wf)
    wang = wf.mint("wang", "expert")
    before = await real_copy(wf, case_id)
    events = len(wf.events)
    outage = wrap(wf, lambda store: Outage(store, fail))

    for answer in ("accept", "decline"):
        async with wf.session.post(
            f"{wf.url}/api/v1/pages/{case_id}.p1/{answer}",
            headers={"Authorization": f"Bearer {wang}"},
        ) as resp:
            body = await resp.json()
            assert resp.status == 503, body
            assert resp.headers["Retry-After"] == "5"
        assert body["error"]["code"] == "store_unavailable"
        assert "not saved" in body["error"]["message"]
        await untouched(wf, case_id, before, events)
    # what rings for wang is still the page he tried to answer
    mine = await wf.ok("GET", "/api/v1/pages/mine", token=wang)
    assert [p["page_id"] for p in mine["pages"]] == [f"{case_id}.p1"]

    outage.down = False  # the database is back: the same click answers
    got = await wf.ok("POST", f"/api/v1/pages/{case_id}.p1/accept", token=wang)
    assert got["paging"]["answered_by"] == "wang"
    assert (await real_copy(wf, case_id)).answered_by == "wang"


async def test_escalation_first_page_and_cancellation_wait_for_the_store(
    duty: WorkflowServer,
) -> None:
    wf = duty
    pager = wf.app[PAGING]
    ringing = (await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"]["id"]
    ending = await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201)
    outage = wrap(wf, Outage)
    # filed while the paging store is down: the case and room are kept, the page is not yet
    late = (await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"]["id"]
    assert pager.of_case(late).pages == [] and outage.refused == 1
    assert [e["case_id"] for e in wf.seen("page.sent")].count(late) == 0
    # the room of one ends: its page cannot be cancelled yet
    await wf.ok("DELETE", f"/api/v1/rooms/{ending['room']['id']}")
    assert pager.of_case(ending["case"]["id"]).pages[0].status.value == "ringing"
    # zhou's first page runs out: the escalation is not stored, so not made
    wf.clock.advance(seconds=30)
    assert await pager.tick() == 0
    assert [p.status.value for p in pager.of_case(ringing).pages] == ["ringing"]
    assert wf.seen("page.cancelled") == []
    assert [e["target"]["id"] for e in wf.seen("page.sent")] == ["zhou", "zhou"]

    outage.down = False
    wf.clock.advance(seconds=1)
    back = wf.clock.now()
    # the next tick: the late emergency's first page, the backup of the one that ran out
    assert await pager.tick() == 2
    pages = {(e["case_id"], e["target"]["id"]) for e in wf.seen("page.sent")}
    assert {(late, "zhou"), (ringing, "wang")} <= pages
    kept = await real_copy(wf, ringing)
    assert [(p.status.value, p.sent_at) for p in kept.pages][1] == ("ringing", back)
    ended = await real_copy(wf, ending["case"]["id"])
    assert ended.state.value == "closed"
    [cancelled] = wf.seen("page.cancelled")
    assert (cancelled["case_id"], cancelled["reason"]) == (ending["case"]["id"], "room_closed")
    for case_id in (late, ringing, ending["case"]["id"]):
        assert pager.of_case(case_id) == await real_copy(wf, case_id)
    assert await pager.tick() == 0  # each once


async def test_two_nodes_an_answer_not_stored_leaves_the_other_node_escalating(
    settings: Settings, clock: FakeClock, postgres: PostgresServer, tmp_path: Path
) -> None:
    """Node a cannot write to the paging store when zhou accepts (it read it a moment before):
    503, and node b (which escalates)
    pages wang when zhou's time runs out, as the store says; with the store back zhou's
    acceptance still answers (his page stays open) and cancels wang's."""
    async with two_nodes(settings, clock, postgres, tmp_path) as (a, b, case_id):
        zhou = a.mint("zhou", "expert")
        outage = wrap(a, lambda store: Outage(store, writes_only=True))
        status, body = await a.api("POST", f"/api/v1/pages/{case_id}.p0/accept", token=zhou)
        assert (status, body["error"]["code"]) == (503, "store_unavailable")
        assert a.app[PAGING].of_case(case_id).state.value == "paging"
        clock.advance(seconds=20)
        assert await b.app[PAGING].tick() == 1  # the store never heard of an acceptance
        assert [p.status.value for p in (await stored(b, case_id)).pages] == [
            "unanswered",
            "ringing",
        ]
        outage.down = False
        got = await a.ok("POST", f"/api/v1/pages/{case_id}.p0/accept", token=zhou)
        assert [p["status"] for p in got["paging"]["pages"]] == ["accepted", "cancelled"]
        paging = await stored(b, case_id)
        assert paging.answered_by == "zhou"


class CaseWritesDown:
    """The case store when the database goes away right after the paging's write: the next
    ``down`` case saves raise as the PostgreSQL store does; reads go through."""

    def __init__(self, store: Any, down: int = 1) -> None:
        self._store = store
        self.down = down

    async def save_case(self, *args: Any, **kw: Any) -> Any:
        if self.down:
            self.down -= 1
            raise db_gone()
        return await self._store.save_case(*args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_an_acceptance_stored_but_not_finished_is_finished_by_its_retry(
    duty: WorkflowServer,
) -> None:
    """The paging takes wang's acceptance, then the database goes before the case adds him:
    503 (his answer did not go through). His retry is the same answer, not someone else's: 200
    with his link, the case gets him, and the cancellation of zhou's page and page.accepted
    go out then, once; a further retry changes nothing."""
    wf = duty
    case_id = await emergency_at_the_backup(wf)
    wang = wf.mint("wang", "expert")
    cases = wf.app[CASES]
    seam = CaseWritesDown(cases._cases)
    cases._cases = seam
    events = len(wf.events)

    status, body = await wf.api("POST", f"/api/v1/pages/{case_id}.p1/accept", token=wang)
    assert (status, body["error"]["code"]) == (503, "store_unavailable"), body
    kept = await real_copy(wf, case_id)
    assert kept.answered_by == "wang"  # the paging had taken it
    assert wf.events[events:] == []  # nobody was told yet

    for _ in range(2):  # the retry finishes it; a further one changes nothing
        got = await wf.ok("POST", f"/api/v1/pages/{case_id}.p1/accept", token=wang)
        assert wf.verify(got["link"]["token"]).identity == "wang"
        assert got["paging"]["answered_by"] == "wang"
    told = [(e, d.get("page_id")) for e, d in wf.events[events:] if e.startswith("page.")]
    assert sorted(told) == [("page.accepted", f"{case_id}.p1"), ("page.cancelled", f"{case_id}.p0")]
    [cancelled] = wf.seen("page.cancelled")
    assert (cancelled["reason"], cancelled["answered_by"]) == ("answered_elsewhere", "wang")
    case = await wf.ok("GET", f"/api/v1/cases/{case_id}")
    assert case["expert_ids"] == ["zhou", "wang"]
    actions = [r["action"] for r in case["audit"]]
    assert actions.count("page.accepted") == 1 and actions.count("page.cancelled") == 1
    assert actions.count("expert.added") == 1
    assert (await real_copy(wf, case_id)).revision == kept.revision  # nothing written again
    # someone else is still refused
    zhou = wf.mint("zhou", "expert")
    status, body = await wf.api("POST", f"/api/v1/pages/{case_id}.p0/accept", token=zhou)
    assert (status, body["error"]["code"]) == (409, "page_answered")


async def withdraw_silently(wf: WorkflowServer, case_id: str) -> None:
    """The case cancelled in the store only, with no event: the pager is not told (its room
    stays open, as when the room's end failed and the node that withdrew it died)."""
    store = wf.app[STORES].cases
    case = await store.get_case(case_id)
    assert case is not None
    revision = len(case.audit)
    case.cancel(by="li.coord", at=wf.clock.now(), reason="duplicate")
    await store.save_case(case, revision=revision)


async def test_a_case_withdrawn_without_a_word_to_the_pager_is_found_by_the_full_check(
    duty: WorkflowServer,
) -> None:
    """A tick reads only the open rooms (benchmarks/paging_tick.py): a paging whose room is
    open has its case read once a minute (``FULL_CHECK_EVERY``). The case of an emergency is
    withdrawn in the store while its room stays open (its end failed) and nothing tells the
    pager (the node that withdrew it died): the first full check cancels its pages, before
    its escalation is paged."""
    wf = duty
    pager = wf.app[PAGING]
    case_id = (await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"]["id"]
    assert await pager.tick() == 0  # the first tick's full check: nothing to do
    await withdraw_silently(wf, case_id)

    assert await pager.tick() == 0  # its room is open: its case is not read every tick
    assert pager.of_case(case_id).state.value == "paging"
    wf.clock.advance(seconds=FULL_CHECK_EVERY.total_seconds())  # zhou's page ran out too
    assert await pager.tick() == 0  # cancelled first: nobody else is paged
    [cancelled] = wf.seen("page.cancelled")
    assert (cancelled["case_id"], cancelled["reason"]) == (case_id, "emergency_withdrawn")
    assert (await real_copy(wf, case_id)).state.value == "closed"
    assert [e["target"]["id"] for e in wf.seen("page.sent")] == ["zhou"]


async def test_a_case_withdrawn_without_a_word_is_checked_before_its_escalation(
    duty: WorkflowServer,
) -> None:
    """The full check (``FULL_CHECK_EVERY``) and a page's deadline are not in step: an
    emergency filed after a full check has its page run out before the next one. Its case,
    withdrawn in the store without a word to the pager (as above), is read before the page
    escalates: the backup is never paged for a withdrawn emergency."""
    wf = duty
    pager = wf.app[PAGING]
    assert await pager.tick() == 0  # the first tick's full check: nothing yet
    next_full_check = wf.clock.now() + FULL_CHECK_EVERY
    wf.clock.advance(seconds=10)
    case_id = (await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"]["id"]
    await withdraw_silently(wf, case_id)

    deadline = pager.of_case(case_id).deadline
    assert deadline is not None and deadline < next_full_check
    wf.clock.advance(seconds=(deadline - wf.clock.now()).total_seconds())  # zhou's page ran out
    assert await pager.tick() == 0  # cancelled, nobody else paged
    [cancelled] = wf.seen("page.cancelled")
    assert (cancelled["case_id"], cancelled["reason"]) == (case_id, "emergency_withdrawn")
    assert [e["target"]["id"] for e in wf.seen("page.sent")] == ["zhou"]
    assert (await real_copy(wf, case_id)).state.value == "closed"


async def test_two_nodes_a_cancellation_not_stored_is_made_again_at_the_next_tick(
    settings: Settings, clock: FakeClock, postgres: PostgresServer, tmp_path: Path
) -> None:
    """Node a withdraws the emergency (its case cancelled) while it cannot write to the paging
    store, and its room stays open (its end failed too). b holds the lease and runs the
    reconcile, whose full check (a paging's case read) is up to ``FULL_CHECK_EVERY`` away:
    the pages must not ring on until then. a makes its cancellation again at its own next
    tick, lease or not."""
    async with two_nodes(settings, clock, postgres, tmp_path) as (a, b, case_id):
        outage = wrap(a, lambda store: Outage(store, writes_only=True))
        await a.app[CASES].update(
            case_id, lambda c, now: c.cancel(by="li.coord", at=now, reason="duplicate")
        )
        assert outage.refused == 1  # a's cancellation of the pages was not stored
        outage.down = False
        clock.advance(seconds=1)
        for n in (b, a, b):  # the next round of both nodes' ticks
            assert await n.app[PAGING].tick() == 0
        assert (await stored(b, case_id)).state.value == "closed"
        [cancelled] = [e for n in (a, b) for e in n.seen("page.cancelled")]
        assert (cancelled["case_id"], cancelled["reason"]) == (case_id, "emergency_withdrawn")
        got = await b.ok("GET", "/api/v1/paging")
        (mine,) = [p for p in got["pagings"] if p["case_id"] == case_id]
        assert [p["status"] for p in mine["pages"]] == ["cancelled"]
