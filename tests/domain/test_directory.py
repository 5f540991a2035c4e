"""Units, experts, specialties, languages, and the case -> search query bridge."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.cases import Patient, Sex, Urgency, open_case
from vidconsult.domain.experts import Expert, Institution, InstitutionKind, index_experts
from vidconsult.domain.slots import SlotQuery, slot_query_for
from vidconsult.domain.specialties import Specialty, normalize_language, parse_specialty
from vidconsult.domain.units import Unit, UnitTier
from vidconsult.errors import InvalidInput

US = Institution("us", "US group", InstitutionKind.INTERNATIONAL, "US")


def test_specialty_catalogue() -> None:
    assert len(Specialty) >= 20
    assert parse_specialty(" Cardiac_Surgery ") is Specialty.CARDIAC_SURGERY
    with pytest.raises(InvalidInput) as err:
        parse_specialty("astrology")
    assert err.value.code == "unknown_specialty"


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
