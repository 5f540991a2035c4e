"""Leave requests: an expert asks, a coordinator decides; approved leave goes on the roster
(so bookings and the emergency rota skip the expert for that time)."""

from __future__ import annotations

import logging
from datetime import datetime

from vidconsult.domain.leave_requests import LeaveRequest, LeaveStatus
from vidconsult.errors import NotFound
from vidconsult.ports import Clock
from vidconsult.services.directory import DirectoryService
from vidconsult.services.events import EventBus
from vidconsult.services.rooms import new_id
from vidconsult.store.base_leave import LeaveRequestStore

log = logging.getLogger(__name__)


class LeaveRequestService:
    def __init__(
        self,
        *,
        store: LeaveRequestStore,
        directory: DirectoryService,
        events: EventBus,
        clock: Clock,
    ) -> None:
        self._store = store
        self._directory = directory
        self._events = events
        self._clock = clock

    async def request(
        self, expert_id: str, start: datetime, end: datetime, reason: str = ""
    ) -> LeaveRequest:
        await self._directory.expert(expert_id)  # NotFound for an unknown expert
        request = LeaveRequest(
            id=new_id("leave"),
            expert_id=expert_id,
            start=start,
            end=end,
            reason=reason.strip(),
            requested_at=self._clock.now(),
        )
        await self._store.add_leave_request(request)
        log.info("leave requested id=%s expert=%s", request.id, expert_id)
        await self._events.publish("leave.requested", _event(request))
        return request

    async def list(
        self, *, expert_id: str | None = None, status: LeaveStatus | None = None
    ) -> list[LeaveRequest]:
        return await self._store.list_leave_requests(expert_id=expert_id, status=status)

    async def decide(
        self, request_id: str, approve: bool, *, by: str, note: str = ""
    ) -> LeaveRequest:
        request = await self._store.get_leave_request(request_id)
        if request is None:
            raise NotFound(f"leave request {request_id} not found")
        request.decide(approve, by=by, at=self._clock.now(), note=note)
        if approve:
            roster = await self._directory.roster(request.expert_id)
            await self._directory.set_roster(
                request.expert_id, roster.shifts, (*roster.leave, request.leave), roster.holidays
            )
        await self._store.save_leave_request(request)
        log.info(
            "leave %s id=%s expert=%s by=%s",
            request.status.value,
            request.id,
            request.expert_id,
            by,
        )
        await self._events.publish(f"leave.{request.status.value}", _event(request))
        return request


def _event(request: LeaveRequest) -> dict[str, object]:
    return {
        "leave_request_id": request.id,
        "expert_id": request.expert_id,
        "start": request.start.isoformat(),
        "end": request.end.isoformat(),
        "status": request.status.value,
    }
