"""The composition root's areas: for each optional area of the product (case records,
accounts and API tokens, webhooks, recordings, the access log) the one function that builds
its services from the app's stores, clock, signer, event bus, media engine and signaling, and
adds the routes its ``web/*_api.py`` module declares. ``web/`` modules only declare routes
(and their request/response models); they build nothing and import no store, no media part.

``build_app`` installs all of them (:func:`default_installers`); a test passes only the ones
it needs, with its own configuration (``records_installer(config)``, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from vidconsult import errors
from vidconsult.app_keys import EVENTS, MEDIA, NODE_AGENT, SIGNALING, STAFF
from vidconsult.cluster.ports import CLUSTER_TOPIC, NODE_DOWN
from vidconsult.domain.accounts import AccountRole
from vidconsult.domain.paging import PageTarget, TargetKind
from vidconsult.services.accounts import AccountsConfig, AccountService, PasswordPool
from vidconsult.services.exports import ExportService
from vidconsult.services.paging import PAGING_OUTBOX, Contacts
from vidconsult.services.recordings import RecordingService
from vidconsult.services.records import RecordsConfig, RecordService
from vidconsult.services.webhooks import DeliveryWorker, Sleep, WebhooksConfig, WebhookService
from vidconsult.store.blobs import FileBlobStore
from vidconsult.store.recording_files import ArchiveFiles
from web import access_api, accounts_api, recordings_api, records_api, webhooks_api
from web.http import api_token_middleware
from web.keys import (
    API_TOKEN_RESOLVER,
    CLOCK,
    LIVE,
    REVOCATIONS,
    ROOM_ROUTER,
    ROOMS,
    SESSION_CHECKER,
    SETTINGS,
    SIGNER,
    STORAGE,
)
from web.workflow_keys import PAGING

log = logging.getLogger(__name__)

# an area's wiring step: builds its services on the app and adds its routes
Installer = Callable[[web.Application], None]


def default_installers() -> list[Installer]:
    return [
        install_records,
        install_accounts,
        install_webhooks,
        install_recordings,
        install_access,
    ]


# case records ---------------------------------------------------------------------------------
def install_records(app: web.Application) -> None:
    records_installer(records_api.config_from(app[SETTINGS]))(app)


def records_installer(config: RecordsConfig) -> Installer:
    def install(app: web.Application) -> None:
        settings = app[SETTINGS]
        storage = app[STORAGE]
        records = RecordService(
            attachments=storage.attachments,
            chat=storage.chat,
            blobs=FileBlobStore(settings.data_dir / "attachments"),
            clock=app[CLOCK],
            link_key=settings.load_secret(),
            config=config,
        )
        app[records_api.RECORDS] = records
        app[EVENTS].subscribe(records.on_event)
        app.router.add_routes(records_api.routes)

    return install


# accounts and API tokens ----------------------------------------------------------------------
def install_accounts(app: web.Application) -> None:
    accounts_installer(accounts_api.config_from(app[SETTINGS]))(app)


def accounts_installer(config: AccountsConfig) -> Installer:
    def install(app: web.Application) -> None:
        storage = app[STORAGE]
        settings = app[SETTINGS]
        # Argon2 in a bounded pool of its own, closed with the app (after the last request)
        pool = PasswordPool(settings.password_workers, settings.password_queue)
        app.cleanup_ctx.append(_closing(pool))
        app[accounts_api.PASSWORD_POOL] = pool
        service = AccountService(
            accounts=storage.accounts,
            tokens=storage.api_tokens,
            signer=app[SIGNER],
            clock=app[CLOCK],
            config=config,
            pool=pool,
            revocations=app.get(REVOCATIONS),
        )
        app[accounts_api.ACCOUNTS] = service
        app[API_TOKEN_RESOLVER] = service.resolve_api_token
        app[SESSION_CHECKER] = service.check_session
        if STAFF in app:  # the staff channel admits live sessions only
            app[STAFF].check_session = service.check_session
        if PAGING in app:  # a page carries the phone an SMS or phone gateway dials
            app[PAGING].contacts = _contacts(service)
        if api_token_middleware not in app.middlewares:
            app.middlewares.append(api_token_middleware)
        app.router.add_routes(accounts_api.routes)

    return install


def _contacts(service: AccountService) -> Contacts:
    async def contacts(target: PageTarget) -> list[dict[str, str]]:
        if target.kind is TargetKind.COORDINATOR:
            return await service.contacts(role=AccountRole.COORDINATOR)
        return await service.contacts(username=target.id)

    return contacts


def _closing(pool: PasswordPool) -> Callable[[web.Application], AsyncIterator[None]]:
    async def password_pool(app: web.Application) -> AsyncIterator[None]:
        yield
        await pool.close()

    return password_pool


# webhooks -------------------------------------------------------------------------------------
def install_webhooks(app: web.Application) -> None:
    webhooks_installer(webhooks_api.config_from(app[SETTINGS]))(app)


def webhooks_installer(config: WebhooksConfig, *, sleep: Sleep = asyncio.sleep) -> Installer:
    def install(app: web.Application) -> None:
        storage = app[STORAGE]
        store = storage.webhooks
        sender = webhooks_api.AiohttpSender(config.destinations)
        # nodes sharing one database share its queue: one of them sends (the store's lease)
        shared = storage.kind == "postgres"
        worker = DeliveryWorker(
            store=store,
            sender=sender,
            clock=app[CLOCK],
            config=config,
            sleep=sleep,
            leases=storage.workflow.leases if shared else None,
            owner=app[LIVE].node_id,
        )
        service = WebhookService(
            store=store, clock=app[CLOCK], on_enqueued=worker.wake, destinations=config.destinations
        )
        app[webhooks_api.WEBHOOKS] = service
        app[webhooks_api.WEBHOOK_WORKER] = worker
        app[EVENTS].subscribe(service.on_event)
        if PAGING in app:  # the pager queues what the gateway hears with each paging change
            app[PAGING].webhooks = service
            service.outboxed |= PAGING_OUTBOX

        async def run_worker(app: web.Application) -> AsyncIterator[None]:
            task = asyncio.create_task(worker.run(), name="webhook-deliveries")
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            try:
                await worker.release()  # another node takes the queue over at once
            except Exception:
                log.warning("webhook queue lease not released node=%s", worker.owner)
            await sender.close()

        app.cleanup_ctx.append(run_worker)
        app.router.add_routes(webhooks_api.routes)

    return install


# recordings -----------------------------------------------------------------------------------
def install_recordings(app: web.Application) -> None:
    """The recorder on the media engine's taps (if it has them), the service, routes, recovery
    of interrupted files at start and the retention loop (``recording_purge_interval``
    seconds, 0 = off)."""
    from media.recording import TapRecorder
    from media.recording.composite import export_composite
    from media.recording.repair import salvage

    settings = app[SETTINGS]
    store = app[STORAGE].recordings
    try:
        recorder = TapRecorder(app[MEDIA])
    except TypeError as exc:
        log.warning("recording unavailable: %s", exc)
        recorder = None
    archive = ArchiveFiles(recordings_api.recordings_root(settings), settings.load_secret())
    service = RecordingService(
        store=store,
        archive=archive,
        recorder=recorder,
        rooms=app[ROOMS],
        notifier=app[SIGNALING].notifier,
        clock=app[CLOCK],
        config=recordings_api.config_from(settings),
        salvage=salvage,
        events=app[EVENTS],
        node_id=app[LIVE].node_id,
    )
    app[recordings_api.RECORDINGS] = service

    exports = ExportService(
        store=store,
        recordings=service,
        archive=archive,
        compose=export_composite,
        clock=app[CLOCK],
        node_id=app[LIVE].node_id,
    )

    async def on_cluster(message: dict[str, Any]) -> None:
        # another node died: its files still marked "recording" are interrupted now, and
        # the exports it was running have failed
        if message.get("type") == NODE_DOWN:
            await service.node_down(str(message.get("node")))
            await exports.node_down(str(message.get("node")))

    app[NODE_AGENT].follow(CLUSTER_TOPIC, on_cluster)
    app[recordings_api.EXPORTS] = exports
    app[EVENTS].subscribe(service.on_event)
    recordings_api.add_room_requests(app[SIGNALING], service)
    recordings_api.add_room_commands(app[ROOM_ROUTER], service)
    app.router.add_routes(recordings_api.routes)
    interval = settings.recording_purge_interval

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await service.recover()  # takes the archive's server lock first
        try:
            await exports.recover()
        except Exception:  # nothing here stops the server from starting
            log.exception("recovering interrupted exports failed")
        loop_task = asyncio.create_task(_purge_loop(service, interval)) if interval > 0 else None
        yield
        if loop_task is not None:
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
        await exports.close()
        await service.close()

    app.cleanup_ctx.append(lifecycle)


async def _purge_loop(service: RecordingService, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await service.purge()
        except errors.Unavailable as exc:  # the store is down: one line, and the next round
            log.warning("retention purge skipped reason=%s", exc.message)
        except Exception:
            log.exception("retention purge failed")


# the access log (built by build_app: every area writes to it) ---------------------------------
def install_access(app: web.Application) -> None:
    app.router.add_routes(access_api.routes)
