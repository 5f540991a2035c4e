"""``page.cancelled`` reaches the SMS/phone gateway as a webhook, like ``page.sent``: when
another expert accepted first, when an escalation then an acceptance cancels the backup's
page, when the emergency's room closes and when the emergency is withdrawn (its case
cancelled). Delivered to a real HTTP receiver on 127.0.0.1 (aiohttp), signed, retried after a
refusal, once, by one of two nodes sharing PostgreSQL; the payload says who (target and phones),
which page, why (a stable reason code) and when (ISO 8601 with its offset)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes import FakeClock
from tests.postgres import PostgresServer
from tests.webhooks.receiver import Received, Receiver, receiving
from tests.workflow.helpers import MON, WorkflowServer, case_body
from tests.workflow.test_paging import on_duty, serving
from tests.workflow.test_paging_nodes import node
from vidconsult.config import Settings
from web.webhooks_api import WEBHOOK_WORKER
from web.workflow_keys import PAGING

# the receiver listens on loopback, which webhooks reach only when the operator allows it
HOOKS = {"webhook_allowed_networks": "127.0.0.0/8", "webhook_backoff_base": 1.0}
REASONS = {"answered_elsewhere", "room_closed", "emergency_withdrawn"}


class Gateway(Receiver):
    """The centre's SMS/phone gateway: records what arrives; refuses the first ``refuse``
    ``page.cancelled`` deliveries with 503 (it is restarting), then takes them."""

    def __init__(self, refuse: int = 0) -> None:
        super().__init__()
        self.refuse = refuse
        self._arrived: dict[int, asyncio.Event] = {}

    async def _handle(self, request: web.Request) -> web.Response:
        if request.headers.get("X-Vidconsult-Event") == "page.cancelled" and self.refuse:
            self.refuse -= 1
            self.statuses.insert(0, 503)
        response = await super()._handle(request)
        for n, event in self._arrived.items():
            if len(self.of("page.cancelled")) >= n:
                event.set()
        return response

    def of(self, event: str) -> list[Received]:
        return [r for r in self.requests if r.headers["X-Vidconsult-Event"] == event]

    async def cancelled(self, n: int, timeout: float = 15) -> list[Received]:
        """Once ``n`` page.cancelled deliveries (attempts) have arrived."""
        arrived = self._arrived.setdefault(n, asyncio.Event())
        if len(self.of("page.cancelled")) >= n:
            arrived.set()
        await asyncio.wait_for(arrived.wait(), timeout)
        return self.of("page.cancelled")


async def register(server: WorkflowServer, url: str) -> dict[str, Any]:
    return await server.ok(
        "POST", "/api/v1/webhooks", {"url": url, "events": ["page.*"]}, status=201
    )


def offset_instant(text: str) -> datetime:
    """An ISO 8601 instant that carries its UTC offset (what the gateway formats)."""
    at = datetime.fromisoformat(text)
    assert at.utcoffset() is not None, text
    return at


@contextlib.asynccontextmanager
async def gateway_on_one_node(
    settings: Settings, clock: FakeClock, gateway: Gateway
) -> AsyncIterator[tuple[WorkflowServer, Gateway, dict[str, Any]]]:
    async with (
        serving(settings.model_copy(update=HOOKS), clock) as wf,
        receiving(gateway) as rx,
    ):
        await on_duty(wf, settings)
        hook = await register(wf, rx.url)
        yield wf, gateway, hook


async def test_each_way_a_page_is_cancelled_reaches_the_gateway_with_its_reason(
    settings: Settings, clock: FakeClock
) -> None:
    async with gateway_on_one_node(settings, clock, Gateway()) as (wf, rx, hook):
        wang = wf.mint("wang", "expert")
        # another expert accepted first: zhou's page went unanswered (open), wang took his
        opened = await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201)
        first = opened["case"]
        clock.advance(seconds=30)
        assert await wf.app[PAGING].tick() == 1
        answered_at = clock.now()
        await wf.ok("POST", f"/api/v1/pages/{first['id']}.p1/accept", token=wang)
        # the room closed with zhou's page ringing
        opened = await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201)
        second = opened["case"]
        clock.advance(seconds=5)
        closed_at = clock.now()
        await wf.ok("DELETE", f"/api/v1/rooms/{opened['room']['id']}")
        # withdrawn (its case cancelled) while zhou's page is unanswered and wang's rings
        third = (await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"]
        clock.advance(seconds=30)
        assert await wf.app[PAGING].tick() == 1
        withdrawn_at = clock.now()
        await wf.ok("POST", f"/api/v1/cases/{third['id']}/cancel", {"reason": "patient stable"})

        got = await rx.cancelled(4)
        assert all(r.signature_valid(hook["secret"]) for r in got)
        by_page = {r.json["data"]["page_id"]: r.json["data"] for r in got}
        assert len(by_page) == 4  # each cancelled page once
        assert {
            page: (d["target"]["id"], d["reason"], offset_instant(d["cancelled_at"]))
            for page, d in by_page.items()
        } == {
            f"{first['id']}.p0": ("zhou", "answered_elsewhere", answered_at),
            f"{second['id']}.p0": ("zhou", "room_closed", closed_at),
            f"{third['id']}.p0": ("zhou", "emergency_withdrawn", withdrawn_at),
            f"{third['id']}.p1": ("wang", "emergency_withdrawn", withdrawn_at),
        }
        data = by_page[f"{first['id']}.p0"]
        assert data["answered_by"] == "wang" and data["status"] == "cancelled"
        assert data["case_id"] == first["id"] and data["room_id"].startswith("rm_")
        assert data["contacts"] == [{"name": "Zhou", "phone": "+86 138 0000 0001"}]
        assert data["cancelled_at"].endswith("+08:00")  # the centre's clock, with its offset
        assert by_page[f"{third['id']}.p1"]["contacts"][0]["phone"] == "+86 138 0000 0002"
        assert by_page[f"{second['id']}.p0"]["answered_by"] is None
        assert "answer_url" not in data  # nothing to answer any more
        # the accepted and the sent pages are not "cancelled"
        assert {r.json["data"]["page_id"] for r in rx.of("page.accepted")} == {f"{first['id']}.p1"}
        # the board and the audit trail agree
        board = await wf.ok("GET", "/api/v1/paging")
        states = {p["case_id"]: p["state"] for p in board["pagings"]}
        assert states == {first["id"]: "answered", second["id"]: "closed", third["id"]: "closed"}
        reasons = {p["page_id"]: p["reason"] for row in board["pagings"] for p in row["pages"]}
        assert reasons == {
            f"{first['id']}.p0": "answered_elsewhere",
            f"{first['id']}.p1": None,  # accepted
            f"{second['id']}.p0": "room_closed",
            f"{third['id']}.p0": "emergency_withdrawn",
            f"{third['id']}.p1": "emergency_withdrawn",
        }
        case = await wf.ok("GET", f"/api/v1/cases/{third['id']}")
        assert [r["action"] for r in case["audit"]].count("page.cancelled") == 2


@contextlib.asynccontextmanager
async def two_nodes_with_gateway(
    settings: Settings, clock: FakeClock, postgres: PostgresServer, tmp_path: Path, gw: Gateway
) -> AsyncIterator[tuple[WorkflowServer, WorkflowServer, dict[str, Any], str]]:
    """Nodes a and b on one PostgreSQL; b holds the scheduler's lease (b escalates); the
    gateway registered on a; an emergency filed on a, zhou's page ringing, wang the backup."""
    url = postgres.new_database()
    settings = settings.model_copy(update=HOOKS)
    async with node(settings, clock, url, tmp_path / "a") as a, receiving(gw) as rx:
        await a.unit("vil-1")
        for expert in ("zhou", "wang"):
            await a.expert(expert)
        slots = [
            {"expert_id": e, "weekday": MON, "start": "08:00", "end": "20:00"}
            for e in ("zhou", "wang")
        ]
        await a.ok("PUT", "/api/v1/rota/cardiology", {"slots": slots})
        hook = await register(a, rx.url)
        async with node(settings, clock, url, tmp_path / "b") as b:
            assert await b.app[PAGING].tick() == 0  # b takes the lease
            case = (await a.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"]
            yield a, b, hook, case["id"]


async def test_two_nodes_the_backups_cancelled_page_is_delivered_once_and_retried(
    settings: Settings, clock: FakeClock, postgres: PostgresServer, tmp_path: Path
) -> None:
    gw = Gateway(refuse=1)
    async with two_nodes_with_gateway(settings, clock, postgres, tmp_path, gw) as (
        a,
        b,
        hook,
        case_id,
    ):
        clock.advance(seconds=20)
        assert await b.app[PAGING].tick() == 1  # b pages wang: the gateway calls him
        # zhou accepts the page he missed, on a: wang's page is cancelled
        accepted_at = clock.now()
        zhou = a.mint("zhou", "expert")
        await a.ok("POST", f"/api/v1/pages/{case_id}.p0/accept", token=zhou)
        # exactly one node published it (the one that made the change)
        published = [e for n in (a, b) for e in n.seen("page.cancelled")]
        assert [(e["page_id"], e["reason"]) for e in published] == [
            (f"{case_id}.p1", "answered_elsewhere")
        ]

        (refused,) = await gw.cancelled(1)  # the gateway was restarting: 503
        clock.advance(seconds=2)  # past the first retry's backoff (at most 1 s)
        for n in (a, b):
            n.app[WEBHOOK_WORKER].wake()
        first, again = await gw.cancelled(2)
        assert first is refused
        # the same delivery again (the gateway deduplicates on it), signed each time
        assert again.headers["X-Vidconsult-Delivery"] == refused.headers["X-Vidconsult-Delivery"]
        assert again.body == refused.body
        assert refused.signature_valid(hook["secret"]) and again.signature_valid(hook["secret"])
        data = again.json["data"]
        assert (data["page_id"], data["target"], data["reason"], data["answered_by"]) == (
            f"{case_id}.p1",
            {"kind": "expert", "id": "wang"},
            "answered_elsewhere",
            "zhou",
        )
        assert data["reason"] in REASONS
        assert offset_instant(data["cancelled_at"]) == accepted_at
        assert again.json["event"] == "page.cancelled"
        # the delivery log (either node reads the shared queue): two attempts, then delivered
        status, log = await b.api("GET", f"/api/v1/webhooks/{hook['id']}/deliveries")
        assert status == 200, log
        (row,) = [d for d in log["deliveries"] if d["event"] == "page.cancelled"]
        assert (row["status"], row["attempts"], row["last_status"]) == ("succeeded", 2, 200)
        # and nothing more: one event each (zhou's accepted page is no cancellation)
        assert sorted(d["event"] for d in log["deliveries"]) == [
            "page.accepted",
            "page.cancelled",
            "page.sent",
            "page.sent",
        ]
