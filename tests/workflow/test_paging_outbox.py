"""Nothing the SMS/phone gateway must hear of a paging is lost (the pager's outbox).

- One write: a paging change and its webhook deliveries are stored together or not at all. The
  seam is real: a trigger in the database refuses every insert into the delivery queue (the
  second statement of the change's write), on SQLite and on PostgreSQL. Before the outbox the
  paging was stored and its ``page.sent`` never queued (the gateway never called anyone, and
  nothing sent it later); now nothing of the change is stored while the queue refuses, and the
  first tick after it takes rows again pages and delivers it, once.
- Across a SIGKILL: the server process is killed right after a paging change was stored,
  before it told anyone; the server started again on the same data delivers the page, once.
- From stored state: a first page and a cancellation the store could not take during an outage
  are not kept in one node's memory only: the node restarts during the outage, and the
  restarted server's tick finds from what is stored (an open emergency room without a stored
  paging; a paging still paging whose room ended) what is still to be sent, and sends each
  once per delivery id.
- In order: a page's ``page.cancelled`` is not attempted before that page's ``page.sent`` was
  delivered (or given up), even when the gateway refused the ``page.sent`` once and its retry
  waits for its backoff.

Real server, real SQLite / PostgreSQL, a real HTTP receiver on 127.0.0.1; the clock is a fake
one and nothing sleeps for synchronisation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fakes import FakeClock
from tests.helpers import SECRET, server_process, sigkill
from tests.postgres import PostgresServer
from tests.webhooks.receiver import Received, Receiver, receiving
from tests.workflow.helpers import WorkflowServer, cardiology_on_duty, case_body
from tests.workflow.serve_paging_proc import OVERRIDES
from tests.workflow.test_paging import on_duty, serving
from tests.workflow.test_paging_nodes import node
from tests.workflow.test_paging_store_failures import Outage, wrap
from vidconsult.config import Settings
from web.webhooks_api import WEBHOOK_WORKER, WEBHOOKS
from web.workflow_keys import PAGING

HOOKS = {"webhook_allowed_networks": "127.0.0.0/8", "webhook_backoff_base": 1.0}
WAIT = 15  # a bound for awaiting the gateway, never a synchronisation


class Gateway(Receiver):
    """The centre's SMS/phone gateway: records every attempt and what it answered; refuses the
    first ``refuse[event]`` deliveries of an event with 503 (it is restarting)."""

    def __init__(self, refuse: dict[str, int] | None = None) -> None:
        super().__init__()
        self.refuse = dict(refuse or {})
        self.answers: list[tuple[Received, int]] = []
        self._changed = asyncio.Condition()

    async def _handle(self, request: web.Request) -> web.Response:
        event = request.headers.get("X-Vidconsult-Event", "")
        status = 200
        if self.refuse.get(event):
            self.refuse[event] -= 1
            status = 503
        self.statuses.insert(0, status)
        response = await super()._handle(request)
        self.answers.append((self.requests[-1], status))
        async with self._changed:
            self._changed.notify_all()
        return response

    def heard(self, event: str, page_id: str) -> list[Received]:
        """The attempts of ``event`` for ``page_id`` that the gateway took (200)."""
        return [
            r
            for r, status in self.answers
            if status == 200
            and r.headers["X-Vidconsult-Event"] == event
            and r.json["data"]["page_id"] == page_id
        ]

    async def until(self, done: Callable[[], bool]) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(done), WAIT)

    def once_each(self) -> None:
        """Each delivery id was taken once, and each (event, page) came under one id."""
        taken = [r for r, status in self.answers if status == 200]
        ids = [r.headers["X-Vidconsult-Delivery"] for r in taken]
        assert len(ids) == len(set(ids)), ids
        keys = [(r.headers["X-Vidconsult-Event"], r.json["data"]["page_id"]) for r in taken]
        assert len(keys) == len(set(keys)), keys


async def register(server: WorkflowServer, url: str) -> dict[str, Any]:
    return await server.ok(
        "POST", "/api/v1/webhooks", {"url": url, "events": ["page.*"]}, status=201
    )


def wake(*servers: WorkflowServer) -> None:
    for server in servers:
        server.app[WEBHOOK_WORKER].wake()


async def queued(server: WorkflowServer, hook: dict[str, Any]) -> list[tuple[str, str]]:
    """The endpoint's delivery queue as stored: (event, page id), oldest first."""
    got = await server.app[WEBHOOKS]._store.list_deliveries(hook["id"])
    return [(d.event, json.loads(d.body)["data"]["page_id"]) for d in reversed(got)]


# -- the fault: the delivery queue refuses rows ----------------------------------------------
class QueueFault:
    """A trigger that makes every insert into ``webhook_deliveries`` fail (the disk is full for
    that table, as it were), on the real database; :meth:`clear` drops it."""

    def __init__(self, kind: str, where: Any) -> None:
        self.kind = kind
        self.where = where

    async def _sql(self, sql: str) -> None:
        # off the event loop: the DDL waits for the server's open transactions on the table,
        # which finish only while the loop runs
        await asyncio.to_thread(self._run, sql)

    def _run(self, sql: str) -> None:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.where)
            try:
                conn.executescript(sql)
            finally:
                conn.close()
        else:
            postgres, database = self.where
            postgres.psql(sql, database=database)

    async def set(self) -> None:
        if self.kind == "sqlite":
            await self._sql(
                "CREATE TRIGGER refuse_deliveries BEFORE INSERT ON webhook_deliveries"
                " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
            )
        else:
            await self._sql(
                "CREATE FUNCTION refuse_deliveries() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'could not extend file: no space left'; END $$;"
                " CREATE TRIGGER refuse_deliveries BEFORE INSERT ON webhook_deliveries"
                " FOR EACH ROW EXECUTE FUNCTION refuse_deliveries();"
            )

    async def clear(self) -> None:
        if self.kind == "sqlite":
            await self._sql("DROP TRIGGER refuse_deliveries;")
        else:
            await self._sql(
                "DROP TRIGGER refuse_deliveries ON webhook_deliveries;"
                " DROP FUNCTION refuse_deliveries();"
            )


@contextlib.asynccontextmanager
async def one_server(
    kind: str, settings: Settings, clock: FakeClock, request: pytest.FixtureRequest, tmp: Path
) -> AsyncIterator[tuple[WorkflowServer, QueueFault]]:
    settings = settings.model_copy(update=HOOKS)
    if kind == "sqlite":
        async with serving(settings, clock) as wf:
            await on_duty(wf, settings)
            yield wf, QueueFault(kind, settings.data_dir / "vidconsult.db")
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        url = postgres.new_database()
        async with node(settings, clock, url, tmp / "a") as wf:
            await cardiology_on_duty(wf)
            assert await wf.app[PAGING].tick() == 0  # it holds the scheduler's lease
            yield wf, QueueFault(kind, (postgres, url.rsplit("/", 1)[1]))


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_paging_change_is_stored_with_its_deliveries_or_not_at_all(
    kind: str,
    settings: Settings,
    clock: FakeClock,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    gw = Gateway()
    async with one_server(kind, settings, clock, request, tmp_path) as (wf, fault), receiving(gw):
        hook = await register(wf, gw.url)
        pager = wf.app[PAGING]
        await fault.set()
        # the emergency is filed (its case and room are kept); its first page's write fails
        opened = await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201)
        case_id, room_id = opened["case"]["id"], opened["room"]["id"]
        store = pager._store
        kept = await store.get_paging(case_id)
        # stored => queued: a page the store has is a page the gateway will hear of
        assert kept is None or (await queued(wf, hook)) == [("page.sent", f"{case_id}.p0")], (
            "the paging was stored without its page.sent delivery"
        )
        assert kept is None and wf.seen("page.sent") == []  # not stored: nobody told either
        await fault.clear()
        assert await pager.tick() == 1  # the first tick pages it, from what is stored
        wake(wf)
        await gw.until(lambda: bool(gw.heard("page.sent", f"{case_id}.p0")))
        # zhou's page runs out while the queue refuses again: the escalation is not made
        await fault.set()
        clock.advance(seconds=30)
        assert await pager.tick() == 0
        kept = await store.get_paging(case_id)
        assert kept is not None and [p.status.value for p in kept.pages] == ["ringing"]
        await fault.clear()
        assert await pager.tick() == 1  # wang's page, with its delivery
        wake(wf)
        await gw.until(lambda: bool(gw.heard("page.sent", f"{case_id}.p1")))
        assert await pager.tick() == 0
        assert [d["target"]["id"] for d in wf.seen("page.sent")] == ["zhou", "wang"]
        gw.once_each()
        # the body is signed and says whom to call
        (sent,) = gw.heard("page.sent", f"{case_id}.p1")
        assert sent.signature_valid(hook["secret"])
        assert sent.json["data"]["target"] == {"kind": "expert", "id": "wang"}
        # the room ends while the queue refuses: the cancellation is neither stored nor told
        await fault.set()
        await wf.ok("DELETE", f"/api/v1/rooms/{room_id}")
        kept = await store.get_paging(case_id)
        assert kept is not None and kept.state.value == "paging"
        assert wf.seen("page.cancelled") == []
        await fault.clear()
        assert await pager.tick() == 0  # no page sent: both open pages cancelled
        wake(wf)
        pages = (f"{case_id}.p0", f"{case_id}.p1")
        await gw.until(lambda: all(gw.heard("page.cancelled", p) for p in pages))
        for page in pages:
            (cancelled,) = gw.heard("page.cancelled", page)
            assert cancelled.json["data"]["reason"] == "room_closed"
        kept = await store.get_paging(case_id)
        assert kept is not None and kept.state.value == "closed"
        gw.once_each()


async def test_first_page_and_cancellation_not_stored_are_sent_after_a_restart(
    settings: Settings, clock: FakeClock
) -> None:
    """The store goes down; an emergency is filed (its first page not stored) and another's
    room ends (its cancellation not stored); the node restarts before the store is back. The
    restarted server sends both, from what is stored, once each (a further tick and a further
    restart send nothing again)."""
    settings = settings.model_copy(update=HOOKS)
    gw = Gateway()
    async with receiving(gw):
        async with serving(settings, clock) as wf:
            await on_duty(wf, settings)
            await register(wf, gw.url)
            ending = await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201)
            ending_page = f"{ending['case']['id']}.p0"
            await gw.until(lambda: bool(gw.heard("page.sent", ending_page)))
            outage = wrap(wf, Outage)
            late = (await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"]
            await wf.ok("DELETE", f"/api/v1/rooms/{ending['room']['id']}")
            assert outage.refused >= 2
            assert await wf.app[PAGING].tick() == 0  # still down
            assert wf.seen("page.cancelled") == []
            assert [e["case_id"] for e in wf.seen("page.sent")] == [ending["case"]["id"]]
        # the node restarts; the store is back
        async with serving(settings, clock) as wf:
            assert await wf.app[PAGING].tick() == 1  # the late emergency's first page
            await gw.until(
                lambda: (
                    bool(gw.heard("page.sent", f"{late['id']}.p0"))
                    and bool(gw.heard("page.cancelled", ending_page))
                )
            )
            (cancelled,) = gw.heard("page.cancelled", ending_page)
            assert cancelled.json["data"]["reason"] == "room_closed"
            (sent,) = gw.heard("page.sent", f"{late['id']}.p0")
            assert sent.json["data"]["target"]["id"] == "zhou"
            assert await wf.app[PAGING].tick() == 0
            board = {p["case_id"]: p for p in (await wf.ok("GET", "/api/v1/paging"))["pagings"]}
            assert board[ending["case"]["id"]]["state"] == "closed"
            assert [p["status"] for p in board[late["id"]]["pages"]] == ["ringing"]
        async with serving(settings, clock) as wf:  # and once more: nothing again
            assert await wf.app[PAGING].tick() == 0
            wake(wf)
            assert await wf.app[WEBHOOK_WORKER].run_once() == 0
        gw.once_each()
        assert len([r for r, s in gw.answers if s == 200]) == 3


async def test_a_pages_cancellation_is_not_attempted_before_its_page(
    settings: Settings, clock: FakeClock
) -> None:
    """The gateway refuses zhou's page.sent once (503: retried after its backoff); the room
    ends meanwhile. The cancellation waits: the gateway takes zhou's page, then its
    cancellation, never "stop calling" before "call"."""
    settings = settings.model_copy(update=HOOKS)
    gw = Gateway(refuse={"page.sent": 1})
    async with receiving(gw), serving(settings, clock) as wf:
        await on_duty(wf, settings)
        await register(wf, gw.url)
        opened = await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201)
        page = f"{opened['case']['id']}.p0"
        await gw.until(lambda: len(gw.requests) == 1)  # refused: retried in up to 1 s
        await wf.ok("DELETE", f"/api/v1/rooms/{opened['room']['id']}")
        assert [e["page_id"] for e in wf.seen("page.cancelled")] == [page]
        worker = wf.app[WEBHOOK_WORKER]
        await worker.run_once()  # the cancellation is queued, due now; the page is not yet
        assert gw.heard("page.cancelled", page) == []
        clock.advance(seconds=2)  # past the page's backoff
        wake(wf)
        await gw.until(lambda: bool(gw.heard("page.cancelled", page)))
        order = [
            (r.headers["X-Vidconsult-Event"], status)
            for r, status in gw.answers
            if r.json["data"]["page_id"] == page
        ]
        assert order == [("page.sent", 503), ("page.sent", 200), ("page.cancelled", 200)]
        gw.once_each()


async def test_a_server_killed_right_after_storing_a_page_still_has_it_delivered(
    settings: Settings, clock: FakeClock
) -> None:
    """The server process is SIGKILLed once the first page's paging change is stored, before
    it tells anyone (``serve_paging_proc --hold-after-paging``): where the deliveries used to
    be queued, in a second write. A server started again on the same data directory delivers
    zhou's page.sent to the gateway, once, and pages nothing twice."""
    settings = settings.model_copy(update=OVERRIDES)
    assert settings.secret is not None
    gw = Gateway()
    async with receiving(gw):
        async with serving(settings, clock) as wf:  # the centre's data, the gateway's endpoint
            await on_duty(wf, settings)
            hook = await register(wf, gw.url)
            token = wf.coordinator_token
        held_server = server_process(
            "tests.workflow.serve_paging_proc",
            str(settings.data_dir),
            SECRET,
            "--hold-after-paging",
        )
        async with held_server as (proc, url):
            assert proc.stdout is not None
            async with aiohttp.ClientSession() as session:
                filing = asyncio.ensure_future(
                    session.post(
                        f"{url}/api/v1/emergencies",
                        json=case_body(),
                        headers={"Authorization": f"Bearer {token}"},
                    )
                )
                reading = asyncio.ensure_future(asyncio.to_thread(proc.stdout.readline))
                await asyncio.wait(
                    {reading, filing}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
                )
                if not reading.done():  # answered (not held), or nothing within the bound
                    answer = await (await filing).text() if filing.done() else "no answer"
                    raise AssertionError(f"the server did not hold after paging: {answer}")
                held = reading.result()
                case_id = held.decode().split()[1]
                await sigkill(proc)
                with contextlib.suppress(aiohttp.ClientError):
                    (await filing).close()
        assert gw.requests == []  # the dead server told no one

        async with serving(settings, clock) as wf:  # started again on the same data
            pager = wf.app[PAGING]
            kept = await pager._store.get_paging(case_id)
            assert kept is not None and [p.id for p in kept.pages] == [f"{case_id}.p0"]
            await gw.until(lambda: bool(gw.heard("page.sent", f"{case_id}.p0")))
            (sent,) = gw.heard("page.sent", f"{case_id}.p0")
            assert sent.signature_valid(hook["secret"])
            assert sent.json["data"]["target"] == {"kind": "expert", "id": "zhou"}
            assert await pager.tick() == 0  # nothing paged twice
            assert await wf.app[WEBHOOK_WORKER].run_once() == 0
        gw.once_each()
        assert len(gw.requests) == 1


async def test_two_nodes_a_first_page_not_stored_is_sent_by_the_other_node(
    settings: Settings, clock: FakeClock, postgres: PostgresServer, tmp_path: Path
) -> None:
    """Node a cannot write to the paging store when an emergency is filed on it, and is stopped
    before the store is back: node b (the scheduler's lease holder) pages its first step from
    what is stored (the open emergency room without a paging), once."""
    url = postgres.new_database()
    settings = settings.model_copy(update=HOOKS)
    gw = Gateway()
    async with receiving(gw), contextlib.AsyncExitStack() as stack:
        a = await stack.enter_async_context(node(settings, clock, url, tmp_path / "a"))
        await cardiology_on_duty(a)
        await register(a, gw.url)
        async with node(settings, clock, url, tmp_path / "b") as b:
            assert await b.app[PAGING].tick() == 0  # b takes the lease
            outage = wrap(a, Outage)
            case_id = (await a.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"][
                "id"
            ]
            assert outage.refused >= 1 and a.seen("page.sent") == []
            await stack.aclose()  # a stops, its store never took the paging
            assert await b.app[PAGING].tick() == 1
            assert [e["target"]["id"] for e in b.seen("page.sent")] == ["zhou"]
            wake(b)
            await gw.until(lambda: bool(gw.heard("page.sent", f"{case_id}.p0")))
            assert await b.app[PAGING].tick() == 0
            gw.once_each()
