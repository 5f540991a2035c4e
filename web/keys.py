"""Typed application state keys shared by the HTTP handlers and the app wiring."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from vidconsult.cluster.ports import LiveState
from vidconsult.config import Settings
from vidconsult.domain.ratelimit import RateLimiter
from vidconsult.ports import Clock
from vidconsult.services.access import AccessLog
from vidconsult.services.rejections import Rejections
from vidconsult.services.revocations import TokenRevocations
from vidconsult.services.room_routing import RoomRouter
from vidconsult.services.rooms import RoomService
from vidconsult.store.base_stores import Storage
from vidconsult.tokens import TokenClaims, TokenSigner

SETTINGS = web.AppKey("settings", Settings)
# the repositories of the store the settings chose (built by vidconsult.compose)
STORAGE = web.AppKey("storage", Storage)
ROOMS = web.AppKey("rooms", RoomService)
# REST on any node: a room's live side asked of the room's node (services/room_routing.py)
ROOM_ROUTER = web.AppKey("room_router", RoomRouter)
# the live state nodes share: placement, presence, the bus between nodes (vidconsult.cluster)
LIVE = web.AppKey("live", LiveState)
SIGNER = web.AppKey("signer", TokenSigner)
CLOCK = web.AppKey("clock", Clock)
# revoked join tokens (removed participants, disabled minters); the signer checks it
REVOCATIONS = web.AppKey("revocations", TokenRevocations)
# who read which medical data (recordings, attachments): the cases' audit trail shows it
ACCESS_LOG = web.AppKey("access_log", AccessLog)
# rate limits of every area (see web/guards.py), and the count of refused input (/metrics)
LIMITER = web.AppKey("rate_limiter", RateLimiter)
REJECTIONS = web.AppKey("rejections", Rejections)
# the base URL of join links (known once the site is bound, for port 0)
BASE_URL = web.AppKey("base_url", list)
# resolves an opaque API token ("vck_...") to its claims, or raises Unauthenticated
TokenResolver = Callable[[str], Awaitable[TokenClaims]]
API_TOKEN_RESOLVER: web.AppKey[TokenResolver] = web.AppKey("api_token_resolver")
# raises Unauthenticated when a login token's session has ended (see AccountService)
SESSION_CHECKER: web.AppKey[Callable[[TokenClaims], Awaitable[None]]] = web.AppKey(
    "session_checker"
)
