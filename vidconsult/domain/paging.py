"""Paging the people who answer an emergency: who is paged, in which order, and when the page
moves on to the next person.

One :class:`Paging` per emergency. Its chain is fixed when the emergency opens
(:func:`paging_chain`): the on-duty expert the emergency picked, then the backup (the next expert
on the rota for the specialty, else one on shift), then the coordinators. The first step rings at
once; a step nobody answers within ``PagingPolicy.answer_within`` (or one its person declines)
pages the next step. A page that went unanswered stays open: its person may still accept it
until someone has answered. The first acceptance answers the emergency and closes every other
open page.

Pure: time is an argument, ids are derived from the case id (``{case_id}.p{step}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from vidconsult.domain.emergency import EmergencyPick
from vidconsult.domain.rota import DutyRota
from vidconsult.domain.schedule import ScheduleIndex
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.timeutil import require_aware, to_epoch
from vidconsult.errors import Conflict, InvalidInput, NotFound, PermissionDenied

COORDINATORS = "coordinators"


class TargetKind(StrEnum):
    EXPERT = "expert"  # one expert, by expert id (their login's identity)
    COORDINATOR = "coordinator"  # every coordinator; any one of them may answer


class PageStatus(StrEnum):
    RINGING = "ringing"
    UNANSWERED = "unanswered"  # its time ran out and the next step was paged; still open
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"  # someone else answered, or the emergency closed


OPEN = frozenset({PageStatus.RINGING, PageStatus.UNANSWERED})


class CancelReason(StrEnum):
    """Why a page was cancelled (stable codes: the ``page.cancelled`` webhook carries them)."""

    ANSWERED_ELSEWHERE = "answered_elsewhere"  # someone else accepted the emergency first
    ROOM_CLOSED = "room_closed"  # the emergency's room ended before anyone answered
    EMERGENCY_WITHDRAWN = "emergency_withdrawn"  # the emergency's case was cancelled


class PagingState(StrEnum):
    PAGING = "paging"
    ANSWERED = "answered"
    CLOSED = "closed"  # the room ended (or the emergency was withdrawn) before anyone answered


@dataclass(frozen=True, slots=True)
class PageTarget:
    kind: TargetKind
    id: str  # expert id, or COORDINATORS

    @classmethod
    def expert(cls, expert_id: str) -> PageTarget:
        return cls(TargetKind.EXPERT, expert_id)

    @classmethod
    def coordinators(cls) -> PageTarget:
        return cls(TargetKind.COORDINATOR, COORDINATORS)

    def answerable_by(self, identity: str, *, coordinator: bool) -> bool:
        if self.kind is TargetKind.COORDINATOR:
            return coordinator
        return identity == self.id


@dataclass(frozen=True, slots=True)
class PagingPolicy:
    """How long a page rings before the next step is paged."""

    answer_within: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        if self.answer_within <= timedelta(0):
            raise InvalidInput("a page must ring for a positive time")


@dataclass(slots=True)
class Page:
    id: str
    step: int
    target: PageTarget
    sent_at: datetime
    status: PageStatus = PageStatus.RINGING
    closed_at: datetime | None = None  # when it was answered, declined, cancelled
    answered_by: str | None = None  # who accepted (for the coordinators' page: which one)
    reason: CancelReason | None = None  # why it was cancelled (status CANCELLED only)

    @property
    def open(self) -> bool:
        return self.status in OPEN


@dataclass(frozen=True, slots=True)
class PagingChange:
    """What one call changed: pages newly sent, and pages that stopped ringing with why."""

    sent: tuple[Page, ...] = ()
    unanswered: tuple[Page, ...] = ()  # went unanswered in time (still open)
    closed: tuple[Page, ...] = ()  # accepted, declined or cancelled by this call


@dataclass(slots=True)
class Paging:
    case_id: str
    room_id: str
    unit_id: str
    specialty: Specialty
    opened_at: datetime
    chain: tuple[PageTarget, ...]
    policy: PagingPolicy = field(default_factory=PagingPolicy)
    pages: list[Page] = field(default_factory=list)
    state: PagingState = PagingState.PAGING
    answered_at: datetime | None = None
    answered_by: str | None = None
    first_expert_at: datetime | None = None  # the first expert's arrival in the room
    # the stored copy this one was read from (0: never stored); the store's compare-and-set
    # writes a change only over that same revision, so of two changes made on one copy (an
    # acceptance and an escalation on two nodes) exactly one lands
    revision: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        require_aware(self.opened_at, "opened_at")
        if not self.chain:
            raise InvalidInput("a paging needs someone to page")

    # -- reading ------------------------------------------------------------------------------
    def page(self, page_id: str) -> Page:
        for page in self.pages:
            if page.id == page_id:
                return page
        raise NotFound(f"page {page_id} not found", code="page_not_found")

    @property
    def current(self) -> Page | None:
        """The page of the latest step, if it still rings."""
        if self.pages and self.pages[-1].status is PageStatus.RINGING:
            return self.pages[-1]
        return None

    @property
    def deadline(self) -> datetime | None:
        """When the ringing step runs out and the next is paged (None: nothing more to do)."""
        current = self.current
        if self.state is not PagingState.PAGING or current is None:
            return None
        if current.step + 1 >= len(self.chain):
            return None  # the last step rings until someone answers
        return current.sent_at + self.policy.answer_within

    def open_pages(self) -> list[Page]:
        return [p for p in self.pages if p.open]

    # -- changes ------------------------------------------------------------------------------
    def start(self, now: datetime) -> PagingChange:
        require_aware(now, "now")
        if self.pages:
            raise Conflict("paging has started already", code="paging_started")
        return PagingChange(sent=(self._send(0, now),))

    def tick(self, now: datetime) -> PagingChange:
        """Page the next step when the ringing one ran out of time (once per call: a late
        tick catches up step by step, each page's clock starting at ``now``)."""
        require_aware(now, "now")
        deadline = self.deadline
        if deadline is None or now < deadline:
            return PagingChange()
        current = self.current
        assert current is not None
        current.status = PageStatus.UNANSWERED
        return PagingChange(sent=(self._send(current.step + 1, now),), unanswered=(current,))

    def accept(
        self, page_id: str, identity: str, now: datetime, *, coordinator: bool
    ) -> PagingChange:
        require_aware(now, "now")
        page = self._answerable(page_id, identity, coordinator=coordinator)
        page.status = PageStatus.ACCEPTED
        page.closed_at = now
        page.answered_by = identity
        self.state = PagingState.ANSWERED
        self.answered_at = now
        self.answered_by = identity
        others = tuple(self._cancel_open(now, CancelReason.ANSWERED_ELSEWHERE))
        return PagingChange(closed=(page, *others))

    def decline(
        self, page_id: str, identity: str, now: datetime, *, coordinator: bool
    ) -> PagingChange:
        """The page stops ringing for its person; when it was the ringing step, the next step
        is paged at once (the last step, declined, leaves only the open pages before it)."""
        require_aware(now, "now")
        page = self._answerable(page_id, identity, coordinator=coordinator)
        was_current = page is self.current
        page.status = PageStatus.DECLINED
        page.closed_at = now
        sent: tuple[Page, ...] = ()
        if was_current and page.step + 1 < len(self.chain):
            sent = (self._send(page.step + 1, now),)
        return PagingChange(sent=sent, closed=(page,))

    def close(self, now: datetime, reason: CancelReason = CancelReason.ROOM_CLOSED) -> PagingChange:
        """The emergency ended (its room closed, or it was withdrawn): every open page is
        cancelled, with ``reason``."""
        require_aware(now, "now")
        if self.state is PagingState.PAGING:
            self.state = PagingState.CLOSED
        return PagingChange(closed=tuple(self._cancel_open(now, reason)))

    def expert_arrived(self, now: datetime) -> bool:
        """Record the first expert's arrival in the room; True the first time only."""
        if self.first_expert_at is not None:
            return False
        self.first_expert_at = now
        return True

    # -- internals ----------------------------------------------------------------------------
    def _send(self, step: int, now: datetime) -> Page:
        page = Page(id=f"{self.case_id}.p{step}", step=step, target=self.chain[step], sent_at=now)
        self.pages.append(page)
        return page

    def _answerable(self, page_id: str, identity: str, *, coordinator: bool) -> Page:
        page = self.page(page_id)
        if not page.target.answerable_by(identity, coordinator=coordinator):
            raise PermissionDenied("this page is for someone else", code="not_paged")
        if self.state is PagingState.ANSWERED:
            raise Conflict(
                f"this emergency was answered by {self.answered_by}", code="page_answered"
            )
        if self.state is PagingState.CLOSED:
            raise Conflict("this emergency has ended", code="page_closed")
        if not page.open:
            raise Conflict(f"this page was {page.status.value}", code="page_closed")
        return page

    def _cancel_open(self, now: datetime, reason: CancelReason) -> list[Page]:
        closed = []
        for page in self.pages:
            if page.open:
                page.status = PageStatus.CANCELLED
                page.closed_at = now
                page.reason = reason
                closed.append(page)
        return closed


def paging_chain(
    pick: EmergencyPick,
    specialty: Specialty,
    t: datetime,
    *,
    rota: DutyRota,
    index: ScheduleIndex,
) -> tuple[PageTarget, ...]:
    """The picked expert, then the backup, then the coordinators.

    The backup is the next expert on the rota for the specialty at ``t`` (rota order; anyone
    on leave or unknown is skipped), else an expert of the specialty whose roster covers ``t``
    (not on leave), lowest id first; with neither, the coordinators come second."""
    require_aware(t, "t")
    window = (to_epoch(t), to_epoch(t) + 1)
    candidates: list[str] = []
    for expert_id in rota.on_duty(specialty, t):
        try:
            if not index.timeline(expert_id).on_leave(*window):
                candidates.append(expert_id)
        except NotFound:
            continue
    candidates += sorted(
        tl.expert.id
        for tl in index.with_specialty(specialty)
        if tl.covering_piece(*window) is not None
    )
    backup = next((c for c in candidates if c != pick.expert_id), None)
    chain = [PageTarget.expert(pick.expert_id)]
    if backup is not None:
        chain.append(PageTarget.expert(backup))
    chain.append(PageTarget.coordinators())
    return tuple(chain)
