"""Units, experts, specialties, languages, and the case -> search query bridge."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.cases import Patient, Sex, Urgency, open_case
from vidconsult.domain.experts import Expert, Institution, InstitutionKind, index_experts
from vidconsult.domain.slots import SlotQuery, slot_query_for
from vidconsult.domain.specialties import (
    BUILT_IN,
    Specialty,
    SpecialtyCatalogue,
    normalize_language,
    parse_specialty,
)
from vidconsult.domain.units import Unit, UnitTier
from vidconsult.errors import Conflict, InvalidInput, NotFound

US = Institution("us", "US group", InstitutionKind.INTERNATIONAL, "US")


def test_specialty_catalogue() -> None:
    assert len(BUILT_IN) >= 20
    assert parse_specialty(" Cardiac_Surgery ") == Specialty.CARDIAC_SURGERY
    for bad in ("astro-logy", "", "x", "9lives"):
        with pytest.raises(InvalidInput) as err:
            parse_specialty(bad)
        assert err.value.code == "unknown_specialty"
    with pytest.raises(InvalidInput) as err:
        SpecialtyCatalogue().require("astrology")  # a slug's shape, but no such specialty
    assert err.value.code == "unknown_specialty"


def test_specialty_catalogue_create_rename_retire() -> None:
    empty = SpecialtyCatalogue()
    made = empty.create("Sports_Medicine", "Sports medicine", "运动医学科")
    assert made.slug == "sports_medicine" and not made.built_in
    with pytest.raises(Conflict):
        empty.create("cardiology", "Heart", "心")
    with pytest.raises(InvalidInput) as err:
        empty.create("overrides", "Overrides", "覆盖")  # /rota/overrides is a route
    assert err.value.code == "reserved_slug"
    with pytest.raises(InvalidInput) as err:
        empty.create("geriatrics", " ", "老年科")
    assert err.value.code == "invalid_name"
    # a built-in renamed and retired, stored; the catalogue keeps it built-in, in its place
    retired = empty.edit("cardiology", name_en="Cardiology (adult)", retired=True)
    cat = SpecialtyCatalogue([made, retired])
    slugs = [e.slug for e in cat.entries()]
    assert slugs[: len(BUILT_IN)] == [e.slug for e in BUILT_IN] and slugs[-1] == made.slug
    entry = cat.get("cardiology")
    assert entry.built_in and entry.retired and entry.name_zh == "心内科"
    assert entry.name_en == "Cardiology (adult)"
    # retired: nothing new names it, but an expert who practised it keeps it
    with pytest.raises(InvalidInput) as err:
        cat.require("cardiology")
    assert err.value.code == "retired_specialty"
    assert cat.require("cardiology", already=["cardiology"]) == Specialty.CARDIOLOGY
    assert cat.require("sports_medicine") == "sports_medicine"
    # brought back
    assert not cat.edit("cardiology", retired=False).retired
    with pytest.raises(InvalidInput):
        cat.edit("interpretation", retired=True)
    with pytest.raises(NotFound):
        cat.get("astrology")


def test_language_tags() -> None:
    assert normalize_language("zh_Hans") == "zh-hans"
    with pytest.raises(InvalidInput):
        normalize_language("english!")


def test_unit_tier_and_zone() -> None:
    unit = Unit("v7", "Village clinic 7", UnitTier.VILLAGE, consult_rooms=("first-consult",))
    assert unit.hosts_rooms and unit.zone == ZoneInfo("Asia/Shanghai")
    assert Unit("c1", "County 1", "county").tier is UnitTier.COUNTY  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Unit("x", "X", UnitTier.CITY, time_zone="Mars/Olympus")
    with pytest.raises(InvalidInput):
        Unit("x", "X", "hamlet")  # type: ignore[arg-type]


def test_expert_validation_and_fit() -> None:
    slugs: frozenset = frozenset({"cardiology"})  # slugs are parsed into Specialty
    e = Expert("us1", "Dr Smith", US, slugs, frozenset({"EN"}), "America/New_York")
    assert e.specialties == {Specialty.CARDIOLOGY}
    assert e.is_international and e.languages == {"en"}
    assert e.fits(Specialty.CARDIOLOGY, "en") and not e.fits(Specialty.CARDIOLOGY, "zh")
    assert not e.fits(Specialty.NEUROLOGY)
    with pytest.raises(InvalidInput):
        Expert("x", "X", US, frozenset(), frozenset({"en"}), "UTC")
    with pytest.raises(InvalidInput):
        Expert("x", "X", US, frozenset({Specialty.UROLOGY}), frozenset(), "UTC")
    with pytest.raises(InvalidInput):
        index_experts([e, e])


def test_slot_query_for_case() -> None:
    kw = dict(
        case_id="c",
        patient=Patient("P", Sex.MALE, age_years=50),
        referring_unit_id="u",
        referring_doctor="Dr D",
        specialty="neurology",
        clinical_summary="s",
        requested_at=datetime(2026, 3, 9, tzinfo=ZoneInfo("Asia/Shanghai")),
        requested_by="co",
        requested_expert_id="us1",
        requested_language="en",
        interpreter_needed=True,
    )
    routine = open_case(urgency=Urgency.ROUTINE, **kw)  # type: ignore[arg-type]
    assert slot_query_for(routine) == SlotQuery(
        Specialty.NEUROLOGY, language="en", interpreter=True, expert_id="us1"
    )
    assert slot_query_for(routine).required_language is None
    with pytest.raises(InvalidInput, match="^emergency cases are not booked; summon the on-duty"):
        slot_query_for(open_case(urgency=Urgency.EMERGENCY, **kw))  # type: ignore[arg-type]
