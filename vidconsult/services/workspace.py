"""The workspaces of experts and unit doctors: their own cases with what each needs beside it
(the unit, the booking and its room window, the open emergency room), and join links for the
caller's own seat in a case's room, never anyone else's.

An interpreter is a directory entry of specialty ``interpretation`` and signs in like an expert
(the account's user name is its directory id): their workspace lists the cases they are booked
to interpret (``CaseItem.interpreting``), with the interpreter's own seat to join."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vidconsult.domain.booked_rooms import BookedRoom, Party, RoomState
from vidconsult.domain.bookings import Booking
from vidconsult.domain.cases import Case, CaseStatus, Urgency
from vidconsult.domain.experts import Expert
from vidconsult.domain.roles import Role
from vidconsult.domain.rooms import Room, RoomKind, RoomStatus
from vidconsult.domain.units import Unit
from vidconsult.errors import Conflict, NotFound, PermissionDenied
from vidconsult.ports import Clock
from vidconsult.services.booking import BookingService
from vidconsult.services.cases import CaseService
from vidconsult.services.directory import DirectoryService
from vidconsult.services.rooms import RoomService
from vidconsult.services.sessions import SessionService
from vidconsult.store.base_workflow import CaseFilter

# the parties of a booked room that sit at the unit's screen
UNIT_KINDS = frozenset({"patient", "referrer"})
# upcoming first, then the rest by most recent request
_ORDER = {CaseStatus.IN_PROGRESS: 0, CaseStatus.SCHEDULED: 1, CaseStatus.REQUESTED: 2}


@dataclass(frozen=True, slots=True)
class CaseItem:
    case: Case
    unit: Unit
    booking: Booking | None
    booked_room: BookedRoom | None
    emergency_room: Room | None
    interpreting: bool = False  # the caller is booked as this case's interpreter
    # the booked experts (a panel's all, no interpreter): the unit's row says whom they will see
    experts: tuple[Expert, ...] = ()


class WorkspaceService:
    def __init__(
        self,
        *,
        cases: CaseService,
        directory: DirectoryService,
        booking: BookingService,
        rooms: RoomService,
        sessions: SessionService,
        clock: Clock,
        token_ttl: timedelta,
    ) -> None:
        self._cases = cases
        self._directory = directory
        self._booking = booking
        self._rooms = rooms
        self._sessions = sessions
        self._clock = clock
        self._ttl = token_ttl

    async def cases(
        self, *, expert_id: str | None = None, unit_id: str | None = None, limit: int = 200
    ) -> list[CaseItem]:
        """The expert's cases, or the unit's (exactly one of them is given)."""
        if (expert_id is None) == (unit_id is None):
            raise ValueError("an expert or a unit")
        found = await self._cases.list_cases(
            CaseFilter(expert_id=expert_id, unit_id=unit_id, limit=limit)
        )
        emergency_rooms = {
            r.case_id: r
            for r in await self._rooms.list_rooms(RoomStatus.OPEN)
            if r.kind is RoomKind.EMERGENCY and r.case_id
        }
        interpreting: list[Case] = []
        if expert_id is not None:
            seen = {case.id for case in found}
            for case_id in await self._interpreting(expert_id, limit):
                if case_id not in seen:
                    seen.add(case_id)
                    interpreting.append(await self._cases.get(case_id))
        items = []
        for case in [*found, *interpreting]:
            booking, booked = await self._booking_of(case)
            items.append(
                CaseItem(
                    case,
                    await self._directory.unit(case.referring_unit_id),
                    booking,
                    booked,
                    emergency_rooms.get(case.id),
                    interpreting=case in interpreting,
                    experts=await self._experts_of(case) if booking else (),
                )
            )
        items.sort(key=_sort_key)
        return items

    async def _interpreting(self, expert_id: str, limit: int) -> list[str]:
        """The cases whose active booking has ``expert_id`` as its interpreter."""
        found = await self._booking.bookings(
            expert_id=expert_id, start_from=None, start_to=None, limit=limit
        )
        return [b.case_id for b in found if b.interpreter and b.active and b.case_id]

    async def _booking_of(self, case: Case) -> tuple[Booking | None, BookedRoom | None]:
        for booking_id in reversed(case.booking_ids):
            try:
                booking, room = await self._booking.booked_room(booking_id)
            except NotFound:
                continue
            if booking.active:
                return booking, room
        return None, None

    async def _experts_of(self, case: Case) -> tuple[Expert, ...]:
        """The case's experts from the directory; one who left it since is left out (the row
        then names the others rather than failing the whole list)."""
        found = []
        for expert_id in case.expert_ids:
            try:
                found.append(await self._directory.expert(expert_id))
            except NotFound:
                continue
        return tuple(found)

    async def _interprets(self, case: Case, expert_id: str) -> bool:
        """Whether ``expert_id`` is booked (actively) as the case's interpreter."""
        for booking_id in case.booking_ids:
            try:
                booking, _ = await self._booking.booked_room(booking_id)
            except NotFound:
                continue
            if booking.interpreter and booking.active and booking.expert_id == expert_id:
                return True
        return False

    async def links(
        self,
        case_id: str,
        *,
        expert_id: str | None = None,
        unit_id: str | None = None,
        name: str = "",
        minted_by: str | None = None,
    ) -> list[dict[str, Any]]:
        """Join links of the caller's own seat in the case's room: the expert's, or the unit's
        (patient and referring doctor of a booked room; the unit's screen of an emergency)."""
        case = await self._cases.get(case_id)
        if expert_id is not None and expert_id not in case.expert_ids:
            if case.urgency is Urgency.EMERGENCY or not await self._interprets(case, expert_id):
                raise PermissionDenied("this is not your case", code="not_your_case")
        if unit_id is not None and case.referring_unit_id != unit_id:
            raise PermissionDenied("this case is another unit's", code="not_your_case")
        if case.urgency is Urgency.EMERGENCY:
            room = next(
                (
                    r
                    for r in await self._rooms.list_rooms(RoomStatus.OPEN)
                    if r.case_id == case.id and r.kind is RoomKind.EMERGENCY
                ),
                None,
            )
            if room is None:
                raise Conflict("the emergency room has closed", code="room_closed")
            unit = await self._directory.unit(case.referring_unit_id)
            if expert_id is not None:
                party = Party("expert", expert_id, Role.EXPERT, name or expert_id)
            else:
                party = unit_party(case, unit)
            now = self._clock.now()
            return self._sessions.tokens(
                room, (party,), not_before=None, expires_at=now + self._ttl, minted_by=minted_by
            )
        booking, booked = await self._booking_of(case)
        if booking is None or booked is None:
            raise Conflict("this case has no booking", code="not_booked")
        if booked.state is RoomState.CLOSED:
            raise Conflict("the consultation room has closed", code="room_closed")
        links = await self._booking.links(booked, minted_by=minted_by)
        if expert_id is not None:
            return [link for link in links if link["identity"] == expert_id]
        return [link for link in links if link["kind"] in UNIT_KINDS]


def unit_party(case: Case, unit: Unit) -> Party:
    """The unit's screen in an emergency room (the identity ``emergency_parties`` gives it)."""
    where = unit.name + (f" · {unit.consult_rooms[0]}" if unit.consult_rooms else "")
    return Party("unit", f"unit-{unit.id}", Role.DOCTOR, f"{case.referring_doctor} ({where})")


def _sort_key(item: CaseItem) -> tuple[int, float]:
    rank = _ORDER.get(item.case.status, 3)
    if item.booking is not None and rank < 3:
        return rank, item.booking.start.timestamp()
    when: datetime = item.case.requested_at
    return rank, -when.timestamp()
