"""Typed app keys of the consultation workflow's services (set by vidconsult/workflow_app.py)."""

from __future__ import annotations

from aiohttp import web

from vidconsult.services.booking import BookingService
from vidconsult.services.cases import CaseService
from vidconsult.services.directory import DirectoryService
from vidconsult.services.emergency import EmergencyService
from vidconsult.services.leave_requests import LeaveRequestService
from vidconsult.services.lectures import LectureService
from vidconsult.services.outcomes import OutcomeService
from vidconsult.services.paging import PagingService
from vidconsult.services.scheduler import Scheduler
from vidconsult.services.statistics import StatisticsService
from vidconsult.services.workspace import WorkspaceService

DIRECTORY = web.AppKey("directory", DirectoryService)
CASES = web.AppKey("cases", CaseService)
BOOKING = web.AppKey("booking", BookingService)
EMERGENCY = web.AppKey("emergency", EmergencyService)
OUTCOMES = web.AppKey("outcomes", OutcomeService)
LECTURES = web.AppKey("lectures", LectureService)
STATISTICS = web.AppKey("statistics", StatisticsService)
SCHEDULER = web.AppKey("scheduler", Scheduler)
PAGING = web.AppKey("paging", PagingService)
WORKSPACE = web.AppKey("workspace", WorkspaceService)
LEAVE = web.AppKey("leave_requests", LeaveRequestService)
