"""App wiring: builds the aiohttp application from settings, choosing the implementations of
each interface (store, media engine) and owning the lifecycle of everything it starts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from aiohttp import web

from signaling.audience import EdgeAudience
from signaling.server import SignalingServer
from signaling.staff import StaffChannel
from vidconsult import workflow_app
from vidconsult.addresses import interface_addresses, is_wildcard, reachable_hosts
from vidconsult.app_keys import (
    DATABASE,
    EVENTS,
    INTERNAL_URL,
    MEDIA,
    NODE_AGENT,
    SIGNALING,
    STAFF,
)
from vidconsult.areas import Installer, default_installers
from vidconsult.cluster.node import NodeAgent, SelfRegistering
from vidconsult.cluster.ports import LiveState
from vidconsult.compose import make_live_state, make_storage, one_node_state
from vidconsult.config import Settings
from vidconsult.domain.access import AccessKind
from vidconsult.domain.consent import ConsentRule, OnRefusal
from vidconsult.domain.publishing import PublishLimits
from vidconsult.domain.ratelimit import RateLimiter
from vidconsult.errors import Misconfigured
from vidconsult.join_trace import JoinTrace
from vidconsult.ports import Clock, MediaEngine, SystemClock
from vidconsult.services.access import AccessLog
from vidconsult.services.events import EventBus
from vidconsult.services.node_link import NodeLink
from vidconsult.services.rejections import Rejections
from vidconsult.services.revocations import TokenRevocations
from vidconsult.services.room_cluster import RoomCluster
from vidconsult.services.room_routing import RoomRouter
from vidconsult.services.rooms import RoomService
from vidconsult.tls import ServerTls
from vidconsult.tls import prepare as prepare_tls
from vidconsult.tokens import TokenSigner
from web import guards, join_api, nodes_api, openapi, ops_api, pages, relay_api, rooms_api
from web.http import error_middleware
from web.keys import (
    ACCESS_LOG,
    BASE_URL,
    CLOCK,
    LIMITER,
    LIVE,
    REJECTIONS,
    REVOCATIONS,
    ROOM_ROUTER,
    ROOMS,
    SETTINGS,
    SIGNER,
    STORAGE,
)

log = logging.getLogger(__name__)

# the root's own keys, here too for the modules and tests that read them from vidconsult.app
__all__ = ["DATABASE", "EVENTS", "MEDIA", "SIGNALING", "STAFF", "Installer", "build_app"]


def make_media(settings: Settings, trace: JoinTrace | None = None) -> MediaEngine:
    from media.config import MediaConfig
    from media.engine import AiortcMediaEngine

    return AiortcMediaEngine(
        MediaConfig(ice_servers=settings.ice_servers, forward_mode=settings.media_mode),
        trace=trace,
    )


def build_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    media: MediaEngine | None = None,
    installers: Sequence[Installer] | None = None,
    live: LiveState | None = None,
    join_trace: JoinTrace | None = None,
) -> web.Application:
    """``installers``: the areas to wire besides rooms and the workflow; None = all of them
    (case records, accounts and API tokens, webhooks). Tests pass only the ones they need.
    ``live``: the live state shared with other nodes (default: from the settings; None when
    they say one node): signaling relayed to a room's node, REST on any node.
    ``join_trace``: record the join path's stage times (benchmarks/join_time.py); None = off."""
    clock = clock or SystemClock()
    storage = make_storage(settings)
    # every verification (REST, signaling) checks the revocation list, held in memory
    revocations = TokenRevocations(store=storage.revocations, clock=clock)
    signer = TokenSigner(settings.load_secret(), revocations=revocations)
    media = media or make_media(settings, join_trace)
    if live is None:
        live = make_live_state(settings)  # None: one node
    link = NodeLink(live.bus, live.node_id) if live is not None else None
    # placement and presence: the shared live state, or this process's for one node
    cluster = RoomCluster(live if live is not None else one_node_state(settings))

    app = web.Application(
        middlewares=[error_middleware, guards.guard_middleware],
        client_max_size=settings.max_request_bytes,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[SIGNER] = signer
    app[REVOCATIONS] = revocations
    # who played, downloaded or exported a recording, viewed or downloaded an attachment
    app[ACCESS_LOG] = AccessLog(store=storage.access, clock=clock)
    app[DATABASE] = storage.db
    app[STORAGE] = storage
    app[MEDIA] = media
    app[EVENTS] = EventBus()
    app[BASE_URL] = [settings.base_url()]
    app[LIMITER] = RateLimiter(guards.rates_from(settings))
    app[REJECTIONS] = Rejections()
    app[LIVE] = cluster.live

    signaling = SignalingServer(
        signer=signer,
        clock=clock,
        ice_servers=settings.ice_servers,
        turn=settings.turn_relay(),
        rejections=app[REJECTIONS],
        max_message_bytes=settings.max_message_bytes,
        limiter=app[LIMITER],
        link=link,
        live=live,
        trace=join_trace,
    )
    signaling.origins.set(allowed_origins(settings, settings.port))
    rooms = RoomService(
        store=storage.rooms,
        media=media,
        notifier=signaling.notifier,
        signer=signer,
        clock=clock,
        revocations=revocations,
        consent=ConsentRule(
            ask=settings.recording_consent == "ask", on_refusal=OnRefusal(settings.consent_refusal)
        ),
        default_max_participants=settings.max_participants,
        reconnect_grace=timedelta(seconds=settings.reconnect_grace_seconds),
        prepare_timeout=timedelta(seconds=settings.prepare_timeout_seconds),
        events=app[EVENTS],
        publish_limits=PublishLimits(
            max_tracks=settings.max_tracks_per_participant,
            offers_per_minute=settings.offers_per_minute,
        ),
        cluster=cluster,
    )
    app[EVENTS].subscribe(_room_audit(app[ACCESS_LOG]))
    signaling.attach_rooms(rooms)
    staff = StaffChannel(signaling.sio, signer, clock)
    app[STAFF] = staff
    signaling.attach(app)
    app[ROOMS] = rooms
    app[ROOM_ROUTER] = RoomRouter(rooms, link, live.placement if live else None)
    app[SIGNALING] = signaling
    app[ops_api.REGISTRY] = ops_api.make_registry(rooms, media.stats, app[REJECTIONS])

    app.router.add_routes(rooms_api.routes)
    app.router.add_routes(ops_api.routes)
    app.router.add_routes(nodes_api.routes)
    app.router.add_routes(join_api.routes)
    app.router.add_routes(relay_api.routes)
    _wire_relay(app, media, settings, live)
    openapi.install(app)
    pages.add_static(app)
    # the database opens first and closes last: installers' background tasks run inside it
    app.cleanup_ctx.append(_lifecycle)
    _install_node(app, cluster, rooms)
    workflow_app.install(
        app,
        stores=storage.workflow,
        rooms=rooms,
        events=app[EVENTS],
        clock=clock,
        settings=settings,
        push=staff,
    )
    for install in default_installers() if installers is None else installers:
        install(app)
    return app


def _install_node(app: web.Application, cluster: RoomCluster, rooms: RoomService) -> None:
    """This node in the live state (shared, or its own for one node): heartbeats its address
    and load (a room ended is released by the room service), sweeps dead nodes, and writes its
    rooms and presence back when the live state returns after an outage."""
    settings = app[SETTINGS]
    live = cluster.live

    def load() -> tuple[int, int]:
        busy, participants, _ = rooms.live_counts()
        audience = app[SIGNALING].audience
        # a lecture's listeners whose media this node serves (their seats are on the room's
        # node, which counts them too): their media is this node's work
        return participants + (audience.served() if audience is not None else 0), busy

    started = asyncio.Event()

    async def on_back() -> None:
        edge = app[SIGNALING].edge
        if started.is_set() and edge is not None:
            # back after an outage that may have emptied it: every node writes its rooms'
            # placement back at its next heartbeat; until then no room is placed anew here
            edge.settle()
        await cluster.resync(rooms.sessions())

    agent = NodeAgent(
        live,
        address=lambda: app[BASE_URL][0],
        load=load,
        limit=settings.node_limit,
        interval=settings.node_heartbeat,
        on_back=on_back,
    )
    app[NODE_AGENT] = agent
    # a join finding no node registered (Redis back, empty) registers this one and goes on
    live.placement = SelfRegistering(live.placement, agent.beat)
    edge = app[SIGNALING].edge
    if edge is not None:
        edge.reachable = lambda: agent.reachable
        edge.settle_seconds = settings.node_heartbeat * 1.5
        edge.absent_for = settings.node_ttl * 2

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        try:
            await live.start()
        except Misconfigured:
            raise  # refused credentials: no retry helps, the server does not start
        except Exception:
            log.warning("live state unreachable at start node=%s", live.node_id)
        await app[SIGNALING].start()  # the node link listens before the node is placeable
        await agent.beat()  # registered before the first join (Redis away: it retries)
        started.set()
        task = asyncio.create_task(agent.run(), name="node-heartbeat")
        log.info("node up node=%s live=%s reachable=%s", live.node_id, live.kind, agent.reachable)
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await agent.leave()
        await app[SIGNALING].stop()
        await live.close()

    app.cleanup_ctx.append(lifecycle)


def _wire_relay(
    app: web.Application, media: MediaEngine, settings: Settings, live: LiveState | None
) -> None:
    """The lecture relay between nodes (docs/media.md, "Rooms across nodes"): only with a
    cluster secret and the aiortc engine; otherwise its internal routes refuse (403)."""
    from media.node_relay import NodeRelays
    from vidconsult.cluster.node import load_node_id, valid_node_id

    relays = getattr(media, "relays", None)
    secret = settings.cluster_secret.get_secret_value()
    if not secret or not isinstance(relays, NodeRelays):
        return
    if live is not None:
        node_id = live.node_id
    elif settings.node_id:
        node_id = valid_node_id(settings.node_id)
    else:
        node_id = load_node_id(settings.data_dir)
    courier = relay_api.HttpRelayCourier(node_id, secret)
    app[INTERNAL_URL] = [settings.internal_base_url()]  # the port, once it listens: run_server
    relays.configure(node_id, courier, own_url=lambda: str(app[INTERNAL_URL][0]))
    app[relay_api.RELAYS] = relays
    app[relay_api.CLUSTER_SECRET] = secret
    app[relay_api.COURIER] = courier
    signaling = app[SIGNALING]
    if live is not None and signaling.edge is not None:
        # a lecture's listeners whose sockets are here watch from this node's engine, relayed
        # from the room's node (signaling/audience.py); this node relays its own lectures
        signaling.audience = EdgeAudience(signaling.edge, relays, media, signaling.notifier)
        signaling.relay_url = lambda: str(app[INTERNAL_URL][0])

    async def close_courier(_app: web.Application) -> None:
        await courier.close()

    app.on_cleanup.append(close_courier)


# the consult room's decisions about people, on the case's (or the room's) audit trail
_AUDITED = {
    "lobby.admitted": AccessKind.LOBBY_ADMIT,
    "lobby.declined": AccessKind.LOBBY_DECLINE,
    "participant.removed": AccessKind.PARTICIPANT_REMOVE,
}


def _room_audit(access: AccessLog) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    async def on_event(event: str, data: dict[str, Any]) -> None:
        room_id, case_id = data.get("room_id"), data.get("case_id")
        if not isinstance(room_id, str):
            return
        case = case_id if isinstance(case_id, str) else None
        if event in _AUDITED:
            await access.record(
                str(data.get("by")),
                str(data.get("by_role")),
                _AUDITED[event],
                str(data.get("identity")),
                case_id=case,
                room_id=room_id,
                note=str(data.get("name") or ""),
            )
        elif event == "participant.joined" and isinstance(data.get("consent"), bool):
            kind = AccessKind.CONSENT_GIVEN if data["consent"] else AccessKind.CONSENT_REFUSED
            identity = str(data.get("identity"))
            role = str(data.get("role"))
            await access.record(identity, role, kind, identity, case_id=case, room_id=room_id)

    return on_event


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    await app[DATABASE].open()
    log.info("store open kind=%s", app[SETTINGS].store)
    await app[REVOCATIONS].load()
    yield
    await app[ROOMS].close()  # seats held for a rejoin: no grace ends after this
    await app[MEDIA].close()
    await app[SIGNALING].notifier.drain()
    await app[DATABASE].close()


@dataclass(slots=True)
class RunningServer:
    app: web.Application
    runner: web.AppRunner
    host: str
    port: int
    tls: ServerTls | None = None

    @property
    def url(self) -> str:
        return self.app[BASE_URL][0]


@asynccontextmanager
async def run_server(
    settings: Settings, *, tls: ServerTls | None = None, **kwargs: Any
) -> AsyncIterator[RunningServer]:
    """Run the app on settings.host:settings.port (0 = an ephemeral port) until exit, over
    HTTPS when the settings ask for it. ``tls``: the material already prepared from these
    settings (the CLI prepares it first, to refuse bad files before anything starts)."""
    if tls is None:
        tls = prepare_tls(settings)  # TlsError: a one-line reason
    app = build_app(settings, **kwargs)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        **guards.server_options(settings, app[REJECTIONS]),
    )
    await runner.setup()
    try:
        site = web.TCPSite(
            runner,
            settings.host,
            settings.port,
            reuse_address=True,
            ssl_context=tls.context if tls else None,
        )
        await site.start()
        port = _bound_port(site) or settings.port
        app[BASE_URL][0] = settings.base_url(port, host=_link_host(settings.host))
        if INTERNAL_URL in app:
            app[INTERNAL_URL][0] = settings.internal_base_url(port, host=_link_host(settings.host))
        app[SIGNALING].origins.set(allowed_origins(settings, port))
        log.info("listening url=%s tls=%s", app[BASE_URL][0], _tls_kind(tls))
        yield RunningServer(app=app, runner=runner, host=settings.host, port=port, tls=tls)
    finally:
        await runner.cleanup()


def allowed_origins(settings: Settings, port: int) -> list[str]:
    """The pages that may open a signaling connection: the public URL's, this server's own
    (every address it listens on, by IP and by its names) and the operator's list."""
    from vidconsult.addresses import machine_name, own_origins, parse_origins

    names = [n for n in (machine_name(), *settings.tls_extra_names()) if n]
    interfaces = interface_addresses() if is_wildcard(settings.host) else []
    scheme = "https" if settings.tls_enabled else "http"
    own = own_origins(scheme, port, settings.host, interfaces, names)
    public = [settings.public_url] if settings.public_url else []
    return [*public, *own, *parse_origins(settings.allowed_origins)]


def _link_host(listen_host: str) -> str | None:
    """For a wildcard listen address, links name this machine's first interface address (a
    link to 127.0.0.1 works on this machine only); None keeps the settings' default."""
    if not is_wildcard(listen_host):
        return None
    hosts = reachable_hosts(listen_host, interface_addresses())
    return hosts[0] if hosts else None


def _tls_kind(tls: ServerTls | None) -> str:
    if tls is None:
        return "off"
    return "self-signed" if tls.self_signed else "certificate"


def _bound_port(site: web.TCPSite) -> int | None:
    server = site._server  # aiohttp keeps the asyncio server here
    sockets = getattr(server, "sockets", None) or []
    for sock in sockets:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            return int(sock.getsockname()[1])
    return None
