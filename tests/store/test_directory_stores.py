"""Contract: units, experts with rosters, and the duty rota."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from tests.store.helpers import cst, expert, shift
from vidconsult.domain.rosters import Leave, Roster
from vidconsult.domain.rota import DutyOverride, DutySlot
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.units import Unit, UnitTier
from vidconsult.errors import NotFound

CARDIO = Specialty.CARDIOLOGY


async def test_units_round_trip_filter_and_replace(stores) -> None:
    county = Unit("cty-1", "County Hospital", UnitTier.COUNTY, consult_rooms=("Room A",))
    village = Unit("vil-1", "Village Clinic", UnitTier.VILLAGE, parent_id="cty-1")
    await stores.units.put_units([county, village])
    assert await stores.units.get_unit("cty-1") == county
    assert await stores.units.get_unit("nope") is None
    assert await stores.units.list_units(UnitTier.VILLAGE) == [village]
    renamed = Unit("vil-1", "Village Clinic No. 1", UnitTier.TOWNSHIP)
    await stores.units.put_units([renamed])
    assert await stores.units.list_units() == [county, renamed]
    assert await stores.units.list_units(UnitTier.VILLAGE) == []


async def test_experts_by_specialty_follow_updates(stores) -> None:
    await stores.experts.put_experts(
        [expert("wang", "cardiology"), expert("li", "neurology", international=True)]
    )
    assert [e.id for e in await stores.experts.list_experts(CARDIO)] == ["wang"]
    got = await stores.experts.get_expert("li")
    assert got == expert("li", "neurology", international=True) and got.is_international
    await stores.experts.put_experts([expert("wang", "neurology")])
    assert await stores.experts.list_experts(CARDIO) == []
    assert [e.id for e in await stores.experts.list_experts(Specialty.NEUROLOGY)] == ["li", "wang"]


async def test_roster_round_trip_and_unknown_expert(open_stores) -> None:
    roster = Roster(
        "wang",
        "Asia/Shanghai",
        (shift(0, "09:00", "12:00"), shift(1, "20:00", "08:00")),
        leave=(Leave(cst(2026, 3, 2, 9), cst(2026, 3, 2, 10), "conference"),),
        holidays=frozenset({date(2026, 5, 1)}),
    )
    async with open_stores() as s:
        await s.experts.put_experts([expert("wang")])
        with pytest.raises(NotFound):
            await s.experts.put_roster(Roster("ghost", "Asia/Shanghai", ()))
        await s.experts.put_roster(roster)
    async with open_stores() as s:  # durable across a restart
        assert await s.experts.get_roster("wang") == roster
        assert await s.experts.list_rosters() == [roster]
        assert await s.experts.get_roster("li") is None


async def test_rota_slots_replace_per_specialty_and_overrides(stores) -> None:
    day = DutySlot(CARDIO, "day", shift(1, "08:00", "20:00"), "Asia/Shanghai")
    night = DutySlot(CARDIO, "night", shift(1, "20:00", "08:00"), "Asia/Shanghai")
    neuro = DutySlot(Specialty.NEUROLOGY, "n", shift(1, "08:00", "20:00"), "Asia/Shanghai")
    await stores.rota.replace_slots(CARDIO, [day, night])
    await stores.rota.replace_slots(Specialty.NEUROLOGY, [neuro])
    await stores.rota.replace_slots(CARDIO, [night])
    rota = await stores.rota.get_rota()
    assert set(rota.slots) == {night, neuro}
    tuesday_noon = cst(2026, 3, 10, 12)
    assert rota.on_duty(CARDIO, tuesday_noon) == ()
    ovr = DutyOverride(CARDIO, "cover", cst(2026, 3, 10, 8), cst(2026, 3, 10, 20))
    ovr_id = await stores.rota.add_override(ovr)
    assert (await stores.rota.get_rota()).on_duty(CARDIO, tuesday_noon) == ("cover",)
    await stores.rota.delete_override(ovr_id)
    assert (await stores.rota.get_rota()).overrides == ()
    with pytest.raises(NotFound):
        await stores.rota.delete_override(ovr_id)
    # overlapping overrides: the most recently created is first, whatever the ids' order;
    # ids and creation times come back as stored
    made = []
    for who, hour in (("first", 1), ("latest", 3), ("middle", 2)):
        o = replace(ovr, expert_id=who, created_at=cst(2026, 3, 1, hour))
        made.append(replace(o, id=await stores.rota.add_override(o)))
    rota = await stores.rota.get_rota()
    assert sorted(rota.overrides, key=lambda o: o.id) == sorted(made, key=lambda o: o.id)
    assert rota.on_duty(CARDIO, tuesday_noon) == ("latest", "middle", "first")
