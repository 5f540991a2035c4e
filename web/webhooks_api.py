"""REST handlers for outgoing webhooks (``/api/v1/webhooks``), the aiohttp client that posts
deliveries, and the delivery worker's lifecycle (``cleanup_ctx``)."""

from __future__ import annotations

import errno
import socket

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from vidconsult.config import Settings
from vidconsult.domain.webhooks import Destinations, RetryPolicy
from vidconsult.errors import InvalidInput
from vidconsult.services.webhooks import (
    DeliveryError,
    DeliveryWorker,
    WebhooksConfig,
    WebhookService,
)
from web.account_views import Ok
from web.admin_schemas import CreateWebhook
from web.http import json_ok, parse_body, require_coordinator
from web.openapi import describe
from web.webhook_views import (
    DeliveryList,
    DeliveryOut,
    NewWebhook,
    WebhookList,
    WebhookOut,
)

routes = web.RouteTableDef()
WEBHOOKS = web.AppKey("webhooks", WebhookService)
WEBHOOK_WORKER = web.AppKey("webhook_worker", DeliveryWorker)


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then keeps only the addresses webhooks may
    reach: checked at connect time, so a name that re-resolves to an internal address later
    (DNS rebinding) is refused too."""

    def __init__(self, destinations: Destinations, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()
        self._destinations = destinations

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = [r for r in found if self._destinations.allows(r["host"])]
        if not allowed:
            raise OSError(
                errno.EHOSTUNREACH,
                f"{host} resolves only to addresses webhooks may not reach "
                f"({', '.join(sorted({r['host'] for r in found}))})",
            )
        return allowed

    async def close(self) -> None:
        await self._inner.close()


class AiohttpSender:
    """Posts deliveries with one pooled client session; never follows redirects; connects
    only to addresses ``destinations`` allows."""

    def __init__(
        self, destinations: Destinations | None = None, *, resolver: AbstractResolver | None = None
    ) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._destinations = destinations or Destinations()
        self._resolver = resolver  # the DNS under the guard (a test's fake)

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        try:
            # aiohttp does not resolve an IP literal: check it here, on the host as aiohttp
            # itself parses it (yarl maps internationalised names to ASCII, which can turn
            # "127。0。0。1" into an IP literal)
            self._destinations.check_host(URL(url).host or "")
        except InvalidInput as exc:
            raise DeliveryError(exc.message) from None
        except ValueError as exc:
            raise DeliveryError(f"bad url: {exc}") from None
        if self._session is None:
            guarded = GuardedResolver(self._destinations, self._resolver)
            connector = aiohttp.TCPConnector(resolver=guarded)
            self._session = aiohttp.ClientSession(connector=connector)
        try:
            async with self._session.post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def config_from(settings: Settings) -> WebhooksConfig:
    """Settings ``webhook_max_attempts``, ``webhook_backoff_base``, ``webhook_backoff_max``,
    ``webhook_timeout`` (seconds) and ``webhook_allowed_networks``."""
    return WebhooksConfig(
        retry=RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            base_delay=settings.webhook_backoff_base,
            max_delay=settings.webhook_backoff_max,
        ),
        timeout=settings.webhook_timeout,
        destinations=Destinations.parse(settings.webhook_allowed_networks),
    )


@routes.post("/api/v1/webhooks")
@describe(
    "Register an endpoint for events (coordinator); the secret is shown once",
    status=201,
    body=CreateWebhook,
    response=NewWebhook,
)
async def create_webhook(request: web.Request) -> web.Response:
    who = require_coordinator(request)
    body = await parse_body(request, CreateWebhook)
    webhook = await request.app[WEBHOOKS].create(
        url=body.url,
        events=body.events,
        secret=body.secret,
        description=body.description,
        created_by=who.identity,
    )
    # the secret is shown once, on creation
    created = NewWebhook(**WebhookOut.of(webhook).model_dump(), secret=webhook.secret)
    return json_ok(created.model_dump(mode="json"), status=201)


@routes.get("/api/v1/webhooks")
@describe("List endpoints (coordinator)", response=WebhookList)
async def list_webhooks(request: web.Request) -> web.Response:
    require_coordinator(request)
    hooks = await request.app[WEBHOOKS].list_webhooks()
    listed = WebhookList(webhooks=[WebhookOut.of(w) for w in hooks])
    return json_ok(listed.model_dump(mode="json"))


@routes.get("/api/v1/webhooks/{webhook_id}")
@describe("An endpoint (coordinator)", response=WebhookOut, errors=(404,))
async def get_webhook(request: web.Request) -> web.Response:
    require_coordinator(request)
    webhook = await request.app[WEBHOOKS].get(request.match_info["webhook_id"])
    return json_ok(WebhookOut.of(webhook).model_dump(mode="json"))


@routes.delete("/api/v1/webhooks/{webhook_id}")
@describe("Delete an endpoint (coordinator)", response=Ok, errors=(404,))
async def delete_webhook(request: web.Request) -> web.Response:
    require_coordinator(request)
    await request.app[WEBHOOKS].delete(request.match_info["webhook_id"])
    return json_ok(Ok().model_dump(mode="json"))


@routes.get("/api/v1/webhooks/{webhook_id}/deliveries")
@describe(
    "An endpoint's recent deliveries, newest first (coordinator)",
    response=DeliveryList,
    errors=(404,),
)
async def list_deliveries(request: web.Request) -> web.Response:
    require_coordinator(request)
    deliveries = await request.app[WEBHOOKS].deliveries(request.match_info["webhook_id"])
    listed = DeliveryList(deliveries=[DeliveryOut.of(d) for d in deliveries])
    return json_ok(listed.model_dump(mode="json"))
