"""Benchmark: earliest-slot booking search over 1,000 experts x 4 weeks of rosters.

Builds a seeded random network (mixed zones incl. America/New_York across the 2026-03-08 DST
change, 3-6 weekly shifts per expert, leave, existing bookings), then runs N routine-booking
searches. Each search runs twice, side by side on the same state: the indexed search
(``vidconsult.domain.slots.find_earliest_slot``) and a naive linear scan (every expert, every
shift instance rebuilt from the roster, every booking compared one by one). Both must return the
same slot; the offer is then booked so later searches see a fuller calendar.

    python benchmarks/booking_search.py [--experts 1000] [--searches 500] [--seed 7]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidconsult.domain.bookings import Booking  # noqa: E402
from vidconsult.domain.experts import Expert, Institution, InstitutionKind  # noqa: E402
from vidconsult.domain.rosters import Leave, Roster, WeeklyShift, iter_shift_epochs  # noqa: E402
from vidconsult.domain.schedule import ScheduleIndex  # noqa: E402
from vidconsult.domain.slots import BookingPolicy, SlotQuery, find_earliest_slot  # noqa: E402
from vidconsult.domain.specialties import BUILT_IN  # noqa: E402
from vidconsult.errors import Conflict, NotFound  # noqa: E402

ORIGIN = datetime(2026, 3, 2, tzinfo=UTC)  # the US DST change (Mar 8) falls in week 1
WEEKS = 4
ZONES = [
    ("Asia/Shanghai", 0.7),
    ("America/New_York", 0.2),
    ("America/Chicago", 0.05),
    ("America/Los_Angeles", 0.05),
]
DOMESTIC = Institution("cn", "Domestic partner", InstitutionKind.DOMESTIC)
US = Institution("us", "US partner group", InstitutionKind.INTERNATIONAL, "US")


def build_world(
    rng: random.Random, n_experts: int
) -> tuple[list[Expert], list[Roster], list[Booking]]:
    specs = [e.slug for e in BUILT_IN]
    experts, rosters, bookings = [], [], []
    for i in range(n_experts):
        zone = rng.choices([z for z, _ in ZONES], [w for _, w in ZONES])[0]
        foreign = zone != "Asia/Shanghai"
        langs = (
            {"en"} | ({"zh"} if rng.random() < 0.2 else set())
            if foreign
            else {"zh"} | ({"en"} if rng.random() < 0.3 else set())
        )
        e = Expert(
            f"x{i:04d}",
            f"Expert {i}",
            US if foreign else DOMESTIC,
            frozenset(rng.sample(specs, rng.randint(1, 3))),
            frozenset(langs),
            zone,
        )
        days = sorted(rng.sample(range(7), rng.randint(3, 6)))
        shifts = []
        for d in days:
            start_h = rng.randint(7, 17)
            length_h = rng.randint(2, 4)
            end_h = min(start_h + length_h, 23)
            shifts.append(WeeklyShift(d, clock(start_h), clock(end_h)))
        leave = []
        if rng.random() < 0.1:
            ls = ORIGIN + timedelta(days=rng.randint(0, 27))
            leave.append(Leave(ls, ls + timedelta(days=rng.randint(1, 5))))
        roster = Roster(e.id, zone, tuple(shifts), tuple(leave))
        experts.append(e)
        rosters.append(roster)
        # some existing bookings, on the expert's grid
        for j in range(rng.randint(0, 8)):
            day = ORIGIN + timedelta(days=rng.randint(0, 7 * WEEKS - 1))
            instances = list(
                iter_shift_epochs(
                    roster,
                    day.astimezone(roster.zone).date(),
                    day.astimezone(roster.zone).date() + timedelta(days=1),
                )
            )
            if instances:
                s, end = instances[0]
                c = s + 1800 * rng.randint(0, max(0, (end - s) // 1800 - 1))
                bookings.append(
                    Booking(
                        f"{e.id}-pre{j}",
                        e.id,
                        datetime.fromtimestamp(c, UTC),
                        datetime.fromtimestamp(c + 1800, UTC),
                    )
                )
    return experts, rosters, bookings


class NaiveScheduler:
    """The baseline: no index; scan every expert, every shift, every booking."""

    def __init__(self, experts: list[Expert], rosters: list[Roster]) -> None:
        self.experts = experts
        self.rosters = {r.expert_id: r for r in rosters}
        self.bookings: list[tuple[str, int, int]] = []

    def add(self, expert_id: str, start: int, end: int) -> None:
        for eid, s, e in self.bookings:
            if eid == expert_id and s < end and start < e:
                raise Conflict("double booking", code="double_booking")
        self.bookings.append((expert_id, start, end))

    def earliest(self, q: SlotQuery, t0: int, limit: int, length: int) -> tuple[int, str] | None:
        best: tuple[int, str] | None = None
        for e in self.experts:
            if q.expert_id is not None and e.id != q.expert_id:
                continue
            if not e.fits(q.specialty, q.required_language):
                continue
            roster = self.rosters[e.id]
            leave = roster.leave_epochs()
            first = datetime.fromtimestamp(t0, UTC).astimezone(roster.zone).date()
            last = datetime.fromtimestamp(limit, UTC).astimezone(roster.zone).date()
            for s, end in iter_shift_epochs(
                roster, first - timedelta(days=1), last + timedelta(days=1)
            ):
                c, found = s, False
                while c + length <= min(end, limit):
                    if (
                        c >= t0
                        and not any(ls < c + length and c < le for ls, le in leave)
                        and not any(
                            eid == e.id and bs < c + length and c < be
                            for eid, bs, be in self.bookings
                        )
                    ):
                        if best is None or (c, e.id) < best:
                            best = (c, e.id)
                        found = True
                        break
                    c += length
                if found:
                    break
        return best


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experts", type=int, default=1000)
    ap.add_argument("--searches", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    experts, rosters, pre = build_world(rng, args.experts)

    t = time.perf_counter()
    index = ScheduleIndex(experts, rosters, origin=ORIGIN)
    # requests fall in the 4 weeks, each searching 28 days ahead: expand shifts up front
    index.materialize_until(ORIGIN + timedelta(weeks=WEEKS) + BookingPolicy().horizon)
    build_ms = (time.perf_counter() - t) * 1000
    naive = NaiveScheduler(experts, rosters)
    for b in pre:
        try:
            index.add_booking(b)
        except Conflict:
            continue
        naive.add(b.expert_id, int(b.start.timestamp()), int(b.end.timestamp()))

    policy = BookingPolicy()
    horizon = int(policy.horizon.total_seconds())
    specs = [e.slug for e in BUILT_IN]
    fast, slow = [], []
    breaches = 0
    errors: dict[str, int] = {}
    for n in range(args.searches):
        requested_expert = rng.choice(experts).id if rng.random() < 0.1 else None
        spec = (
            next(iter(index.expert(requested_expert).specialties))
            if requested_expert
            else rng.choice(specs)
        )
        q = SlotQuery(
            spec,
            language=rng.choices([None, "zh", "en"], [0.5, 0.3, 0.2])[0],
            expert_id=requested_expert,
        )
        req = ORIGIN + timedelta(minutes=rng.randint(0, 60 * 24 * 7 * WEEKS - 1))
        t0 = int(req.timestamp())
        length = int(policy.slot_length(spec).total_seconds())

        t = time.perf_counter()
        try:
            offer = find_earliest_slot(index, q, requested_at=req, policy=policy)
            got: tuple[int, str] | None = (int(offer.start.timestamp()), offer.expert_id)
        except NotFound as err:
            offer, got = None, None
            errors[err.code] = errors.get(err.code, 0) + 1
        fast.append((time.perf_counter() - t) * 1000)

        t = time.perf_counter()
        want = naive.earliest(q, t0, t0 + horizon, length)
        slow.append((time.perf_counter() - t) * 1000)
        if got != want:
            raise SystemExit(f"search {n}: indexed {got} != naive {want} for {q} at {req}")
        if offer is None:
            continue
        breaches += offer.sla_breach
        index.add_booking(Booking.from_offer(f"bk{n}", offer, case_id=f"case{n}"))
        naive.add(offer.expert_id, got[0], got[0] + length)  # type: ignore[index]

    def summary(ms: list[float]) -> dict[str, float]:
        return {
            "p50_ms": round(pct(ms, 50), 3),
            "p99_ms": round(pct(ms, 99), 3),
            "mean_ms": round(statistics.fmean(ms), 3),
        }

    fast_s, slow_s = summary(fast), summary(slow)
    out = {
        "experts": args.experts,
        "weeks": WEEKS,
        "searches": args.searches,
        **fast_s,
        "index_build_ms": round(build_ms, 2),  # incl. expanding 8 weeks of shifts
        "bookings_preexisting": len(pre),
        "sla_breaches": breaches,
        "not_found": errors,
        "results_identical": True,
        "baseline": {"kind": "linear scan, no index", **slow_s},
        "ratio": {
            "p50": round(slow_s["p50_ms"] / fast_s["p50_ms"], 1),
            "p99": round(slow_s["p99_ms"] / fast_s["p99_ms"], 1),
        },
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
