"""Dashboard accounts and API tokens in SQLite."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from vidconsult.domain.accounts import Account, AccountRole, ApiToken
from vidconsult.errors import Conflict
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_records import iso

MIGRATIONS = [
    """
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT
    );
    """,
    "ALTER TABLE accounts ADD COLUMN session_generation INTEGER NOT NULL DEFAULT 0;",
    # unit doctors' accounts are bound to a unit; anyone may be paged on a phone
    """
    ALTER TABLE accounts ADD COLUMN unit_id TEXT;
    ALTER TABLE accounts ADD COLUMN phone TEXT NOT NULL DEFAULT '';
    """,
]


def _opt(value: datetime | None) -> str | None:
    return iso(value) if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class SQLiteAccountStore:
    """Implements AccountStore and ApiTokenStore."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("accounts", MIGRATIONS)

    async def create_account(self, account: Account) -> None:
        a = account

        def op() -> None:
            try:
                self._db.conn.execute(
                    "INSERT INTO accounts(id, username, display_name, role, password_hash,"
                    " disabled, failed_logins, locked_until, created_at, session_generation,"
                    " unit_id, phone) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        a.id,
                        a.username,
                        a.display_name,
                        a.role.value,
                        a.password_hash,
                        int(a.disabled),
                        a.failed_logins,
                        _opt(a.locked_until),
                        iso(a.created_at),
                        a.session_generation,
                        a.unit_id,
                        a.phone,
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"account {a.username} exists", code="account_exists") from None

        await self._db.run(op)

    async def get_account(self, username: str) -> Account | None:
        def op() -> Account | None:
            row = self._db.conn.execute(
                "SELECT * FROM accounts WHERE username = ?", (username,)
            ).fetchone()
            return _account(row) if row else None

        return await self._db.run(op)

    async def list_accounts(self) -> list[Account]:
        def op() -> list[Account]:
            rows = self._db.conn.execute("SELECT * FROM accounts ORDER BY username")
            return [_account(r) for r in rows]

        return await self._db.run(op)

    async def save_account(self, account: Account) -> None:
        """Write the mutable fields of a copy read earlier: name, role, password hash and
        lockout. Never ``disabled`` nor ``session_generation``: a stale copy must not undo a
        disable or revive ended sessions (use set_disabled / end_sessions)."""
        a = account

        def op() -> None:
            self._db.conn.execute(
                "UPDATE accounts SET display_name=?, role=?, password_hash=?,"
                " failed_logins=?, locked_until=? WHERE id=?",
                (
                    a.display_name,
                    a.role.value,
                    a.password_hash,
                    a.failed_logins,
                    _opt(a.locked_until),
                    a.id,
                ),
            )

        await self._db.run(op)

    async def set_disabled(self, account_id: str, disabled: bool) -> Account | None:
        if disabled:
            sql = (
                "UPDATE accounts SET disabled = 1,"
                " session_generation = session_generation + 1 WHERE id = ?"
            )
        else:
            sql = (
                "UPDATE accounts SET disabled = 0, failed_logins = 0, locked_until = NULL"
                " WHERE id = ?"
            )
        return await self._update_account(account_id, sql)

    async def end_sessions(self, account_id: str) -> Account | None:
        return await self._update_account(
            account_id,
            "UPDATE accounts SET session_generation = session_generation + 1 WHERE id = ?",
        )

    async def _update_account(self, account_id: str, sql: str) -> Account | None:
        def op(conn: sqlite3.Connection) -> Account | None:
            conn.execute(sql, (account_id,))
            row = conn.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
            return _account(row) if row else None

        return await self._db.transaction(op)

    async def create_api_token(self, token: ApiToken) -> None:
        t = token

        def op() -> None:
            try:
                self._db.conn.execute(
                    "INSERT INTO api_tokens(id, name, role, token_hash, prefix, created_by,"
                    " created_at, expires_at, revoked_at) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        t.id,
                        t.name,
                        t.role.value,
                        t.token_hash,
                        t.prefix,
                        t.created_by,
                        iso(t.created_at),
                        _opt(t.expires_at),
                        _opt(t.revoked_at),
                    ),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"api token {t.id} exists", code="token_exists") from None

        await self._db.run(op)

    async def get_api_token_by_hash(self, token_hash: str) -> ApiToken | None:
        def op() -> ApiToken | None:
            row = self._db.conn.execute(
                "SELECT * FROM api_tokens WHERE token_hash = ?", (token_hash,)
            ).fetchone()
            return _token(row) if row else None

        return await self._db.run(op)

    async def list_api_tokens(self) -> list[ApiToken]:
        def op() -> list[ApiToken]:
            rows = self._db.conn.execute("SELECT * FROM api_tokens ORDER BY created_at DESC, id")
            return [_token(r) for r in rows]

        return await self._db.run(op)

    async def revoke_api_token(self, token_id: str, at: datetime) -> ApiToken | None:
        def op(conn: sqlite3.Connection) -> ApiToken | None:
            conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (iso(at), token_id),
            )
            row = conn.execute("SELECT * FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
            return _token(row) if row else None

        return await self._db.transaction(op)


def _account(row: sqlite3.Row) -> Account:
    return Account(
        id=row["id"],
        username=row["username"],
        role=AccountRole(row["role"]),
        password_hash=row["password_hash"],
        created_at=datetime.fromisoformat(row["created_at"]),
        display_name=row["display_name"],
        disabled=bool(row["disabled"]),
        failed_logins=row["failed_logins"],
        locked_until=_dt(row["locked_until"]),
        session_generation=row["session_generation"],
        unit_id=row["unit_id"],
        phone=row["phone"],
    )


def _token(row: sqlite3.Row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        role=AccountRole(row["role"]),
        token_hash=row["token_hash"],
        prefix=row["prefix"],
        created_by=row["created_by"],
        created_at=datetime.fromisoformat(row["created_at"]),
        expires_at=_dt(row["expires_at"]),
        revoked_at=_dt(row["revoked_at"]),
    )
