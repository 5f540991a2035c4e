"""Bookings: an expert's time bound to a case (or a lecture), and the offers that lead to one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from vidconsult.domain.timeutil import require_aware
from vidconsult.errors import Conflict, InvalidInput

DEFAULT_SLOT_LENGTH = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class SlotOffer:
    """A free slot the search (or a coordinator's explicit choice) found for one expert."""

    expert_id: str
    start: datetime
    end: datetime
    sla_deadline: datetime | None = None
    sla_breach: bool = False
    off_roster: bool = False


@dataclass(frozen=True, slots=True)
class Booking:
    id: str
    expert_id: str
    start: datetime
    end: datetime
    case_id: str | None = None
    lecture_id: str | None = None
    off_roster: bool = False
    sla_deadline: datetime | None = None
    sla_breach: bool = False
    cancelled_at: datetime | None = None
    # a panel (several experts, maybe an interpreter, one slot and one room): every member's
    # ``panel_id`` is the lead booking's id, whose room they share
    panel_id: str | None = None
    interpreter: bool = False  # the booked person interprets (not one of the case's experts)

    @property
    def room_booking_id(self) -> str:
        """The booking whose room this one uses: its panel's lead, or itself."""
        return self.panel_id or self.id

    def __post_init__(self) -> None:
        require_aware(self.start, "booking start")
        require_aware(self.end, "booking end")
        if self.end <= self.start:
            raise InvalidInput("booking must end after it starts")
        if not self.id or not self.expert_id:
            raise InvalidInput("booking needs an id and an expert")
        if self.case_id is not None and self.lecture_id is not None:
            raise InvalidInput("a booking is for a case or for a lecture, not both")

    @classmethod
    def from_offer(
        cls,
        booking_id: str,
        offer: SlotOffer,
        *,
        case_id: str | None = None,
        lecture_id: str | None = None,
        panel_id: str | None = None,
        interpreter: bool = False,
    ) -> Booking:
        return cls(
            id=booking_id,
            expert_id=offer.expert_id,
            start=offer.start,
            end=offer.end,
            case_id=case_id,
            lecture_id=lecture_id,
            off_roster=offer.off_roster,
            sla_deadline=offer.sla_deadline,
            sla_breach=offer.sla_breach,
            panel_id=panel_id,
            interpreter=interpreter,
        )

    @property
    def active(self) -> bool:
        return self.cancelled_at is None

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end

    def cancelled(self, at: datetime) -> Booking:
        if self.cancelled_at is not None:
            raise Conflict(f"booking {self.id} is already cancelled", code="booking_cancelled")
        return replace(self, cancelled_at=require_aware(at, "cancel time"))
