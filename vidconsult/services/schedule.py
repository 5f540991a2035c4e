"""Keeps the in-memory :class:`ScheduleIndex` the booking search runs on.

The store is the source of truth; the index is a cache of it for this process. It is built from
the store on first use (and at start-up), rebuilt when the directory changes through this
process, when it is ``MAX_AGE`` old (so changes made elsewhere — another process, a CSV import —
show up, and its origin moves forward), and after the store refused a booking the index thought
free (another process booked it). Bookings made here are added to it directly.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from vidconsult.domain.bookings import Booking
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.ports import Clock
from vidconsult.store.base_workflow import BookingStore, ExpertStore

log = logging.getLogger(__name__)
MAX_AGE = timedelta(minutes=10)


class ScheduleKeeper:
    def __init__(self, experts: ExpertStore, bookings: BookingStore, clock: Clock) -> None:
        self._experts = experts
        self._bookings = bookings
        self._clock = clock
        self._index: ScheduleIndex | None = None
        # booking searches and index updates of this process run one at a time
        self.lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._index = None

    async def index(self) -> ScheduleIndex:
        """The current index (call with :attr:`lock` held when you mean to book)."""
        now = self._clock.now()
        if self._index is None or now - self._index.origin > MAX_AGE:
            self._index = await self._build(now)
        return self._index

    async def _build(self, now: datetime) -> ScheduleIndex:
        experts = await self._experts.list_experts()
        rosters = await self._experts.list_rosters()
        known = {e.id for e in experts}
        bookings = [
            b
            for b in await self._bookings.list_bookings(
                active=True, start_from=now - timedelta(days=1), limit=1_000_000
            )
            if b.expert_id in known
        ]
        index = ScheduleIndex(experts, rosters, origin=now, bookings=bookings)
        log.info("schedule index built experts=%d bookings=%d", len(index), len(bookings))
        return index

    def add(self, booking: Booking) -> None:
        if self._index is not None:
            self._index.add_booking(booking)

    def remove(self, booking_id: str) -> None:
        if self._index is not None:
            try:
                self._index.remove_booking(booking_id)
            except Exception:  # not in this (possibly newer) index: rebuild to be sure
                self._index = None
