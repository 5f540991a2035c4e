"""Contract of AccessLogStore: an append-only log, read by case or by room."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.store.record_backends import Backend, backend_fixture
from vidconsult.domain.access import AccessEntry, AccessKind
from vidconsult.store.pg.records import PgAccessLogStore
from vidconsult.store.sqlite_access import SQLiteAccessLogStore

STORES = {"sqlite": SQLiteAccessLogStore, "postgres": PgAccessLogStore}
backend = backend_fixture()
T0 = datetime(2026, 12, 5, 9, tzinfo=UTC)


def entry(i: int, case_id: str | None, room_id: str | None) -> AccessEntry:
    return AccessEntry(
        at=T0 + timedelta(seconds=i),
        actor=f"user{i}",
        role="coordinator",
        action=AccessKind.RECORDING_PLAY if i % 2 else AccessKind.ATTACHMENT_DOWNLOAD,
        subject=f"item_{i}",
        case_id=case_id,
        room_id=room_id,
        note=f"file {i}.pdf",
    )


async def test_entries_are_kept_and_read_by_case_or_room(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    a = entry(1, "case_a", "rm_1")
    b = entry(2, "case_a", None)
    c = entry(3, None, "rm_1")  # a recording of a room without a case
    d = entry(4, "case_b", "rm_2")
    for e in (a, b, c, d):
        await store.add_access(e)
    store = await backend.open(STORES[backend.kind])  # a restart loses nothing
    assert await store.list_access(case_id="case_a") == [a, b]
    assert await store.list_access(room_id="rm_1") == [a, c]
    assert await store.list_access(case_id="case_b", room_id="rm_1") == [a, c, d]
    assert await store.list_access(case_id="nope") == []
    assert await store.list_access() == []


async def test_the_newest_entries_within_the_limit_oldest_first(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    entries = [entry(i, "case_a", None) for i in range(5)]
    for e in entries:
        await store.add_access(e)
    assert await store.list_access(case_id="case_a", limit=2) == entries[3:]
