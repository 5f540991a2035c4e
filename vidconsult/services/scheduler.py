"""The scheduler: drives the rooms of bookings through their window.

Each :meth:`Scheduler.tick` (callable directly with any clock; the background loop just calls it
every ``interval`` seconds):

1. takes or renews the lease "scheduler" in the store (owner id + expiry) — when another process
   holds it, this one does nothing, so only one scheduler acts however many processes run;
2. opens every scheduled booked room whose ``opens_at`` (start - lead) has come, publishing its
   parties' join links ("room.opened");
3. judges attendance of open case rooms (:func:`decide_attendance` over who has joined so far):
   both sides present -> the case goes ``in_progress``; a side still absent ``no_show_wait``
   after the start -> the case is marked ``no_show``;
4. closes every open booked room whose ``closes_at`` (end + grace) has passed, unless
   participants are still connected (then it is kept and looked at again next tick);
5. closes emergency rooms (no booked window) left empty for ``EmergencyClosing.idle``, or
   never joined within ``EmergencyClosing.unanswered`` (:func:`emergency_close_reason`); the
   case stays as it is (its report completes it).

Who joined is recorded from the room service's "participant.joined" events (:meth:`on_event`),
which also judge attendance at once, so a held session starts its case without waiting a tick.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vidconsult.domain.booked_rooms import BookedRoom, RoomState
from vidconsult.domain.cases import CaseStatus
from vidconsult.domain.emergency import EmergencyClosing, emergency_close_reason
from vidconsult.domain.roles import Role
from vidconsult.domain.room_window import Attendance, Presence, decide_attendance
from vidconsult.domain.rooms import RoomKind, RoomStatus
from vidconsult.errors import Unavailable, VidconsultError
from vidconsult.ports import Clock
from vidconsult.services.cases import CaseService
from vidconsult.services.rooms import RoomService
from vidconsult.services.sessions import SessionService
from vidconsult.store.base_workflow import BookingStore, LeaseStore

log = logging.getLogger(__name__)
LEASE = "scheduler"
ACTOR = "scheduler"


@dataclass(slots=True)
class TickReport:
    leader: bool
    opened: list[str] = field(default_factory=list)  # room ids
    closed: list[str] = field(default_factory=list)
    kept_open: list[str] = field(default_factory=list)  # past their window, still in use
    started: list[str] = field(default_factory=list)  # case ids gone in_progress
    no_shows: list[str] = field(default_factory=list)  # case ids
    emergencies_closed: list[str] = field(default_factory=list)  # room ids


class Scheduler:
    def __init__(
        self,
        *,
        leases: LeaseStore,
        bookings: BookingStore,
        cases: CaseService,
        sessions: SessionService,
        rooms: RoomService,
        clock: Clock,
        lease_ttl: timedelta = timedelta(seconds=60),
        owner: str | None = None,
        emergency: EmergencyClosing | None = None,
    ) -> None:
        self._emergency = emergency or EmergencyClosing()
        self._leases = leases
        self._bookings = bookings
        self._cases = cases
        self._sessions = sessions
        self._rooms = rooms
        self._clock = clock
        self._lease_ttl = lease_ttl
        self.owner = owner or f"scheduler-{secrets.token_hex(4)}"
        self._lock = asyncio.Lock()  # one tick at a time in this process

    async def lead(self) -> bool:
        """Take or renew this process's lease (as :meth:`tick` does) without a round: the
        paging loop runs on the node that holds it (several nodes on one store)."""
        now = self._clock.now()
        return await self._leases.acquire(LEASE, self.owner, now, self._lease_ttl)

    async def tick(self) -> TickReport:
        async with self._lock:
            now = self._clock.now()
            if not await self._leases.acquire(LEASE, self.owner, now, self._lease_ttl):
                return TickReport(leader=False)
            report = TickReport(leader=True)
            for booked in await self._bookings.rooms_due(now):
                try:
                    await self._step(booked, now, report)
                except VidconsultError as exc:  # one bad room never stops the others
                    log.warning(
                        "scheduler step failed room=%s booking=%s code=%s reason=%s",
                        booked.room_id,
                        booked.booking_id,
                        exc.code,
                        exc.message,
                    )
            await self._close_emergencies(now, report)
            return report

    async def _close_emergencies(self, now: datetime, report: TickReport) -> None:
        for room in await self._rooms.list_rooms(RoomStatus.OPEN):
            if room.kind is not RoomKind.EMERGENCY:
                continue
            occupied, emptied_at = self._rooms.occupancy(room.id)
            if not occupied and await self._rooms.present_elsewhere(room.id):
                occupied = True  # in use on another node: never closed from here
            reason = emergency_close_reason(
                room.created_at,
                now,
                occupied=occupied,
                emptied_at=emptied_at,
                policy=self._emergency,
            )
            if reason is None:
                continue
            try:
                await self._rooms.end_room(room.id, reason)
            except VidconsultError as exc:
                log.warning("emergency room not closed room=%s code=%s", room.id, exc.code)
                continue
            log.info(
                "emergency room closed room=%s case=%s reason=%s", room.id, room.case_id, reason
            )
            report.emergencies_closed.append(room.id)

    async def _step(self, booked: BookedRoom, now: datetime, report: TickReport) -> None:
        if booked.state is RoomState.SCHEDULED and booked.opens_at <= now:
            if await self._sessions.open(booked):
                report.opened.append(booked.room_id)
            reread = await self._bookings.get_room(booked.booking_id)
            if reread is None:
                return
            booked = reread
        if booked.state is not RoomState.OPEN:
            return
        await self._judge(booked, now, report)
        if now >= booked.closes_at:
            if self._rooms.participants(
                booked.room_id, include_hidden=True
            ) or await self._rooms.present_elsewhere(booked.room_id):
                report.kept_open.append(booked.room_id)
                return
            await self._sessions.close(booked, "window_closed")
            log.info("booked room closed room=%s booking=%s", booked.room_id, booked.booking_id)
            report.closed.append(booked.room_id)

    async def _judge(self, booked: BookedRoom, now: datetime, report: TickReport) -> None:
        """Attendance of a case's booked room; acts once, when the verdict is reached."""
        if booked.case_id is None or booked.attendance is not Attendance.PENDING:
            return
        booking = await self._bookings.get_booking(booked.booking_id)
        if booking is None or not booking.active:
            return
        joined = await self._bookings.presences(booked.room_id)
        verdict = decide_attendance(booking, joined, now, wait=self._sessions.times.no_show_wait)
        if verdict is Attendance.PENDING:
            return
        booked.attendance = verdict
        await self._bookings.save_room(booked)
        case = await self._cases.get(booked.case_id)
        if case.status is not CaseStatus.SCHEDULED:
            return  # a coordinator moved it already
        if verdict is Attendance.HELD:
            await self._cases.update(case.id, lambda c, at: c.start(by=ACTOR, at=at))
            report.started.append(case.id)
        else:
            await self._cases.update(
                case.id, lambda c, at: c.mark_no_show(by=ACTOR, at=at, reason=verdict.value)
            )
            log.info("no-show case=%s booking=%s verdict=%s", case.id, booking.id, verdict.value)
            report.no_shows.append(case.id)

    async def on_event(self, event: str, data: dict[str, Any]) -> None:
        """EventBus subscriber: remember who joined booked rooms (any process may record)."""
        if event != "participant.joined":
            return
        booked = await self._bookings.room_by_room_id(data["room_id"])
        if booked is None:
            return
        now = self._clock.now()
        who = Presence(data["identity"], Role(data["role"]))
        if await self._bookings.record_presence(booked.room_id, who, now):
            async with self._lock:
                current = await self._bookings.get_room(booked.booking_id)
                if current is not None and current.state is RoomState.OPEN:
                    await self._judge(current, now, TickReport(leader=True))

    async def run(self, interval: float) -> None:
        """The background loop (cancelled by the app's cleanup)."""
        log.info("scheduler loop started owner=%s interval=%ss", self.owner, interval)
        while True:
            try:
                await self.tick()
            except Unavailable as exc:  # the store is down: one line, and the next tick
                log.warning("scheduler tick skipped owner=%s reason=%s", self.owner, exc.message)
            except Exception:
                log.exception("scheduler tick failed owner=%s", self.owner)
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        try:
            await self._leases.release(LEASE, self.owner)
        except Unavailable as exc:  # the store is down: the lease expires by itself
            log.warning("scheduler lease not released owner=%s reason=%s", self.owner, exc.message)
