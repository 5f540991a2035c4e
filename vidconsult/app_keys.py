"""The app state keys of the parts the composition root builds (the media engine, the store's
lifecycle, signaling, the event bus, the staff channel). Their own module so the root's
modules (:mod:`vidconsult.app`, :mod:`vidconsult.areas`) share them without importing each
other; ``web/`` handlers use :mod:`web.keys`."""

from __future__ import annotations

from aiohttp import web

from signaling.server import SignalingServer
from signaling.staff import StaffChannel
from vidconsult.cluster.node import NodeAgent
from vidconsult.ports import MediaEngine
from vidconsult.services.events import EventBus
from vidconsult.store.base import Database

MEDIA = web.AppKey("media", MediaEngine)
DATABASE = web.AppKey("database", Database)
SIGNALING = web.AppKey("signaling", SignalingServer)
EVENTS = web.AppKey("events", EventBus)
STAFF = web.AppKey("staff", StaffChannel)
# this node's heartbeat in the live state (web.keys.LIVE)
NODE_AGENT = web.AppKey("node_agent", NodeAgent)
# where the other nodes reach this one (the lecture relay): one item, set once it listens
INTERNAL_URL = web.AppKey("internal_url", list)
