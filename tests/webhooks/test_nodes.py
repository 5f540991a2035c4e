"""Two nodes on one PostgreSQL database share one webhook queue: each delivery is sent by one
of them (the node holding the queue's lease), and the other takes the queue over when the
holder stops renewing it (it died) or lets it go (it stopped)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.fakes import FakeClock
from tests.postgres import PostgresServer
from tests.webhooks.receiver import Receiver, receiving
from vidconsult.domain.webhooks import Destinations
from vidconsult.services.webhooks import DeliveryWorker, WebhooksConfig, WebhookService
from vidconsult.store.pg.accounts import PgWebhookStore
from vidconsult.store.pg.database import PostgresDatabase
from vidconsult.store.pg.workflow import PgLeaseStore
from web.webhooks_api import AiohttpSender

LOOPBACK = Destinations.parse("127.0.0.0/8")


class Node:
    def __init__(self, url: str, name: str, clock: FakeClock) -> None:
        self.db = PostgresDatabase(url, pool_size=2)
        self.store = PgWebhookStore(self.db)
        self.sender = AiohttpSender(LOOPBACK)
        self.worker = DeliveryWorker(
            store=self.store,
            sender=self.sender,
            clock=clock,
            config=WebhooksConfig(timeout=2.0, lease_ttl=30.0, destinations=LOOPBACK),
            leases=PgLeaseStore(self.db),
            owner=name,
        )


@pytest.fixture
async def nodes(postgres: PostgresServer) -> AsyncIterator[tuple[Node, Node, FakeClock]]:
    url = postgres.new_database()
    clock = FakeClock(datetime(2026, 3, 9, 2, tzinfo=UTC))
    a, b = Node(url, "node-a", clock), Node(url, "node-b", clock)
    for node in (a, b):
        await node.db.open()
    yield a, b, clock
    for node in (a, b):
        await node.sender.close()
        await node.db.close()


async def test_one_node_sends_each_delivery_and_another_takes_over(
    nodes: tuple[Node, Node, FakeClock],
) -> None:
    a, b, clock = nodes
    async with receiving(Receiver()) as rx:
        # node b's service queues the events (any node may)
        service = WebhookService(store=b.store, clock=clock, destinations=LOOPBACK)
        await service.create(url=rx.url, events=["case.*"], created_by="lead")
        for i in range(6):
            await service.on_event("case.created", {"case_id": f"c{i}"})
        # both workers run rounds at once, again and again
        for _ in range(3):
            await asyncio.gather(a.worker.run_once(), b.worker.run_once())
        await rx.wait_for(6)
        ids = [r.headers["X-Vidconsult-Delivery"] for r in rx.requests]
        assert len(ids) == 6 and len(set(ids)) == 6  # each sent once, by one node
        assert await b.worker.owns_queue() != await a.worker.owns_queue()

        holder, other = (a, b) if await a.worker.owns_queue() else (b, a)
        await service.on_event("case.created", {"case_id": "late"})
        assert await other.worker.run_once() == 0  # the holder's lease is fresh
        clock.advance(seconds=31)  # the holder stopped renewing: it died
        assert await other.worker.run_once() == 1
        assert await holder.worker.run_once() == 0
        await rx.wait_for(7)

        await other.worker.release()  # a clean stop lets it go at once
        await service.on_event("case.created", {"case_id": "after"})
        assert await holder.worker.run_once() == 1
        await rx.wait_for(8)
    assert len({r.headers["X-Vidconsult-Delivery"] for r in rx.requests}) == 8
