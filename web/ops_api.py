"""Health and Prometheus metrics.

Metrics come from a collector that reads the live services at scrape time, registered in a
registry owned by the app (no module-global registry)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vidconsult.ports import MediaStats
from vidconsult.services.rejections import Rejections
from vidconsult.services.rooms import RoomService
from web.openapi import describe

routes = web.RouteTableDef()
REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ServerCollector(Collector):
    def __init__(
        self,
        rooms: RoomService,
        media_stats: Callable[[], MediaStats],
        rejections: Rejections | None = None,
    ) -> None:
        self._rooms = rooms
        self._media_stats = media_stats
        self._rejections = rejections

    def collect(self) -> Iterator[Metric]:
        rooms, participants, tracks = self._rooms.live_counts()
        stats = self._media_stats()
        yield GaugeMetricFamily(
            "vidconsult_rooms", "Rooms with participants on this node", value=rooms
        )
        yield GaugeMetricFamily(
            "vidconsult_participants", "Connected participants", value=participants
        )
        yield GaugeMetricFamily("vidconsult_tracks", "Published tracks", value=tracks)
        yield GaugeMetricFamily(
            "vidconsult_subscriptions", "Forwarded track subscriptions", value=stats.subscriptions
        )
        yield CounterMetricFamily(
            "vidconsult_forwarded_bytes", "Media bytes forwarded", value=stats.bytes_forwarded
        )
        yield CounterMetricFamily(
            "vidconsult_forwarded_packets", "Media packets forwarded", value=stats.packets_forwarded
        )
        if self._rejections is not None:
            rejected = CounterMetricFamily(
                "vidconsult_rejected",
                "Refused input (malformed, aborted, too slow, rate-limited) by source and kind",
                labels=["source", "kind"],
            )
            for (source, kind), count in sorted(self._rejections.counts().items()):
                rejected.add_metric([source, kind], count)
            yield rejected


def make_registry(
    rooms: RoomService,
    media_stats: Callable[[], MediaStats],
    rejections: Rejections | None = None,
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(ServerCollector(rooms, media_stats, rejections))
    return registry


@routes.get("/healthz")
@describe(
    "Liveness",
    auth="none",
    response={"type": "object", "properties": {"status": {"const": "ok"}}},
)
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/metrics")
@describe(
    "Prometheus metrics (text exposition)",
    auth="none",
    response={"type": "string"},
    media_type="text/plain",
)
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
