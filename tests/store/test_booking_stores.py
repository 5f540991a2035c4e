"""Contract: bookings are never double-booked, even by racing writers; rooms, presence,
lectures and the scheduler lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from tests.store.helpers import cst
from vidconsult.domain.booked_rooms import BookedRoom, Party, RoomState
from vidconsult.domain.bookings import Booking
from vidconsult.domain.lectures import Lecture
from vidconsult.domain.roles import Role
from vidconsult.domain.room_window import Attendance, Presence
from vidconsult.errors import Conflict

T0 = cst(2026, 3, 10, 9)


def booking(bid: str, expert: str = "wang", start=T0, minutes: int = 30) -> Booking:
    return Booking(bid, expert, start, start + timedelta(minutes=minutes), case_id=f"c-{bid}")


def room_for(b: Booking) -> BookedRoom:
    return BookedRoom(
        b.id,
        f"rm-{b.id}",
        b.start - timedelta(minutes=10),
        b.end + timedelta(minutes=15),
        (Party("expert", b.expert_id, Role.EXPERT, "Dr"),),
        case_id=b.case_id,
    )


async def add(stores, b: Booking) -> None:
    await stores.bookings.add_booking(b, room_for(b))


async def test_overlap_is_refused_adjacent_and_other_expert_are_not(stores) -> None:
    await add(stores, booking("b1"))
    for clash in (
        booking("b2"),
        booking("b3", start=T0 + timedelta(minutes=29)),
        booking("b4", start=T0 - timedelta(minutes=10), minutes=15),
    ):
        with pytest.raises(Conflict) as err:
            await add(stores, clash)
        assert err.value.code == "double_booking"
    await add(stores, booking("b5", start=T0 + timedelta(minutes=30)))
    await add(stores, booking("b6", expert="li"))
    assert [b.id for b in await stores.bookings.list_bookings(expert_id="wang")] == ["b1", "b5"]
    assert await stores.bookings.get_room("b2") is None  # nothing of a refused booking stays


async def test_racing_writers_book_one_slot_once(open_stores) -> None:
    """Two independent connections (as two server processes would hold) race for one slot."""
    async with open_stores() as a, open_stores() as b:
        attempts = [
            add(s, booking(f"r{i}", start=T0 + timedelta(minutes=i % 3)))
            for i, s in enumerate([a, b] * 6)
        ]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        ok = [r for r in results if r is None]
        assert len(ok) == 1
        assert all(isinstance(r, Conflict) for r in results if r is not None)
        assert len(await a.bookings.list_bookings(expert_id="wang")) == 1


async def test_cancel_frees_the_slot(stores) -> None:
    await add(stores, booking("b1"))
    cancelled = await stores.bookings.cancel_booking("b1", T0 - timedelta(days=1))
    assert not cancelled.active
    with pytest.raises(Conflict):
        await stores.bookings.cancel_booking("b1", T0)
    await add(stores, booking("b2"))
    assert [b.id for b in await stores.bookings.list_bookings(active=None)] == ["b1", "b2"]
    assert (await stores.bookings.get_booking("b1")).cancelled_at is not None


async def test_rooms_due_state_and_presence(stores) -> None:
    early, late = booking("b1"), booking("b2", start=T0 + timedelta(hours=2))
    await add(stores, early)
    await add(stores, late)
    assert await stores.bookings.rooms_due(T0 - timedelta(minutes=11)) == []
    due = await stores.bookings.rooms_due(T0 - timedelta(minutes=10))
    assert [r.booking_id for r in due] == ["b1"]
    room = due[0]
    room.mark_open(T0 - timedelta(minutes=10))
    room.attendance = Attendance.HELD
    await stores.bookings.save_room(room)
    assert await stores.bookings.room_by_room_id("rm-b1") == room
    assert [r.state for r in await stores.bookings.rooms_due(T0)] == [RoomState.OPEN]
    room.mark_closed(T0 + timedelta(hours=1), "window_closed")
    await stores.bookings.save_room(room)
    assert await stores.bookings.rooms_due(T0 + timedelta(hours=1)) == []

    who = Presence("wang", Role.EXPERT)
    assert await stores.bookings.record_presence("rm-b1", who, T0) is True
    assert await stores.bookings.record_presence("rm-b1", who, T0 + timedelta(minutes=1)) is False
    await stores.bookings.record_presence("rm-b1", Presence("p", Role.PATIENT), T0)
    assert await stores.bookings.presences("rm-b1") == [who, Presence("p", Role.PATIENT)]
    assert await stores.bookings.presences("rm-b2") == []


async def test_lectures(stores) -> None:
    lec = Lecture(
        "lec1", "ECG basics", "wang", frozenset({"u1", "u2"}), T0, T0 + timedelta(hours=1)
    )
    await stores.lectures.create_lecture(lec, "bk1")
    assert await stores.lectures.get_lecture("lec1") == (lec, "bk1")
    with pytest.raises(Conflict):
        await stores.lectures.create_lecture(lec, "bk2")
    assert await stores.lectures.list_lectures(T0 + timedelta(minutes=1)) == []
    assert await stores.lectures.list_lectures() == [lec]


async def test_lease_has_one_owner_until_it_expires(open_stores) -> None:
    ttl = timedelta(seconds=30)
    async with open_stores() as a, open_stores() as b:
        assert await a.leases.acquire("scheduler", "node-a", T0, ttl)
        assert not await b.leases.acquire("scheduler", "node-b", T0 + timedelta(seconds=10), ttl)
        assert await a.leases.acquire("scheduler", "node-a", T0 + timedelta(seconds=20), ttl)
        assert not await b.leases.acquire("scheduler", "node-b", T0 + timedelta(seconds=45), ttl)
        assert await b.leases.acquire("scheduler", "node-b", T0 + timedelta(seconds=51), ttl)
        assert not await a.leases.acquire("scheduler", "node-a", T0 + timedelta(seconds=52), ttl)
        await b.leases.release("scheduler", "node-b")
        assert await a.leases.acquire("scheduler", "node-a", T0 + timedelta(seconds=53), ttl)
