"""Dashboard accounts, API tokens and webhooks (endpoints and their delivery queue) on
PostgreSQL; the same contracts as ``sqlite_accounts`` and ``sqlite_webhooks``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from vidconsult.domain.accounts import Account, ApiToken
from vidconsult.domain.webhooks import Delivery, DeliveryStatus, Webhook
from vidconsult.errors import Conflict
from vidconsult.store.pg import tables as t
from vidconsult.store.pg.database import PostgresDatabase
from vidconsult.store.pg.rows import RowMap

ACCOUNTS = RowMap(Account, t.accounts)
API_TOKENS = RowMap(ApiToken, t.api_tokens)
WEBHOOKS = RowMap(Webhook, t.webhooks)
DELIVERIES = RowMap(Delivery, t.webhook_deliveries)


def _ready() -> ColumnElement[bool]:
    """Pending, and not waiting for a delivery that is itself still pending."""
    c = t.webhook_deliveries.c
    before = t.webhook_deliveries.alias("before")
    waits = exists().where(
        before.c.id == c.after_id, before.c.status == DeliveryStatus.PENDING.value
    )
    return (c.status == DeliveryStatus.PENDING.value) & ~waits


async def insert_deliveries(conn: AsyncConnection, deliveries: list[Delivery]) -> None:
    """Queue ``deliveries`` on ``conn`` (inside the caller's transaction: the paging store
    writes a paging change's deliveries with it). A delivery id already queued is kept as it
    is (the same event made again: once); one to an endpoint deleted meanwhile is dropped."""
    hooks = {d.webhook_id for d in deliveries}
    if hooks:
        live = set(
            (await conn.execute(select(t.webhooks.c.id).where(t.webhooks.c.id.in_(hooks))))
            .scalars()
            .all()
        )
        deliveries = [d for d in deliveries if d.webhook_id in live]
    if deliveries:
        await conn.execute(
            insert(t.webhook_deliveries).on_conflict_do_nothing(
                index_elements=[t.webhook_deliveries.c.id]
            ),
            [DELIVERIES.values(d) for d in deliveries],
        )


class PgAccountStore:
    """Implements AccountStore and ApiTokenStore."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create_account(self, account: Account) -> None:
        await self._db.insert_new(
            insert(t.accounts).values(ACCOUNTS.values(account)),
            lambda: Conflict(f"account {account.username} exists", code="account_exists"),
        )

    async def get_account(self, username: str) -> Account | None:
        stmt = select(t.accounts).where(t.accounts.c.username == username)
        return await self._db.first(stmt, ACCOUNTS.load)

    async def list_accounts(self) -> list[Account]:
        return await self._db.every(
            select(t.accounts).order_by(t.accounts.c.username), ACCOUNTS.load
        )

    async def save_account(self, account: Account) -> None:
        """The mutable fields only; never ``disabled`` nor ``session_generation`` (see the
        protocol: a stale copy must not undo a disable or revive ended sessions)."""
        values = ACCOUNTS.values(
            account, "display_name", "role", "password_hash", "failed_logins", "locked_until"
        )
        async with self._db.begin() as conn:
            await conn.execute(
                update(t.accounts).where(t.accounts.c.id == account.id).values(values)
            )

    async def set_disabled(self, account_id: str, disabled: bool) -> Account | None:
        c = t.accounts.c
        values: dict[str, Any] = (
            {"disabled": True, "session_generation": c.session_generation + 1}
            if disabled
            else {"disabled": False, "failed_logins": 0, "locked_until": None}
        )
        return await self._update_account(account_id, values)

    async def end_sessions(self, account_id: str) -> Account | None:
        return await self._update_account(
            account_id, {"session_generation": t.accounts.c.session_generation + 1}
        )

    async def _update_account(self, account_id: str, values: dict[str, Any]) -> Account | None:
        stmt = (
            update(t.accounts)
            .where(t.accounts.c.id == account_id)
            .values(**values)
            .returning(*t.accounts.c)
        )
        return await self._db.first(stmt, ACCOUNTS.load)

    async def create_api_token(self, token: ApiToken) -> None:
        await self._db.insert_new(
            insert(t.api_tokens).values(API_TOKENS.values(token)),
            lambda: Conflict(f"api token {token.id} exists", code="token_exists"),
        )

    async def get_api_token_by_hash(self, token_hash: str) -> ApiToken | None:
        stmt = select(t.api_tokens).where(t.api_tokens.c.token_hash == token_hash)
        return await self._db.first(stmt, API_TOKENS.load)

    async def list_api_tokens(self) -> list[ApiToken]:
        c = t.api_tokens.c
        stmt = select(t.api_tokens).order_by(c.created_at.desc(), c.id)
        return await self._db.every(stmt, API_TOKENS.load)

    async def revoke_api_token(self, token_id: str, at: datetime) -> ApiToken | None:
        c = t.api_tokens.c
        async with self._db.begin() as conn:
            await conn.execute(
                update(t.api_tokens)
                .where(c.id == token_id, c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            row = (await conn.execute(select(t.api_tokens).where(c.id == token_id))).first()
        return API_TOKENS.load(row) if row else None


class PgWebhookStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create_webhook(self, webhook: Webhook) -> None:
        await self._db.insert_new(
            insert(t.webhooks).values(WEBHOOKS.values(webhook)),
            lambda: Conflict(f"webhook {webhook.id} exists", code="webhook_exists"),
        )

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        stmt = select(t.webhooks).where(t.webhooks.c.id == webhook_id)
        return await self._db.first(stmt, WEBHOOKS.load)

    async def list_webhooks(self) -> list[Webhook]:
        c = t.webhooks.c
        return await self._db.every(select(t.webhooks).order_by(c.created_at, c.id), WEBHOOKS.load)

    async def delete_webhook(self, webhook_id: str) -> bool:
        async with self._db.begin() as conn:
            await conn.execute(
                delete(t.webhook_deliveries).where(t.webhook_deliveries.c.webhook_id == webhook_id)
            )
            gone = await conn.scalar(
                delete(t.webhooks).where(t.webhooks.c.id == webhook_id).returning(t.webhooks.c.id)
            )
        return gone is not None

    async def enqueue(self, deliveries: list[Delivery]) -> None:
        if not deliveries:
            return
        async with self._db.begin() as conn:
            await insert_deliveries(conn, deliveries)

    async def due_deliveries(self, now: datetime, limit: int = 50) -> list[Delivery]:
        c = t.webhook_deliveries.c
        stmt = (
            select(t.webhook_deliveries)
            .where(_ready(), c.next_attempt_at <= now)
            .order_by(c.next_attempt_at, c.created_at, c.seq)
            .limit(limit)
        )
        return await self._db.every(stmt, DELIVERIES.load)

    async def next_due_at(self) -> datetime | None:
        c = t.webhook_deliveries.c
        stmt = select(func.min(c.next_attempt_at)).where(_ready())
        async with self._db.begin() as conn:
            value: datetime | None = await conn.scalar(stmt)
        return value

    async def save_delivery(self, delivery: Delivery) -> None:
        values = DELIVERIES.values(
            delivery,
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_status",
            "last_error",
        )
        async with self._db.begin() as conn:
            await conn.execute(
                update(t.webhook_deliveries)
                .where(t.webhook_deliveries.c.id == delivery.id)
                .values(values)
            )

    async def list_deliveries(self, webhook_id: str, limit: int = 100) -> list[Delivery]:
        c = t.webhook_deliveries.c
        stmt = (
            select(t.webhook_deliveries)
            .where(c.webhook_id == webhook_id)
            .order_by(c.created_at.desc(), c.seq.desc())
            .limit(limit)
        )
        return await self._db.every(stmt, DELIVERIES.load)
