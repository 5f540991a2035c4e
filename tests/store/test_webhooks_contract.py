"""Contract of WebhookStore: endpoints and the durable delivery queue."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.store.record_backends import Backend, backend_fixture
from vidconsult.domain.webhooks import Delivery, DeliveryStatus, Webhook
from vidconsult.store.pg.accounts import PgWebhookStore
from vidconsult.store.sqlite_webhooks import SQLiteWebhookStore

STORES = {"sqlite": SQLiteWebhookStore, "postgres": PgWebhookStore}
backend = backend_fixture()
T0 = datetime(2026, 3, 9, 2, tzinfo=UTC)


def hook(i: int) -> Webhook:
    return Webhook(
        id=f"wh_{i}",
        url=f"http://127.0.0.1:9/{i}",
        events=("case.*", "room.ended"),
        secret="s" * 20,
        created_by="lead",
        created_at=T0 + timedelta(seconds=i),
    )


def delivery(i: int, webhook_id: str = "wh_1", due: float = 0) -> Delivery:
    return Delivery(
        id=f"dlv_{i}",
        webhook_id=webhook_id,
        event="case.created",
        event_id=f"evt_{i}",
        body=b'{"x":1}',
        created_at=T0 + timedelta(seconds=i),
        next_attempt_at=T0 + timedelta(seconds=due),
    )


async def test_webhooks_create_list_delete_cascades(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    await store.create_webhook(hook(1))
    await store.create_webhook(hook(2))
    await store.enqueue([delivery(1), delivery(2, "wh_2")])
    assert await store.get_webhook("wh_1") == hook(1)
    assert [w.id for w in await store.list_webhooks()] == ["wh_1", "wh_2"]
    assert await store.delete_webhook("wh_1") is True
    assert await store.delete_webhook("wh_1") is False
    assert await store.get_webhook("wh_1") is None
    assert await store.list_deliveries("wh_1") == []
    assert [d.id for d in await store.due_deliveries(T0 + timedelta(hours=1))] == ["dlv_2"]


async def test_queue_is_durable_and_ordered_by_due_time(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    await store.create_webhook(hook(1))
    await store.enqueue([delivery(1, due=30), delivery(2, due=10), delivery(3, due=20)])
    store = await backend.open(STORES[backend.kind])  # a restart loses nothing
    assert await store.next_due_at() == T0 + timedelta(seconds=10)
    assert [d.id for d in await store.due_deliveries(T0 + timedelta(seconds=20))] == [
        "dlv_2",
        "dlv_3",
    ]
    assert [d.id for d in await store.due_deliveries(T0 + timedelta(seconds=60), limit=1)] == [
        "dlv_2"
    ]
    done = replace(
        delivery(2, due=10),
        status=DeliveryStatus.SUCCEEDED,
        attempts=1,
        last_attempt_at=T0 + timedelta(seconds=11),
        last_status=200,
    )
    retry = replace(
        delivery(3, due=20),
        attempts=1,
        next_attempt_at=T0 + timedelta(seconds=99),
        last_attempt_at=T0 + timedelta(seconds=21),
        last_status=503,
        last_error="HTTP 503",
    )
    await store.save_delivery(done)
    await store.save_delivery(retry)
    store = await backend.open(STORES[backend.kind])
    assert [d.id for d in await store.due_deliveries(T0 + timedelta(seconds=60))] == ["dlv_1"]
    assert await store.next_due_at() == T0 + timedelta(seconds=30)
    log = {d.id: d for d in await store.list_deliveries("wh_1")}
    assert list(log) == ["dlv_3", "dlv_2", "dlv_1"]  # newest first
    assert log["dlv_2"] == done and log["dlv_3"] == retry


async def test_next_due_is_none_when_nothing_pending(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    assert await store.next_due_at() is None
    assert await store.due_deliveries(T0) == []


async def test_a_delivery_waits_for_the_one_it_comes_after(backend: Backend) -> None:
    """A page's cancellation (``after_id``: its page.sent) is not due while that page.sent is
    pending, even when its own time came; once the page.sent succeeded or was given up, it
    is. The same delivery id queued again is kept once, as it was."""
    store = await backend.open(STORES[backend.kind])
    await store.create_webhook(hook(1))
    sent = delivery(1, due=30)  # refused once: its retry is due at 30 s
    cancelled = replace(delivery(2, due=0), after_id="dlv_1")
    await store.enqueue([sent, cancelled, delivery(3, due=5)])
    await store.enqueue([replace(cancelled, body=b'{"again":1}')])  # made again: once
    store = await backend.open(STORES[backend.kind])  # the order survives a restart
    assert [d.id for d in await store.due_deliveries(T0 + timedelta(seconds=10))] == ["dlv_3"]
    assert await store.next_due_at() == T0 + timedelta(seconds=5)  # not 0: dlv_2 waits
    await store.save_delivery(replace(delivery(3, due=5), status=DeliveryStatus.SUCCEEDED))
    assert await store.next_due_at() == T0 + timedelta(seconds=30)
    assert [d.id for d in await store.due_deliveries(T0 + timedelta(seconds=30))] == ["dlv_1"]
    for outcome in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED):  # delivered, given up
        await store.save_delivery(replace(sent, status=outcome, attempts=2))
        (due,) = await store.due_deliveries(T0 + timedelta(seconds=30))
        assert due == cancelled and due.body == b'{"x":1}' and due.after_id == "dlv_1"
    # waiting for a delivery that is not queued (an endpoint added after the page): due
    await store.enqueue([replace(delivery(4), after_id="dlv_none")])
    assert {d.id for d in await store.due_deliveries(T0)} == {"dlv_2", "dlv_4"}
