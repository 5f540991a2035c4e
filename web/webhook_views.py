"""Response models of webhooks and their deliveries: the wire format at the edge (the
domain's ``Webhook`` and ``Delivery`` keep none), and their OpenAPI schemas."""

from __future__ import annotations

from pydantic import BaseModel, Field

from vidconsult.domain.webhooks import Delivery, DeliveryStatus, Webhook
from web.room_views import Instant


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str
    created_by: str
    created_at: Instant

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookOut:
        return cls(
            id=webhook.id,
            url=webhook.url,
            events=list(webhook.events),
            description=webhook.description,
            created_by=webhook.created_by,
            created_at=webhook.created_at,
        )


class NewWebhook(WebhookOut):
    secret: str = Field(description="the HMAC key: only in this answer")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: str = Field(description="the X-Vidconsult-Delivery header")
    webhook_id: str
    event: str
    event_id: str = Field(description="the body's id")
    status: DeliveryStatus
    attempts: int
    created_at: Instant
    next_attempt_at: Instant | None = Field(description="while pending")
    last_attempt_at: Instant | None
    last_status: int | None
    last_error: str

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=d.id,
            webhook_id=d.webhook_id,
            event=d.event,
            event_id=d.event_id,
            status=d.status,
            attempts=d.attempts,
            created_at=d.created_at,
            next_attempt_at=d.next_attempt_at if d.status is DeliveryStatus.PENDING else None,
            last_attempt_at=d.last_attempt_at,
            last_status=d.last_status,
            last_error=d.last_error,
        )


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]
