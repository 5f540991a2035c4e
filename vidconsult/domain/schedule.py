"""The in-memory availability index the booking search runs on.

Per expert, a :class:`Timeline` keeps
- the available shift pieces (shift instances minus leave) as parallel sorted lists of epoch
  seconds, materialized lazily a week at a time from the index's origin, and
- the expert's active bookings as parallel sorted lists (disjoint by construction: adding an
  overlapping one raises ``Conflict(code="double_booking")``).

So "is [s, e) free?" is one ``bisect`` and "first free slot in this piece" jumps from booking to
booking, never minute by minute. Experts are also indexed by specialty. The index is plain data:
the services layer owns one, feeds it rosters and bookings, and persists nothing through it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta

from vidconsult.domain.bookings import Booking
from vidconsult.domain.experts import Expert, index_experts
from vidconsult.domain.rosters import Roster, iter_shift_epochs, subtract_leave
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.timeutil import require_aware, to_epoch
from vidconsult.errors import Conflict, InvalidInput, NotFound

_FOREVER = 2**62


def _midnight(day: date, roster: Roster) -> int:
    return to_epoch(datetime.combine(day, time(0), tzinfo=roster.zone))


class Timeline:
    """One expert's shift pieces and bookings, in epoch seconds."""

    __slots__ = (
        "expert",
        "roster",
        "_leave",
        "_chunk",
        "_next_day",
        "horizon",
        "starts",
        "ends",
        "anchors",
        "busy_starts",
        "busy_ends",
        "busy_ids",
    )

    def __init__(self, expert: Expert, roster: Roster | None, origin: datetime, chunk_days: int):
        self.expert = expert
        self.roster = roster
        self._leave = roster.leave_epochs() if roster else []
        self._chunk = timedelta(days=chunk_days)
        # Start a day early: an overnight shift begun the day before the origin still counts.
        self._next_day: date = origin.astimezone(expert.zone).date() - timedelta(days=1)
        self.horizon = (
            _FOREVER if roster is None or not roster.shifts else _midnight(self._next_day, roster)
        )
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.anchors: list[int] = []  # the slot grid of a piece starts at its shift's start
        self.busy_starts: list[int] = []
        self.busy_ends: list[int] = []
        self.busy_ids: list[str] = []

    # -- shift pieces -------------------------------------------------------------------------
    def _materialize_chunk(self) -> None:
        assert self.roster is not None
        first = self._next_day
        last = first + self._chunk
        for s, e in iter_shift_epochs(self.roster, first, last):
            for ps, pe in subtract_leave(s, e, self._leave):
                self.starts.append(ps)
                self.ends.append(pe)
                self.anchors.append(s)
        self._next_day = last
        self.horizon = _midnight(last, self.roster)

    def ensure(self, until: int) -> None:
        """Materialize every piece starting before ``until``."""
        while self.horizon < until:
            self._materialize_chunk()

    def first_piece_index(self, t0: int) -> int:
        """Index of the first piece ending after ``t0`` (may be ``len(starts)``)."""
        self.ensure(t0 + 1)
        return bisect_right(self.ends, t0)

    def piece(self, k: int, limit: int) -> tuple[int, int, int] | None:
        """Piece ``k`` as ``(start, end, anchor)`` if it starts before ``limit``."""
        while k >= len(self.starts) and self.horizon < limit:
            self._materialize_chunk()
        if k < len(self.starts) and self.starts[k] < limit:
            return self.starts[k], self.ends[k], self.anchors[k]
        return None

    def covering_piece(self, start: int, end: int) -> tuple[int, int, int] | None:
        """The piece containing all of ``[start, end)``, if there is one."""
        k = self.first_piece_index(start)
        if k < len(self.starts) and self.starts[k] <= start and end <= self.ends[k]:
            return self.starts[k], self.ends[k], self.anchors[k]
        return None

    def on_leave(self, start: int, end: int) -> bool:
        return any(ls < end and start < le for ls, le in self._leave)

    # -- bookings -----------------------------------------------------------------------------
    def conflict(self, start: int, end: int) -> str | None:
        """Id of an active booking overlapping ``[start, end)``, if any."""
        j = bisect_left(self.busy_starts, end) - 1
        if j >= 0 and self.busy_ends[j] > start:
            return self.busy_ids[j]
        return None

    def first_free(
        self,
        k: int,
        t0: int,
        length: int,
        limit: int,
        allowed: Callable[[int, int], bool] | None = None,
    ) -> int | None:
        """Start of the first grid slot of piece ``k`` at or after ``t0`` that is free, ends
        by ``min(piece end, limit)`` and (when given) that ``allowed(start, end)`` accepts."""
        start, end, anchor = self.starts[k], self.ends[k], self.anchors[k]
        stop = min(end, limit)
        c = max(start, t0)
        c = anchor + -(-(c - anchor) // length) * length
        busy_starts, busy_ends = self.busy_starts, self.busy_ends
        while c + length <= stop:
            j = bisect_left(busy_starts, c + length) - 1
            if j < 0 or busy_ends[j] <= c:
                if allowed is None or allowed(c, c + length):
                    return c
                c += length
                continue
            c = anchor + -(-(busy_ends[j] - anchor) // length) * length
        return None

    def add(self, booking_id: str, start: int, end: int) -> None:
        other = self.conflict(start, end)
        if other is not None:
            raise Conflict(
                f"expert {self.expert.id} is already booked ({other}) at that time",
                code="double_booking",
            )
        i = bisect_left(self.busy_starts, start)
        self.busy_starts.insert(i, start)
        self.busy_ends.insert(i, end)
        self.busy_ids.insert(i, booking_id)

    def remove(self, booking_id: str) -> None:
        try:
            i = self.busy_ids.index(booking_id)
        except ValueError:
            raise NotFound(f"booking {booking_id} not in {self.expert.id}'s timeline") from None
        del self.busy_starts[i], self.busy_ends[i], self.busy_ids[i]


class ScheduleIndex:
    """Experts, their rosters and active bookings, indexed for the booking search.

    ``origin`` is the earliest instant the index answers for (typically "now" when the service
    builds it): shift pieces are expanded from the day before it, never earlier, so searches and
    checks for times before ``origin`` see no roster. Rebuild or keep one per service lifetime.
    """

    def __init__(
        self,
        experts: Iterable[Expert],
        rosters: Iterable[Roster],
        *,
        origin: datetime,
        bookings: Iterable[Booking] = (),
        chunk_days: int = 7,
    ) -> None:
        require_aware(origin, "index origin")
        if chunk_days < 1:
            raise InvalidInput("chunk_days must be at least 1")
        self.origin = origin
        by_id = index_experts(experts)
        roster_by_expert: dict[str, Roster] = {}
        for roster in rosters:
            if roster.expert_id not in by_id:
                raise InvalidInput(f"roster for unknown expert {roster.expert_id}")
            if roster.expert_id in roster_by_expert:
                raise InvalidInput(f"two rosters for expert {roster.expert_id}")
            roster_by_expert[roster.expert_id] = roster
        self._timelines: dict[str, Timeline] = {
            eid: Timeline(e, roster_by_expert.get(eid), origin, chunk_days)
            for eid, e in sorted(by_id.items())
        }
        self._by_specialty: dict[Specialty, list[Timeline]] = {}
        for tl in self._timelines.values():
            for sp in tl.expert.specialties:
                self._by_specialty.setdefault(sp, []).append(tl)
        self._bookings: dict[str, Booking] = {}
        for booking in bookings:
            self.add_booking(booking)

    def materialize_until(self, until: datetime) -> None:
        """Expand every expert's shift pieces up to ``until`` now instead of lazily during
        searches (call at start-up and as the horizon moves, to keep search latency flat)."""
        limit = to_epoch(until)
        for tl in self._timelines.values():
            tl.ensure(limit)

    def __len__(self) -> int:
        return len(self._timelines)

    def timeline(self, expert_id: str) -> Timeline:
        try:
            return self._timelines[expert_id]
        except KeyError:
            raise NotFound(f"unknown expert {expert_id}", code="unknown_expert") from None

    def expert(self, expert_id: str) -> Expert:
        return self.timeline(expert_id).expert

    def experts(self) -> list[Expert]:
        return [tl.expert for tl in self._timelines.values()]

    def with_specialty(self, specialty: Specialty) -> list[Timeline]:
        """Timelines of the experts having ``specialty``, by expert id."""
        return self._by_specialty.get(specialty, [])

    def booking(self, booking_id: str) -> Booking:
        try:
            return self._bookings[booking_id]
        except KeyError:
            raise NotFound(f"unknown booking {booking_id}") from None

    def add_booking(self, booking: Booking) -> None:
        """Record an active booking; ``Conflict(code="double_booking")`` if it overlaps another
        of the same expert."""
        if not booking.active:
            raise InvalidInput("only active bookings go into the schedule")
        if booking.id in self._bookings:
            raise Conflict(f"booking {booking.id} already exists", code="duplicate_booking")
        self.timeline(booking.expert_id).add(
            booking.id, to_epoch(booking.start), to_epoch(booking.end)
        )
        self._bookings[booking.id] = booking

    def remove_booking(self, booking_id: str) -> Booking:
        """Free a booking's time (cancellation, rescheduling); returns the removed booking."""
        booking = self.booking(booking_id)
        self.timeline(booking.expert_id).remove(booking_id)
        del self._bookings[booking_id]
        return booking

    def is_on_shift(self, expert_id: str, start: datetime, end: datetime | None = None) -> bool:
        """``[start, end)`` (or the instant ``start``) lies inside one available shift piece."""
        s = to_epoch(start)
        e = to_epoch(end) if end is not None else s + 1
        return self.timeline(expert_id).covering_piece(s, e) is not None

    def is_free(self, expert_id: str, start: datetime, end: datetime) -> bool:
        return self.timeline(expert_id).conflict(to_epoch(start), to_epoch(end)) is None

    def is_on_leave(self, expert_id: str, start: datetime, end: datetime | None = None) -> bool:
        s = to_epoch(start)
        e = to_epoch(end) if end is not None else s + 1
        return self.timeline(expert_id).on_leave(s, e)


__all__ = ["ScheduleIndex", "Timeline"]
