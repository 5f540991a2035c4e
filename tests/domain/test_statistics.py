from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from vidconsult.domain.bookings import Booking
from vidconsult.domain.cases import Case, Patient, Sex, Urgency, open_case
from vidconsult.domain.experts import Expert, Institution, InstitutionKind
from vidconsult.domain.outcomes import ConsultationReport, Referral, ReferralPriority
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.statistics import Period, period_key, summarize

CST = ZoneInfo("Asia/Shanghai")
DOM = Institution("d", "Beijing partner", InstitutionKind.DOMESTIC)
INTL = Institution("i", "US group", InstitutionKind.INTERNATIONAL, "US")
EXPERTS = {
    "cn": Expert(
        "cn", "Dr Chen", DOM, frozenset({Specialty.CARDIOLOGY}), frozenset({"zh"}), "Asia/Shanghai"
    ),
    "us": Expert(
        "us",
        "Dr Smith",
        INTL,
        frozenset({Specialty.CARDIOLOGY}),
        frozenset({"en"}),
        "America/New_York",
    ),
}


def case(cid: str, unit: str, when: datetime, urgency: Urgency = Urgency.ROUTINE) -> Case:
    return open_case(
        case_id=cid,
        patient=Patient("P", Sex.FEMALE, age_years=60),
        referring_unit_id=unit,
        referring_doctor="Dr L",
        specialty=Specialty.CARDIOLOGY,
        urgency=urgency,
        clinical_summary="s",
        requested_at=when,
        requested_by="coord",
    )


def completed(c: Case, expert: str, breach: bool, referral: Referral | None = None) -> Case:
    t = c.requested_at
    c.schedule(
        [
            Booking(
                f"b-{c.id}",
                expert,
                t + timedelta(days=1),
                t + timedelta(days=1, minutes=30),
                case_id=c.id,
                sla_breach=breach,
            )
        ],
        by="coord",
        at=t,
    )
    c.start(by="coord", at=t + timedelta(days=1))
    c.complete(
        ConsultationReport("dx", "plan", expert, t + timedelta(days=1, minutes=30)),
        by=expert,
        at=t + timedelta(days=1, minutes=30),
        referral=referral,
    )
    return c


def test_summary() -> None:
    march = datetime(2026, 3, 10, 9, tzinfo=CST)
    april = datetime(2026, 4, 1, 0, 30, tzinfo=CST)  # 2026-03-31 16:30 UTC: April in CST
    green = Referral("City Hospital", "Cardiology", ReferralPriority.EMERGENCY, green_channel=True)
    emergency = case("e1", "village-1", march, Urgency.EMERGENCY)
    emergency.start(by="coord", at=march, expert_ids=["cn"])
    emergency.complete(
        ConsultationReport("STEMI", "PCI", "cn", march), by="cn", at=march, referral=green
    )
    cancelled = case("x1", "county-1", april)
    cancelled.cancel(by="coord", at=april, reason="withdrawn")
    cases = [
        completed(case("r1", "county-1", march), "cn", breach=False),
        completed(case("r2", "county-1", march), "us", breach=False),
        completed(case("r3", "village-1", april), "us", breach=True),
        emergency,
        cancelled,
    ]
    s = summarize(cases, EXPERTS)
    o = s.overall
    assert o.total == 5
    assert dict(o.by_urgency) == {"routine": 4, "emergency": 1}
    assert dict(o.by_status) == {"completed": 4, "cancelled": 1}
    assert (o.sla_met, o.sla_breached, o.sla_met_pct) == (2, 1, 66.7)
    # every case counts: the cancelled one (no expert) is domestic
    assert (o.domestic, o.international) == (3, 2) and o.domestic + o.international == o.total
    assert (o.referrals, o.green_channel) == (1, 1)
    assert sorted(s.by_unit) == ["county-1", "village-1"]
    assert s.by_unit["county-1"].total == 3 and s.by_unit["county-1"].sla_met_pct == 100.0
    assert s.by_unit["village-1"].international == 1
    assert sorted(s.by_period) == ["2026-03", "2026-04"]
    assert s.by_period["2026-04"].total == 2
    assert s.by_period["2026-04"].sla_met_pct == 0.0
    assert summarize([], EXPERTS).overall.sla_met_pct is None
    assert s.to_dict()["overall"]["international"] == 2  # type: ignore[index]


def test_period_keys_use_the_centre_zone() -> None:
    t = datetime(2025, 12, 31, 17, 0, tzinfo=ZoneInfo("UTC"))  # 2026-01-01 01:00 CST
    assert period_key(t, Period.DAY) == "2026-01-01"
    assert period_key(t, Period.WEEK) == "2026-W01"
    assert period_key(t, Period.MONTH) == "2026-01"
    assert period_key(t, Period.QUARTER) == "2026-Q1"
    assert period_key(t, Period.YEAR) == "2026"
    assert period_key(t, Period.YEAR, "UTC") == "2025"


def test_joint_consultation_with_any_international_expert_is_international() -> None:
    t = datetime(2026, 3, 10, 9, tzinfo=CST)
    joint = case("j1", "county-1", t)
    slots = [
        Booking(f"b-{e}", e, t + timedelta(hours=1), t + timedelta(hours=2), case_id="j1")
        for e in ("cn", "us")
    ]
    joint.schedule(slots, by="coord", at=t)
    joint.start(by="coord", at=t + timedelta(hours=1))
    joint.complete(
        ConsultationReport("dx", "plan", "cn", t + timedelta(hours=2)),
        by="cn",
        at=t + timedelta(hours=2),
    )
    tally = summarize([joint], EXPERTS).overall
    assert (tally.domestic, tally.international) == (0, 1)


def test_domestic_and_international_count_every_case() -> None:
    t = datetime(2026, 3, 10, 9, tzinfo=CST)
    waiting_for_us = open_case(
        case_id="w1",
        patient=Patient("P", Sex.FEMALE, age_years=60),
        referring_unit_id="county-1",
        referring_doctor="Dr L",
        specialty=Specialty.NEUROLOGY,
        urgency=Urgency.ROUTINE,
        clinical_summary="s",
        requested_at=t,
        requested_by="coord",
        requested_expert_id="us",
    )
    booked_cn = case("b1", "county-1", t)
    booked_cn.schedule(
        [Booking("b-b1", "cn", t + timedelta(hours=1), t + timedelta(hours=2), case_id="b1")],
        by="coord",
        at=t,
    )
    s = summarize([waiting_for_us, booked_cn, case("r1", "county-1", t)], EXPERTS)
    assert (s.overall.domestic, s.overall.international) == (2, 1)
    assert sorted(s.by_specialty) == ["cardiology", "neurology"]
    assert s.by_specialty["neurology"].international == 1
    assert s.by_specialty["cardiology"].total == 2


def test_emergency_time_to_first_expert() -> None:
    t = datetime(2026, 3, 10, 9, tzinfo=CST)
    cases = []
    for n, seconds in enumerate([40, 100, 70, 300]):
        e = case(f"e{n}", "village-1", t, Urgency.EMERGENCY)
        e.start(by="coord", at=t, expert_ids=["cn"])
        e.note("expert.arrived", by="cn", at=t + timedelta(seconds=seconds))
        e.note("expert.arrived", by="us", at=t + timedelta(seconds=seconds + 500))  # 2nd: no
        cases.append(e)
    unanswered = case("e9", "village-1", t, Urgency.EMERGENCY)
    routine = case("r9", "village-1", t)
    routine.note("expert.arrived", by="cn", at=t + timedelta(seconds=5))  # not an emergency
    o = summarize([*cases, unanswered, routine], EXPERTS).overall
    assert sorted(o.to_first_expert) == [40, 70, 100, 300]
    d = o.to_dict()
    assert d["emergency_to_expert_count"] == 4
    assert d["emergency_to_expert_median_s"] == 70.0
    assert d["emergency_to_expert_p90_s"] == 300.0
    assert (
        summarize([unanswered], EXPERTS).overall.to_dict()["emergency_to_expert_median_s"] is None
    )
