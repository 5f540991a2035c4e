"""Internal node-to-node endpoints of the lecture relay (``/internal/v1/relay``), and their
HTTP client (:class:`HttpRelayCourier`).

Only nodes of the cluster call these: every request carries the cluster secret in
``X-Vidconsult-Cluster-Secret`` (compared in constant time), never a participant's token.
A node without a cluster secret refuses them all (403). See docs/media.md, "Rooms across
nodes", for the sequence.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Annotated, Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from vidconsult import errors
from vidconsult.domain.rooms import IDENTITY_PATTERN, TrackSource
from vidconsult.ports import NodeRelay, RelayEdge, SessionDescription
from web.http import json_ok, parse_body
from web.openapi import describe

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

SECRET_HEADER = "X-Vidconsult-Cluster-Secret"
PREFIX = "/internal/v1/relay"
RELAYS = web.AppKey("node_relays", NodeRelay)
CLUSTER_SECRET = web.AppKey("cluster_secret", str)

_NODE = r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}"
_ROOM = r"[A-Za-z0-9_-]{1,64}"
_PATH = {
    "room_id": {"type": "string", "pattern": f"^{_ROOM}$"},
    "node_id": {"type": "string", "pattern": f"^{_NODE}$"},
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EdgeIn(_Body):
    url: str = Field(
        min_length=8,
        max_length=300,
        pattern=r"^https?://[^\s/?#]+/?$",
        description="Base URL of the edge node's internal API (scheme://host:port)",
    )


class RelayOfferIn(_Body):
    origin: str = Field(pattern=f"^{_NODE}$", description="Node id of the room's home")
    publisher: str = Field(min_length=1, max_length=128, pattern=IDENTITY_PATTERN)
    # (what else makes an SDP valid is not a JSON Schema matter: invalid_sdp, 400)
    sdp: str = Field(min_length=4, max_length=256 * 1024, pattern=r"^v=0\r?\n")
    sources: dict[Annotated[str, StringConstraints(max_length=32)], TrackSource] = Field(
        default_factory=dict, max_length=32, description="Source of each track, by mid"
    )


class RelayEndIn(_Body):
    origin: str = Field(pattern=f"^{_NODE}$")
    publisher: str = Field(min_length=1, max_length=128, pattern=IDENTITY_PATTERN)


class EdgeOut(_Body):
    room_id: str
    edge: str
    publishers: list[str] = Field(description="The room's publishers relayed to it now")


class RemovedOut(_Body):
    removed: bool


class AnswerOut(_Body):
    sdp: str = Field(description="The edge's answer to the leg's offer")


class EndedOut(_Body):
    ended: bool


class LegTrackOut(_Body):
    track_sid: str
    kind: str
    packets: int = Field(description="RTP packets this leg sent of the track")


class LegOut(_Body):
    room_id: str
    edge: str
    publisher: str
    offers: int
    answered: int
    tracks: list[LegTrackOut]


class RelayedInOut(_Body):
    room_id: str
    publisher: str
    origin: str


class AudienceOut(_Body):
    origin: str = Field(description="The room's node, which relays its publishers here")
    listeners: list[str] = Field(description="This node's own listeners of the room")


class RelayStateOut(_Body):
    node_id: str
    edges: dict[str, list[str]] = Field(description="Edge nodes registered, by room")
    legs: list[LegOut]
    relayed_in: list[RelayedInOut]
    audience: dict[str, AudienceOut] = Field(
        default_factory=dict,
        description="Lectures held elsewhere whose listeners this node serves, by room",
    )


def _relays(request: web.Request) -> NodeRelay:
    """The cluster secret checked, the path's ids validated."""
    secret = request.app.get(CLUSTER_SECRET, "")
    relays = request.app.get(RELAYS)
    if not secret or relays is None:
        raise errors.PermissionDenied(
            "this node has no cluster secret: internal endpoints are off", code="cluster_disabled"
        )
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise errors.PermissionDenied(
            f"missing or wrong {SECRET_HEADER}", code="bad_cluster_secret"
        )
    room_id = request.match_info.get("room_id")
    if room_id is not None and not re.fullmatch(_ROOM, room_id):
        raise errors.InvalidInput("room id: 1..64 letters, digits, '_' or '-'", code="invalid_room")
    node_id = request.match_info.get("node_id")
    if node_id is not None and not re.fullmatch(_NODE, node_id):
        raise errors.InvalidInput(
            "node id: 1..63 letters, digits, '.', '_' or '-'", code="invalid_node_id"
        )
    return relays


@routes.put(PREFIX + "/rooms/{room_id}/edges/{node_id}")
@describe(
    "Internal (cluster secret): node_id has audience for room_id; relay its publishers there",
    body=EdgeIn,
    response=EdgeOut,
    auth="none",
    errors=(400, 403, 409, 503),
    path=_PATH,
)
async def add_edge(request: web.Request) -> web.Response:
    relays = _relays(request)
    body = await parse_body(request, EdgeIn)
    room_id, node_id = request.match_info["room_id"], request.match_info["node_id"]
    publishers = await relays.add_edge(room_id, RelayEdge(node_id, body.url.rstrip("/")))
    return json_ok(EdgeOut(room_id=room_id, edge=node_id, publishers=publishers).model_dump())


@routes.delete(PREFIX + "/rooms/{room_id}/edges/{node_id}")
@describe(
    "Internal (cluster secret): node_id has no more audience for room_id",
    response=RemovedOut,
    auth="none",
    errors=(400, 403),
    path=_PATH,
)
async def remove_edge(request: web.Request) -> web.Response:
    relays = _relays(request)
    room_id, node_id = request.match_info["room_id"], request.match_info["node_id"]
    return json_ok(RemovedOut(removed=await relays.remove_edge(room_id, node_id)).model_dump())


@routes.post(PREFIX + "/rooms/{room_id}/offers")
@describe(
    "Internal (cluster secret): a relay leg's offer from the room's home; answers it",
    body=RelayOfferIn,
    response=AnswerOut,
    auth="none",
    errors=(400, 403, 409),
    path={"room_id": _PATH["room_id"]},
)
async def relay_offer(request: web.Request) -> web.Response:
    relays = _relays(request)
    body = await parse_body(request, RelayOfferIn)
    sources = {mid: source.value for mid, source in body.sources.items()}
    offer = SessionDescription(body.sdp, "offer", sources)
    answer = await relays.accept_offer(
        request.match_info["room_id"], body.origin, body.publisher, offer
    )
    return json_ok(AnswerOut(sdp=answer.sdp).model_dump())


@routes.post(PREFIX + "/rooms/{room_id}/ends")
@describe(
    "Internal (cluster secret): a relayed publisher left its home node",
    body=RelayEndIn,
    response=EndedOut,
    auth="none",
    errors=(400, 403),
    path={"room_id": _PATH["room_id"]},
)
async def relay_end(request: web.Request) -> web.Response:
    relays = _relays(request)
    body = await parse_body(request, RelayEndIn)
    ended = await relays.end_relayed(request.match_info["room_id"], body.origin, body.publisher)
    return json_ok(EndedOut(ended=ended).model_dump())


@routes.get(PREFIX)
@describe(
    "Internal (cluster secret): this node's relay legs (with packets sent), relayed-in "
    "publishers and its own audience of lectures held elsewhere",
    response=RelayStateOut,
    auth="none",
    errors=(400, 403),  # (400 only where the path has ids)
)
async def relay_state(request: web.Request) -> web.Response:
    return json_ok(RelayStateOut.model_validate(_relays(request).state()).model_dump())


class HttpRelayCourier:
    """The other nodes' internal endpoints, called with the cluster secret: the origin's side
    of a leg (:class:`vidconsult.ports.RelayCourier`), and an edge asking an origin."""

    def __init__(self, node_id: str, secret: str, *, timeout: float = 10.0) -> None:
        self._node_id = node_id
        self._headers = {SECRET_HEADER: secret}
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout, headers=self._headers)
        return self._session

    async def _call(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        async with self._http().request(method, url, json=body) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                error = (data or {}).get("error", {}) if isinstance(data, dict) else {}
                raise errors.Unavailable(
                    f"{method} {url}: {resp.status} {error.get('code')}: {error.get('message')}",
                    code="relay_refused",
                )
            return data

    # the origin's side (RelayCourier)

    async def offer(
        self, edge: RelayEdge, room_id: str, publisher: str, offer: SessionDescription
    ) -> str:
        data = await self._call(
            "POST",
            f"{edge.url}{PREFIX}/rooms/{room_id}/offers",
            {
                "origin": self._node_id,
                "publisher": publisher,
                "sdp": offer.sdp,
                "sources": dict(offer.sources),
            },
        )
        return str(data["sdp"])

    async def end(self, edge: RelayEdge, room_id: str, publisher: str) -> None:
        await self._call(
            "POST",
            f"{edge.url}{PREFIX}/rooms/{room_id}/ends",
            {"origin": self._node_id, "publisher": publisher},
        )

    # the edge's side: "this node has audience for room_id, whose home is origin_url"

    async def join(self, origin_url: str, room_id: str, own_url: str) -> list[str]:
        data = await self._call(
            "PUT",
            f"{origin_url.rstrip('/')}{PREFIX}/rooms/{room_id}/edges/{self._node_id}",
            {"url": own_url.rstrip("/")},
        )
        return list(data["publishers"])

    async def leave(self, origin_url: str, room_id: str) -> bool:
        data = await self._call(
            "DELETE", f"{origin_url.rstrip('/')}{PREFIX}/rooms/{room_id}/edges/{self._node_id}"
        )
        return bool(data["removed"])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


COURIER = web.AppKey("relay_courier", HttpRelayCourier)
