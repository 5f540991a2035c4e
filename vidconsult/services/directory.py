"""The directory of the network: member units, experts with their rosters, the on-duty rota
and the specialty catalogue. Every change to experts or rosters invalidates the schedule
index. New experts, cases and rota slots name specialties of the catalogue that are not
retired (an expert keeps a specialty they already had after it is retired)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from vidconsult.domain.experts import Expert
from vidconsult.domain.rosters import Leave, Roster, WeeklyShift
from vidconsult.domain.rota import DutyOverride, DutyRota, DutySlot
from vidconsult.domain.specialties import Specialty, SpecialtyCatalogue, SpecialtyEntry
from vidconsult.domain.units import Unit, UnitTier
from vidconsult.errors import InvalidInput, NotFound
from vidconsult.services.schedule import ScheduleKeeper
from vidconsult.store.base_specialties import SpecialtyStore
from vidconsult.store.base_workflow import ExpertStore, RotaStore, UnitStore


class DirectoryService:
    def __init__(
        self,
        *,
        units: UnitStore,
        experts: ExpertStore,
        rota: RotaStore,
        schedule: ScheduleKeeper,
        specialties: SpecialtyStore | None = None,
    ) -> None:
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

    async def add_override(self, override: DutyOverride) -> str:
        await self.require_specialty(override.specialty)
        await self._must_practise(override.expert_id, override.specialty)
        return await self._rota.add_override(override)

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
