"""Contract: emergency pagings (open pages, their times, who answered), on SQLite and
PostgreSQL; a re-opened store (a restart) has every one of them as it was."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.store.record_backends import Backend, backend_fixture
from vidconsult.domain.paging import PageTarget, Paging, PagingPolicy, PagingState
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.webhooks import Delivery, Webhook
from vidconsult.store.pg.accounts import PgWebhookStore
from vidconsult.store.pg.paging import PgPagingStore
from vidconsult.store.sqlite_paging import SQLitePagingStore
from vidconsult.store.sqlite_webhooks import SQLiteWebhookStore

STORES = {"sqlite": SQLitePagingStore, "postgres": PgPagingStore}
WEBHOOK_STORES = {"sqlite": SQLiteWebhookStore, "postgres": PgWebhookStore}
backend = backend_fixture()
T0 = datetime(2026, 12, 5, 9, tzinfo=UTC)


def paging(case_id: str, opened_at: datetime) -> Paging:
    return Paging(
        case_id=case_id,
        room_id=f"room-{case_id}",
        unit_id="vil-1",
        specialty=Specialty.CARDIOLOGY,
        opened_at=opened_at,
        chain=(PageTarget.expert("zhou"), PageTarget.expert("wang"), PageTarget.coordinators()),
        policy=PagingPolicy(timedelta(seconds=45)),
    )


async def test_pagings_survive_a_reopen_with_their_pages_and_clock(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    # one still paging, long ago (its step ran out: the backup rings, the first is unanswered)
    ringing = paging("case_old", T0 - timedelta(days=3))
    ringing.start(ringing.opened_at)
    ringing.tick(ringing.opened_at + timedelta(seconds=50))
    await store.save_paging(ringing)
    # one answered an hour ago, after the expert's page (then saved again: an upsert)
    answered = paging("case_answered", T0 - timedelta(hours=1))
    answered.start(answered.opened_at)
    await store.save_paging(answered)
    answered.accept("case_answered.p0", "zhou", T0 - timedelta(minutes=59), coordinator=False)
    answered.expert_arrived(T0 - timedelta(minutes=58))
    await store.save_paging(answered)
    # one closed unanswered two days ago: older than the board keeps
    closed = paging("case_closed", T0 - timedelta(days=2))
    closed.start(closed.opened_at)
    closed.close(closed.opened_at + timedelta(minutes=60))
    await store.save_paging(closed)

    store = await backend.open(STORES[backend.kind])  # a restart
    got = await store.list_pagings(since=T0 - timedelta(hours=12))
    assert [p.case_id for p in got] == ["case_answered", "case_old"]
    again_answered, again_ringing = got
    assert again_ringing == ringing and again_answered == answered
    # what the escalation clock reads after the restart is what it was
    assert again_ringing.state is PagingState.PAGING
    assert again_ringing.deadline == ringing.opened_at + timedelta(seconds=95)
    assert [p.status.value for p in again_ringing.pages] == ["unanswered", "ringing"]
    assert again_ringing.policy.answer_within == timedelta(seconds=45)
    # a cancelled page keeps why (the board, the page.cancelled webhook)
    again_closed = await store.get_paging("case_closed")
    assert again_closed == closed
    assert [p.reason.value if p.reason else None for p in again_closed.pages] == ["room_closed"]
    assert again_answered.answered_by == "zhou" and again_answered.first_expert_at is not None
    assert again_answered.pages[0].answered_by == "zhou"
    # ``since`` far back: all three, newest first
    every = await store.list_pagings(since=T0 - timedelta(days=30))
    assert [p.case_id for p in every] == ["case_answered", "case_closed", "case_old"]
    assert every[1].state is PagingState.CLOSED


async def test_a_write_lands_only_over_the_revision_it_was_read_at(backend: Backend) -> None:
    """Two nodes read the same paging; one accepts the expert's page while the other pages the
    backup. The store takes the first write and refuses the second (nothing of it kept); the
    refused writer reads the store's copy again (its revision moved on)."""
    store = await backend.open(STORES[backend.kind])
    first = paging("case_race", T0)
    first.start(T0)
    assert first.revision == 0
    assert await store.save_paging(first) is True
    assert first.revision == 1
    # a second insert of the same case (revision 0) is refused: it was stored meanwhile
    again = paging("case_race", T0)
    again.start(T0)
    assert await store.save_paging(again) is False and again.revision == 0

    node_a = await store.get_paging("case_race")
    node_b = await store.get_paging("case_race")
    assert node_a is not None and node_b is not None
    assert node_a.revision == node_b.revision == 1
    node_a.accept("case_race.p0", "zhou", T0 + timedelta(seconds=44), coordinator=False)
    node_b.tick(T0 + timedelta(seconds=45))  # wang paged, on the same revision
    assert await store.save_paging(node_a) is True
    assert node_a.revision == 2
    assert await store.save_paging(node_b) is False
    assert node_b.revision == 1

    store = await backend.open(STORES[backend.kind])  # what any node reads now
    kept = await store.get_paging("case_race")
    assert kept is not None and kept.revision == 2
    assert kept.state is PagingState.ANSWERED and kept.answered_by == "zhou"
    assert [(p.id, p.status.value) for p in kept.pages] == [("case_race.p0", "accepted")]
    (listed,) = await store.list_pagings(since=T0)
    assert listed.revision == 2 and listed == kept
    # the refused writer, on the store's copy: nothing is due any more
    assert kept.tick(T0 + timedelta(seconds=45)).sent == ()
    assert await store.get_paging("case_none") is None


def sent_delivery(page_id: str, webhook_id: str = "wh_1") -> Delivery:
    return Delivery(
        id=f"dlv_{page_id}_{webhook_id}",
        webhook_id=webhook_id,
        event="page.sent",
        event_id=f"evt_{page_id}",
        body=b'{"page":1}',
        created_at=T0,
        next_attempt_at=T0,
    )


async def test_a_change_is_written_with_its_deliveries_or_not_at_all(backend: Backend) -> None:
    """The outbox: the deliveries given with a change are queued in its transaction. A change
    that loses its compare-and-set queues none of them; one that lands queues them (those of
    an endpoint deleted meanwhile are dropped); the same ids again are kept once."""

    def both(db: Any) -> tuple[Any, Any]:
        return STORES[backend.kind](db), WEBHOOK_STORES[backend.kind](db)

    pagings, hooks = await backend.open(both)
    for i in (1, 2):
        await hooks.create_webhook(
            Webhook(f"wh_{i}", "http://127.0.0.1:9/", ("page.*",), "s" * 20, "lead", T0)
        )
    first = paging("case_box", T0)
    first.start(T0)
    outbox = [sent_delivery("case_box.p0"), sent_delivery("case_box.p0", "wh_gone")]
    assert await pagings.save_paging(first, outbox) is True
    late = paging("case_box", T0)  # another node's first page of the same case: it lost
    late.start(T0)
    assert await pagings.save_paging(late, [sent_delivery("late")]) is False
    first.tick(T0 + timedelta(seconds=45))
    assert await pagings.save_paging(
        first, [sent_delivery("case_box.p1"), sent_delivery("case_box.p0")]
    )

    pagings, hooks = await backend.open(both)  # what a restart reads
    queued = await hooks.due_deliveries(T0, limit=10)
    assert sorted(d.id for d in queued) == ["dlv_case_box.p0_wh_1", "dlv_case_box.p1_wh_1"]
    kept = await pagings.get_paging("case_box")
    assert kept is not None and kept.revision == 2
