"""The link check of the room page: before the camera starts, the page asks what its token
will meet. Who the person will see and when, or why they cannot join (ended, expired, not
open yet and when it opens, withdrawn, an emergency withdrawn and by whom, invalid), whether
they will wait in the waiting room, and whether the consultation records and asks for
consent. Read-only: nothing is opened, joined or counted (GET /api/v1/join/check,
web/join_api.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from vidconsult.domain.emergency import Withdrawal
from vidconsult.domain.room_window import JoinRefusal, may_join
from vidconsult.domain.rooms import Room, RoomStatus
from vidconsult.errors import NotFound, VidconsultError
from vidconsult.ports import Clock
from vidconsult.services.rooms import RoomService
from vidconsult.services.sessions import SessionService
from vidconsult.tokens import TokenClaims, TokenSigner

WITHDRAWN = frozenset(w.value for w in Withdrawal)
# whether a room records now (the recording policy; None: recordings not installed)
Records = Callable[[Room], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    role: str


@dataclass(slots=True)
class JoinCheck:
    ok: bool
    now: datetime
    code: str | None = None  # why not (an error code of docs/api.md), None when ok
    claims: TokenClaims | None = None
    room: Room | None = None
    meet: list[Person] = field(default_factory=list)
    starts_at: datetime | None = None  # the booked start and end, when booked
    ends_at: datetime | None = None
    opens_at: datetime | None = None  # when the link (or the booked room) opens
    closes_at: datetime | None = None
    lobby: bool = False  # will wait to be admitted
    records: bool = False
    ask_consent: bool = False


class JoinChecker:
    def __init__(
        self,
        *,
        signer: TokenSigner,
        rooms: RoomService,
        clock: Clock,
        sessions: SessionService | None = None,
        records: Records | None = None,
    ) -> None:
        self._signer = signer
        self._rooms = rooms
        self._clock = clock
        self._sessions = sessions
        self._records = records

    async def check(self, token: str | None) -> JoinCheck:
        now = self._clock.now()
        try:
            claims = self._signer.verify(token, now=now, early=True)
        except VidconsultError as exc:
            return JoinCheck(ok=False, now=now, code=exc.code)
        result = JoinCheck(ok=False, now=now, claims=claims, closes_at=claims.expires_at)
        if claims.room is None:
            result.code = "room_required"
            return result
        try:
            room = await self._rooms.get_room(claims.room)
        except NotFound:
            result.code = "not_found"
            return result
        result.room = room
        await self._booking(result, room, claims, now)
        result.meet = self._meet(result.meet, room, claims)
        if result.code is None and claims.not_before is not None and claims.not_before > now:
            result.code = "token_not_yet_valid"
            result.opens_at = max(claims.not_before, result.opens_at or claims.not_before)
        if result.code is None and room.status is RoomStatus.ENDED:
            # a withdrawn emergency says so, and by whom: not just "ended"
            withdrawn = room.end_reason in WITHDRAWN
            result.code = room.end_reason if withdrawn else "room_ended"
        if result.code is None and room.status is RoomStatus.OPEN:
            # open, but admitting nobody (a withdrawn emergency whose end did not come)
            result.code = await self._rooms.seat_refusal(room)
        if result.code is None:
            try:
                self._signer.check_revoked(claims)
                if room.status is RoomStatus.SCHEDULED and result.opens_at is None:
                    room.ensure_open()  # scheduled by hand, no booking to open it
            except VidconsultError as exc:
                result.code = exc.code
        if result.code is None:
            result.ok = True
            result.lobby = await self._rooms.would_wait(room, claims)
        records = await self._records(room) if self._records is not None else False
        result.records = records
        result.ask_consent = self._rooms.consent.asks(room, claims.role, records=records)
        return result

    async def _booking(
        self, result: JoinCheck, room: Room, claims: TokenClaims, now: datetime
    ) -> None:
        if self._sessions is None:
            return
        found = await self._sessions.booking_of(room.id)
        if found is None:
            return
        booked, booking = found
        times = self._sessions.times
        decision = may_join(booking, now, lead=times.lead, grace=times.grace)
        result.starts_at, result.ends_at = booking.start, booking.end
        result.opens_at, result.closes_at = decision.opens_at, decision.closes_at
        result.meet = [
            Person(p.name, p.role.value) for p in booked.parties if p.identity != claims.identity
        ]
        if decision.reason is JoinRefusal.TOO_EARLY:
            result.code = "too_early"
        elif decision.reason is JoinRefusal.BOOKING_CANCELLED:
            result.code = "booking_cancelled"
        elif decision.reason is JoinRefusal.CLOSED and (
            room.status is not RoomStatus.OPEN or not self._rooms.participants(room.id)
        ):
            result.code = "room_closed"

    def _meet(self, booked: list[Person], room: Room, claims: TokenClaims) -> list[Person]:
        """The booked parties, then anyone else in the room now (not oneself)."""
        people = list(booked)
        names = {(p.name, p.role) for p in people}
        for p in self._rooms.participants(room.id):
            if p.identity != claims.identity and (p.name, p.role.value) not in names:
                people.append(Person(p.name, p.role.value))
        return people
