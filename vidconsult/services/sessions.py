"""The rooms of bookings: creating them scheduled, minting the parties' join links, opening
them, and the join-window admission check run before anyone connects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from vidconsult.domain.booked_rooms import BookedRoom, Party, RoomState
from vidconsult.domain.bookings import Booking
from vidconsult.domain.room_window import (
    DEFAULT_GRACE,
    DEFAULT_LEAD,
    DEFAULT_NO_SHOW_WAIT,
    JoinRefusal,
    may_join,
    room_window,
)
from vidconsult.domain.rooms import Room, RoomKind, RoomStatus
from vidconsult.domain.timeutil import utc_iso, zone_text
from vidconsult.domain.units import DEFAULT_CENTRE_ZONE
from vidconsult.errors import Conflict, NotFound
from vidconsult.ports import Clock
from vidconsult.services.events import EventBus
from vidconsult.services.rooms import RoomService
from vidconsult.store.base_workflow import BookingStore
from vidconsult.tokens import TokenClaims

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RoomTimes:
    lead: timedelta = DEFAULT_LEAD
    grace: timedelta = DEFAULT_GRACE
    no_show_wait: timedelta = DEFAULT_NO_SHOW_WAIT
    time_zone: str = DEFAULT_CENTRE_ZONE  # times in refusal messages are shown in it

    def local(self, instant: datetime) -> str:
        """ "2026-03-09 09:20 UTC+08:00 (Asia/Shanghai)": local time with its zone spelled out."""
        return zone_text(instant, self.time_zone)


class SessionService:
    def __init__(
        self,
        *,
        bookings: BookingStore,
        rooms: RoomService,
        clock: Clock,
        events: EventBus,
        times: RoomTimes,
        base_url: Callable[[], str],
    ) -> None:
        self._bookings = bookings
        self._rooms = rooms
        self._clock = clock
        self._events = events
        self.times = times
        self._base_url = base_url
        self._open_lock = asyncio.Lock()

    # booking time ---------------------------------------------------------------------------
    async def prepare(
        self,
        booking: Booking,
        parties: Sequence[Party],
        *,
        name: str,
        kind: RoomKind,
        extra_seats: int = 2,
    ) -> BookedRoom:
        """Create the booking's room, scheduled (store it with the booking)."""
        room = await self._rooms.create_room(
            name,
            case_id=booking.case_id,
            kind=kind,
            scheduled=True,
            max_participants=max(len(parties) + extra_seats, 2),
            # booked consultations have a waiting room: the expert (or doctor) admits
            lobby=kind is RoomKind.CONSULTATION,
        )
        opens, closes = room_window(booking, lead=self.times.lead, grace=self.times.grace)
        return BookedRoom(
            booking.id,
            room.id,
            opens,
            closes,
            tuple(parties),
            case_id=booking.case_id,
            lecture_id=booking.lecture_id,
        )

    async def close(self, booked: BookedRoom, reason: str) -> None:
        """End the booking's room (if not already) and mark it closed."""
        try:
            await self._rooms.end_room(booked.room_id, reason=reason)
        except (Conflict, NotFound):
            pass  # a coordinator ended it already
        if booked.state is not RoomState.CLOSED:
            booked.mark_closed(self._clock.now(), reason)
            await self._bookings.save_room(booked)

    async def discard(self, booked: BookedRoom) -> None:
        """The booking was refused: end the room made for it (it was never stored)."""
        try:
            await self._rooms.end_room(booked.room_id, reason="booking_refused")
        except (Conflict, NotFound):
            pass

    # links ----------------------------------------------------------------------------------
    def tokens(
        self,
        room: Room,
        parties: Sequence[Party],
        *,
        not_before: datetime | None,
        expires_at: datetime,
        minted_by: str | None = None,
    ) -> list[dict[str, Any]]:
        """A join token and link per party, valid ``[not_before, expires_at)``. ``minted_by``:
        the account (or API token) asking, whose disabling revokes them (None: the server's
        own, e.g. the links of "room.opened")."""
        now = self._clock.now()
        if expires_at <= now:
            raise Conflict(f"room {room.id} has closed", code="room_closed")
        nbf = not_before if not_before is not None and not_before > now else None
        base = self._base_url()
        links = []
        for party in parties:
            token = self._rooms.issue_token(
                room,
                identity=party.identity,
                role=party.role,
                name=party.name,
                ttl=expires_at - now,
                not_before=nbf,
                minted_by=minted_by,
            )
            links.append(
                {
                    "kind": party.kind,
                    "identity": party.identity,
                    "role": party.role.value,
                    "name": party.name,
                    "token": token,
                    "join_url": f"{base}/room/{room.id}#token={token}",
                    "valid_from": utc_iso(nbf or now),
                    "expires_at": utc_iso(expires_at),
                }
            )
        return links

    async def links(
        self, booked: BookedRoom, *, minted_by: str | None = None
    ) -> list[dict[str, Any]]:
        room = await self._rooms.get_room(booked.room_id)
        if booked.state is RoomState.CLOSED:
            raise Conflict(f"room {room.id} has closed", code="room_closed")
        return self.tokens(
            room,
            booked.parties,
            not_before=booked.opens_at,
            expires_at=booked.closes_at,
            minted_by=minted_by,
        )

    # the window -----------------------------------------------------------------------------
    async def open(self, booked: BookedRoom) -> bool:
        """Open a scheduled booked room and publish its links ("room.opened"); False when it
        was opened meanwhile (by another connect or tick)."""
        async with self._open_lock:
            current = await self._bookings.get_room(booked.booking_id)
            if current is None or current.state is not RoomState.SCHEDULED:
                return False
            room = await self._rooms.open_room(current.room_id)
            current.mark_open(self._clock.now())
            await self._bookings.save_room(current)
        log.info(
            "booked room opened room=%s booking=%s case=%s",
            current.room_id,
            current.booking_id,
            current.case_id,
        )
        links = self.tokens(room, current.parties, not_before=None, expires_at=current.closes_at)
        await self._events.publish(
            "room.opened",
            {
                "room_id": room.id,
                "booking_id": current.booking_id,
                "case_id": current.case_id,
                "lecture_id": current.lecture_id,
                "opens_at": utc_iso(current.opens_at),
                "closes_at": utc_iso(current.closes_at),
                "links": links,
            },
        )
        return True

    async def booking_of(self, room_id: str) -> tuple[BookedRoom, Booking] | None:
        """The booking behind a room, with its booked room (None: not a booked room)."""
        booked = await self._bookings.room_by_room_id(room_id)
        if booked is None:
            return None
        booking = await self._bookings.get_booking(booked.booking_id)
        return None if booking is None else (booked, booking)

    async def admit(self, room: Room, claims: TokenClaims) -> Room:
        """The admission check of :class:`RoomService`: a booked room may be entered only in
        its window ``[start - lead, end + grace)``; the first connect in the window opens it
        (so entry never waits for a scheduler tick). Rooms without a booking pass."""
        booked = await self._bookings.room_by_room_id(room.id)
        if booked is None:
            return room
        booking = await self._bookings.get_booking(booked.booking_id)
        if booking is None:
            return room
        now = self._clock.now()
        decision = may_join(booking, now, lead=self.times.lead, grace=self.times.grace)
        if decision.reason is JoinRefusal.TOO_EARLY:
            raise Conflict(
                f"room {room.id} opens at {self.times.local(decision.opens_at)}"
                f" ({int(self.times.lead.total_seconds() // 60)} minutes before the booked"
                f" start {self.times.local(booking.start)})",
                code="room_not_open",
            )
        if decision.reason is JoinRefusal.BOOKING_CANCELLED:
            raise Conflict(f"the booking of room {room.id} was cancelled", code="booking_cancelled")
        if decision.reason is JoinRefusal.CLOSED:
            # past the window: only back into a session that overran and is still in use
            if room.status is not RoomStatus.OPEN or not self._rooms.participants(room.id):
                raise Conflict(
                    f"room {room.id} closed at {self.times.local(decision.closes_at)}",
                    code="room_closed",
                )
        if room.status is RoomStatus.SCHEDULED:
            await self.open(booked)
            room = await self._rooms.get_room(room.id)
        return room
