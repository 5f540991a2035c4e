"""What a consultation produces: the signed report, and optionally a referral upward."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from vidconsult.domain.timeutil import require_aware
from vidconsult.errors import InvalidInput

MAX_TEXT = 20_000


def _text(value: str, what: str, *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"{what} longer than {MAX_TEXT} characters")
    return value


@dataclass(frozen=True, slots=True)
class ConsultationReport:
    """The expert's opinion. ``signed_by`` is the expert's id; whether that expert may sign
    this case is checked when the case completes (:meth:`Case.complete`)."""

    diagnosis: str
    treatment_plan: str
    signed_by: str
    signed_at: datetime
    notes: str = ""
    counselling: bool = False  # psychological counselling was given as well

    def __post_init__(self) -> None:
        object.__setattr__(self, "diagnosis", _text(self.diagnosis, "diagnosis"))
        object.__setattr__(self, "treatment_plan", _text(self.treatment_plan, "treatment plan"))
        object.__setattr__(self, "notes", _text(self.notes, "notes", required=False))
        if not self.signed_by:
            raise InvalidInput("report must be signed by an expert", code="unsigned_report")
        require_aware(self.signed_at, "signed_at")


class ReferralPriority(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


@dataclass(frozen=True, slots=True)
class Referral:
    """A transfer to a higher-tier hospital. A green channel (direct admission, skipping the
    queue) only makes sense for an urgent or emergency referral; a routine one is refused."""

    target_hospital: str
    department: str
    priority: ReferralPriority
    green_channel: bool = False
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "target_hospital", _text(self.target_hospital, "target hospital"))
        object.__setattr__(self, "department", _text(self.department, "department"))
        object.__setattr__(self, "reason", _text(self.reason, "reason", required=False))
        if not isinstance(self.priority, ReferralPriority):
            try:
                object.__setattr__(self, "priority", ReferralPriority(self.priority))
            except ValueError:
                raise InvalidInput(f"unknown referral priority {self.priority!r}") from None
        if self.green_channel and self.priority is ReferralPriority.ROUTINE:
            raise InvalidInput(
                "a green-channel referral must be urgent or emergency", code="green_channel_routine"
            )
