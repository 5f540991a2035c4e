"""Remote education: a lecture books its presenter's time and gets a scheduled room in which
the presenter publishes and every audience unit only watches (observer tokens)."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from vidconsult.domain.booked_rooms import BookedRoom, lecture_parties
from vidconsult.domain.lectures import Lecture, book_lecture
from vidconsult.domain.rooms import RoomKind
from vidconsult.domain.slots import BookingPolicy
from vidconsult.domain.timeutil import utc_iso
from vidconsult.errors import Conflict, InvalidInput, NotFound
from vidconsult.ports import Clock
from vidconsult.services.booking import new_booking_id
from vidconsult.services.directory import DirectoryService
from vidconsult.services.events import EventBus
from vidconsult.services.schedule import ScheduleKeeper
from vidconsult.services.sessions import SessionService
from vidconsult.store.base_workflow import BookingStore, LectureStore

log = logging.getLogger(__name__)


class LectureService:
    def __init__(
        self,
        *,
        lectures: LectureStore,
        bookings: BookingStore,
        directory: DirectoryService,
        schedule: ScheduleKeeper,
        sessions: SessionService,
        policy: BookingPolicy,
        events: EventBus,
        clock: Clock,
    ) -> None:
        self._lectures = lectures
        self._bookings = bookings
        self._directory = directory
        self._schedule = schedule
        self._sessions = sessions
        self._policy = policy
        self._events = events
        self._clock = clock

    async def create(
        self,
        *,
        title: str,
        presenter_id: str,
        audience_unit_ids: list[str],
        start: datetime,
        end: datetime,
    ) -> tuple[Lecture, BookedRoom]:
        try:
            presenter = await self._directory.expert(presenter_id)
            units = [await self._directory.unit(u) for u in dict.fromkeys(audience_unit_ids)]
        except NotFound as exc:
            raise InvalidInput(exc.message, code=exc.code) from None
        lecture = Lecture(
            f"lec_{secrets.token_hex(6)}",
            title.strip(),
            presenter.id,
            frozenset(u.id for u in units),
            start,
            end,
        )
        async with self._schedule.lock:
            index = await self._schedule.index()
            booking = book_lecture(
                index, lecture, new_booking_id(), now=self._clock.now(), policy=self._policy
            )  # adds it to the index
            room = await self._sessions.prepare(
                booking,
                lecture_parties(lecture, presenter, units),
                name=lecture.title[:200],
                kind=RoomKind.LECTURE,
            )
            try:
                await self._bookings.add_booking(booking, room)
            except Conflict:
                await self._sessions.discard(room)
                self._schedule.invalidate()
                raise
        await self._lectures.create_lecture(lecture, booking.id)
        log.info(
            "lecture booked lecture=%s presenter=%s audience=%d start=%s",
            lecture.id,
            presenter.id,
            len(units),
            start.isoformat(),
        )
        await self._events.publish(
            "lecture.scheduled",
            {
                "lecture_id": lecture.id,
                "room_id": room.room_id,
                "presenter_id": presenter.id,
                "start": utc_iso(start),
            },
        )
        return lecture, room

    async def get(self, lecture_id: str) -> tuple[Lecture, BookedRoom]:
        found = await self._lectures.get_lecture(lecture_id)
        room = await self._bookings.get_room(found[1]) if found else None
        if found is None or room is None:
            raise NotFound(f"lecture {lecture_id} not found")
        return found[0], room

    async def list_lectures(self, start_from: datetime | None = None) -> list[Lecture]:
        return await self._lectures.list_lectures(start_from)

    async def links(self, lecture_id: str, *, minted_by: str | None = None) -> list[dict[str, Any]]:
        _, room = await self.get(lecture_id)
        return await self._sessions.links(room, minted_by=minted_by)
