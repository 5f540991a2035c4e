"""The coordinator's slot picker: free slots to choose from, for one expert or for a panel.

A **panel** is several experts (and optionally an interpreter) in one consultation: a slot fits
when it lies on the lead expert's slot grid (the first expert's shift start, as
:func:`slots.find_earliest_slot` uses), inside a shift piece of *every* member (rosters minus
leave) with no member booked then, and inside the referring unit's consult hours. Without a
chosen panel, each fitting expert's own free slots are listed, merged in time order.

Pure: works on the :class:`~vidconsult.domain.schedule.ScheduleIndex` the booking service keeps;
the store still refuses any overlap atomically when the choice is booked (two coordinators may
pick the same slot; the second gets ``double_booking``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from vidconsult.domain.experts import Expert
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.timeutil import from_epoch, require_aware, to_epoch
from vidconsult.domain.units import Unit
from vidconsult.errors import InvalidInput

MAX_PANEL = 6  # experts in one panel, the interpreter not counted


@dataclass(frozen=True, slots=True)
class PickedSlot:
    start: datetime
    end: datetime
    expert_ids: tuple[str, ...]
    interpreter_id: str | None = None


def fitting_experts(
    index: ScheduleIndex, specialty: Specialty, language: str | None
) -> list[Expert]:
    """Experts with the specialty (speaking ``language`` when given), by id."""
    return [
        tl.expert for tl in index.with_specialty(specialty) if tl.expert.fits(specialty, language)
    ]


def interpreters(index: ScheduleIndex, language: str | None) -> list[Expert]:
    """Bookable interpreters (specialty ``interpretation``) speaking ``language`` if given."""
    return fitting_experts(index, Specialty.INTERPRETATION, language)


def check_panel(
    index: ScheduleIndex,
    specialty: Specialty,
    expert_ids: Sequence[str],
    interpreter_id: str | None,
) -> None:
    """Refuse a panel that is empty, too big, repeats someone, names an expert without the
    specialty, or an interpreter who does not interpret."""
    if not expert_ids:
        raise InvalidInput("a panel needs at least one expert", code="empty_panel")
    if len(expert_ids) > MAX_PANEL:
        raise InvalidInput(f"a panel has at most {MAX_PANEL} experts", code="panel_too_big")
    everyone = [*expert_ids, *([interpreter_id] if interpreter_id else [])]
    if len(set(everyone)) != len(everyone):
        raise InvalidInput("a panel names someone twice", code="panel_repeats")
    for eid in expert_ids:
        if specialty not in index.expert(eid).specialties:
            raise InvalidInput(
                f"expert {eid} does not practise {specialty.value}", code="specialty_mismatch"
            )
    if interpreter_id and Specialty.INTERPRETATION not in index.expert(interpreter_id).specialties:
        raise InvalidInput(f"{interpreter_id} is not an interpreter", code="not_an_interpreter")


def panel_slots(
    index: ScheduleIndex,
    expert_ids: Sequence[str],
    *,
    start_from: datetime,
    until: datetime,
    length: timedelta,
    unit: Unit | None = None,
    interpreter_id: str | None = None,
    limit: int = 50,
) -> list[PickedSlot]:
    """Free slots of ``[start_from, until)`` the whole panel can take, earliest first."""
    require_aware(start_from, "start_from")
    require_aware(until, "until")
    if not expert_ids:
        raise InvalidInput("a panel needs at least one expert", code="empty_panel")
    step = int(length.total_seconds())
    if step <= 0:
        raise InvalidInput("slot length must be positive")
    lead = index.timeline(expert_ids[0])
    others = [index.timeline(e) for e in expert_ids[1:]]
    if interpreter_id:
        others.append(index.timeline(interpreter_id))
    t0, stop = to_epoch(start_from), to_epoch(until)
    found: list[PickedSlot] = []
    k = lead.first_piece_index(t0)
    while len(found) < limit:
        piece = lead.piece(k, stop)
        if piece is None:
            break
        p_start, p_end, anchor = piece
        c = max(p_start, t0)
        c = anchor + -(-(c - anchor) // step) * step
        while c + step <= min(p_end, stop) and len(found) < limit:
            e = c + step
            if (
                lead.conflict(c, e) is None
                and all(tl.covering_piece(c, e) and tl.conflict(c, e) is None for tl in others)
                and (unit is None or unit.within_consult_hours(from_epoch(c), from_epoch(e)))
            ):
                found.append(PickedSlot(from_epoch(c), from_epoch(e), tuple(expert_ids)))
            c = e
        k += 1
    if interpreter_id:
        found = [PickedSlot(s.start, s.end, s.expert_ids, interpreter_id) for s in found]
    return found


def each_experts_slots(
    index: ScheduleIndex,
    experts: Sequence[Expert],
    *,
    start_from: datetime,
    until: datetime,
    length: timedelta,
    unit: Unit | None = None,
    limit: int = 50,
    per_expert: int = 12,
) -> list[PickedSlot]:
    """Each expert's own free slots (at most ``per_expert`` each), merged by start then id."""
    merged: list[PickedSlot] = []
    for expert in experts:
        merged += panel_slots(
            index,
            [expert.id],
            start_from=start_from,
            until=until,
            length=length,
            unit=unit,
            limit=per_expert,
        )
    merged.sort(key=lambda s: (s.start, s.expert_ids))
    return merged[:limit]


__all__ = [
    "MAX_PANEL",
    "PickedSlot",
    "check_panel",
    "each_experts_slots",
    "fitting_experts",
    "interpreters",
    "panel_slots",
]
