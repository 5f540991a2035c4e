"""Remote education: a lecture books its presenter's time and gets a scheduled room in which
the presenter publishes and every audience unit only watches (observer tokens). The room
records by default (the replay library); the audience asks questions in the room's chat, which
are kept with the lecture; attendance counts the audience units that came."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from vidconsult.domain.booked_rooms import BookedRoom, lecture_parties
from vidconsult.domain.lectures import Lecture, book_lecture
from vidconsult.domain.roles import Role
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

    async def on_event(self, event: str, data: dict[str, Any]) -> None:
        """Keep the chat of a lecture's room as the lecture's questions."""
        if event != "chat.message" or data.get("case_id") is not None:
            return
        room_id = data.get("room_id")
        if not isinstance(room_id, str):
            return
        booked = await self._bookings.room_by_room_id(room_id)
        if booked is None or booked.lecture_id is None:
            return
        await self._lectures.add_question(
            booked.lecture_id,
            {
                "id": data["id"],
                "identity": data["identity"],
                "name": data.get("name", ""),
                "role": data.get("role", ""),
                "text": data["text"],
                "sent_at": data["sent_at"],
            },
        )

    async def questions(self, lecture_id: str) -> list[dict[str, Any]]:
        await self.get(lecture_id)
        return await self._lectures.questions(lecture_id)

    async def attendance(self, room: BookedRoom) -> dict[str, Any]:
        """Who came: the audience units (observers) and whether the presenter did."""
        came = await self._bookings.presences(room.room_id)
        audience = sorted({p.identity for p in came if p.role is Role.OBSERVER})
        invited = [p.identity for p in room.parties if p.kind == "audience"]
        presenter = next((p.identity for p in room.parties if p.kind == "presenter"), None)
        return {
            "audience_invited": len(invited),
            "audience_joined": len(audience),
            "audience_identities": audience,
            "presenter_joined": any(p.identity == presenter for p in came),
        }

    async def lecture_of_room(self, room_id: str) -> str | None:
        """The lecture whose room this is, if it is one."""
        booked = await self._bookings.room_by_room_id(room_id)
        return booked.lecture_id if booked is not None else None
