"""Contract: experts' leave requests, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.store.record_backends import Backend, backend_fixture
from vidconsult.domain.leave_requests import LeaveRequest, LeaveStatus
from vidconsult.store.pg.leave import PgLeaveRequestStore
from vidconsult.store.sqlite_leave import SQLiteLeaveRequestStore

STORES = {"sqlite": SQLiteLeaveRequestStore, "postgres": PgLeaveRequestStore}
backend = backend_fixture()
T0 = datetime(2026, 12, 5, 9, tzinfo=UTC)


def request(i: int, expert: str = "wang") -> LeaveRequest:
    start = T0 + timedelta(days=7 + i)
    return LeaveRequest(
        f"lv_{i}", expert, start, start + timedelta(days=1), "conference", T0 + timedelta(hours=i)
    )


async def test_requests_are_kept_filtered_newest_first_and_decided(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    for i, expert in enumerate(["wang", "li", "wang"]):
        await store.add_leave_request(request(i, expert))
    decided = replace(
        request(0),
        status=LeaveStatus.APPROVED,
        decided_by="coord",
        decided_at=T0 + timedelta(days=1),
        note="ok",
    )
    await store.save_leave_request(decided)
    store = await backend.open(STORES[backend.kind])  # a restart loses nothing
    assert await store.get_leave_request("lv_0") == decided
    assert await store.get_leave_request("nope") is None
    assert [r.id for r in await store.list_leave_requests()] == ["lv_2", "lv_1", "lv_0"]
    assert [r.id for r in await store.list_leave_requests(expert_id="wang")] == ["lv_2", "lv_0"]
    pending = await store.list_leave_requests(status=LeaveStatus.PENDING)
    assert [r.id for r in pending] == ["lv_2", "lv_1"]
    assert await store.list_leave_requests(expert_id="li", status=LeaveStatus.APPROVED) == []
