"""The delivery worker, one round at a time with a controlled clock, against a real local
receiver: retries with backoff, final failures, timeouts, and the delivery log."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from tests.fakes import FakeClock
from tests.webhooks.receiver import Receiver, receiving
from vidconsult.domain.webhooks import Delivery, DeliveryStatus, Destinations, RetryPolicy
from vidconsult.services.webhooks import (
    DeliveryError,
    DeliveryWorker,
    WebhooksConfig,
    WebhookService,
)
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_webhooks import SQLiteWebhookStore
from web.webhooks_api import AiohttpSender

# the receivers listen on loopback, which webhooks reach only when an operator allows it
LOOPBACK = Destinations.parse("127.0.0.0/8")


class Rig:
    def __init__(
        self, store: SQLiteWebhookStore, clock: FakeClock, sender: AiohttpSender, **config: float
    ) -> None:
        self.store = store
        self.clock = clock
        self.service = WebhookService(store=store, clock=clock, destinations=LOOPBACK)
        retry = RetryPolicy(
            max_attempts=int(config.pop("max_attempts", 4)),
            base_delay=1.0,
            max_delay=60.0,
            jitter=0.5,
        )
        # rand() == 0: no jitter, so delays are exactly 1 s, 2 s, 4 s ...
        self.worker = DeliveryWorker(
            store=store,
            sender=sender,
            clock=clock,
            config=WebhooksConfig(retry=retry, **config),
            rand=lambda: 0.0,
        )

    async def one(self, webhook_id: str) -> Delivery:
        [delivery] = await self.store.list_deliveries(webhook_id)
        return delivery


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    db = SQLiteDatabase(tmp_path / "vidconsult.db")
    store = SQLiteWebhookStore(db)
    await db.open()
    sender = AiohttpSender(LOOPBACK)
    yield Rig(store, FakeClock(datetime(2026, 3, 9, 2, tzinfo=UTC)), sender, timeout=2.0)
    await sender.close()
    await db.close()


async def test_a_500_is_retried_after_the_backoff_then_succeeds(rig: Rig) -> None:
    async with receiving(Receiver([500, 200])) as rx:
        hook = await rig.service.create(url=rx.url, events=["case.*"], created_by="lead")
        await rig.service.on_event("case.created", {"case_id": "c1"})
        t0 = rig.clock.now()
        assert await rig.worker.run_once() == 1
        d = await rig.one(hook.id)
        assert (d.status, d.attempts, d.last_status) == (DeliveryStatus.PENDING, 1, 500)
        assert d.next_attempt_at == t0 + timedelta(seconds=1) and d.last_error == "HTTP 500"
        rig.clock.advance(seconds=0.5)
        assert await rig.worker.run_once() == 0  # not due yet
        rig.clock.advance(seconds=0.5)
        assert await rig.worker.run_once() == 1
        d = await rig.one(hook.id)
        assert (d.status, d.attempts, d.last_status) == (DeliveryStatus.SUCCEEDED, 2, 200)
        first, second = rx.requests
        # the same delivery, the same body, each attempt signed afresh
        assert first.body == second.body
        assert (
            first.headers["X-Vidconsult-Delivery"]
            == second.headers["X-Vidconsult-Delivery"]
            == d.id
        )
        assert first.signature_valid(hook.secret) and second.signature_valid(hook.secret)
        assert int(second.headers["X-Vidconsult-Timestamp"]) == int(t0.timestamp()) + 1


async def test_a_4xx_is_final_but_429_and_5xx_back_off_until_max_attempts(rig: Rig) -> None:
    async with receiving(Receiver([404])) as rx:
        hook = await rig.service.create(url=rx.url, events=["*"], created_by="lead")
        await rig.service.on_event("room.ended", {"room_id": "rm_1"})
        assert await rig.worker.run_once() == 1
        d = await rig.one(hook.id)
        assert (d.status, d.attempts, d.last_status) == (DeliveryStatus.FAILED, 1, 404)
        rig.clock.advance(hours=1)
        assert await rig.worker.run_once() == 0
        assert len(rx.requests) == 1
        await rig.service.delete(hook.id)

    async with receiving(Receiver([429, 503, 502, 200])) as rx:
        hook = await rig.service.create(url=rx.url, events=["room.*"], created_by="lead")
        await rig.service.on_event("room.ended", {"room_id": "rm_1"})
        waits = []
        for attempt in range(1, 5):
            before = rig.clock.now()
            assert await rig.worker.run_once() == 1
            d = await rig.one(hook.id)
            assert d.attempts == attempt
            if d.status is DeliveryStatus.PENDING:
                waits.append((d.next_attempt_at - before).total_seconds())
                rig.clock.current = d.next_attempt_at
        assert waits == [1.0, 2.0, 4.0]
        # the fourth (and last allowed) attempt succeeds
        assert d.status is DeliveryStatus.SUCCEEDED and len(rx.requests) == 4


async def test_gives_up_after_max_attempts(rig: Rig) -> None:
    async with receiving(Receiver(default=503)) as rx:
        hook = await rig.service.create(url=rx.url, events=["case.*"], created_by="lead")
        await rig.service.on_event("case.updated", {})
        for _ in range(6):
            await rig.worker.run_once()
            rig.clock.advance(minutes=5)
        d = await rig.one(hook.id)
        assert (d.status, d.attempts) == (DeliveryStatus.FAILED, 4)
        assert len(rx.requests) == 4


async def test_timeouts_and_refused_connections_are_retried(rig: Rig) -> None:
    rig.worker.config = WebhooksConfig(retry=rig.worker.config.retry, timeout=0.2)
    rx = Receiver()
    async with receiving(rx):
        rx.hang = asyncio.Event()
        hook = await rig.service.create(url=rx.url, events=["case.*"], created_by="lead")
        await rig.service.on_event("case.created", {})
        await rig.worker.run_once()
        d = await rig.one(hook.id)
        assert (d.status, d.attempts, d.last_status) == (DeliveryStatus.PENDING, 1, None)
        assert "Timeout" in d.last_error
        url = rx.url
    # the receiver is gone: connection refused
    await rig.service.delete(hook.id)
    hook = await rig.service.create(url=url, events=["case.*"], created_by="lead")
    await rig.service.on_event("case.created", {})
    rig.clock.advance(seconds=1)
    await rig.worker.run_once()
    d = await rig.one(hook.id)
    assert (d.status, d.attempts, d.last_status) == (DeliveryStatus.PENDING, 1, None)
    assert d.last_error


async def test_only_matching_endpoints_get_a_delivery(rig: Rig) -> None:
    cases = await rig.service.create(
        url="http://127.0.0.1:9/a", events=["case.*"], created_by="lead"
    )
    emergencies = await rig.service.create(
        url="http://127.0.0.1:9/b", events=["emergency.*", "room.ended"], created_by="lead"
    )
    await rig.service.on_event("case.created", {"case_id": "c1"})
    await rig.service.on_event("emergency.raised", {"case_id": "c2"})
    await rig.service.on_event("room.opened", {"room_id": "r"})
    assert [d.event for d in await rig.store.list_deliveries(cases.id)] == ["case.created"]
    assert [d.event for d in await rig.store.list_deliveries(emergencies.id)] == [
        "emergency.raised"
    ]


class FakeDNS(AbstractResolver):
    """Every name resolves to 127.0.0.1: a public-looking host name pointing inside."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


async def test_a_name_resolving_inside_is_refused_when_connecting() -> None:
    """The check is on the resolved address at connect time, so a name that passed
    registration (or re-resolves later: DNS rebinding) cannot reach loopback."""
    async with receiving(Receiver([200])) as rx:
        port = rx.url.split(":")[2].split("/")[0]
        url = f"http://his.example.org:{port}/hook"
        guarded = AiohttpSender(Destinations(), resolver=FakeDNS())
        try:
            with pytest.raises(DeliveryError, match="may not reach"):
                await guarded.post(url, b"{}", {}, 2.0)
            with pytest.raises(DeliveryError, match="may not reach"):
                await guarded.post(rx.url, b"{}", {}, 2.0)  # an IP literal, no resolving
            for host in ("127。0。0。1", "①②⑦.0.0.1"):  # yarl makes these 127.0.0.1
                with pytest.raises(DeliveryError, match="may not reach"):
                    await guarded.post(f"http://{host}:{port}/hook", b"{}", {}, 2.0)
        finally:
            await guarded.close()
        assert rx.requests == []
        # the operator allows the network: the same name is delivered to
        allowed = AiohttpSender(LOOPBACK, resolver=FakeDNS())
        try:
            assert await allowed.post(url, b"{}", {}, 2.0) == 200
        finally:
            await allowed.close()
        assert len(rx.requests) == 1
