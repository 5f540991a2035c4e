"""Typed application state keys shared by the HTTP handlers and the app wiring."""

from __future__ import annotations

from aiohttp import web

from vidconsult.config import Settings
from vidconsult.ports import Clock
from vidconsult.services.rooms import RoomService
from vidconsult.tokens import TokenSigner

SETTINGS = web.AppKey("settings", Settings)
ROOMS = web.AppKey("rooms", RoomService)
SIGNER = web.AppKey("signer", TokenSigner)
CLOCK = web.AppKey("clock", Clock)
# the base URL of join links (known once the site is bound, for port 0)
BASE_URL = web.AppKey("base_url", list)
