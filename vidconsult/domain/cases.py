"""Cases: a consultation request, its status machine and its audit trail.

Status machine (anything else raises ``Conflict(code="illegal_transition")``)::

    requested   -> scheduled | in_progress (emergency cases only) | cancelled
    scheduled   -> in_progress | cancelled | no_show | requested (booking released to rebook)
    in_progress -> completed (with a report signed by a booked expert) | cancelled (aborted)
    completed, cancelled, no_show: terminal

Every transition appends an :class:`AuditEntry` (who, when, from, to, note); entries never go
back in time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from vidconsult.domain.bookings import Booking
from vidconsult.domain.outcomes import ConsultationReport, Referral
from vidconsult.domain.specialties import Specialty, normalize_language, parse_specialty
from vidconsult.domain.timeutil import require_aware
from vidconsult.errors import Conflict, InvalidInput, PermissionDenied

MAX_SUMMARY = 20_000


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Urgency(StrEnum):
    ROUTINE = "routine"
    EMERGENCY = "emergency"


class CaseStatus(StrEnum):
    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.REQUESTED: frozenset(
        {CaseStatus.SCHEDULED, CaseStatus.IN_PROGRESS, CaseStatus.CANCELLED}
    ),
    CaseStatus.SCHEDULED: frozenset(
        {CaseStatus.IN_PROGRESS, CaseStatus.CANCELLED, CaseStatus.NO_SHOW, CaseStatus.REQUESTED}
    ),
    CaseStatus.IN_PROGRESS: frozenset({CaseStatus.COMPLETED, CaseStatus.CANCELLED}),
    CaseStatus.COMPLETED: frozenset(),
    CaseStatus.CANCELLED: frozenset(),
    CaseStatus.NO_SHOW: frozenset(),
}
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


@dataclass(frozen=True, slots=True)
class Patient:
    name: str
    sex: Sex
    birth_date: date | None = None
    age_years: int | None = None  # when the birth date is not known
    id_number: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidInput("patient name must not be empty")
        if self.birth_date is None and self.age_years is None:
            raise InvalidInput("patient needs a birth date or an age", code="patient_age_missing")
        if self.age_years is not None and not 0 <= self.age_years <= 130:
            raise InvalidInput("patient age must be 0..130")
        if self.id_number is not None:
            ident = self.id_number.strip().upper()
            if not ident or len(ident) > 32 or not ident.isalnum():
                raise InvalidInput("patient ID number must be 1..32 letters or digits")
            object.__setattr__(self, "id_number", ident)

    def age_on(self, day: date) -> int:
        if self.birth_date is None:
            assert self.age_years is not None
            return self.age_years
        years = day.year - self.birth_date.year
        return years - ((day.month, day.day) < (self.birth_date.month, self.birth_date.day))


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    from_status: CaseStatus | None
    to_status: CaseStatus | None
    note: str = ""


@dataclass(slots=True)
class Case:
    id: str
    patient: Patient
    referring_unit_id: str
    referring_doctor: str
    specialty: Specialty
    urgency: Urgency
    clinical_summary: str
    requested_at: datetime
    requested_expert_id: str | None = None
    requested_language: str | None = None
    interpreter_needed: bool = False
    status: CaseStatus = CaseStatus.REQUESTED
    booking_ids: tuple[str, ...] = ()
    expert_ids: tuple[str, ...] = ()
    scheduled_start: datetime | None = None
    sla_deadline: datetime | None = None
    sla_breach: bool | None = None
    report: ConsultationReport | None = None
    referral: Referral | None = None
    audit: list[AuditEntry] = field(default_factory=list)

    # -- transitions --------------------------------------------------------------------------
    def schedule(self, bookings: Sequence[Booking], *, by: str, at: datetime) -> None:
        if not bookings:
            raise InvalidInput("scheduling needs at least one booking")
        if any(b.case_id != self.id or not b.active for b in bookings):
            raise InvalidInput("every booking must be an active booking of this case")
        self._transition(CaseStatus.SCHEDULED, by, at, f"bookings {[b.id for b in bookings]}")
        self.booking_ids = tuple(b.id for b in bookings)
        # an interpreter's booking joins the room but does not make them one of the case's experts
        self.expert_ids = tuple(dict.fromkeys(b.expert_id for b in bookings if not b.interpreter))
        self.scheduled_start = min(b.start for b in bookings)
        self.sla_deadline = bookings[0].sla_deadline
        self.sla_breach = any(b.sla_breach for b in bookings)

    def start(self, *, by: str, at: datetime, expert_ids: Sequence[str] = ()) -> None:
        """Open the consultation. From ``requested`` only for an emergency, with the summoned
        (on-duty) ``expert_ids``; from ``scheduled`` the booked experts stand."""
        if self.status is CaseStatus.REQUESTED and not expert_ids:
            raise InvalidInput("a start without booking names the summoned expert(s)")
        self._transition(CaseStatus.IN_PROGRESS, by, at)
        if expert_ids:
            self.expert_ids = tuple(dict.fromkeys([*self.expert_ids, *expert_ids]))

    def complete(
        self,
        report: ConsultationReport,
        *,
        by: str,
        at: datetime,
        referral: Referral | None = None,
    ) -> None:
        """Close with a report signed by one of the case's experts (and optional referral)."""
        self._check_transition(CaseStatus.COMPLETED)
        if report.signed_by not in self.expert_ids:
            raise PermissionDenied(
                f"{report.signed_by} is not an expert of case {self.id}", code="not_booked_expert"
            )
        if report.signed_at > at:
            raise InvalidInput("report signed after the case completes")
        self._transition(CaseStatus.COMPLETED, by, at, "with referral" if referral else "")
        self.report = report
        self.referral = referral

    def cancel(self, *, by: str, at: datetime, reason: str) -> None:
        self._transition(CaseStatus.CANCELLED, by, at, _reason(reason))

    def mark_no_show(self, *, by: str, at: datetime, reason: str) -> None:
        self._transition(CaseStatus.NO_SHOW, by, at, _reason(reason))

    def release(self, *, by: str, at: datetime, reason: str) -> None:
        """Back to ``requested`` after the booking was cancelled, to be booked again."""
        self._transition(CaseStatus.REQUESTED, by, at, _reason(reason))
        self.booking_ids = ()
        self.expert_ids = ()
        self.scheduled_start = None
        self.sla_breach = None

    def add_expert(self, expert_id: str, *, by: str, at: datetime) -> bool:
        """An expert who answered the case's emergency page joins its experts (so they may sign
        its report); False when they were one already."""
        if not expert_id:
            raise InvalidInput("expert id must not be empty")
        if expert_id in self.expert_ids:
            return False
        if self.status in TERMINAL:
            raise Conflict(f"case {self.id} is {self.status.value}", code="illegal_transition")
        self.expert_ids = (*self.expert_ids, expert_id)
        self._append(AuditEntry(at, by, "expert.added", None, None, expert_id))
        return True

    def note(self, action: str, *, by: str, at: datetime, note: str = "") -> None:
        """Record a non-status event (attachment added, interpreter joined) in the trail."""
        self._append(AuditEntry(at, by, action, None, None, note))

    # -- internals ----------------------------------------------------------------------------
    def _check_transition(self, target: CaseStatus) -> None:
        if target not in TRANSITIONS[self.status]:
            raise Conflict(
                f"case {self.id}: {self.status.value} -> {target.value} is not allowed",
                code="illegal_transition",
            )

    def _transition(self, target: CaseStatus, by: str, at: datetime, note: str = "") -> None:
        self._check_transition(target)
        if target is CaseStatus.IN_PROGRESS and self.status is CaseStatus.REQUESTED:
            if self.urgency is not Urgency.EMERGENCY:
                raise Conflict(
                    f"case {self.id}: a routine case must be scheduled before it starts",
                    code="illegal_transition",
                )
        self._append(AuditEntry(at, by, "transition", self.status, target, note))
        self.status = target

    def _append(self, entry: AuditEntry) -> None:
        require_aware(entry.at, "audit time")
        if not entry.actor:
            raise InvalidInput("audit entries need an actor")
        if self.audit and entry.at < self.audit[-1].at:
            raise InvalidInput("audit entries must not go back in time", code="clock_skew")
        self.audit.append(entry)


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a reason is required")
    return reason


def open_case(
    *,
    case_id: str,
    patient: Patient,
    referring_unit_id: str,
    referring_doctor: str,
    specialty: Specialty | str,
    urgency: Urgency,
    clinical_summary: str,
    requested_at: datetime,
    requested_by: str,
    requested_expert_id: str | None = None,
    requested_language: str | None = None,
    interpreter_needed: bool = False,
) -> Case:
    """A new case in ``requested``, with its first audit entry."""
    summary = clinical_summary.strip()
    if not summary or len(summary) > MAX_SUMMARY:
        raise InvalidInput(f"clinical summary must be 1..{MAX_SUMMARY} characters")
    if not case_id or not referring_unit_id or not referring_doctor.strip():
        raise InvalidInput("case id, referring unit and referring doctor are required")
    require_aware(requested_at, "requested_at")
    if parse_specialty(specialty) == Specialty.INTERPRETATION:
        raise InvalidInput(
            "interpretation is booked with a case, not requested as one", code="not_clinical"
        )
    case = Case(
        id=case_id,
        patient=patient,
        referring_unit_id=referring_unit_id,
        referring_doctor=referring_doctor.strip(),
        specialty=parse_specialty(specialty),
        urgency=Urgency(urgency),
        clinical_summary=summary,
        requested_at=requested_at,
        requested_expert_id=requested_expert_id,
        requested_language=(normalize_language(requested_language) if requested_language else None),
        interpreter_needed=interpreter_needed,
    )
    case._append(AuditEntry(requested_at, requested_by, "created", None, CaseStatus.REQUESTED))
    return case
