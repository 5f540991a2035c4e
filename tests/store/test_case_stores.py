"""Contract: cases with their audit trail and outcome, and optimistic concurrency."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.store.helpers import cst
from vidconsult.domain.bookings import Booking
from vidconsult.domain.cases import Case, CaseStatus, Patient, Sex, Urgency, open_case
from vidconsult.domain.outcomes import ConsultationReport, Referral, ReferralPriority
from vidconsult.errors import Conflict, NotFound
from vidconsult.store.base_workflow import CaseFilter

T0 = cst(2026, 3, 9, 9)


def new_case(case_id: str, *, unit: str = "cty-1", at=T0, urgency=Urgency.ROUTINE) -> Case:
    return open_case(
        case_id=case_id,
        patient=Patient("Zhang San", Sex.MALE, age_years=35),
        referring_unit_id=unit,
        referring_doctor="Dr Zhao",
        specialty="cardiology",
        urgency=urgency,
        clinical_summary="chest pain",
        requested_at=at,
        requested_by="coord",
        requested_language="zh",
    )


async def test_case_round_trip_with_audit(open_stores) -> None:
    case = new_case("c1")
    async with open_stores() as s:
        await s.cases.create_case(case)
        with pytest.raises(Conflict):
            await s.cases.create_case(new_case("c1"))
        booking = Booking(
            "b1",
            "wang",
            T0 + timedelta(days=1),
            T0 + timedelta(days=1, hours=1),
            case_id="c1",
            sla_deadline=T0 + timedelta(days=3),
        )
        revision = len(case.audit)
        case.schedule([booking], by="coord", at=T0 + timedelta(minutes=1))
        await s.cases.save_case(case, revision=revision)
    async with open_stores() as s:
        got = await s.cases.get_case("c1")
    assert got == case
    assert [e.to_status for e in got.audit] == [CaseStatus.REQUESTED, CaseStatus.SCHEDULED]
    assert got.expert_ids == ("wang",) and got.sla_breach is False


async def test_stale_save_is_refused(stores) -> None:
    await stores.cases.create_case(new_case("c1"))
    first = await stores.cases.get_case("c1")
    second = await stores.cases.get_case("c1")
    rev = len(first.audit)
    first.cancel(by="coord", at=T0 + timedelta(minutes=1), reason="patient recovered")
    await stores.cases.save_case(first, revision=rev)
    second.note("attachment", by="dr", at=T0 + timedelta(minutes=2))
    with pytest.raises(Conflict) as err:
        await stores.cases.save_case(second, revision=rev)
    assert err.value.code == "stale_case"
    assert (await stores.cases.get_case("c1")).status is CaseStatus.CANCELLED
    with pytest.raises(NotFound):
        await stores.cases.save_case(new_case("ghost"), revision=1)


async def test_list_filters(stores) -> None:
    a = new_case("a", unit="u1", at=T0)
    b = new_case("b", unit="u2", at=T0 + timedelta(days=40), urgency=Urgency.EMERGENCY)
    c = new_case("c", unit="u1", at=T0 + timedelta(days=1))
    for case in (a, b, c):
        await stores.cases.create_case(case)
    rev = len(b.audit)
    b.start(by="coord", at=b.requested_at, expert_ids=["wang"])
    await stores.cases.save_case(b, revision=rev)

    async def ids(**kw) -> list[str]:
        return [x.id for x in await stores.cases.list_cases(CaseFilter(**kw))]

    assert await ids() == ["b", "c", "a"]  # newest request first
    assert await ids(unit_id="u1") == ["c", "a"]
    assert await ids(urgency=Urgency.EMERGENCY) == ["b"]
    assert await ids(status=CaseStatus.IN_PROGRESS) == ["b"]
    assert await ids(expert_id="wang") == ["b"]
    assert await ids(
        requested_from=T0 + timedelta(hours=1), requested_to=T0 + timedelta(days=2)
    ) == ["c"]
    assert await ids(limit=1) == ["b"]


async def test_outcome_and_referrals(stores) -> None:
    case = new_case("e1", urgency=Urgency.EMERGENCY)
    await stores.cases.create_case(case)
    rev = len(case.audit)
    case.start(by="coord", at=T0, expert_ids=["wang"])
    report = ConsultationReport("STEMI", "PCI", "wang", T0 + timedelta(minutes=20))
    referral = Referral("City Hospital", "Cardiology", ReferralPriority.EMERGENCY, True)
    case.complete(report, by="wang", at=T0 + timedelta(minutes=21), referral=referral)
    await stores.cases.save_case(case, revision=rev)
    got = await stores.cases.get_case("e1")
    assert got.report == report and got.referral == referral
    assert await stores.cases.list_referrals() == [("e1", referral)]
    assert await stores.cases.list_referrals(green_channel=False) == []
