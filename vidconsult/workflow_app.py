"""Wiring of the consultation workflow: its services on the app's stores, its REST routes and
OpenAPI paths, and the scheduler's lifecycle (index warm-up, background loop, lease release).
Called by :func:`vidconsult.app.build_app`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path

from aiohttp import web

from vidconsult.config import Settings
from vidconsult.domain.emergency import EmergencyClosing
from vidconsult.domain.paging import PagingPolicy
from vidconsult.domain.slots import BookingPolicy
from vidconsult.domain.specialties import parse_specialty
from vidconsult.domain.workdays import WorkCalendar
from vidconsult.ports import Clock, StaffPush
from vidconsult.services.booking import BookingService
from vidconsult.services.cases import CaseService
from vidconsult.services.directory import DirectoryService
from vidconsult.services.emergency import EmergencyService
from vidconsult.services.events import EventBus
from vidconsult.services.leave_requests import LeaveRequestService
from vidconsult.services.lectures import LectureService
from vidconsult.services.outcomes import OutcomeService
from vidconsult.services.paging import PagingService
from vidconsult.services.rooms import RoomService
from vidconsult.services.schedule import ScheduleKeeper
from vidconsult.services.scheduler import Scheduler
from vidconsult.services.sessions import RoomTimes, SessionService
from vidconsult.services.statistics import StatisticsService
from vidconsult.services.workspace import WorkspaceService
from vidconsult.store.base_leave import LeaveRequestStore
from vidconsult.store.base_workflow import WorkflowStores
from web import (
    cases_api,
    directory_api,
    emergency_api,
    lectures_api,
    paging_api,
    specialties_api,
    workspace_api,
)
from web.keys import BASE_URL, ROOM_ROUTER, SETTINGS, STORAGE
from web.workflow_keys import (
    BOOKING,
    CASES,
    DIRECTORY,
    EMERGENCY,
    LEAVE,
    LECTURES,
    OUTCOMES,
    PAGING,
    SCHEDULER,
    STATISTICS,
    WORKSPACE,
)

log = logging.getLogger(__name__)
SCHEDULE = web.AppKey("schedule", ScheduleKeeper)
STORES = web.AppKey("workflow_stores", WorkflowStores)
SESSIONS = web.AppKey("sessions", SessionService)


def load_calendar(settings: Settings) -> WorkCalendar:
    """The centre's working-day calendar; holidays from ``settings.holidays_file`` (JSON)."""
    if not settings.holidays_file:
        return WorkCalendar.of(settings.centre_time_zone)
    path = Path(settings.holidays_file)
    try:
        data = json.loads(path.read_text())
        return WorkCalendar.of(
            settings.centre_time_zone,
            [date.fromisoformat(d) for d in data.get("holidays", [])],
            [date.fromisoformat(d) for d in data.get("makeup_workdays", [])],
        )
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"cannot read holidays file {path}: {exc}") from None


def booking_policy(settings: Settings) -> BookingPolicy:
    lengths = {}
    for item in filter(None, (p.strip() for p in settings.slot_minutes_by_specialty.split(","))):
        name, _, minutes = item.partition("=")
        try:
            lengths[parse_specialty(name)] = timedelta(minutes=int(minutes))
        except ValueError:
            raise ValueError(f"slot_minutes_by_specialty: bad entry {item!r}") from None
    return BookingPolicy(
        calendar=load_calendar(settings),
        sla_working_days=settings.sla_working_days,
        default_slot_length=timedelta(minutes=settings.slot_minutes),
        slot_lengths=lengths,
        horizon=timedelta(days=settings.booking_horizon_days),
    )


def install(
    app: web.Application,
    *,
    stores: WorkflowStores,
    rooms: RoomService,
    events: EventBus,
    clock: Clock,
    settings: Settings,
    push: StaffPush | None = None,
) -> None:
    """``push``: what rings staff workspaces (signaling's ``/staff`` namespace)."""
    policy = booking_policy(settings)
    times = RoomTimes(
        lead=timedelta(minutes=settings.room_lead_minutes),
        grace=timedelta(minutes=settings.room_grace_minutes),
        no_show_wait=timedelta(minutes=settings.no_show_wait_minutes),
        time_zone=settings.centre_time_zone,
    )
    schedule = ScheduleKeeper(stores.experts, stores.bookings, clock)
    directory = DirectoryService(
        units=stores.units,
        experts=stores.experts,
        rota=stores.rota,
        schedule=schedule,
        specialties=app[STORAGE].specialties,
        clock=clock,
        cases=stores.cases,
        bookings=stores.bookings,
        accounts=app[STORAGE].accounts,
        lectures=stores.lectures,
    )
    cases = CaseService(cases=stores.cases, directory=directory, clock=clock, events=events)
    sessions = SessionService(
        bookings=stores.bookings,
        rooms=rooms,
        clock=clock,
        events=events,
        times=times,
        base_url=lambda: app[BASE_URL][0],
    )
    rooms.set_admission(sessions.admit)
    scheduler = Scheduler(
        leases=stores.leases,
        bookings=stores.bookings,
        cases=cases,
        sessions=sessions,
        rooms=rooms,
        clock=clock,
        lease_ttl=timedelta(seconds=max(3 * settings.scheduler_interval, 30)),
        emergency=EmergencyClosing(
            idle=timedelta(minutes=settings.emergency_idle_minutes),
            unanswered=timedelta(minutes=settings.emergency_unanswered_minutes),
        ),
    )
    events.subscribe(scheduler.on_event)

    app[SCHEDULE] = schedule
    app[SESSIONS] = sessions
    app[STORES] = stores
    app[DIRECTORY] = directory
    app[CASES] = cases
    app[EMERGENCY] = EmergencyService(
        cases=cases,
        directory=directory,
        schedule=schedule,
        rooms=rooms,
        sessions=sessions,
        events=events,
        clock=clock,
        token_ttl=timedelta(seconds=settings.token_ttl),
        router=app.get(ROOM_ROUTER),
    )
    # a withdrawn emergency's room admits nobody, whatever became of its hold (lapsed, or lost
    # with its node): read from the case on every join of an emergency room
    rooms.set_seat_check(app[EMERGENCY].check_seat)
    app[BOOKING] = BookingService(
        cases=cases,
        directory=directory,
        bookings=stores.bookings,
        schedule=schedule,
        sessions=sessions,
        policy=policy,
        clock=clock,
        events=events,
        emergencies=app[EMERGENCY],
    )
    app[OUTCOMES] = OutcomeService(cases=cases, store=stores.cases, events=events, clock=clock)
    app[LECTURES] = LectureService(
        lectures=stores.lectures,
        bookings=stores.bookings,
        directory=directory,
        schedule=schedule,
        sessions=sessions,
        policy=policy,
        events=events,
        clock=clock,
    )
    events.subscribe(app[LECTURES].on_event)  # a lecture's chat: its questions
    app[STATISTICS] = StatisticsService(
        cases=stores.cases, experts=stores.experts, time_zone=settings.centre_time_zone
    )
    app[SCHEDULER] = scheduler
    paging = PagingService(
        cases=cases,
        directory=directory,
        schedule=schedule,
        rooms=rooms,
        sessions=sessions,
        events=events,
        clock=clock,
        policy=PagingPolicy(timedelta(seconds=settings.paging_answer_seconds)),
        token_ttl=timedelta(seconds=settings.token_ttl),
        push=push,
        workspace_url=lambda: f"{app[BASE_URL][0]}/workspace",
        store=app[STORAGE].pagings,
        # several nodes share PostgreSQL: one of them (the scheduler's) escalates
        leader=scheduler.lead if settings.store == "postgres" else None,
    )
    events.subscribe(paging.on_event)
    app[PAGING] = paging
    paging_api.install_metrics(app)
    app[WORKSPACE] = WorkspaceService(
        cases=cases,
        directory=directory,
        booking=app[BOOKING],
        rooms=rooms,
        sessions=sessions,
        clock=clock,
        token_ttl=timedelta(seconds=settings.token_ttl),
    )
    app[LEAVE] = LeaveRequestService(
        store=_leave_store(app), directory=directory, events=events, clock=clock
    )

    for module in (
        directory_api,
        cases_api,
        emergency_api,
        lectures_api,
        paging_api,
        specialties_api,
        workspace_api,
    ):
        app.router.add_routes(module.routes)
    app.cleanup_ctx.append(_scheduler_lifecycle)
    app.cleanup_ctx.append(_paging_lifecycle)


async def _scheduler_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """After the database opened: warm the schedule index, start the scheduler loop."""
    await app[SCHEDULE].index()
    scheduler = app[SCHEDULER]
    interval = app[SETTINGS].scheduler_interval
    task = asyncio.get_running_loop().create_task(scheduler.run(interval)) if interval else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await scheduler.stop()


def _leave_store(app: web.Application) -> LeaveRequestStore:
    return app[STORAGE].leave


async def _paging_lifecycle(app: web.Application) -> AsyncIterator[None]:
    """After the database opened: the pages open before a restart, then the loop that pages
    the next person when a page goes unanswered."""
    interval = app[SETTINGS].paging_interval
    paging = app[PAGING]
    await paging.restore()
    task = asyncio.get_running_loop().create_task(paging.run(interval)) if interval else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
