"""The indexed search against a brute-force oracle on random rosters (seeded, fast)."""

import random
from datetime import UTC, datetime, time, timedelta

from vidconsult.domain.bookings import Booking
from vidconsult.domain.experts import Expert, Institution, InstitutionKind
from vidconsult.domain.rosters import Leave, Roster, WeeklyShift, iter_shift_epochs
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.domain.slots import BookingPolicy, SlotQuery, find_earliest_slot
from vidconsult.domain.specialties import Specialty
from vidconsult.errors import Conflict, NotFound

ZONES = ["Asia/Shanghai", "America/New_York", "America/Los_Angeles", "Europe/London"]
SPECS = [Specialty.CARDIOLOGY, Specialty.NEUROLOGY, Specialty.RHEUMATOLOGY]
LANGS = ["zh", "en"]
INST = Institution("i", "Inst", InstitutionKind.DOMESTIC)
ORIGIN = datetime(2026, 3, 2, tzinfo=UTC)


def _world(rng: random.Random) -> tuple[list[Expert], list[Roster], list[Booking]]:
    experts, rosters, bookings = [], [], []
    for i in range(30):
        zone = rng.choice(ZONES)
        e = Expert(
            f"e{i:02d}",
            f"E{i}",
            INST,
            frozenset(rng.sample(SPECS, rng.randint(1, 2))),
            frozenset(rng.sample(LANGS, rng.randint(1, 2))),
            zone,
        )
        days = sorted(rng.sample(range(7), rng.randint(1, 3)))
        shifts = []
        for d in days:
            h = rng.randint(0, 20)
            length = rng.choice([60, 90, 120, 240])
            start = time(h, rng.choice([0, 15, 30]))
            end_min = (h * 60 + start.minute + length) % 1440
            shifts.append(WeeklyShift(d, start, time(end_min // 60, end_min % 60)))
        leave = []
        if rng.random() < 0.3:
            ls = ORIGIN + timedelta(hours=rng.randint(0, 24 * 20))
            leave.append(Leave(ls, ls + timedelta(hours=rng.randint(2, 72))))
        rosters.append(Roster(e.id, zone, tuple(shifts), tuple(leave)))
        experts.append(e)
        for j in range(rng.randint(0, 6)):
            s = ORIGIN + timedelta(minutes=15 * rng.randint(0, 4 * 24 * 21))
            bookings.append(
                Booking(f"{e.id}-b{j}", e.id, s, s + timedelta(minutes=rng.choice([20, 30, 60])))
            )
    return experts, rosters, bookings


def _oracle(
    experts: list[Expert],
    rosters: list[Roster],
    bookings: list[Booking],
    q: SlotQuery,
    t0: int,
    limit: int,
    length: int,
) -> tuple[int, str] | None:
    by_id = {r.expert_id: r for r in rosters}
    best: tuple[int, str] | None = None
    for e in experts:
        if not e.fits(q.specialty, q.required_language):
            continue
        roster = by_id[e.id]
        first = datetime.fromtimestamp(t0, UTC).astimezone(roster.zone).date() - timedelta(days=2)
        last = datetime.fromtimestamp(limit, UTC).astimezone(roster.zone).date() + timedelta(days=2)
        busy = [
            (int(b.start.timestamp()), int(b.end.timestamp()))
            for b in bookings
            if b.expert_id == e.id
        ]
        busy += roster.leave_epochs()
        for s, end in iter_shift_epochs(roster, first, last):
            c = s
            while c + length <= min(end, limit):
                if c >= t0 and all(not (bs < c + length and c < be) for bs, be in busy):
                    if best is None or (c, e.id) < best:
                        best = (c, e.id)
                    break
                c += length
    return best


def test_indexed_search_matches_brute_force() -> None:
    rng = random.Random(20260308)
    policy = BookingPolicy(horizon=timedelta(days=14))
    for _world_no in range(4):
        experts, rosters, raw = _world(rng)
        index = ScheduleIndex(experts, rosters, origin=ORIGIN)
        kept = []
        for b in raw:
            try:
                index.add_booking(b)
                kept.append(b)
            except Conflict:
                pass
        for _ in range(60):
            q = SlotQuery(rng.choice(SPECS), language=rng.choice([None, "zh", "en"]))
            req = ORIGIN + timedelta(minutes=rng.randint(0, 60 * 24 * 14))
            t0 = int(req.timestamp())
            length = int(policy.slot_length(q.specialty).total_seconds())
            want = _oracle(experts, rosters, kept, q, t0, t0 + 14 * 86400, length)
            try:
                offer = find_earliest_slot(index, q, requested_at=req, policy=policy)
                got: tuple[int, str] | None = (int(offer.start.timestamp()), offer.expert_id)
            except NotFound:
                got = None
            assert got == want, (q, req)
