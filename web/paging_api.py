"""REST handlers of emergency paging: the coordinators' board, a person's open pages, and
answering a page (Accept hands back the join link of the emergency's room). Also the paging
metrics (time to acknowledge, time to the first expert in the room) on ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field

from vidconsult.domain.paging import CancelReason, PageStatus, PagingState, TargetKind
from vidconsult.domain.roles import Role
from vidconsult.errors import PermissionDenied
from vidconsult.services.paging import Histogram, PagingService
from web.http import claims, json_ok, require_coordinator
from web.keys import CLOCK
from web.openapi import describe
from web.queries import SpecialtyField
from web.room_views import Instant
from web.workflow_keys import PAGING
from web.workflow_views import JoinLink

routes = web.RouteTableDef()
PAGE_PATH = {"page_id": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]{1,80}$"}}


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetOut(_Out):
    kind: TargetKind
    id: str = Field(description="the expert id, or 'coordinators'")


class PageRow(_Out):
    page_id: str
    step: int = Field(description="1: the on-duty expert, 2: the backup, then the coordinators")
    target: TargetOut
    status: PageStatus
    sent_at: Instant
    closed_at: Instant | None
    answered_by: str | None
    reason: CancelReason | None = Field(
        None,
        description="why a cancelled page stopped: answered_elsewhere, room_closed or "
        "emergency_withdrawn (as its page.cancelled webhook said)",
    )


class PagingOut(_Out):
    case_id: str
    room_id: str
    unit_id: str
    unit_name: str
    specialty: SpecialtyField
    state: PagingState
    opened_at: Instant
    elapsed_seconds: float = Field(
        description="from the request until it was answered (still paging: until now)"
    )
    answered_by: str | None
    answered_at: Instant | None
    first_expert_at: Instant | None = Field(description="the first expert's arrival in the room")
    escalates_at: Instant | None = Field(description="when the next person is paged")
    chain: list[TargetOut]
    pages: list[PageRow]


class PagingList(_Out):
    pagings: list[PagingOut]
    answer_within_seconds: float


class OpenPage(_Out):
    """A page as it rings in a workspace (also the payload of the ``page.ring`` event)."""

    page_id: str
    case_id: str
    room_id: str
    unit_id: str
    unit_name: str
    specialty: SpecialtyField
    step: int
    target: TargetOut
    status: PageStatus
    reason: CancelReason | None = Field(
        None, description="a cancelled page's reason (page.closed); null while it rings"
    )
    sent_at: Instant
    escalates_at: Instant | None
    opened_at: Instant
    answer_url: str


class OpenPages(_Out):
    pages: list[OpenPage]


class PageAccepted(_Out):
    paging: PagingOut
    link: JoinLink = Field(description="the join link of the emergency's room, for the caller")


def _staff(request: web.Request) -> tuple[str, bool]:
    who = claims(request)
    if who.room is not None or who.role not in (Role.EXPERT, Role.COORDINATOR):
        raise PermissionDenied("pages are answered by experts and coordinators", code="not_paged")
    return who.identity, who.is_coordinator


@routes.get("/api/v1/paging")
@describe(
    "Every emergency's paging: elapsed time, who was paged, who answered", response=PagingList
)
async def board(request: web.Request) -> web.Response:
    require_coordinator(request)
    service = request.app[PAGING]
    now = request.app[CLOCK].now()
    return json_ok(
        {
            "pagings": [service.view(p, now) for p in await service.latest()],
            "answer_within_seconds": service.policy.answer_within.total_seconds(),
        }
    )


@routes.get("/api/v1/pages/mine")
@describe("The pages ringing for the caller (an expert, or any coordinator)", response=OpenPages)
async def my_pages(request: web.Request) -> web.Response:
    identity, coordinator = _staff(request)
    service = request.app[PAGING]
    pages = await service.open_pages_for(identity, coordinator=coordinator)
    return json_ok({"pages": [service.page_view(paging, page) for paging, page in pages]})


@routes.post("/api/v1/pages/{page_id}/accept")
@describe(
    "Accept a page: the emergency is answered, the other pages stop; the answer carries the "
    "caller's join link to the room. Decided by the store: of two answers at the same instant "
    "(on any nodes) exactly one lands; the other gets 409 page_answered (someone else answered), "
    "page_closed (the emergency ended) or page_moved_on (it kept changing: try again). An "
    "escalation at the same instant never refuses an acceptance: the page it sent is cancelled "
    "(page.cancelled to webhooks, reason answered_elsewhere). 503 store_unavailable "
    "(Retry-After): the database could not take the answer, so it was not made and the page "
    "still rings; try again. The same person accepting their accepted page again gets 200 "
    "and their link (the same answer; what a failed earlier answer did not finish is done)",
    response=PageAccepted,
    errors=(404, 409, 503),
    path=PAGE_PATH,
)
async def accept(request: web.Request) -> web.Response:
    _staff(request)
    service = request.app[PAGING]
    accepted = await service.accept(request.match_info["page_id"], claims(request))
    now = request.app[CLOCK].now()
    return json_ok({"paging": service.view(accepted.paging, now), "link": accepted.link})


@routes.post("/api/v1/pages/{page_id}/decline")
@describe(
    "Decline a page: the next person is paged at once; 409 page_answered / page_closed / "
    "page_moved_on and 503 store_unavailable as for accepting",
    response=PagingOut,
    errors=(404, 409, 503),
    path=PAGE_PATH,
)
async def decline(request: web.Request) -> web.Response:
    _staff(request)
    service = request.app[PAGING]
    paging = await service.decline(request.match_info["page_id"], claims(request))
    return json_ok(service.view(paging, request.app[CLOCK].now()))


class PagingCollector(Collector):
    def __init__(self, service: PagingService) -> None:
        self._service = service

    def collect(self) -> Iterator[Metric]:
        yield _histogram(
            "vidconsult_emergency_time_to_acknowledge_seconds",
            "From an emergency request to the first accepted page",
            self._service.time_to_ack,
        )
        yield _histogram(
            "vidconsult_emergency_time_to_first_expert_seconds",
            "From an emergency request to the first expert joining its room",
            self._service.time_to_expert,
        )
        yield CounterMetricFamily(
            "vidconsult_pages_sent", "Emergency pages sent", value=self._service.pages_sent
        )


def _histogram(name: str, doc: str, hist: Histogram) -> HistogramMetricFamily:
    return HistogramMetricFamily(name, doc, buckets=hist.cumulative(), sum_value=hist.total)


def install_metrics(app: web.Application) -> None:
    from web.ops_api import REGISTRY

    if REGISTRY in app:
        app[REGISTRY].register(PagingCollector(app[PAGING]))
