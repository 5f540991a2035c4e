"""The directory of the network: member units, experts with their rosters, the on-duty rota
and the specialty catalogue. Every change to experts or rosters invalidates the schedule
index. New experts, cases and rota slots name specialties of the catalogue that are not
retired (an expert keeps a specialty they already had after it is retired)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime

from vidconsult.domain.accounts import AccountRole
from vidconsult.domain.experts import Expert
from vidconsult.domain.rosters import Leave, Roster, WeeklyShift
from vidconsult.domain.rota import DutyOverride, DutyRota, DutySlot
from vidconsult.domain.specialties import Specialty, SpecialtyCatalogue, SpecialtyEntry
from vidconsult.domain.units import Unit, UnitTier
from vidconsult.errors import Conflict, InvalidInput, NotFound
from vidconsult.ports import Clock
from vidconsult.services.schedule import ScheduleKeeper
from vidconsult.store.base_accounts import AccountStore
from vidconsult.store.base_specialties import SpecialtyStore
from vidconsult.store.base_workflow import (
    BookingStore,
    CaseFilter,
    CaseStore,
    ExpertStore,
    LectureStore,
    RotaStore,
    UnitStore,
)


class DirectoryService:
    def __init__(
        self,
        *,
        units: UnitStore,
        experts: ExpertStore,
        rota: RotaStore,
        schedule: ScheduleKeeper,
        specialties: SpecialtyStore | None = None,
        clock: Clock | None = None,
        cases: CaseStore | None = None,
        bookings: BookingStore | None = None,
        accounts: AccountStore | None = None,
        lectures: LectureStore | None = None,
    ) -> None:
        """``cases``, ``bookings``, ``accounts``, ``lectures``: what may refer to a unit or an
        expert (deletes check)."""
        self._accounts = accounts
        self._lectures = lectures
        self._cases = cases
        self._bookings = bookings
        self._clock = clock
        self._specialties = specialties
        self._units = units
        self._experts = experts
        self._rota = rota
        self._schedule = schedule

    # units ---------------------------------------------------------------------------------
    async def put_units(self, units: Sequence[Unit]) -> None:
        _no_duplicates(u.id for u in units)
        await self._units.put_units(units)

    async def unit(self, unit_id: str) -> Unit:
        unit = await self._units.get_unit(unit_id)
        if unit is None:
            raise NotFound(f"unit {unit_id} not found", code="unknown_unit")
        return unit

    async def units(self, tier: UnitTier | None = None) -> list[Unit]:
        return await self._units.list_units(tier)

    async def delete_unit(self, unit_id: str) -> None:
        """Deleted only while nothing refers to it: a unit named by a case (or the parent of
        another unit) stays, for the record; Conflict(code="in_use") says what refers to it."""
        await self.unit(unit_id)
        children = [u.id for u in await self._units.list_units() if u.parent_id == unit_id]
        if children:
            raise Conflict(f"unit {unit_id} is the parent of {', '.join(children)}", code="in_use")
        if self._cases is not None and await self._cases.list_cases(
            CaseFilter(unit_id=unit_id, limit=1)
        ):
            raise Conflict(
                f"cases of unit {unit_id} are on record; it stays in the directory",
                code="in_use",
            )
        if self._accounts is not None:
            bound = sorted(
                a.username for a in await self._accounts.list_accounts() if a.unit_id == unit_id
            )
            if bound:
                raise Conflict(
                    f"unit {unit_id} is the unit of the account(s) {', '.join(bound)} "
                    "(disabled ones too); it stays in the directory",
                    code="in_use",
                )
        if self._lectures is not None and any(
            lecture.is_audience(unit_id) for lecture in await self._lectures.list_lectures()
        ):
            raise Conflict(
                f"lectures with unit {unit_id} in their audience are on record; "
                "it stays in the directory",
                code="in_use",
            )
        if not await self._units.delete_unit(unit_id):
            raise NotFound(f"unit {unit_id} not found", code="unknown_unit")

    # experts and rosters -------------------------------------------------------------------
    async def put_experts(self, experts: Sequence[Expert]) -> None:
        _no_duplicates(e.id for e in experts)
        catalogue = await self.catalogue()
        for e in experts:
            before = await self._experts.get_expert(e.id)
            had = before.specialties if before is not None else frozenset()
            for s in e.specialties:
                catalogue.require(s, already=had)
        await self._experts.put_experts(experts)
        self._schedule.invalidate()

    async def delete_expert(self, expert_id: str) -> None:
        """Deleted (with the roster) only while nothing refers to them: an expert with a
        booking (even a past or cancelled one) or a case stays, for the record; one on the rota
        is taken off it first. Conflict(code="in_use") says what refers to them."""
        await self.expert(expert_id)
        rota = await self._rota.get_rota()
        if any(s.expert_id == expert_id for s in rota.slots) or any(
            o.expert_id == expert_id for o in rota.overrides
        ):
            raise Conflict(
                f"expert {expert_id} is on the on-duty rota; take them off it first",
                code="in_use",
            )
        if self._bookings is not None and await self._bookings.list_bookings(
            expert_id=expert_id, active=None, limit=1
        ):
            raise Conflict(
                f"expert {expert_id} has bookings on record; they stay in the directory",
                code="in_use",
            )
        if self._cases is not None and await self._cases.list_cases(
            CaseFilter(expert_id=expert_id, limit=1)
        ):
            raise Conflict(
                f"cases of expert {expert_id} are on record; they stay in the directory",
                code="in_use",
            )
        if self._accounts is not None:
            account = await self._accounts.get_account(expert_id)
            if account is not None and account.role is AccountRole.EXPERT:
                raise Conflict(
                    f"expert {expert_id} signs in with the expert account {expert_id} "
                    "(disabled ones too); they stay in the directory",
                    code="in_use",
                )
        if not await self._experts.delete_expert(expert_id):
            raise NotFound(f"expert {expert_id} not found", code="unknown_expert")
        self._schedule.invalidate()

    async def expert(self, expert_id: str) -> Expert:
        expert = await self._experts.get_expert(expert_id)
        if expert is None:
            raise NotFound(f"expert {expert_id} not found", code="unknown_expert")
        return expert

    async def experts(self, specialty: Specialty | None = None) -> list[Expert]:
        return await self._experts.list_experts(specialty)

    async def set_roster(
        self,
        expert_id: str,
        shifts: Sequence[WeeklyShift],
        leave: Sequence[Leave] = (),
        holidays: Iterable[date] = (),
    ) -> Roster:
        """Replace an expert's roster; shifts are in the expert's own zone."""
        expert = await self.expert(expert_id)
        roster = Roster(
            expert.id, expert.time_zone, tuple(shifts), tuple(leave), frozenset(holidays)
        )
        await self._experts.put_roster(roster)
        self._schedule.invalidate()
        return roster

    async def roster(self, expert_id: str) -> Roster:
        expert = await self.expert(expert_id)
        roster = await self._experts.get_roster(expert_id)
        return roster or Roster(expert.id, expert.time_zone, ())

    # specialties ---------------------------------------------------------------------------
    async def catalogue(self) -> SpecialtyCatalogue:
        stored = await self._specialties.list_specialties() if self._specialties else []
        return SpecialtyCatalogue(stored)

    async def require_specialty(self, slug: str) -> Specialty:
        """``slug`` if new work may name it: known and not retired (InvalidInput otherwise)."""
        return (await self.catalogue()).require(slug)

    async def create_specialty(self, slug: str, name_en: str, name_zh: str) -> SpecialtyEntry:
        entry = (await self.catalogue()).create(slug, name_en, name_zh)
        await self._save_specialty(entry)
        return entry

    async def edit_specialty(
        self,
        slug: str,
        *,
        name_en: str | None = None,
        name_zh: str | None = None,
        retired: bool | None = None,
    ) -> SpecialtyEntry:
        entry = (await self.catalogue()).edit(
            slug, name_en=name_en, name_zh=name_zh, retired=retired
        )
        await self._save_specialty(entry)
        return entry

    async def _save_specialty(self, entry: SpecialtyEntry) -> None:
        if self._specialties is None:
            raise InvalidInput("this server keeps no specialty catalogue", code="read_only")
        await self._specialties.save_specialty(entry)

    # rota ----------------------------------------------------------------------------------
    async def set_duty_slots(self, specialty: Specialty, slots: Sequence[DutySlot]) -> None:
        if slots:
            await self.require_specialty(specialty)
        for slot in slots:
            await self._must_practise(slot.expert_id, specialty)
        await self._rota.replace_slots(specialty, slots)

    async def add_override(self, override: DutyOverride) -> DutyOverride:
        """Stored with its id and creation time (which orders overlapping overrides)."""
        await self.require_specialty(override.specialty)
        if self._clock is not None and override.created_at is None:
            override = replace(override, created_at=self._clock.now())
        await self._must_practise(override.expert_id, override.specialty)
        return replace(override, id=await self._rota.add_override(override))

    async def delete_override(self, override_id: str) -> None:
        await self._rota.delete_override(override_id)

    async def rota(self) -> DutyRota:
        return await self._rota.get_rota()

    async def on_duty(self, specialty: Specialty, at: datetime) -> tuple[str, ...]:
        return (await self._rota.get_rota()).on_duty(specialty, at)

    async def _must_practise(self, expert_id: str, specialty: Specialty) -> None:
        expert = await self._experts.get_expert(expert_id)
        if expert is None:
            raise InvalidInput(f"unknown expert {expert_id}", code="unknown_expert")
        if specialty not in expert.specialties:
            raise InvalidInput(
                f"expert {expert_id} does not practise {specialty.value}", code="specialty_mismatch"
            )


def _no_duplicates(ids: Iterable[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise InvalidInput(f"duplicate id {i}", code="duplicate_id")
        seen.add(i)
