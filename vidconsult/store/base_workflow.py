"""Storage interfaces of the consultation workflow (directory, rota, cases, bookings, lectures,
the scheduler's lease). The embedded SQLite implementations live in ``sqlite_<area>.py``; a Redis
one will follow behind the same protocols and run through the same contract tests
(``tests/store/``).

Race safety is the store's job, not the caller's: ``BookingStore.add`` refuses an overlapping
active booking of the same expert atomically, ``CaseStore.save`` refuses a stale write
(optimistic, by revision = number of audit entries), ``LeaseStore.acquire`` grants one owner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from vidconsult.domain.booked_rooms import BookedRoom
from vidconsult.domain.bookings import Booking
from vidconsult.domain.cases import Case, CaseStatus, Urgency
from vidconsult.domain.experts import Expert
from vidconsult.domain.lectures import Lecture
from vidconsult.domain.outcomes import Referral
from vidconsult.domain.room_window import Presence
from vidconsult.domain.rosters import Roster
from vidconsult.domain.rota import DutyOverride, DutyRota, DutySlot
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.units import Unit, UnitTier


class UnitStore(Protocol):
    async def put_units(self, units: Sequence[Unit]) -> None:
        """Insert or replace ``units``, all or none."""

    async def get_unit(self, unit_id: str) -> Unit | None: ...

    async def list_units(self, tier: UnitTier | None = None) -> list[Unit]: ...

    async def delete_unit(self, unit_id: str) -> bool:
        """False when there was no such unit (the directory checks nothing refers to it)."""


class ExpertStore(Protocol):
    async def put_experts(self, experts: Sequence[Expert]) -> None:
        """Insert or replace ``experts``, all or none (their rosters are kept)."""

    async def get_expert(self, expert_id: str) -> Expert | None: ...

    async def list_experts(self, specialty: Specialty | None = None) -> list[Expert]: ...

    async def put_roster(self, roster: Roster) -> None:
        """Replace an existing expert's roster (shifts, leave, holidays); NotFound otherwise."""

    async def get_roster(self, expert_id: str) -> Roster | None: ...

    async def list_rosters(self) -> list[Roster]: ...

    async def delete_expert(self, expert_id: str) -> bool:
        """The expert with their specialties and roster; False when there was none."""


class RotaStore(Protocol):
    async def replace_slots(self, specialty: Specialty, slots: Sequence[DutySlot]) -> None:
        """The weekly duty slots of one specialty, replaced as a whole."""

    async def add_override(self, override: DutyOverride) -> str:
        """Store a dated override; returns its id."""

    async def delete_override(self, override_id: str) -> None:
        """NotFound when there is no such override."""

    async def get_rota(self) -> DutyRota: ...


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: CaseStatus | None = None
    unit_id: str | None = None
    specialty: Specialty | None = None
    urgency: Urgency | None = None
    expert_id: str | None = None
    requested_from: datetime | None = None  # inclusive
    requested_to: datetime | None = None  # exclusive
    limit: int = 500


class CaseStore(Protocol):
    async def create_case(self, case: Case) -> None:
        """Insert a new case with its audit trail; Conflict if the id exists."""

    async def get_case(self, case_id: str) -> Case | None: ...

    async def list_cases(self, query: CaseFilter | None = None) -> list[Case]:
        """Newest request first."""

    async def save_case(self, case: Case, *, revision: int) -> None:
        """Write a changed case and append its new audit entries. ``revision`` is the number of
        audit entries the case had when it was read: Conflict(code="stale_case") when someone
        else saved it since. NotFound when it does not exist."""

    async def list_referrals(
        self, *, green_channel: bool | None = None, limit: int = 500
    ) -> list[tuple[str, Referral]]:
        """(case id, referral) of completed cases that ended in a referral, newest first."""


class BookingStore(Protocol):
    async def add_booking(self, booking: Booking, room: BookedRoom) -> None:
        """Insert an active booking and its room, atomically refusing
        Conflict(code="double_booking") if it overlaps an active booking of the same expert."""

    async def add_bookings(self, bookings: Sequence[Booking], room: BookedRoom) -> None:
        """A panel's bookings and their one room, atomically (one overlap refuses all)."""

    async def get_booking(self, booking_id: str) -> Booking | None: ...

    async def list_bookings(
        self,
        *,
        expert_id: str | None = None,
        active: bool | None = True,
        start_from: datetime | None = None,
        start_to: datetime | None = None,
        limit: int = 1000,
    ) -> list[Booking]:
        """By start time."""

    async def cancel_booking(self, booking_id: str, at: datetime) -> Booking:
        """Conflict(code="booking_cancelled") when already cancelled; NotFound when unknown."""

    async def get_room(self, booking_id: str) -> BookedRoom | None: ...

    async def room_by_room_id(self, room_id: str) -> BookedRoom | None: ...

    async def save_room(self, room: BookedRoom) -> None: ...

    async def rooms_due(self, now: datetime) -> list[BookedRoom]:
        """Rooms the scheduler has work on: scheduled ones whose ``opens_at <= now`` and open
        ones (to judge attendance and to close)."""

    async def record_presence(self, room_id: str, who: Presence, at: datetime) -> bool:
        """Remember that ``who`` joined ``room_id`` (first time only); True if new."""

    async def presences(self, room_id: str) -> list[Presence]: ...


class LectureStore(Protocol):
    async def create_lecture(self, lecture: Lecture, booking_id: str) -> None: ...

    async def get_lecture(self, lecture_id: str) -> tuple[Lecture, str] | None:
        """The lecture and its booking id."""

    async def list_lectures(self, start_from: datetime | None = None) -> list[Lecture]: ...

    async def add_question(self, lecture_id: str, question: dict[str, Any]) -> None: ...

    async def questions(self, lecture_id: str) -> list[dict[str, Any]]: ...


class LeaseStore(Protocol):
    async def acquire(self, name: str, owner: str, now: datetime, ttl: timedelta) -> bool:
        """Take or renew the lease ``name`` for ``owner`` until ``now + ttl``; False while
        another owner holds an unexpired lease."""

    async def release(self, name: str, owner: str) -> None: ...


@dataclass(slots=True)
class WorkflowStores:
    """The workflow's repositories on one backend (chosen by the app wiring)."""

    units: UnitStore
    experts: ExpertStore
    rota: RotaStore
    cases: CaseStore
    bookings: BookingStore
    lectures: LectureStore
    leases: LeaseStore
