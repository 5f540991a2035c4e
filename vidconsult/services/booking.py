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
from datetime import datetime, timedelta
from typing import Any

from vidconsult.domain.booked_rooms import BookedRoom, RoomState, case_parties
from vidconsult.domain.bookings import Booking, SlotOffer
from vidconsult.domain.cases import Case, CaseStatus, Urgency
from vidconsult.domain.experts import Expert
from vidconsult.domain.rooms import RoomKind
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.domain.slot_picker import (
    PickedSlot,
    check_panel,
    each_experts_slots,
    fitting_experts,
    interpreters,
    panel_slots,
)
from vidconsult.domain.slots import (
    BookingPolicy,
    check_explicit_slot,
    find_earliest_slot,
    slot_query_for,
)
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.timeutil import utc_iso
from vidconsult.domain.units import Unit
from vidconsult.errors import Conflict, InvalidInput, NotFound
from vidconsult.ports import Clock
from vidconsult.services.cases import CaseService
from vidconsult.services.directory import DirectoryService
from vidconsult.services.emergency import EmergencyService
from vidconsult.services.events import EventBus
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
    """A coordinator's choice: ``expert_id`` leads; ``panel`` adds more experts and
    ``interpreter_id`` a bookable interpreter, all in the same slot and the same room."""

    expert_id: str
    start: datetime
    end: datetime | None = None
    allow_off_roster: bool = False
    panel: tuple[str, ...] = ()
    interpreter_id: str | None = None

    @property
    def expert_ids(self) -> tuple[str, ...]:
        return (self.expert_id, *self.panel)


@dataclass(frozen=True, slots=True)
class SlotChoice:
    """What the slot picker offers for a case: who fits, and free slots to choose from."""

    case: Case
    unit: Unit
    experts: list[Expert]
    interpreters: list[Expert]
    slots: list[PickedSlot]
    length: timedelta
    until: datetime
    sla_deadline: datetime


def _booking_event(booking: Booking, room: BookedRoom | None) -> dict[str, Any]:
    return {
        "booking_id": booking.id,
        "case_id": booking.case_id,
        "expert_id": booking.expert_id,
        "panel_id": booking.panel_id,
        "interpreter": booking.interpreter,
        "start": utc_iso(booking.start),
        "end": utc_iso(booking.end),
        "room_id": room.room_id if room else None,
        "parties": [
            {"kind": p.kind, "identity": p.identity, "role": p.role.value, "name": p.name}
            for p in (room.parties if room else ())
        ],
    }


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
        events: EventBus | None = None,
        emergencies: EmergencyService | None = None,
    ) -> None:
        """``emergencies``: an emergency case's cancellation is its withdrawal (its room
        closes; refused once an expert is in it)."""
        self._cases = cases
        self._directory = directory
        self._emergencies = emergencies
        self._bookings = bookings
        self._schedule = schedule
        self._sessions = sessions
        self.policy = policy
        self._clock = clock
        self._events = events or EventBus()

    async def book(self, case_id: str, *, by: str, slot: ExplicitSlot | None = None) -> Booked:
        """Book a routine case in ``requested``: the earliest slot (flagged when it breaches the
        SLA) or the coordinator's ``slot`` (409 when taken, on leave, off roster or outside the
        unit's consult hours). A ``slot`` with a panel books every member at once or none."""
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
                offers = self._offers(index, case, unit, slot)
                lead_id = new_booking_id()
                panel = len(offers) > 1
                bookings = [
                    Booking.from_offer(
                        lead_id if n == 0 else new_booking_id(),
                        offer,
                        case_id=case.id,
                        panel_id=lead_id if panel else None,
                        interpreter=interpreter,
                    )
                    for n, (offer, interpreter) in enumerate(offers)
                ]
                booking = bookings[0]
                experts = [index.expert(b.expert_id) for b in bookings if not b.interpreter]
                interpreter = next(
                    (index.expert(b.expert_id) for b in bookings if b.interpreter), None
                )
                parties = case_parties(case, unit, experts, interpreter=interpreter)
                room = await self._sessions.prepare(
                    booking,
                    parties,
                    kind=RoomKind.CONSULTATION,
                    name=f"{case.specialty.value.replace('_', ' ').title()} consultation"
                    f" · {unit.name}"[:200],
                    extra_seats=2 + len(bookings),
                )
                try:
                    await self._bookings.add_bookings(bookings, room)
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
                for b in bookings:
                    self._schedule.add(b)
            break
        try:
            case = await self._cases.update(
                case.id, lambda c, now: c.schedule(bookings, by=by, at=now)
            )
        except Exception:
            for b in bookings:
                await self._free(b.id, "case_changed")
            raise
        log.info(
            "case booked case=%s booking=%s experts=%s start=%s sla_breach=%s",
            case.id,
            booking.id,
            ",".join(b.expert_id for b in bookings),
            booking.start.isoformat(),
            booking.sla_breach,
        )
        for b in bookings:
            await self._events.publish("booking.created", _booking_event(b, room))
        return Booked(case, booking, room)

    def _offers(
        self, index: ScheduleIndex, case: Case, unit: Unit, slot: ExplicitSlot | None
    ) -> list[tuple[SlotOffer, bool]]:
        """The checked offer of each member (lead first), with "is the interpreter"."""
        now = self._clock.now()
        if slot is None:
            offer = find_earliest_slot(
                index,
                slot_query_for(case),
                requested_at=case.requested_at,
                policy=self.policy,
                now=now,
                unit=unit,
            )
            return [(offer, False)]
        check_panel(index, case.specialty, slot.expert_ids, slot.interpreter_id)
        end = slot.end or slot.start + self.policy.slot_length(case.specialty)
        members = [(eid, case.specialty, False) for eid in slot.expert_ids]
        if slot.interpreter_id:
            members.append((slot.interpreter_id, Specialty.INTERPRETATION, True))
        return [
            (
                check_explicit_slot(
                    index,
                    eid,
                    slot.start,
                    end=end,
                    policy=self.policy,
                    now=now,
                    specialty=specialty,
                    requested_at=case.requested_at,
                    allow_off_roster=slot.allow_off_roster,
                    unit=unit,
                ),
                interpreter,
            )
            for eid, specialty, interpreter in members
        ]

    async def slot_choice(
        self,
        case_id: str,
        *,
        expert_ids: tuple[str, ...] = (),
        interpreter_id: str | None = None,
        working_days: int = 5,
        limit: int = 40,
    ) -> SlotChoice:
        """The slot picker: experts who fit the case (specialty; language unless an interpreter
        is asked for), bookable interpreters, and free slots from now to the end of the
        ``working_days``-th working day (centre calendar) inside the unit's consult hours: each
        fitting expert's own, or (``expert_ids``) those the whole panel can take together."""
        case = await self._cases.get(case_id)
        if case.urgency is Urgency.EMERGENCY:
            raise InvalidInput(
                "emergency cases are not booked; the on-duty expert is summoned",
                code="emergency_not_booked",
            )
        unit = await self._directory.unit(case.referring_unit_id)
        now = self._clock.now()
        start_from = now + self.policy.min_notice
        until = self.policy.calendar.sla_deadline(now, working_days)
        length = self.policy.slot_length(case.specialty)
        language = None if case.interpreter_needed else case.requested_language
        async with self._schedule.lock:
            index = await self._schedule.index()
            experts = fitting_experts(index, case.specialty, language)
            # the requested expert first; the coordinator may still choose another
            experts.sort(key=lambda e: e.id != case.requested_expert_id)
            found_interpreters = interpreters(index, case.requested_language)
            if expert_ids:
                check_panel(index, case.specialty, expert_ids, interpreter_id)
                slots = panel_slots(
                    index,
                    expert_ids,
                    start_from=start_from,
                    until=until,
                    length=length,
                    unit=unit,
                    interpreter_id=interpreter_id,
                    limit=limit,
                )
            else:
                slots = each_experts_slots(
                    index,
                    experts,
                    start_from=start_from,
                    until=until,
                    length=length,
                    unit=unit,
                    limit=limit,
                )
        return SlotChoice(
            case,
            unit,
            experts,
            found_interpreters,
            slots,
            length,
            until,
            self.policy.deadline(case.requested_at),
        )

    async def reschedule(self, case_id: str, slot: ExplicitSlot, *, by: str, reason: str) -> Booked:
        """Move a scheduled case to another slot (same or other experts): its bookings are
        cancelled and the new slot booked; ``booking.rescheduled`` tells every party (old and
        new). When the new slot is refused the old booking stands untouched."""
        case = await self._cases.get(case_id)
        if case.status is not CaseStatus.SCHEDULED:
            raise Conflict(
                f"case {case.id} is {case.status.value}, not scheduled",
                code="illegal_transition",
            )
        old = [b for b in [await self._bookings.get_booking(i) for i in case.booking_ids] if b]
        old_room = await self._bookings.get_room(case.booking_ids[0]) if case.booking_ids else None
        unit = await self._directory.unit(case.referring_unit_id)
        # check the new slot with the old bookings out of the way (they may overlap it)
        async with self._schedule.lock:
            index = await self._schedule.index()
            for b in old:
                if b.active:
                    self._schedule.remove(b.id)
            try:
                self._offers(index, case, unit, slot)
            finally:
                self._schedule.invalidate()
        case = await self.release(case.id, by=by, reason=f"rescheduled: {reason}", notify=False)
        booked = await self.book(case.id, by=by, slot=slot)
        await self._events.publish(
            "booking.rescheduled",
            {
                "case_id": case.id,
                "reason": reason,
                "old": [_booking_event(b, old_room) for b in old],
                "new": _booking_event(booked.booking, booked.room),
                "new_booking_ids": list(booked.case.booking_ids),
            },
        )
        return booked

    async def cancel_case(self, case_id: str, *, by: str, reason: str) -> Case:
        if self._emergencies is not None:
            if (await self._cases.get(case_id)).urgency is Urgency.EMERGENCY:
                return await self._emergencies.withdraw(
                    case_id, by=by, by_unit=False, reason=reason
                )
        case = await self._cases.update(
            case_id, lambda c, now: c.cancel(by=by, at=now, reason=reason)
        )
        for booking_id in case.booking_ids:
            await self._free(booking_id, "case_cancelled", reason=reason)
        return case

    async def release(self, case_id: str, *, by: str, reason: str, notify: bool = True) -> Case:
        """Cancel the case's booking and put it back to ``requested`` to be booked again."""
        booking_ids = (await self._cases.get(case_id)).booking_ids
        case = await self._cases.update(
            case_id, lambda c, now: c.release(by=by, at=now, reason=reason)
        )
        for booking_id in booking_ids:
            await self._free(booking_id, "booking_released", reason=reason if notify else None)
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

    async def _free(self, booking_id: str, why: str, *, reason: str | None = None) -> None:
        """Cancel a booking and close its room; with a ``reason`` publish ``booking.cancelled``
        (the parties are told: webhooks, and the cancelled booking in every list)."""
        booking = await self._bookings.get_booking(booking_id)
        room = await self._bookings.get_room(booking_id)
        if booking is not None and booking.active:
            await self._bookings.cancel_booking(booking_id, self._clock.now())
            async with self._schedule.lock:
                self._schedule.remove(booking_id)
            if reason is not None:
                await self._events.publish(
                    "booking.cancelled",
                    {**_booking_event(booking, room), "why": why, "reason": reason},
                )
        if room is not None and room.state is not RoomState.CLOSED:
            await self._sessions.close(room, why)
