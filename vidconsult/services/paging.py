"""Paging drives :class:`vidconsult.domain.paging.Paging` for every open emergency.

- On "emergency.requested" (the event bus; :class:`EmergencyService` publishes it after the
  room opened) it builds the chain (picked expert, backup, coordinators) and pages the first
  step: the person's open workspaces ring over the staff push (:class:`StaffPush`), and
  "page.sent" goes out on the bus with what an SMS or phone gateway needs (webhooks).
- :meth:`tick` (the app runs it every ``interval``; tests call it with a fake clock) pages the
  next step of every emergency whose ringing step ran out of time.
- :meth:`accept` / :meth:`decline` answer a page; accepting adds the expert to the case (so
  they sign its report) and hands back their join link to the room.
- "participant.joined" of an expert in an emergency room records the first expert's arrival;
  "room.ended" cancels the pages still open (reason ``room_closed``), and so does
  "case.cancelled" (the emergency withdrawn: ``emergency_withdrawn``).
- Every cancelled page goes out as "page.cancelled" on the bus (webhooks: the SMS or phone
  gateway stops ringing that person), with who, which page, why (:class:`CancelReason`) and
  when.

Every step lands on the case's audit trail with its time. Each paging is kept in the store
(:class:`PagingStore`) after every change, before anyone is told, and the store decides which
change is first (:meth:`_commit`): a change is made on a copy of the paging and written only
over the revision that copy was read at. When another change landed meanwhile (an acceptance
on one node while the scheduler's node escalates; two experts accepting at once; the room
ending) the change is made again on the store's copy, which may refuse it: the second of two
acceptances gets 409 ``page_answered``, an acceptance after the room ended ``page_closed``. An
acceptance that meets an escalation is not refused (a page that went unanswered stays open):
if the escalation landed first, the acceptance still answers and cancels the backup's page it
sent, whose workspace is told at once ("page.closed"); if the acceptance landed first, the
escalation finds the emergency answered and pages no one. a restarted server
(:meth:`restore`) has every open page again, with when it was sent, so the escalation clock
resumes where it stopped (a step that ran out while the server was down is paged at the first
tick) and the board still shows who was paged and who answered. The policy a paging started
with stays its own: the "escalates at" its pages announced stays true across a restart.

A change the store cannot take (the database is down) is not made: :meth:`_write` raises
:class:`Unavailable` (``store_unavailable``), this node's copy stays the stored one, an
acceptance or decline answers 503 and nothing is told; the escalation, a paging's first page and
a cancellation (room ended, emergency withdrawn) are made by a later :meth:`tick`, which
re-derives them from what is stored (:meth:`_reconcile`: an open emergency room without a
stored paging, a paging still paging whose case was withdrawn or whose room ended), so a node
restarted during the outage, or another node, still makes them.

What the SMS or phone gateway hears of a change (``page.sent``, ``page.cancelled``,
``page.accepted``: :data:`PAGING_OUTBOX`) is written with it, in the same transaction (the
webhooks' outbox, :meth:`_write`): stored means it will be delivered, even when this node dies
right after. Their delivery ids derive from page and event (made again: the same ids, queued
once), and a page's cancellation or acceptance waits for its ``page.sent`` to each endpoint.
The event bus still carries them (workspaces' boards, audit listeners); the webhook subscriber
leaves them to the outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vidconsult.domain.booked_rooms import Party
from vidconsult.domain.cases import Case, CaseStatus
from vidconsult.domain.emergency import EmergencyPick, PickSource
from vidconsult.domain.paging import (
    CancelReason,
    Page,
    PageStatus,
    PageTarget,
    Paging,
    PagingChange,
    PagingPolicy,
    PagingState,
    TargetKind,
    paging_chain,
)
from vidconsult.domain.roles import Role
from vidconsult.domain.rooms import Room, RoomKind, RoomStatus
from vidconsult.domain.specialties import Specialty
from vidconsult.domain.webhooks import Delivery
from vidconsult.errors import Conflict, NotFound, Unavailable, VidconsultError
from vidconsult.ports import Clock, StaffPush
from vidconsult.services.cases import CaseService
from vidconsult.services.directory import DirectoryService
from vidconsult.services.events import EventBus
from vidconsult.services.rooms import RoomService
from vidconsult.services.schedule import ScheduleKeeper
from vidconsult.services.sessions import SessionService
from vidconsult.services.webhooks import Outgoing, WebhookService
from vidconsult.store.base_paging import PagingStore
from vidconsult.tokens import TokenClaims

log = logging.getLogger(__name__)
ACTOR = "pager"
# how long a paging is remembered after it was answered or closed (the dashboard's board)
KEEP_FOR = timedelta(hours=12)
# how often a change is made again on the store's newer copy before it is refused
# (``page_moved_on``): each retry means another change landed in between
ATTEMPTS = 5
# seconds: the buckets of the time-to-acknowledge and time-to-first-expert histograms
BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)

# how often a tick reads the case of every paging still paging whose room is open (a case
# withdrawn whose room's end failed); a paging whose room left the open rooms is checked at once
FULL_CHECK_EVERY = timedelta(seconds=60)

# the events the pager queues itself, with the paging change they tell (its outbox)
PAGING_OUTBOX = frozenset({"page.sent", "page.cancelled", "page.accepted"})

# who a page reaches by phone: the target -> [(name, phone)] (the accounts know it)
Contacts = Callable[[PageTarget], Awaitable[list[dict[str, str]]]]


@dataclass(slots=True)
class Histogram:
    """Observations in seconds, counted per bucket (Prometheus' cumulative buckets)."""

    buckets: tuple[float, ...] = BUCKETS
    counts: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        self.total += seconds
        self.count += 1
        for i, bound in enumerate(self.buckets):
            if seconds <= bound:
                self.counts[i] += 1

    def cumulative(self) -> list[tuple[str, int]]:
        return [
            *((str(b), c) for b, c in zip(self.buckets, self.counts, strict=True)),
            ("+Inf", self.count),
        ]


@dataclass(frozen=True, slots=True)
class Accepted:
    paging: Paging
    page: Page
    link: dict[str, Any]


class PagingService:
    def __init__(
        self,
        *,
        cases: CaseService,
        directory: DirectoryService,
        schedule: ScheduleKeeper,
        rooms: RoomService,
        sessions: SessionService,
        events: EventBus,
        clock: Clock,
        policy: PagingPolicy,
        token_ttl: timedelta,
        push: StaffPush | None = None,
        workspace_url: Callable[[], str] = lambda: "",
        store: PagingStore | None = None,
        leader: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        """``leader``: with several nodes on one store, whether this node may escalate now
        (takes or renews the scheduler's lease); None on one node (SQLite): it always may."""
        self._leader = leader
        self._cases = cases
        self._directory = directory
        self._schedule = schedule
        self._rooms = rooms
        self._sessions = sessions
        self._events = events
        self._clock = clock
        self.policy = policy
        self._ttl = token_ttl
        self.push = push
        self.contacts: Contacts | None = None
        self._workspace_url = workspace_url
        self._pagings: dict[str, Paging] = {}  # by case id
        self._unit_names: dict[str, str] = {}  # by unit id, as the pages name the unit
        self._lock = asyncio.Lock()
        self._store = store
        # the webhooks' outbox (set by the webhooks area): a change's deliveries are written
        # with it, in its transaction (:meth:`_write`)
        self.webhooks: WebhookService | None = None
        # when a tick next reads the case of every paging still paging (None: at the next
        # tick: after a start, or after a cancellation the store did not take)
        self._full_check_at: datetime | None = None
        # cancellations this node could not store (case id -> why): made again at its next
        # tick, whether or not it holds the lease (:meth:`tick`)
        self._uncancelled: dict[str, CancelReason] = {}
        self.time_to_ack = Histogram()
        self.time_to_expert = Histogram()
        self.pages_sent = 0

    # -- reading ------------------------------------------------------------------------------
    def pagings(self) -> list[Paging]:
        """Every remembered paging, newest first."""
        return sorted(self._pagings.values(), key=lambda p: p.opened_at, reverse=True)

    def of_case(self, case_id: str) -> Paging:
        paging = self._pagings.get(case_id)
        if paging is None:
            raise NotFound(f"no paging for case {case_id}", code="page_not_found")
        return paging

    async def latest(self) -> list[Paging]:
        """:meth:`pagings` after taking the store's newer copies (another node's changes)."""
        await self._refresh()
        return self.pagings()

    async def open_pages_for(
        self, identity: str, *, coordinator: bool
    ) -> list[tuple[Paging, Page]]:
        """What rings for the person now (the store's latest: a page another node cancelled
        does not ring on)."""
        found = []
        for paging in await self.latest():
            if paging.state is not PagingState.PAGING:
                continue
            for page in paging.open_pages():
                if page.target.answerable_by(identity, coordinator=coordinator):
                    found.append((paging, page))
        return found

    def _paging_of_page(self, page_id: str) -> Paging:
        case_id, _, _ = page_id.rpartition(".p")
        return self.of_case(case_id)

    # -- the store ----------------------------------------------------------------------------
    async def restore(self) -> int:
        """Load what the store keeps (every paging still paging, and those opened in the last
        ``KEEP_FOR``), after a restart; how many pagings are still paging."""
        if self._store is None:
            return 0
        now = self._clock.now()
        found = await self._store.list_pagings(since=now - KEEP_FOR)
        for paging in found:
            if paging.unit_id not in self._unit_names:
                try:
                    self._unit_names[paging.unit_id] = (
                        await self._directory.unit(paging.unit_id)
                    ).name
                except NotFound:
                    pass
        async with self._lock:
            for paging in found:
                self._pagings.setdefault(paging.case_id, paging)
        open_ = [p for p in found if p.state is PagingState.PAGING]
        log.info("pagings restored count=%s paging=%s", len(found), len(open_))
        return len(open_)

    async def _refresh(self) -> None:
        """With several nodes: take the store's copy of every paging that another node
        started or moved on (the store has every change); a copy is replaced only by a further
        one (pagings only move forward), never by an older one."""
        if self._store is None or self._leader is None:
            return
        found = await self._store.list_pagings(since=self._clock.now() - KEEP_FOR)
        for paging in found:
            if paging.unit_id not in self._unit_names:
                with contextlib.suppress(NotFound):
                    self._unit_names[paging.unit_id] = (
                        await self._directory.unit(paging.unit_id)
                    ).name
        async with self._lock:
            for paging in found:
                mine = self._pagings.get(paging.case_id)
                if mine is None or paging.revision > mine.revision:
                    self._pagings[paging.case_id] = paging

    async def _commit(
        self, case_id: str, change: Callable[[Paging, datetime], PagingChange | None]
    ) -> tuple[Paging, PagingChange | None, datetime]:
        """Make ``change`` on a copy of the case's paging and write it over the revision it was
        read at; when another change (another node's) landed first, make it again on the
        store's copy, which may refuse it (the domain's Conflict: page_answered, page_closed).
        ``change`` gives None when there is nothing to write. Gives the paging as it now is,
        the change, and its instant."""
        async with self._lock:
            paging = self.of_case(case_id)
            for _ in range(ATTEMPTS):
                now = self._clock.now()
                draft = copy.deepcopy(paging)
                made = change(draft, now)
                if made is None:
                    return paging, None, now
                if await self._write(draft, made):
                    self._pagings[case_id] = draft
                    return draft, made, now
                assert self._store is not None
                fresh = await self._store.get_paging(case_id)
                if fresh is None:
                    raise NotFound(f"no paging for case {case_id}", code="page_not_found")
                log.info("paging moved on meanwhile case=%s revision=%s", case_id, fresh.revision)
                self._pagings[case_id] = paging = fresh
            raise Conflict(
                "this page changed again and again while it was answered; try again",
                code="page_moved_on",
            )

    async def _write(self, paging: Paging, change: PagingChange) -> bool:
        """The store's compare-and-set, with the change's webhook deliveries in the same
        transaction (the outbox: stored means it will be delivered, even if this node dies
        right after); True without a store. A store that fails (down) raises
        :class:`Unavailable` ``store_unavailable``: the change is not made (the caller keeps
        the stored copy), so no node decides anything the others and a restart would not
        see."""
        if self._store is None:
            return True
        try:
            outbox = await self._outbox(paging, change)
            landed = await self._store.save_paging(paging, outbox)
            if landed and outbox and self.webhooks is not None:
                self.webhooks.on_enqueued()
            return landed
        except Exception as exc:
            log.warning(
                "paging change not stored case=%s revision=%s error=%s",
                paging.case_id,
                paging.revision,
                getattr(exc, "message", None) or type(exc).__name__,
            )
            raise Unavailable(
                "the database cannot be reached, so this change to the page was not saved and"
                " not made; the page is as it was: try again shortly",
                code="store_unavailable",
                retry_after=5,
            ) from exc

    async def _outbox(self, paging: Paging, change: PagingChange) -> list[Delivery]:
        """The webhook deliveries of ``change``: each page sent (``page.sent``), cancelled
        (``page.cancelled``) or accepted (``page.accepted``), keyed by page and event (made
        again, the same ids); a page's cancellation or acceptance waits for its
        ``page.sent`` to each endpoint (the gateway hears them in that order)."""
        if self.webhooks is None:
            return []
        outgoing = [
            Outgoing(
                key=f"{page.id}/{event}",
                event=event,
                data=data,
                after=None if event == "page.sent" else f"{page.id}/page.sent",
            )
            for event, page, data in await self._told(paging, change)
        ]
        return await self.webhooks.prepare(outgoing)

    async def _told(
        self, paging: Paging, change: PagingChange
    ) -> list[tuple[str, Page, dict[str, Any]]]:
        """What the gateway hears of ``change``: (event, page, data), closed pages first."""
        told: list[tuple[str, Page, dict[str, Any]]] = []
        for page in change.closed:
            if page.status is PageStatus.CANCELLED:
                told.append(("page.cancelled", page, await self._cancelled(paging, page)))
            elif page.status is PageStatus.ACCEPTED:
                told.append(("page.accepted", page, _accepted(paging, page)))
        for page in change.sent:
            contacts = await self.contacts(page.target) if self.contacts else []
            told.append(("page.sent", page, {**self.page_view(paging, page), "contacts": contacts}))
        return told

    # -- the event bus ------------------------------------------------------------------------
    async def on_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "emergency.requested":
            await self.start(data)
        elif event == "participant.joined" and data.get("role") == Role.EXPERT.value:
            await self._expert_joined(data)
        elif event == "room.ended" and data.get("case_id"):
            await self._cancel(data["case_id"], CancelReason.ROOM_CLOSED)
        elif event == "case.cancelled" and data.get("case_id"):
            await self._cancel(data["case_id"], CancelReason.EMERGENCY_WITHDRAWN)

    async def start(self, data: dict[str, Any]) -> Paging:
        now = self._clock.now()
        specialty = Specialty(data["specialty"])
        pick = EmergencyPick(data["expert_id"], PickSource(data["source"]), data["expert_busy"])
        chain = paging_chain(
            pick,
            specialty,
            now,
            rota=await self._directory.rota(),
            index=await self._schedule.index(),
        )
        paging = Paging(
            case_id=data["case_id"],
            room_id=data["room_id"],
            unit_id=data["unit_id"],
            specialty=specialty,
            opened_at=now,
            chain=chain,
            policy=self.policy,
        )
        self._unit_names[paging.unit_id] = (await self._directory.unit(paging.unit_id)).name
        async with self._lock:
            self._forget_old(now)
            self._pagings[paging.case_id] = paging
        try:
            paging, change, _ = await self._commit(paging.case_id, _first_page)
        except Unavailable:  # not stored: nothing rings yet; the next tick pages the first step
            log.warning("paging start not stored case=%s; tried again next tick", paging.case_id)
            return paging
        if change is not None:
            await self._apply(paging, change)
        return paging

    # -- answering ----------------------------------------------------------------------------
    async def accept(self, page_id: str, who: TokenClaims) -> Accepted:
        await self._refresh()  # the page may have been sent by another node
        paging, change, now = await self._commit(
            self._paging_of_page(page_id).case_id,
            lambda p, at: _accept(p, page_id, who, at),
        )
        page = paging.page(page_id)
        assert page.closed_at is not None
        if change is not None:
            self.time_to_ack.observe((now - paging.opened_at).total_seconds())
        else:
            # theirs already: a retry after an answer that failed once the acceptance was
            # stored (the case or the room could not be reached after it). Nothing is written
            # again; what that answer did not get to is done now
            change = await self._untold(paging, page, who.identity)
        if who.role is Role.EXPERT:

            def add_expert(case: Case, at: datetime) -> None:
                case.add_expert(who.identity, by=who.identity, at=at)

            await self._cases.update(paging.case_id, add_expert)
        if change is not None:
            await self._apply(paging, change, by=who.identity)
            await self._events.publish("page.accepted", _accepted(paging, page))
        room = await self._rooms.get_room(paging.room_id)
        party = Party(
            "expert" if who.role is Role.EXPERT else "coordinator",
            who.identity,
            Role.EXPERT if who.role is Role.EXPERT else Role.COORDINATOR,
            who.name,
        )
        (link,) = self._sessions.tokens(
            room, (party,), not_before=None, expires_at=now + self._ttl, minted_by=who.minter
        )
        return Accepted(paging, page, link)

    async def _untold(self, paging: Paging, page: Page, identity: str) -> PagingChange | None:
        """What an acceptance that was stored changed, when it was never told (its answer
        failed before: no "page.accepted" by them on the case's trail); None when it was."""
        case = await self._cases.get(paging.case_id)
        if any(e.action == "page.accepted" and e.actor == identity for e in case.audit):
            return None
        cancelled = tuple(
            p
            for p in paging.pages
            if p.status is PageStatus.CANCELLED
            and p.reason is CancelReason.ANSWERED_ELSEWHERE
            and p.closed_at == page.closed_at
        )
        return PagingChange(closed=(page, *cancelled))

    async def decline(self, page_id: str, who: TokenClaims) -> Paging:
        await self._refresh()
        paging, change, _ = await self._commit(
            self._paging_of_page(page_id).case_id,
            lambda p, at: p.decline(page_id, who.identity, at, coordinator=who.is_coordinator),
        )
        assert change is not None
        await self._apply(paging, change, by=who.identity)
        return paging

    # -- time ---------------------------------------------------------------------------------
    async def tick(self) -> int:
        """Page the next step wherever the ringing one ran out of time; how many were sent.
        With several nodes only the holder of the scheduler's lease does, on the store's latest
        copy of every paging (so each step is paged once, whichever node started it); the
        others only read that copy (what their board and workspaces list)."""
        if self._leader is not None:
            await self._refresh()  # every node: its board and workspaces show the latest
        for case_id, reason in list(self._uncancelled.items()):
            # a cancellation the store did not take here: made again here, by any node (as
            # the event that asked for it was), and at once; the lease holder's reads would
            # not see it before its full check (its case is not read every tick)
            try:
                await self._cancel(case_id, reason)
            except VidconsultError as exc:  # its paging is gone: nothing rings for it
                self._uncancelled.pop(case_id, None)
                log.warning("paging cancellation dropped case=%s code=%s", case_id, exc.code)
        if self._leader is not None and not await self._leader():
            return 0
        # one instant for both: a paging that escalates below was due when its case was read
        now = self._clock.now()
        sent = await self._reconcile(now)
        for case_id, paging in list(self._pagings.items()):
            deadline = paging.deadline
            if deadline is None or now < deadline:
                continue  # nothing due (answered, closed, or still in time): no copy, no write
            try:
                paging, change, _ = await self._commit(case_id, _escalate)
            except (Conflict, Unavailable) as exc:  # not stored: the next tick tries again
                log.warning("paging tick skipped case=%s code=%s", case_id, exc.code)
                continue
            if change is not None:
                await self._apply(paging, change)
                sent += len(change.sent)
        return sent

    async def _reconcile(self, now: datetime) -> int:
        """Re-derive from what is stored (not from one node's memory: any node, after a
        restart) what an outage left undone: an open emergency room whose paging was never
        stored is paged now (its first step), and a paging still paging whose case was
        withdrawn or whose room ended has its open pages cancelled. Each is one change on the
        stored paging (its compare-and-set) with its deliveries (stable ids): sent once.

        It runs every tick, so it is kept to one read of the open rooms: a paging whose room is
        not among them is checked (its case and room read) at once; the case of every other
        paging still paging (withdrawn while its room's end failed) only on the first tick,
        after a cancellation the store did not take, every :data:`FULL_CHECK_EVERY`, and on
        the tick its page runs out (before the escalation, which pages someone more: the full
        check is not in step with the pages' deadlines).
        Reading every paging's case and room each tick cost 22 ms wall at 200 open rooms with
        50 pagings on SQLite, 244 ms on PostgreSQL (benchmarks/paging_tick.py;
        docs/operations.md, "Emergency paging")."""
        if self._store is None:
            return 0
        sent = 0
        open_rooms: set[str] | None
        try:
            rooms = await self._rooms.list_rooms(RoomStatus.OPEN)
            open_rooms = {room.id for room in rooms}
        except Exception as exc:
            log.warning("paging reconcile skipped error=%s", getattr(exc, "code", exc))
            rooms, open_rooms = [], None
        full = open_rooms is None or self._full_check_at is None or now >= self._full_check_at
        if full:
            self._full_check_at = now + FULL_CHECK_EVERY
        for room in rooms:
            if room.kind is not RoomKind.EMERGENCY or not room.case_id:
                continue
            try:
                sent += await self._page_unstored(room)
            except (Conflict, Unavailable, NotFound) as exc:
                log.warning("paging start skipped case=%s code=%s", room.case_id, exc.code)
        for case_id, paging in list(self._pagings.items()):
            if paging.state is not PagingState.PAGING:
                continue
            due = paging.deadline is not None and now >= paging.deadline
            if not full and not due and open_rooms is not None and paging.room_id in open_rooms:
                # its room is open; its case is read at the next full check, or before its
                # escalation (below) pages anyone more for an emergency perhaps withdrawn
                continue
            try:
                reason = await self._ended(paging)
            except VidconsultError as exc:
                log.warning("paging end check skipped case=%s code=%s", case_id, exc.code)
                continue
            if reason is not None:
                await self._cancel(case_id, reason)
        return sent

    async def _page_unstored(self, room: Room) -> int:
        """Page the first step of ``room``'s emergency when its paging was never stored."""
        assert room.case_id is not None and self._store is not None
        mine = self._pagings.get(room.case_id)
        if mine is not None and (mine.pages or mine.revision):
            return 0  # stored (this node has its copy)
        if mine is None:
            kept = await self._store.get_paging(room.case_id)
            if kept is not None:  # stored, older than this node keeps in memory
                async with self._lock:
                    self._pagings.setdefault(room.case_id, kept)
                return 0
            case = await self._cases.get(room.case_id)
            if not case.expert_ids:
                return 0  # not started yet (the emergency is being opened now)
            now = self._clock.now()
            pick = EmergencyPick(case.expert_ids[0], PickSource.ROTA, False)
            chain = paging_chain(
                pick,
                case.specialty,
                now,
                rota=await self._directory.rota(),
                index=await self._schedule.index(),
            )
            if case.referring_unit_id not in self._unit_names:
                with contextlib.suppress(NotFound):
                    self._unit_names[case.referring_unit_id] = (
                        await self._directory.unit(case.referring_unit_id)
                    ).name
            async with self._lock:
                self._pagings.setdefault(
                    room.case_id,
                    Paging(
                        case_id=room.case_id,
                        room_id=room.id,
                        unit_id=case.referring_unit_id,
                        specialty=case.specialty,
                        opened_at=room.created_at,
                        chain=chain,
                        policy=self.policy,
                    ),
                )
            log.warning("paging never stored case=%s; its first page is sent now", room.case_id)
        paging, change, _ = await self._commit(room.case_id, _first_page)
        if change is None:
            return 0
        await self._apply(paging, change)
        return len(change.sent)

    async def _ended(self, paging: Paging) -> CancelReason | None:
        """Why a paging still paging must end now (its case withdrawn, its room ended)."""
        case = await self._cases.get(paging.case_id)
        if case.status is CaseStatus.CANCELLED:
            return CancelReason.EMERGENCY_WITHDRAWN
        try:
            room = await self._rooms.get_room(paging.room_id)
        except NotFound:
            return CancelReason.ROOM_CLOSED
        return CancelReason.ROOM_CLOSED if room.status is RoomStatus.ENDED else None

    async def run(self, interval: float) -> None:
        """The background loop (cancelled by the app's cleanup)."""
        while True:
            try:
                await self.tick()
            except Unavailable as exc:  # the store is down: one line, and the next tick
                log.warning("paging tick skipped reason=%s", exc.message)
            except Exception:
                log.exception("paging tick failed")
            await asyncio.sleep(interval)

    # -- internals ----------------------------------------------------------------------------
    async def _expert_joined(self, data: dict[str, Any]) -> None:
        paging = self._pagings.get(data.get("case_id") or "")
        if paging is None or paging.room_id != data.get("room_id"):
            return
        try:
            paging, arrived, now = await self._commit(
                paging.case_id, lambda p, at: PagingChange() if p.expert_arrived(at) else None
            )
        except Unavailable as exc:  # not stored: the next expert to join records it
            log.warning(
                "first expert's arrival not stored case=%s code=%s", paging.case_id, exc.code
            )
            return
        if arrived is None:
            return
        self.time_to_expert.observe((now - paging.opened_at).total_seconds())
        await self._audit(
            paging, "expert.arrived", data["identity"], now, _seconds_since(paging, now)
        )

    async def _cancel(self, case_id: str, reason: CancelReason) -> None:
        """The room ended or the emergency was withdrawn: cancel every open page. Not stored
        (the database is down): this node makes it again at its next tick, lease or not
        (with several nodes the ticks' reconcile runs on the lease holder, which reads a
        paging's case only at its full check); the lease holder's tick also finds it from
        the stored state (:meth:`_reconcile`: the case withdrawn, the room ended)."""
        if case_id not in self._pagings:
            self._uncancelled.pop(case_id, None)
            return
        try:
            paging, change, _ = await self._commit(case_id, lambda p, at: _close(p, at, reason))
        except (Conflict, Unavailable) as exc:
            # made again at this node's next tick; and should this node die, the lease
            # holder's full check finds it (at the latest in FULL_CHECK_EVERY)
            self._uncancelled.setdefault(case_id, reason)
            self._full_check_at = None  # the next tick reads every paging's case and room
            log.warning(
                "paging cancellation not stored case=%s reason=%s code=%s; tried again next tick",
                case_id,
                reason.value,
                exc.code,
            )
            return
        self._uncancelled.pop(case_id, None)
        if change is not None:
            await self._apply(paging, change)

    async def _apply(self, paging: Paging, change: PagingChange, by: str = ACTOR) -> None:
        """Tell what ``change`` did (written already: kept before anyone is told)."""
        now = self._clock.now()
        for page in change.unanswered:
            await self._audit(
                paging, "page.unanswered", ACTOR, now, f"{_target(page)} · {_seconds(page, now)}"
            )
        for page in change.closed:
            note = f"{_target(page)} · {_seconds_since(paging, now)}"
            await self._audit(paging, f"page.{page.status.value}", by, now, note)
            view = self.page_view(paging, page)
            await self._tell(page, "page.closed", view)
            if page.status is PageStatus.CANCELLED:
                log.warning(
                    "page cancelled case=%s page=%s target=%s reason=%s",
                    paging.case_id,
                    page.id,
                    _target(page),
                    page.reason.value if page.reason else None,
                )
                await self._events.publish("page.cancelled", await self._cancelled(paging, page))
        for page in change.sent:
            self.pages_sent += 1
            await self._audit(
                paging, "page.sent", ACTOR, now, f"{_target(page)} · step {page.step + 1}"
            )
            view = self.page_view(paging, page)
            rang = await self._tell(page, "page.ring", view)
            contacts = await self.contacts(page.target) if self.contacts else []
            log.warning(
                "page sent case=%s page=%s target=%s workspaces=%s phones=%s",
                paging.case_id,
                page.id,
                _target(page),
                rang,
                len([c for c in contacts if c.get("phone")]),
            )
            await self._events.publish("page.sent", {**view, "contacts": contacts})
        if self.push is not None and (change.sent or change.closed or change.unanswered):
            await self.push.to_coordinators("paging.changed", self.view(paging, now))

    async def _tell(self, page: Page, event: str, payload: dict[str, Any]) -> int:
        if self.push is None:
            return 0
        try:
            if page.target.kind is TargetKind.COORDINATOR:
                return await self.push.to_coordinators(event, payload)
            return await self.push.to_person(page.target.id, event, payload)
        except Exception:  # a dead socket never stops the page (the webhook still goes)
            log.exception("page push failed page=%s", page.id)
            return 0

    async def _audit(self, paging: Paging, action: str, by: str, at: datetime, note: str) -> None:
        try:
            await self._cases.update(
                paging.case_id, lambda c, _at: c.note(action, by=by, at=_at, note=note)
            )
        except VidconsultError as exc:
            log.warning(
                "paging audit failed case=%s action=%s code=%s", paging.case_id, action, exc.code
            )

    async def _cancelled(self, paging: Paging, page: Page) -> dict[str, Any]:
        """The ``page.cancelled`` event: the page (who: its target and their phones), why (a
        :class:`CancelReason` code) and when (ISO 8601 with its offset)."""
        assert page.closed_at is not None
        contacts = await self.contacts(page.target) if self.contacts else []
        view = self.page_view(paging, page)
        del view["answer_url"], view["escalates_at"]  # nothing to answer any more
        return {
            **view,
            "cancelled_at": page.closed_at.isoformat(),
            "answered_by": paging.answered_by,
            "contacts": contacts,
        }

    def page_view(self, paging: Paging, page: Page) -> dict[str, Any]:
        deadline = paging.deadline if page is paging.current else None
        return {
            "page_id": page.id,
            "case_id": paging.case_id,
            "room_id": paging.room_id,
            "unit_id": paging.unit_id,
            "unit_name": self._unit_names.get(paging.unit_id, paging.unit_id),
            "specialty": paging.specialty.value,
            "step": page.step + 1,
            "target": {"kind": page.target.kind.value, "id": page.target.id},
            "status": page.status.value,
            "reason": page.reason.value if page.reason else None,
            "sent_at": page.sent_at.isoformat(),
            "escalates_at": deadline.isoformat() if deadline else None,
            "opened_at": paging.opened_at.isoformat(),
            "answer_url": f"{self._workspace_url()}#page={page.id}",
        }

    def view(self, paging: Paging, now: datetime) -> dict[str, Any]:
        return {
            **paging_view(paging, now),
            "unit_name": self._unit_names.get(paging.unit_id, paging.unit_id),
        }

    def _forget_old(self, now: datetime) -> None:
        for case_id, paging in list(self._pagings.items()):
            if paging.state is not PagingState.PAGING and now - paging.opened_at > KEEP_FOR:
                del self._pagings[case_id]


def _escalate(paging: Paging, now: datetime) -> PagingChange | None:
    change = paging.tick(now)
    return change if change.sent else None


def _accept(paging: Paging, page_id: str, who: TokenClaims, now: datetime) -> PagingChange | None:
    """Accept the page; None (nothing to write) when it is this person's accepted page already
    (their answer again: the same answer, not someone else's)."""
    page = paging.page(page_id)
    mine = page.target.answerable_by(who.identity, coordinator=who.is_coordinator)
    if mine and page.status is PageStatus.ACCEPTED and page.answered_by == who.identity:
        return None
    return paging.accept(page_id, who.identity, now, coordinator=who.is_coordinator)


def _accepted(paging: Paging, page: Page) -> dict[str, Any]:
    """The ``page.accepted`` event: which page, who answered, how long it took."""
    assert page.closed_at is not None
    return {
        "page_id": page.id,
        "case_id": paging.case_id,
        "room_id": paging.room_id,
        "answered_by": page.answered_by,
        "seconds_to_answer": round((page.closed_at - paging.opened_at).total_seconds(), 3),
    }


def _first_page(paging: Paging, now: datetime) -> PagingChange | None:
    return paging.start(now) if not paging.pages else None


def _close(paging: Paging, now: datetime, reason: CancelReason) -> PagingChange | None:
    was = paging.state
    change = paging.close(now, reason)
    return change if change.closed or paging.state is not was else None


def paging_view(paging: Paging, now: datetime) -> dict[str, Any]:
    """The board's view of one emergency: elapsed time, who was paged, who answered."""
    return {
        "case_id": paging.case_id,
        "room_id": paging.room_id,
        "unit_id": paging.unit_id,
        "specialty": paging.specialty.value,
        "state": paging.state.value,
        "opened_at": paging.opened_at.isoformat(),
        # until it was answered (or closed unanswered: until now)
        "elapsed_seconds": round(
            ((paging.answered_at or now) - paging.opened_at).total_seconds(), 1
        ),
        "answered_by": paging.answered_by,
        "answered_at": paging.answered_at.isoformat() if paging.answered_at else None,
        "first_expert_at": paging.first_expert_at.isoformat() if paging.first_expert_at else None,
        "escalates_at": paging.deadline.isoformat() if paging.deadline else None,
        "chain": [{"kind": t.kind.value, "id": t.id} for t in paging.chain],
        "pages": [
            {
                "page_id": p.id,
                "step": p.step + 1,
                "target": {"kind": p.target.kind.value, "id": p.target.id},
                "status": p.status.value,
                "sent_at": p.sent_at.isoformat(),
                "closed_at": p.closed_at.isoformat() if p.closed_at else None,
                "answered_by": p.answered_by,
                "reason": p.reason.value if p.reason else None,
            }
            for p in paging.pages
        ],
    }


def _target(page: Page) -> str:
    return f"{page.target.kind.value} {page.target.id}"


def _seconds(page: Page, now: datetime) -> str:
    return f"{(now - page.sent_at).total_seconds():.1f} s after the page"


def _seconds_since(paging: Paging, now: datetime) -> str:
    return f"{(now - paging.opened_at).total_seconds():.1f} s after the request"
