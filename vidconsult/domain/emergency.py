"""The emergency path: who is summoned now, without a booking queue.

Rule, in order:
1. the rota (overrides first, then weekly duty slots) for the specialty at ``t``, dropping anyone
   on leave or unknown to the index; among those, the first not in another booking right now,
   else the first (an emergency may pull an expert out of a routine session);
2. fallback: any expert of the specialty whose roster has a shift covering ``t`` (not on leave),
   preferring one who is free, lowest id first;
3. otherwise ``NotFound(code="no_one_on_duty")``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from vidconsult.domain.cases import Case, CaseStatus, Urgency
from vidconsult.domain.rota import DutyRota
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.timeutil import require_aware, to_epoch
from vidconsult.errors import Conflict, NotFound


class PickSource(StrEnum):
    ROTA = "rota"
    ROSTER_FALLBACK = "roster_fallback"


@dataclass(frozen=True, slots=True)
class EmergencyPick:
    expert_id: str
    source: PickSource
    busy: bool  # the expert is in another booking now and will be pulled out of it


def pick_emergency_expert(
    specialty: Specialty,
    t: datetime,
    *,
    rota: DutyRota,
    index: ScheduleIndex,
) -> EmergencyPick:
    require_aware(t, "t")
    now = to_epoch(t)
    window = (now, now + 1)

    on_duty: list[str] = []
    for expert_id in rota.on_duty(specialty, t):
        try:
            tl = index.timeline(expert_id)
        except NotFound:
            continue
        if not tl.on_leave(*window):
            on_duty.append(expert_id)
    picked = _prefer_free(index, on_duty, t)
    if picked is not None:
        return EmergencyPick(picked[0], PickSource.ROTA, picked[1])

    on_shift = [
        tl.expert.id
        for tl in index.with_specialty(specialty)
        if tl.covering_piece(*window) is not None
    ]
    picked = _prefer_free(index, on_shift, t)
    if picked is not None:
        return EmergencyPick(picked[0], PickSource.ROSTER_FALLBACK, picked[1])
    raise NotFound(
        f"nobody is on duty for {specialty.value} at {t.isoformat()}", code="no_one_on_duty"
    )


def _prefer_free(
    index: ScheduleIndex, expert_ids: list[str], t: datetime
) -> tuple[str, bool] | None:
    end = t + timedelta(seconds=1)
    for expert_id in expert_ids:
        if index.is_free(expert_id, t, end):
            return expert_id, False
    return (expert_ids[0], True) if expert_ids else None


@dataclass(frozen=True, slots=True)
class EmergencyClosing:
    """When an emergency room, which has no booked window, is closed by the scheduler:
    ``idle`` after the last participant left, ``unanswered`` after it opened if nobody ever
    came. A zero duration never closes for that reason."""

    idle: timedelta = timedelta(minutes=30)
    unanswered: timedelta = timedelta(minutes=60)


def emergency_close_reason(
    opened_at: datetime,
    now: datetime,
    *,
    occupied: bool,
    emptied_at: datetime | None,
    policy: EmergencyClosing,
) -> str | None:
    """Why the emergency room should close now ("emergency_idle", "emergency_unanswered"),
    or None to keep it. A room with someone in it is never closed."""
    require_aware(opened_at, "opened_at")
    require_aware(now, "now")
    if occupied:
        return None
    if emptied_at is not None:
        if policy.idle > timedelta(0) and now - emptied_at >= policy.idle:
            return "emergency_idle"
        return None
    if policy.unanswered > timedelta(0) and now - opened_at >= policy.unanswered:
        return "emergency_unanswered"
    return None


class Withdrawal(StrEnum):
    """Who withdrew an emergency: its room's end reason, what its participants and late
    joiners are told (their page says by whom, in their language)."""

    BY_CENTRE = "emergency_withdrawn_by_centre"  # a coordinator of the centre
    BY_UNIT = "emergency_withdrawn_by_unit"  # the clinic that requested it


WITHDRAWALS = frozenset(w.value for w in Withdrawal)


# the case's audit entry that says who withdrew it (its note: the Withdrawal's value), written
# with its cancellation: what a join is refused with once no hold on the room says it
WITHDRAWN_ACTION = "emergency.withdrawn"


def withdraw(case: Case, why: Withdrawal, *, by: str, at: datetime, reason: str) -> None:
    """Cancel the emergency ``case`` and record who withdrew it (:func:`withdrawal_of`)."""
    case.cancel(by=by, at=at, reason=reason)
    case.note(WITHDRAWN_ACTION, by=by, at=at, note=why.value)


def withdrawal_of(case: Case) -> str | None:
    """Why a join into the room of ``case`` is refused for good: the emergency was withdrawn
    (by whom: a :class:`Withdrawal` value; ``room_ended`` for one cancelled before that was
    recorded). None: not a withdrawn emergency."""
    if case.urgency is not Urgency.EMERGENCY or case.status is not CaseStatus.CANCELLED:
        return None
    for entry in reversed(case.audit):
        if entry.action == WITHDRAWN_ACTION and entry.note in WITHDRAWALS:
            return entry.note
    return "room_ended"


def ensure_withdrawable(case_id: str, experts_present: Iterable[str]) -> None:
    """An emergency may be withdrawn until an expert is in its room. From then on the
    consultation is under way: it ends with the expert's report (often a green-channel
    referral, which goes with the case) or by ending the room, never by cancelling the case
    under the expert and the patient (409 ``expert_joined``)."""
    present = sorted(set(experts_present))
    if present:
        raise Conflict(
            f"emergency {case_id} is under way ({', '.join(present)} joined its room): end the "
            "consultation with its report, or end the room, instead of withdrawing it",
            code="expert_joined",
        )
