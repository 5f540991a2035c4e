"""Booking rules: the earliest fitting free slot, and a coordinator's explicit slot.

Search (``find_earliest_slot``): candidates are the experts with the specialty, speaking the
requested language (unless an interpreter is requested) and, if one is requested, only that
expert. Each candidate's shift pieces are walked in time order and merged across candidates with
a heap keyed by a lower bound on the candidate's next free slot; a candidate is only examined
further when its bound is the smallest, and the search stops at the first exact free slot popped.
A slot is a ``slot_length`` piece of a shift on the grid that starts at the shift's start; it must
start at or after ``now + min_notice``, must not overlap the expert's bookings or leave, and must
end within ``horizon`` of that start. Ties go to the lower expert id.

SLA: the deadline is :meth:`WorkCalendar.sla_deadline` of the request time (see ``workdays``).
The earliest slot is booked even when it ends after the deadline; the offer then carries
``sla_breach=True``. (Being the earliest, no slot of a fitting expert met the deadline.)
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from vidconsult.domain.bookings import DEFAULT_SLOT_LENGTH, SlotOffer
from vidconsult.domain.cases import Case, Urgency
from vidconsult.domain.schedule import ScheduleIndex, Timeline
from vidconsult.domain.specialties import Specialty, normalize_language
from vidconsult.domain.timeutil import from_epoch, require_aware, to_epoch
from vidconsult.domain.units import Unit
from vidconsult.domain.workdays import DEFAULT_SLA_WORKING_DAYS, WorkCalendar
from vidconsult.errors import Conflict, InvalidInput, NotFound

DEFAULT_HORIZON = timedelta(days=28)


@dataclass(frozen=True, slots=True)
class BookingPolicy:
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    sla_working_days: int = DEFAULT_SLA_WORKING_DAYS
    default_slot_length: timedelta = DEFAULT_SLOT_LENGTH
    slot_lengths: Mapping[Specialty, timedelta] = field(default_factory=dict)
    min_notice: timedelta = timedelta(0)
    horizon: timedelta = DEFAULT_HORIZON

    def __post_init__(self) -> None:
        lengths = [self.default_slot_length, *self.slot_lengths.values()]
        if any(length < timedelta(minutes=1) or length.total_seconds() % 60 for length in lengths):
            raise InvalidInput("slot lengths must be whole minutes, at least one")
        if self.min_notice < timedelta(0) or self.horizon <= timedelta(0):
            raise InvalidInput("min_notice must be >= 0 and horizon > 0")

    def slot_length(self, specialty: Specialty) -> timedelta:
        return self.slot_lengths.get(specialty, self.default_slot_length)

    def deadline(self, requested_at: datetime) -> datetime:
        return self.calendar.sla_deadline(requested_at, self.sla_working_days)


@dataclass(frozen=True, slots=True)
class SlotQuery:
    specialty: Specialty
    language: str | None = None
    interpreter: bool = False  # an interpreter joins: the expert need not speak ``language``
    expert_id: str | None = None

    def __post_init__(self) -> None:
        if self.language is not None:
            object.__setattr__(self, "language", normalize_language(self.language))

    @property
    def required_language(self) -> str | None:
        return None if self.interpreter else self.language


def slot_query_for(case: Case) -> SlotQuery:
    """The search a routine case asks for (emergencies go to :mod:`emergency` instead)."""
    if case.urgency is not Urgency.ROUTINE:
        raise InvalidInput("emergency cases are not booked; summon the on-duty expert")
    return SlotQuery(
        specialty=case.specialty,
        language=case.requested_language,
        interpreter=case.interpreter_needed,
        expert_id=case.requested_expert_id,
    )


def _candidates(index: ScheduleIndex, query: SlotQuery) -> list[Timeline]:
    lang = query.required_language
    if query.expert_id is not None:
        pool = [index.timeline(query.expert_id)]
    else:
        pool = index.with_specialty(query.specialty)
    found = [tl for tl in pool if tl.expert.fits(query.specialty, lang)]
    if not found:
        who = f"expert {query.expert_id}" if query.expert_id else "no expert"
        raise NotFound(
            f"{who} fits specialty {query.specialty.value}"
            + (f" and language {lang}" if lang else ""),
            code="no_fitting_expert",
        )
    return found


def _hours_filter(unit: Unit | None) -> Callable[[int, int], bool] | None:
    if unit is None or not unit.consult_hours:
        return None
    return lambda s, e: unit.within_consult_hours(from_epoch(s), from_epoch(e))


def find_earliest_slot(
    index: ScheduleIndex,
    query: SlotQuery,
    *,
    requested_at: datetime,
    policy: BookingPolicy,
    now: datetime | None = None,
    unit: Unit | None = None,
) -> SlotOffer:
    """The earliest free slot of a fitting expert, flagged with the SLA deadline and breach;
    inside the referring ``unit``'s consult hours when it has them.

    ``now`` (default ``requested_at``) is when the search runs; slots start at or after
    ``max(now, requested_at) + policy.min_notice``. Raises ``NotFound(code="no_fitting_expert")``
    when no expert fits the query, ``NotFound(code="no_slot")`` when none has a free slot within
    the horizon."""
    require_aware(requested_at, "requested_at")
    earliest = max(requested_at, require_aware(now, "now") if now else requested_at)
    t0 = to_epoch(earliest + policy.min_notice)
    limit = t0 + int(policy.horizon.total_seconds())
    length = int(policy.slot_length(query.specialty).total_seconds())

    allowed = _hours_filter(unit)
    heap: list[tuple[int, int, int, bool]] = []  # (bound or exact start, candidate #, piece, exact)
    candidates = _candidates(index, query)
    for n, tl in enumerate(candidates):
        k = tl.first_piece_index(t0)
        piece = tl.piece(k, limit)
        if piece is not None:
            heap.append((max(piece[0], t0), n, k, False))
    heapq.heapify(heap)

    while heap:
        bound, n, k, exact = heapq.heappop(heap)
        tl = candidates[n]
        if exact:
            start = from_epoch(bound)
            end = from_epoch(bound + length)
            deadline = policy.deadline(requested_at)
            return SlotOffer(tl.expert.id, start, end, deadline, sla_breach=end > deadline)
        found = tl.first_free(k, t0, length, limit, allowed)
        if found is not None:
            heapq.heappush(heap, (found, n, k, True))
            continue
        nxt = tl.piece(k + 1, limit)
        if nxt is not None:
            heapq.heappush(heap, (max(nxt[0], t0), n, k + 1, False))
    raise NotFound(
        f"no free {query.specialty.value} slot within {policy.horizon.days} days",
        code="no_slot",
    )


def check_explicit_slot(
    index: ScheduleIndex,
    expert_id: str,
    start: datetime,
    *,
    policy: BookingPolicy,
    now: datetime,
    end: datetime | None = None,
    specialty: Specialty | None = None,
    requested_at: datetime | None = None,
    allow_off_roster: bool = False,
    unit: Unit | None = None,
) -> SlotOffer:
    """Validate a coordinator's choice of expert and time and return it as an offer.

    Refuses a start in the past (``InvalidInput(code="slot_in_past")``), an expert without the
    specialty (``InvalidInput(code="specialty_mismatch")``), time on leave
    (``Conflict(code="expert_on_leave")``), time outside the roster unless ``allow_off_roster``
    (``Conflict(code="off_roster")``; allowed, the offer has ``off_roster=True``), time outside
    the ``unit``'s consult hours (``Conflict(code="outside_consult_hours")``) and overlap with
    another booking (``Conflict(code="double_booking")``)."""
    require_aware(start, "start")
    expert = index.expert(expert_id)
    if specialty is not None and specialty not in expert.specialties:
        raise InvalidInput(
            f"expert {expert_id} does not practise {specialty.value}", code="specialty_mismatch"
        )
    if end is None:
        end = start + (policy.slot_length(specialty) if specialty else policy.default_slot_length)
    require_aware(end, "end")
    if end <= start:
        raise InvalidInput("slot must end after it starts")
    if start < require_aware(now, "now"):
        raise InvalidInput("slot starts in the past", code="slot_in_past")
    if unit is not None and not unit.within_consult_hours(start, end):
        raise Conflict(
            f"the slot is outside unit {unit.id}'s consult hours ({unit.time_zone})",
            code="outside_consult_hours",
        )
    tl = index.timeline(expert_id)
    s, e = to_epoch(start), to_epoch(end)
    if tl.on_leave(s, e):
        raise Conflict(f"expert {expert_id} is on leave then", code="expert_on_leave")
    off_roster = tl.covering_piece(s, e) is None
    if off_roster and not allow_off_roster:
        raise Conflict(f"slot is outside expert {expert_id}'s roster", code="off_roster")
    other = tl.conflict(s, e)
    if other is not None:
        raise Conflict(
            f"expert {expert_id} is already booked ({other}) at that time", code="double_booking"
        )
    deadline = policy.deadline(requested_at) if requested_at is not None else None
    breach = deadline is not None and end > deadline
    return SlotOffer(expert_id, start, end, deadline, sla_breach=breach, off_roster=off_roster)
