"""Outgoing webhooks: endpoints registered by coordinators receive every matching EventBus
event as a signed JSON POST.

Publishing only enqueues (one row per matching endpoint, in the store, so nothing is lost on a
restart); the :class:`DeliveryWorker` posts them in the background, retrying with exponential
backoff and jitter, and never holds up the publisher. Delivery is at-least-once: a receiver
deduplicates on ``X-Vidconsult-Delivery``.

A service whose events must not be lost between its change and their queueing (the pager)
builds the deliveries itself (:meth:`WebhookService.prepare`, stable ids) and writes them in
its change's transaction (an outbox); :attr:`WebhookService.outboxed` names those events, which
the bus subscriber then skips. A delivery with ``after_id`` waits until that one is finished."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol

from vidconsult.domain.webhooks import (
    Delivery,
    DeliveryStatus,
    Destinations,
    Outcome,
    RetryPolicy,
    Webhook,
    classify,
    keyed_id,
    matches,
    signature,
    validate_patterns,
    validate_url,
)
from vidconsult.errors import InvalidInput, NotFound, Unavailable
from vidconsult.ports import Clock
from vidconsult.services.rooms import new_id
from vidconsult.store.base_webhooks import WebhookStore
from vidconsult.store.base_workflow import LeaseStore

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


class DeliveryError(Exception):
    """A delivery attempt got no HTTP response (timeout, refused, reset, bad URL)."""


class Sender(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        """POST ``body``; the response status (redirects not followed), or DeliveryError."""
        ...


@dataclass(frozen=True, slots=True)
class WebhooksConfig:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 10.0  # seconds per attempt
    concurrency: int = 4
    batch: int = 50
    destinations: Destinations = field(default_factory=Destinations)
    # several nodes: seconds the sending node's lease lasts (renewed before each attempt), and
    # how often a node looks for deliveries another node queued (nobody wakes it for those)
    lease_ttl: float = 60.0
    poll: float = 2.0


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event another service queues itself, in the same transaction as the change it tells
    (the paging's outbox), rather than through the event bus.

    ``key`` is stable (the same event made again, after a crash or on another node, has the
    same key, so the same delivery ids: queued and received once). ``after``: the key of an
    event each endpoint must have had (delivered or given up) before this one is attempted."""

    key: str
    event: str
    data: dict[str, Any]
    after: str | None = None


class WebhookService:
    """Registers endpoints and turns events into queued deliveries."""

    def __init__(
        self,
        *,
        store: WebhookStore,
        clock: Clock,
        on_enqueued: Callable[[], None] = lambda: None,
        destinations: Destinations | None = None,
    ) -> None:
        self._destinations = destinations or Destinations()
        self._store = store
        self._clock = clock
        self.on_enqueued = on_enqueued
        # events their service queues itself (:meth:`prepare`, written with the change they
        # tell): the event bus's copy of them is not queued again
        self.outboxed: set[str] = set()

    async def create(
        self,
        *,
        url: str,
        events: list[str],
        created_by: str,
        secret: str | None = None,
        description: str = "",
    ) -> Webhook:
        if secret is not None and not 16 <= len(secret) <= 200:
            raise InvalidInput("webhook secret must be 16..200 characters")
        webhook = Webhook(
            id=new_id("wh"),
            url=validate_url(url, self._destinations),
            events=validate_patterns(events),
            secret=secret or "whsec_" + secrets.token_urlsafe(32),
            created_by=created_by,
            created_at=self._clock.now(),
            description=description.strip()[:200],
        )
        await self._store.create_webhook(webhook)
        log.info(
            "webhook created webhook=%s url=%s events=%s",
            webhook.id,
            webhook.url,
            ",".join(webhook.events),
        )
        return webhook

    async def list_webhooks(self) -> list[Webhook]:
        return await self._store.list_webhooks()

    async def get(self, webhook_id: str) -> Webhook:
        webhook = await self._store.get_webhook(webhook_id)
        if webhook is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return webhook

    async def delete(self, webhook_id: str) -> None:
        if not await self._store.delete_webhook(webhook_id):
            raise NotFound(f"webhook {webhook_id} not found")
        log.info("webhook deleted webhook=%s", webhook_id)

    async def deliveries(self, webhook_id: str, limit: int = 100) -> list[Delivery]:
        await self.get(webhook_id)
        return await self._store.list_deliveries(webhook_id, limit)

    async def on_event(self, event: str, data: dict[str, Any]) -> None:
        """EventBus subscriber: queue one delivery per matching endpoint (a store write only)."""
        if event in self.outboxed:
            return  # queued by its service with the change it tells
        hooks = [w for w in await self._store.list_webhooks() if matches(w.events, event)]
        if not hooks:
            return
        now = self._clock.now()
        event_id = new_id("evt")
        body = json.dumps(
            {"id": event_id, "event": event, "created_at": now.isoformat(), "data": data},
            separators=(",", ":"),
            default=str,
        ).encode()
        await self._store.enqueue(
            [
                Delivery(
                    id=new_id("dlv"),
                    webhook_id=w.id,
                    event=event,
                    event_id=event_id,
                    body=body,
                    created_at=now,
                    next_attempt_at=now,
                )
                for w in hooks
            ]
        )
        self.on_enqueued()

    async def prepare(self, outgoing: Sequence[Outgoing]) -> list[Delivery]:
        """The deliveries of ``outgoing`` to every matching endpoint, for the caller to write
        with its change (nothing is queued here), with stable ids (:func:`keyed_id`)."""
        if not outgoing:
            return []
        hooks = await self._store.list_webhooks()
        now = self._clock.now()
        made = []
        for out in outgoing:
            event_id = keyed_id("evt", out.key)
            body = json.dumps(
                {
                    "id": event_id,
                    "event": out.event,
                    "created_at": now.isoformat(),
                    "data": out.data,
                },
                separators=(",", ":"),
                default=str,
            ).encode()
            made += [
                Delivery(
                    id=keyed_id("dlv", out.key, w.id),
                    webhook_id=w.id,
                    event=out.event,
                    event_id=event_id,
                    body=body,
                    created_at=now,
                    next_attempt_at=now,
                    after_id=keyed_id("dlv", out.after, w.id) if out.after else None,
                )
                for w in hooks
                if matches(w.events, out.event)
            ]
        return made


LEASE = "webhook-deliveries"


class DeliveryWorker:
    """Posts due deliveries; between rounds, sleeps until the next one is due or new ones
    are queued. ``sleep`` and ``rand`` are injectable for tests.

    ``leases`` (several nodes sharing one queue): only the node holding the lease
    :data:`LEASE` sends, and it renews the lease before each attempt, so a delivery is sent by
    one node (an attempt lasts at most ``timeout``, well inside ``lease_ttl``). The others
    look again every ``poll`` seconds and take over when the holder stops renewing."""

    def __init__(
        self,
        *,
        store: WebhookStore,
        sender: Sender,
        clock: Clock,
        config: WebhooksConfig | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        leases: LeaseStore | None = None,
        owner: str = "",
    ) -> None:
        self._leases = leases
        self.owner = owner or "webhooks"
        self._store = store
        self._sender = sender
        self._clock = clock
        self.config = config or WebhooksConfig()
        self._sleep = sleep
        self._rand = rand
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                if await self.run_once() >= self.config.batch:
                    continue  # more may be due already
                due = await self._store.next_due_at()
            except Unavailable as exc:  # the store is down: one line, and a round in 5 s
                log.warning("webhook delivery round skipped reason=%s", exc.message)
                due = self._clock.now() + timedelta(seconds=5)
            except Exception:
                log.exception("webhook delivery round failed")
                due = self._clock.now() + timedelta(seconds=5)
            delay = None if due is None else max(0.0, (due - self._clock.now()).total_seconds())
            if self._leases is not None:  # deliveries queued by other nodes wake nobody here
                delay = self.config.poll if delay is None else min(delay, self.config.poll)
            await self._wait(delay)

    async def _wait(self, delay: float | None) -> None:
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
        if delay is not None:
            waiters.add(asyncio.ensure_future(self._sleep(delay)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def owns_queue(self) -> bool:
        """Whether this node sends now (takes or renews the lease; always, for one node)."""
        if self._leases is None:
            return True
        ttl = timedelta(seconds=self.config.lease_ttl)
        return await self._leases.acquire(LEASE, self.owner, self._clock.now(), ttl)

    async def release(self) -> None:
        if self._leases is not None:
            await self._leases.release(LEASE, self.owner)

    async def run_once(self) -> int:
        """Attempt every delivery due now; return how many were attempted."""
        if not await self.owns_queue():
            return 0
        due = await self._store.due_deliveries(self._clock.now(), self.config.batch)
        limit = asyncio.Semaphore(self.config.concurrency)

        async def bounded(delivery: Delivery) -> None:
            async with limit:
                if self._leases is not None and not await self.owns_queue():
                    return  # another node took the queue over meanwhile
                await self.attempt(delivery)

        await asyncio.gather(*(bounded(d) for d in due))
        return len(due)

    async def attempt(self, delivery: Delivery) -> Delivery:
        webhook = await self._store.get_webhook(delivery.webhook_id)
        if webhook is None:
            return delivery
        now = self._clock.now()
        timestamp = int(now.timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "vidconsult-webhooks",
            "X-Vidconsult-Event": delivery.event,
            "X-Vidconsult-Delivery": delivery.id,
            "X-Vidconsult-Timestamp": str(timestamp),
            "X-Vidconsult-Signature": signature(webhook.secret, timestamp, delivery.body),
        }
        status: int | None = None
        error = ""
        try:
            status = await self._sender.post(
                webhook.url, delivery.body, headers, self.config.timeout
            )
        except DeliveryError as exc:
            error = str(exc)[:500] or type(exc).__name__
        outcome = classify(status)
        attempts = delivery.attempts + 1
        policy = self.config.retry
        updated = replace(
            delivery,
            attempts=attempts,
            last_attempt_at=now,
            last_status=status,
            last_error=error or ("" if status is None or status < 400 else f"HTTP {status}"),
        )
        if outcome is Outcome.SUCCEEDED:
            updated = replace(updated, status=DeliveryStatus.SUCCEEDED)
        elif outcome is Outcome.FAILED or attempts >= policy.max_attempts:
            updated = replace(updated, status=DeliveryStatus.FAILED)
        else:
            wait = policy.delay(attempts, self._rand())
            updated = replace(updated, next_attempt_at=now + timedelta(seconds=wait))
        await self._store.save_delivery(updated)
        log.log(
            logging.INFO if outcome is Outcome.SUCCEEDED else logging.WARNING,
            "webhook delivery webhook=%s delivery=%s event=%s attempt=%s status=%s result=%s",
            webhook.id,
            delivery.id,
            delivery.event,
            attempts,
            status or error,
            updated.status.value,
        )
        return updated
