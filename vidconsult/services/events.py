"""An in-process event bus: services publish domain events ("case.scheduled",
"room.opened", ...); subscribers (webhooks, the dashboard feed, the emergency pager) receive
them. A failing subscriber is logged and never breaks the publisher."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Subscriber = Callable[[str, dict[str, Any]], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, event: str, data: dict[str, Any]) -> None:
        for subscriber in list(self._subscribers):
            try:
                await subscriber(event, data)
            except Exception:
                log.exception("event subscriber failed event=%s", event)
