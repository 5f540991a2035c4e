"""Dashboard accounts, API tokens and webhooks (endpoints and their delivery queue) on
PostgreSQL; the same contracts as ``sqlite_accounts`` and ``sqlite_webhooks``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, exc, func, select, update
from sqlalchemy.dialects.postgresql import insert

from vidconsult.domain.accounts import Account, AccountRole, ApiToken
from vidconsult.domain.webhooks import Delivery, DeliveryStatus, Webhook
from vidconsult.errors import Conflict
from vidconsult.store.pg import tables as t
from vidconsult.store.pg.database import PostgresDatabase


class PgAccountStore:
    """Implements AccountStore and ApiTokenStore."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create_account(self, account: Account) -> None:
        a = account
        try:
            async with self._db.begin() as conn:
                await conn.execute(
                    insert(t.accounts).values(
                        id=a.id,
                        username=a.username,
                        display_name=a.display_name,
                        role=a.role.value,
                        password_hash=a.password_hash,
                        disabled=a.disabled,
                        failed_logins=a.failed_logins,
                        locked_until=a.locked_until,
                        created_at=a.created_at,
                        session_generation=a.session_generation,
                        unit_id=a.unit_id,
                        phone=a.phone,
                    )
                )
        except exc.IntegrityError:
            raise Conflict(f"account {a.username} exists", code="account_exists") from None

    async def get_account(self, username: str) -> Account | None:
        stmt = select(t.accounts).where(t.accounts.c.username == username)
        async with self._db.begin() as conn:
            row = (await conn.execute(stmt)).first()
        return _account(row) if row else None

    async def list_accounts(self) -> list[Account]:
        async with self._db.begin() as conn:
            rows = (await conn.execute(select(t.accounts).order_by(t.accounts.c.username))).all()
        return [_account(r) for r in rows]

    async def save_account(self, account: Account) -> None:
        """The mutable fields only; never ``disabled`` nor ``session_generation`` (see the
        protocol: a stale copy must not undo a disable or revive ended sessions)."""
        a = account
        async with self._db.begin() as conn:
            await conn.execute(
                update(t.accounts)
                .where(t.accounts.c.id == a.id)
                .values(
                    display_name=a.display_name,
                    role=a.role.value,
                    password_hash=a.password_hash,
                    failed_logins=a.failed_logins,
                    locked_until=a.locked_until,
                )
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
        async with self._db.begin() as conn:
            row = (await conn.execute(stmt)).first()
        return _account(row) if row else None

    async def create_api_token(self, token: ApiToken) -> None:
        tk = token
        try:
            async with self._db.begin() as conn:
                await conn.execute(
                    insert(t.api_tokens).values(
                        id=tk.id,
                        name=tk.name,
                        role=tk.role.value,
                        token_hash=tk.token_hash,
                        prefix=tk.prefix,
                        created_by=tk.created_by,
                        created_at=tk.created_at,
                        expires_at=tk.expires_at,
                        revoked_at=tk.revoked_at,
                    )
                )
        except exc.IntegrityError:
            raise Conflict(f"api token {tk.id} exists", code="token_exists") from None

    async def get_api_token_by_hash(self, token_hash: str) -> ApiToken | None:
        stmt = select(t.api_tokens).where(t.api_tokens.c.token_hash == token_hash)
        async with self._db.begin() as conn:
            row = (await conn.execute(stmt)).first()
        return _token(row) if row else None

    async def list_api_tokens(self) -> list[ApiToken]:
        c = t.api_tokens.c
        async with self._db.begin() as conn:
            rows = (
                await conn.execute(select(t.api_tokens).order_by(c.created_at.desc(), c.id))
            ).all()
        return [_token(r) for r in rows]

    async def revoke_api_token(self, token_id: str, at: datetime) -> ApiToken | None:
        c = t.api_tokens.c
        async with self._db.begin() as conn:
            await conn.execute(
                update(t.api_tokens)
                .where(c.id == token_id, c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            row = (await conn.execute(select(t.api_tokens).where(c.id == token_id))).first()
        return _token(row) if row else None


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        username=row.username,
        role=AccountRole(row.role),
        password_hash=row.password_hash,
        created_at=row.created_at,
        display_name=row.display_name,
        disabled=row.disabled,
        failed_logins=row.failed_logins,
        locked_until=row.locked_until,
        session_generation=row.session_generation,
        unit_id=row.unit_id,
        phone=row.phone,
    )


def _token(row: Any) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        role=AccountRole(row.role),
        token_hash=row.token_hash,
        prefix=row.prefix,
        created_by=row.created_by,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


class PgWebhookStore:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def create_webhook(self, webhook: Webhook) -> None:
        w = webhook
        try:
            async with self._db.begin() as conn:
                await conn.execute(
                    insert(t.webhooks).values(
                        id=w.id,
                        url=w.url,
                        events=list(w.events),
                        secret=w.secret,
                        description=w.description,
                        created_by=w.created_by,
                        created_at=w.created_at,
                    )
                )
        except exc.IntegrityError:
            raise Conflict(f"webhook {w.id} exists", code="webhook_exists") from None

    async def get_webhook(self, webhook_id: str) -> Webhook | None:
        async with self._db.begin() as conn:
            row = (
                await conn.execute(select(t.webhooks).where(t.webhooks.c.id == webhook_id))
            ).first()
        return _webhook(row) if row else None

    async def list_webhooks(self) -> list[Webhook]:
        c = t.webhooks.c
        async with self._db.begin() as conn:
            rows = (await conn.execute(select(t.webhooks).order_by(c.created_at, c.id))).all()
        return [_webhook(r) for r in rows]

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
            await conn.execute(insert(t.webhook_deliveries), [_delivery_row(d) for d in deliveries])

    async def due_deliveries(self, now: datetime, limit: int = 50) -> list[Delivery]:
        c = t.webhook_deliveries.c
        stmt = (
            select(t.webhook_deliveries)
            .where(c.status == DeliveryStatus.PENDING.value, c.next_attempt_at <= now)
            .order_by(c.next_attempt_at, c.created_at)
            .limit(limit)
        )
        async with self._db.begin() as conn:
            return [_delivery(r) for r in (await conn.execute(stmt)).all()]

    async def next_due_at(self) -> datetime | None:
        c = t.webhook_deliveries.c
        stmt = select(func.min(c.next_attempt_at)).where(c.status == DeliveryStatus.PENDING.value)
        async with self._db.begin() as conn:
            value: datetime | None = await conn.scalar(stmt)
        return value

    async def save_delivery(self, delivery: Delivery) -> None:
        d = delivery
        async with self._db.begin() as conn:
            await conn.execute(
                update(t.webhook_deliveries)
                .where(t.webhook_deliveries.c.id == d.id)
                .values(
                    status=d.status.value,
                    attempts=d.attempts,
                    next_attempt_at=d.next_attempt_at,
                    last_attempt_at=d.last_attempt_at,
                    last_status=d.last_status,
                    last_error=d.last_error,
                )
            )

    async def list_deliveries(self, webhook_id: str, limit: int = 100) -> list[Delivery]:
        c = t.webhook_deliveries.c
        stmt = (
            select(t.webhook_deliveries)
            .where(c.webhook_id == webhook_id)
            .order_by(c.created_at.desc(), c.seq.desc())
            .limit(limit)
        )
        async with self._db.begin() as conn:
            return [_delivery(r) for r in (await conn.execute(stmt)).all()]


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        url=row.url,
        events=tuple(row.events),
        secret=row.secret,
        description=row.description,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _delivery_row(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "webhook_id": d.webhook_id,
        "event": d.event,
        "event_id": d.event_id,
        "body": d.body,
        "status": d.status.value,
        "attempts": d.attempts,
        "created_at": d.created_at,
        "next_attempt_at": d.next_attempt_at,
        "last_attempt_at": d.last_attempt_at,
        "last_status": d.last_status,
        "last_error": d.last_error,
    }


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        webhook_id=row.webhook_id,
        event=row.event,
        event_id=row.event_id,
        body=bytes(row.body),
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        last_attempt_at=row.last_attempt_at,
        last_status=row.last_status,
        last_error=row.last_error,
    )
