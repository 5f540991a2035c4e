from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from vidconsult.domain.bookings import Booking
from vidconsult.domain.experts import Expert
from vidconsult.domain.rosters import Roster
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.domain.slots import (
    BookingPolicy,
    SlotQuery,
    check_explicit_slot,
    find_earliest_slot,
)
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.workdays import WorkCalendar
from vidconsult.errors import Conflict, InvalidInput, NotFound

CST = ZoneInfo("Asia/Shanghai")
MakeExpert = Callable[..., Expert]
MakeRoster = Callable[..., Roster]
MON, TUE, WED, THU, FRI = range(5)
ORIGIN = datetime(2026, 3, 1, tzinfo=CST)
REQ = datetime(2026, 3, 9, 8, 0, tzinfo=CST)  # Monday 08:00
POLICY = BookingPolicy()
CARDIO = SlotQuery(Specialty.CARDIOLOGY)


def cst(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CST)


@pytest.fixture
def two_cardiologists(make_expert: MakeExpert, make_roster: MakeRoster) -> ScheduleIndex:
    """a: Mon+Wed 14:00-16:00, zh. b: Mon 10:00-11:00, zh+en."""
    a = make_expert("a", languages=["zh"])
    b = make_expert("b", languages=["zh", "en"])
    return ScheduleIndex(
        [a, b],
        [make_roster(a, [MON, WED], "14:00", "16:00"), make_roster(b, [MON], "10:00", "11:00")],
        origin=ORIGIN,
    )


def test_earliest_slot_across_experts(two_cardiologists: ScheduleIndex) -> None:
    offer = find_earliest_slot(two_cardiologists, CARDIO, requested_at=REQ, policy=POLICY)
    assert (offer.expert_id, offer.start, offer.end) == (
        "b",
        cst(2026, 3, 9, 10),
        cst(2026, 3, 9, 10, 30),
    )
    assert offer.sla_breach is False
    assert offer.sla_deadline == cst(2026, 3, 13)


def test_requested_expert_filter(two_cardiologists: ScheduleIndex) -> None:
    query = SlotQuery(Specialty.CARDIOLOGY, expert_id="a")
    offer = find_earliest_slot(two_cardiologists, query, requested_at=REQ, policy=POLICY)
    assert (offer.expert_id, offer.start) == ("a", cst(2026, 3, 9, 14))


def test_language_filter_and_interpreter_relaxes_it(
    make_expert: MakeExpert, make_roster: MakeRoster
) -> None:
    zh_only = make_expert("a", languages=["zh"])
    en = make_expert("b", languages=["en"])
    index = ScheduleIndex(
        [zh_only, en],
        [make_roster(zh_only, [MON], "09:00", "10:00"), make_roster(en, [TUE], "09:00", "10:00")],
        origin=ORIGIN,
    )
    english = SlotQuery(Specialty.CARDIOLOGY, language="EN")
    assert find_earliest_slot(index, english, requested_at=REQ, policy=POLICY).expert_id == "b"
    with_interpreter = SlotQuery(Specialty.CARDIOLOGY, language="en", interpreter=True)
    offer = find_earliest_slot(index, with_interpreter, requested_at=REQ, policy=POLICY)
    assert offer.expert_id == "a"


def test_specialty_filter(make_expert: MakeExpert, make_roster: MakeRoster) -> None:
    neuro = make_expert("n", specialties=["neurology"])
    cardio = make_expert("c", specialties=["cardiology"])
    index = ScheduleIndex(
        [neuro, cardio],
        [make_roster(neuro, [MON], "09:00", "10:00"), make_roster(cardio, [FRI], "09:00", "10:00")],
        origin=ORIGIN,
    )
    assert find_earliest_slot(index, CARDIO, requested_at=REQ, policy=POLICY).expert_id == "c"


def test_existing_bookings_and_past_time_are_skipped(two_cardiologists: ScheduleIndex) -> None:
    index = two_cardiologists
    index.add_booking(Booking("bk1", "b", cst(2026, 3, 9, 10), cst(2026, 3, 9, 10, 30)))
    # b's 10:30 slot: request at 10:10 so the 10:00 slot is past anyway; 10:30 is free.
    offer = find_earliest_slot(index, CARDIO, requested_at=cst(2026, 3, 9, 10, 10), policy=POLICY)
    assert (offer.expert_id, offer.start) == ("b", cst(2026, 3, 9, 10, 30))
    index.add_booking(Booking("bk2", "b", cst(2026, 3, 9, 10, 30), cst(2026, 3, 9, 11)))
    offer = find_earliest_slot(index, CARDIO, requested_at=REQ, policy=POLICY)
    assert (offer.expert_id, offer.start) == ("a", cst(2026, 3, 9, 14))


def test_off_grid_booking_pushes_to_the_next_grid_slot(two_cardiologists: ScheduleIndex) -> None:
    two_cardiologists.add_booking(Booking("x", "b", cst(2026, 3, 9, 10), cst(2026, 3, 9, 10, 10)))
    query = SlotQuery(Specialty.CARDIOLOGY, expert_id="b")
    offer = find_earliest_slot(two_cardiologists, query, requested_at=REQ, policy=POLICY)
    assert offer.start == cst(2026, 3, 9, 10, 30)  # grid anchored at the shift start


def test_min_notice_and_per_specialty_slot_length(two_cardiologists: ScheduleIndex) -> None:
    policy = BookingPolicy(
        min_notice=timedelta(hours=3), slot_lengths={Specialty.CARDIOLOGY: timedelta(minutes=45)}
    )
    offer = find_earliest_slot(two_cardiologists, CARDIO, requested_at=REQ, policy=policy)
    # b's 10:00 is inside the 3 h notice; a's Monday shift starts 14:00 and slots are 45 min.
    assert (offer.expert_id, offer.start, offer.end) == (
        "a",
        cst(2026, 3, 9, 14),
        cst(2026, 3, 9, 14, 45),
    )


def test_leave_is_not_offered(make_expert: MakeExpert, make_roster: MakeRoster) -> None:
    e = make_expert("e")
    roster = make_roster(e, [MON], "09:00", "11:00", leave=[(cst(2026, 3, 9), cst(2026, 3, 9, 10))])
    index = ScheduleIndex([e], [roster], origin=ORIGIN)
    assert find_earliest_slot(index, CARDIO, requested_at=REQ, policy=POLICY).start == cst(
        2026, 3, 9, 10
    )


def test_sla_breach_when_earliest_slot_is_after_the_deadline(
    make_expert: MakeExpert, make_roster: MakeRoster
) -> None:
    e = make_expert("e")
    index = ScheduleIndex([e], [make_roster(e, [FRI], "09:00", "10:00")], origin=ORIGIN)
    # Request Monday 08:00 -> deadline end of Thursday; Friday's slot is the earliest.
    offer = find_earliest_slot(index, CARDIO, requested_at=REQ, policy=POLICY)
    assert offer.start == cst(2026, 3, 13, 9)
    assert offer.sla_deadline == cst(2026, 3, 13)
    assert offer.sla_breach is True
    # With Tuesday a holiday the same request's deadline moves to end of Friday: met.
    policy = BookingPolicy(calendar=WorkCalendar.of(holidays=[date(2026, 3, 10)]))
    offer = find_earliest_slot(index, CARDIO, requested_at=REQ, policy=policy)
    assert offer.sla_breach is False and offer.sla_deadline == cst(2026, 3, 14)


@pytest.mark.parametrize(
    ("shift", "breach"),
    [(("23:30", "00:00"), False), (("23:31", "00:01"), True)],
    ids=["ends-at-the-deadline", "one-minute-later"],
)
def test_a_slot_ending_exactly_at_the_deadline_meets_it(
    make_expert: MakeExpert, make_roster: MakeRoster, shift: tuple[str, str], breach: bool
) -> None:
    # Request Monday 08:00 -> the deadline is Thursday 24:00; the only slot is Thursday's last
    # half hour, ending on the deadline itself (met) or a minute after it (breached).
    e = make_expert("e")
    index = ScheduleIndex([e], [make_roster(e, [THU], *shift)], origin=ORIGIN)
    offer = find_earliest_slot(index, CARDIO, requested_at=REQ, policy=POLICY)
    deadline = cst(2026, 3, 13)
    assert offer.sla_deadline == deadline
    assert offer.end - deadline == timedelta(minutes=int(breach))
    assert offer.sla_breach is breach
    explicit = check_explicit_slot(
        index, "e", offer.start, policy=POLICY, now=REQ, requested_at=REQ
    )
    assert (explicit.end, explicit.sla_breach) == (offer.end, breach)


def test_no_slot_within_horizon_and_no_fitting_expert(
    make_expert: MakeExpert, make_roster: MakeRoster
) -> None:
    e = make_expert("e")
    index = ScheduleIndex([e], [make_roster(e, [MON], "09:00", "09:30")], origin=ORIGIN)
    index.add_booking(Booking("b1", "e", cst(2026, 3, 16, 9), cst(2026, 3, 16, 9, 30)))
    short = BookingPolicy(horizon=timedelta(days=10))
    with pytest.raises(NotFound) as err:
        find_earliest_slot(index, CARDIO, requested_at=cst(2026, 3, 9, 12), policy=short)
    assert err.value.code == "no_slot"
    offer = find_earliest_slot(index, CARDIO, requested_at=cst(2026, 3, 9, 12), policy=POLICY)
    assert offer.start == cst(2026, 3, 23, 9)
    with pytest.raises(NotFound) as err:
        find_earliest_slot(index, SlotQuery(Specialty.NEUROLOGY), requested_at=REQ, policy=POLICY)
    assert err.value.code == "no_fitting_expert"


def test_double_booking_refused(two_cardiologists: ScheduleIndex) -> None:
    index = two_cardiologists
    index.add_booking(Booking("b1", "a", cst(2026, 3, 9, 14), cst(2026, 3, 9, 14, 30)))
    with pytest.raises(Conflict) as err:
        index.add_booking(Booking("b2", "a", cst(2026, 3, 9, 14, 15), cst(2026, 3, 9, 14, 45)))
    assert err.value.code == "double_booking"
    with pytest.raises(Conflict) as err:
        check_explicit_slot(index, "a", cst(2026, 3, 9, 14), policy=POLICY, now=REQ)
    assert err.value.code == "double_booking"
    # Adjacent is fine, and another expert at the same time is fine.
    index.add_booking(Booking("b3", "a", cst(2026, 3, 9, 14, 30), cst(2026, 3, 9, 15)))
    index.add_booking(Booking("b4", "b", cst(2026, 3, 9, 14), cst(2026, 3, 9, 14, 30)))
    # Cancelling frees the time again.
    index.remove_booking("b1")
    assert index.is_free("a", cst(2026, 3, 9, 14), cst(2026, 3, 9, 14, 30))


def test_explicit_slot_roster_checks(two_cardiologists: ScheduleIndex) -> None:
    index = two_cardiologists
    ok = check_explicit_slot(
        index, "a", cst(2026, 3, 11, 15), policy=POLICY, now=REQ, requested_at=REQ
    )
    assert ok.off_roster is False and ok.end == cst(2026, 3, 11, 15, 30) and not ok.sla_breach
    with pytest.raises(Conflict) as err:
        check_explicit_slot(index, "a", cst(2026, 3, 10, 15), policy=POLICY, now=REQ)
    assert err.value.code == "off_roster"
    off = check_explicit_slot(
        index, "a", cst(2026, 3, 10, 15), policy=POLICY, now=REQ, allow_off_roster=True
    )
    assert off.off_roster is True
    # Running past the shift end is off-roster too.
    with pytest.raises(Conflict):
        check_explicit_slot(
            index, "a", cst(2026, 3, 9, 15, 45), end=cst(2026, 3, 9, 16, 15), policy=POLICY, now=REQ
        )
    with pytest.raises(InvalidInput) as bad:
        check_explicit_slot(index, "a", cst(2026, 3, 9, 7), policy=POLICY, now=REQ)
    assert bad.value.code == "slot_in_past"
    with pytest.raises(InvalidInput) as bad:
        check_explicit_slot(
            index, "a", cst(2026, 3, 9, 14), policy=POLICY, now=REQ, specialty=Specialty.UROLOGY
        )
    assert bad.value.code == "specialty_mismatch"


def test_explicit_slot_on_leave_refused_even_off_roster(
    make_expert: MakeExpert, make_roster: MakeRoster
) -> None:
    e = make_expert("e")
    roster = make_roster(e, [MON], "09:00", "11:00", leave=[(cst(2026, 3, 9), cst(2026, 3, 10))])
    index = ScheduleIndex([e], [roster], origin=ORIGIN)
    with pytest.raises(Conflict) as err:
        check_explicit_slot(
            index, "e", cst(2026, 3, 9, 9), policy=POLICY, now=REQ, allow_off_roster=True
        )
    assert err.value.code == "expert_on_leave"


# found by mutation testing (mutmut on slots.py): paths no test took --------------------------
def test_a_candidate_whose_shift_is_full_competes_with_its_next_shift(
    make_expert: MakeExpert, make_roster: MakeRoster
) -> None:
    # a: Mon (fully booked), Tue, Wed 09:00-10:00; Tue 09:00 booked too. b: Tue 09:30-10:00.
    # a's next piece must enter the race with its own start as the bound (not a later piece's
    # start or its end), and as a bound, not as a slot: a's Tue 09:30 ties b's, a wins by id.
    a, b = make_expert("a"), make_expert("b")
    index = ScheduleIndex(
        [a, b],
        [
            make_roster(a, [MON, TUE, WED], "09:00", "10:00"),
            make_roster(b, [TUE], "09:30", "10:00"),
        ],
        origin=ORIGIN,
    )
    index.add_booking(Booking("m", "a", cst(2026, 3, 9, 9), cst(2026, 3, 9, 10)))
    index.add_booking(Booking("t", "a", cst(2026, 3, 10, 9), cst(2026, 3, 10, 9, 30)))
    offer = find_earliest_slot(index, CARDIO, requested_at=REQ, policy=POLICY)
    assert (offer.expert_id, offer.start) == ("a", cst(2026, 3, 10, 9, 30))


def test_the_search_starts_at_now_when_it_runs_after_the_request(
    two_cardiologists: ScheduleIndex,
) -> None:
    later = cst(2026, 3, 9, 10, 31)  # b's slots (10:00, 10:30) have begun: a's 14:00 is next
    offer = find_earliest_slot(
        two_cardiologists, CARDIO, requested_at=REQ, policy=POLICY, now=later
    )
    assert (offer.expert_id, offer.start) == ("a", cst(2026, 3, 9, 14))
    assert offer.sla_deadline == cst(2026, 3, 13)  # the deadline stays the request's


def test_the_policys_working_days_set_the_deadline(two_cardiologists: ScheduleIndex) -> None:
    policy = BookingPolicy(sla_working_days=1)
    offer = find_earliest_slot(two_cardiologists, CARDIO, requested_at=REQ, policy=policy)
    assert offer.sla_deadline == cst(2026, 3, 11)
    explicit = check_explicit_slot(
        two_cardiologists, "a", cst(2026, 3, 11, 14), policy=policy, now=REQ, requested_at=REQ
    )
    assert (explicit.expert_id, explicit.start, explicit.sla_deadline) == (
        "a",
        cst(2026, 3, 11, 14),
        cst(2026, 3, 11),
    )
    assert explicit.sla_breach is True


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"default_slot_length": timedelta(seconds=30)}, "^slot lengths must be whole minutes"),
        ({"default_slot_length": timedelta(seconds=90)}, "whole minutes, at least one$"),
        (
            {"slot_lengths": {Specialty.CARDIOLOGY: timedelta(minutes=20, seconds=1)}},
            "whole minutes, at least one",
        ),
        ({"min_notice": timedelta(minutes=-1)}, "^min_notice must be >= 0 and horizon > 0$"),
        ({"horizon": timedelta(0)}, "^min_notice must be >= 0 and horizon > 0$"),
    ],
)
def test_policy_refuses_bad_lengths_and_windows(kw: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        BookingPolicy(**kw)  # type: ignore[arg-type]


def test_policy_accepts_the_smallest_valid_values() -> None:
    policy = BookingPolicy(
        default_slot_length=timedelta(minutes=1),
        min_notice=timedelta(0),
        horizon=timedelta(hours=1),
    )
    assert policy.slot_length(Specialty.CARDIOLOGY) == timedelta(minutes=1)


def test_naive_times_are_refused_by_name(two_cardiologists: ScheduleIndex) -> None:
    naive = datetime(2026, 3, 9, 8, 0)
    cases = [
        (
            lambda: find_earliest_slot(
                two_cardiologists, CARDIO, requested_at=naive, policy=POLICY
            ),
            "requested_at",
        ),
        (
            lambda: find_earliest_slot(
                two_cardiologists, CARDIO, requested_at=REQ, policy=POLICY, now=naive
            ),
            "now",
        ),
        (
            lambda: check_explicit_slot(two_cardiologists, "a", naive, policy=POLICY, now=REQ),
            "start",
        ),
        (
            lambda: check_explicit_slot(
                two_cardiologists, "a", cst(2026, 3, 9, 14), end=naive, policy=POLICY, now=REQ
            ),
            "end",
        ),
        (
            lambda: check_explicit_slot(
                two_cardiologists, "a", cst(2026, 3, 9, 14), policy=POLICY, now=naive
            ),
            "now",
        ),
    ]
    for call, name in cases:
        with pytest.raises(InvalidInput, match=f"^{name} must be timezone-aware$"):
            call()


def test_explicit_slot_length_and_bounds(two_cardiologists: ScheduleIndex) -> None:
    index = two_cardiologists
    policy = BookingPolicy(slot_lengths={Specialty.CARDIOLOGY: timedelta(minutes=45)})
    start = cst(2026, 3, 9, 14)
    offer = check_explicit_slot(
        index, "a", start, policy=policy, now=REQ, specialty=Specialty.CARDIOLOGY
    )
    assert offer.end == start + timedelta(minutes=45)
    assert check_explicit_slot(index, "a", start, policy=policy, now=REQ).end == start + (
        timedelta(minutes=30)
    )
    with pytest.raises(InvalidInput, match="^slot must end after it starts$"):
        check_explicit_slot(index, "a", start, end=start, policy=POLICY, now=REQ)
    # starting right now is not in the past
    assert check_explicit_slot(index, "a", start, policy=POLICY, now=start).start == start
    with pytest.raises(InvalidInput, match="^slot starts in the past$"):
        check_explicit_slot(index, "a", start, policy=POLICY, now=start + timedelta(seconds=1))


def test_refusals_say_why(two_cardiologists: ScheduleIndex) -> None:
    index = two_cardiologists
    with pytest.raises(InvalidInput, match="^expert a does not practise urology$"):
        check_explicit_slot(
            index, "a", cst(2026, 3, 9, 14), policy=POLICY, now=REQ, specialty=Specialty.UROLOGY
        )
    with pytest.raises(Conflict, match="^slot is outside expert a's roster$"):
        check_explicit_slot(index, "a", cst(2026, 3, 10, 15), policy=POLICY, now=REQ)
    index.add_booking(Booking("b1", "a", cst(2026, 3, 9, 14), cst(2026, 3, 9, 14, 30)))
    with pytest.raises(Conflict, match=r"^expert a is already booked \(.*b1.*\) at that time$"):
        check_explicit_slot(index, "a", cst(2026, 3, 9, 14), policy=POLICY, now=REQ)
    with pytest.raises(NotFound, match="^no expert fits specialty neurology$"):
        find_earliest_slot(index, SlotQuery(Specialty.NEUROLOGY), requested_at=REQ, policy=POLICY)
    only_fr = SlotQuery(Specialty.CARDIOLOGY, language="fr", expert_id="a")
    with pytest.raises(NotFound, match="^expert a fits specialty cardiology and language fr$"):
        find_earliest_slot(index, only_fr, requested_at=REQ, policy=POLICY)
    short = BookingPolicy(horizon=timedelta(days=1))
    with pytest.raises(NotFound, match="^no free cardiology slot within 1 days$"):
        find_earliest_slot(index, CARDIO, requested_at=cst(2026, 3, 11, 17), policy=short)


def test_leave_refusal_says_why(make_expert: MakeExpert, make_roster: MakeRoster) -> None:
    e = make_expert("e")
    roster = make_roster(e, [MON], "09:00", "11:00", leave=[(cst(2026, 3, 9), cst(2026, 3, 10))])
    index = ScheduleIndex([e], [roster], origin=ORIGIN)
    with pytest.raises(Conflict, match="^expert e is on leave then$"):
        check_explicit_slot(index, "e", cst(2026, 3, 9, 9), policy=POLICY, now=REQ)
