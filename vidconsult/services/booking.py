"""Booking routine cases: the earliest fitting slot within the SLA (or a coordinator's explicit
expert and time), the booking's scheduled room, and freeing both when a case is cancelled or
released for rebooking.

Concurrency: searches and index updates of one process run under the schedule lock; across
processes the store refuses an overlapping booking atomically. When it does, the index was stale:
it is rebuilt and an automatic search runs again (an explicit choice gets the 409)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vidconsult.domain.booked_rooms import BookedRoom, RoomState, case_parties
from vidconsult.domain.bookings import Booking
from vidconsult.domain.cases import Case, CaseStatus, Urgency
from vidconsult.domain.rooms import RoomKind
from vidconsult.domain.slots import (
    BookingPolicy,
    check_explicit_slot,
    find_earliest_slot,
    slot_query_for,
)
from vidconsult.errors import Conflict, InvalidInput, NotFound
from vidconsult.ports import Clock
from vidconsult.services.cases import CaseService
from vidconsult.services.directory import DirectoryService
from vidconsult.services.schedule import ScheduleKeeper
from vidconsult.services.sessions import SessionService
from vidconsult.store.base_workflow import BookingStore

log = logging.getLogger(__name__)
SEARCH_ATTEMPTS = 3


def new_booking_id() -> str:
    return f"bk_{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class Booked:
    case: Case
    booking: Booking
    room: BookedRoom


@dataclass(frozen=True, slots=True)
class ExplicitSlot:
    expert_id: str
    start: datetime
    end: datetime | None = None
    allow_off_roster: bool = False


class BookingService:
    def __init__(
        self,
        *,
        cases: CaseService,
        directory: DirectoryService,
        bookings: BookingStore,
        schedule: ScheduleKeeper,
        sessions: SessionService,
        policy: BookingPolicy,
        clock: Clock,
    ) -> None:
        self._cases = cases
        self._directory = directory
        self._bookings = bookings
        self._schedule = schedule
        self._sessions = sessions
        self.policy = policy
        self._clock = clock

    async def book(self, case_id: str, *, by: str, slot: ExplicitSlot | None = None) -> Booked:
        """Book a routine case in ``requested``: the earliest slot (flagged when it breaches the
        SLA) or the coordinator's ``slot`` (409 when taken, on leave or off roster)."""
        case = await self._cases.get(case_id)
        if case.urgency is Urgency.EMERGENCY:
            raise InvalidInput(
                "emergency cases are not booked; the on-duty expert is summoned",
                code="emergency_not_booked",
            )
        if case.status is not CaseStatus.REQUESTED:
            raise Conflict(
                f"case {case.id} is {case.status.value}, not requested", code="illegal_transition"
            )
        unit = await self._directory.unit(case.referring_unit_id)
        for attempt in range(SEARCH_ATTEMPTS):
            async with self._schedule.lock:
                index = await self._schedule.index()
                now = self._clock.now()
                if slot is None:
                    offer = find_earliest_slot(
                        index,
                        slot_query_for(case),
                        requested_at=case.requested_at,
                        policy=self.policy,
                        now=now,
                    )
                else:
                    offer = check_explicit_slot(
                        index,
                        slot.expert_id,
                        slot.start,
                        end=slot.end,
                        policy=self.policy,
                        now=now,
                        specialty=case.specialty,
                        requested_at=case.requested_at,
                        allow_off_roster=slot.allow_off_roster,
                    )
                booking = Booking.from_offer(new_booking_id(), offer, case_id=case.id)
                parties = case_parties(case, unit, [index.expert(offer.expert_id)])
                room = await self._sessions.prepare(
                    booking,
                    parties,
                    kind=RoomKind.CONSULTATION,
                    name=f"{case.specialty.value.replace('_', ' ').title()} consultation"
                    f" · {unit.name}"[:200],
                )
                try:
                    await self._bookings.add_booking(booking, room)
                except Conflict as exc:
                    await self._sessions.discard(room)
                    self._schedule.invalidate()  # someone else booked it: the index is stale
                    if (
                        exc.code == "double_booking"
                        and slot is None
                        and attempt < SEARCH_ATTEMPTS - 1
                    ):
                        log.info("slot taken meanwhile, searching again case=%s", case.id)
                        continue
                    raise
                self._schedule.add(booking)
            break
        try:
            case = await self._cases.update(
                case.id, lambda c, now: c.schedule([booking], by=by, at=now)
            )
        except Exception:
            await self._free(booking.id, "case_changed")
            raise
        log.info(
            "case booked case=%s booking=%s expert=%s start=%s sla_breach=%s",
            case.id,
            booking.id,
            booking.expert_id,
            booking.start.isoformat(),
            booking.sla_breach,
        )
        return Booked(case, booking, room)

    async def cancel_case(self, case_id: str, *, by: str, reason: str) -> Case:
        case = await self._cases.update(
            case_id, lambda c, now: c.cancel(by=by, at=now, reason=reason)
        )
        for booking_id in case.booking_ids:
            await self._free(booking_id, "case_cancelled")
        return case

    async def release(self, case_id: str, *, by: str, reason: str) -> Case:
        """Cancel the case's booking and put it back to ``requested`` to be booked again."""
        booking_ids = (await self._cases.get(case_id)).booking_ids
        case = await self._cases.update(
            case_id, lambda c, now: c.release(by=by, at=now, reason=reason)
        )
        for booking_id in booking_ids:
            await self._free(booking_id, "booking_released")
        return case

    async def transition(self, case_id: str, to: CaseStatus, *, by: str, reason: str) -> Case:
        """A coordinator moves a case by hand (the report completes it, not this)."""
        if to is CaseStatus.CANCELLED:
            return await self.cancel_case(case_id, by=by, reason=reason)
        if to is CaseStatus.REQUESTED:
            return await self.release(case_id, by=by, reason=reason)
        if to is CaseStatus.NO_SHOW:
            return await self._cases.update(
                case_id, lambda c, now: c.mark_no_show(by=by, at=now, reason=reason)
            )
        if to is CaseStatus.IN_PROGRESS:
            return await self._cases.update(case_id, lambda c, now: c.start(by=by, at=now))
        if to is CaseStatus.SCHEDULED:
            raise InvalidInput("book the case to schedule it", code="use_booking")
        raise InvalidInput("a case completes with its report", code="use_report")

    async def booked_room(self, booking_id: str) -> tuple[Booking, BookedRoom]:
        booking = await self._bookings.get_booking(booking_id)
        room = await self._bookings.get_room(booking_id)
        if booking is None or room is None:
            raise NotFound(f"booking {booking_id} not found")
        return booking, room

    async def bookings(
        self,
        *,
        expert_id: str | None,
        start_from: datetime | None,
        start_to: datetime | None,
        limit: int,
    ) -> list[Booking]:
        return await self._bookings.list_bookings(
            expert_id=expert_id, active=None, start_from=start_from, start_to=start_to, limit=limit
        )

    async def links(
        self, room: BookedRoom, *, minted_by: str | None = None
    ) -> list[dict[str, Any]]:
        return await self._sessions.links(room, minted_by=minted_by)

    async def _free(self, booking_id: str, reason: str) -> None:
        booking = await self._bookings.get_booking(booking_id)
        if booking is not None and booking.active:
            await self._bookings.cancel_booking(booking_id, self._clock.now())
            async with self._schedule.lock:
                self._schedule.remove(booking_id)
        room = await self._bookings.get_room(booking_id)
        if room is not None and room.state is not RoomState.CLOSED:
            await self._sessions.close(room, reason)
