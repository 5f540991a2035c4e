"""Storage interface of webhook endpoints and their durable delivery queue."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from vidconsult.domain.webhooks import Delivery, Webhook


class WebhookStore(Protocol):
    async def create_webhook(self, webhook: Webhook) -> None: ...

    async def get_webhook(self, webhook_id: str) -> Webhook | None: ...

    async def list_webhooks(self) -> list[Webhook]:
        """Oldest first."""
        ...

    async def delete_webhook(self, webhook_id: str) -> bool:
        """Remove it and its deliveries; False if there was none."""
        ...

    async def enqueue(self, deliveries: list[Delivery]) -> None:
        """Insert pending deliveries (atomically)."""

    async def due_deliveries(self, now: datetime, limit: int = 50) -> list[Delivery]:
        """Pending deliveries whose ``next_attempt_at`` <= now, earliest first."""
        ...

    async def next_due_at(self) -> datetime | None:
        """The earliest ``next_attempt_at`` of any pending delivery."""
        ...

    async def save_delivery(self, delivery: Delivery) -> None:
        """Update status, attempts, next attempt and the last result (no-op if deleted)."""

    async def list_deliveries(self, webhook_id: str, limit: int = 100) -> list[Delivery]:
        """Newest first."""
        ...
