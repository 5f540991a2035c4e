"""Embedded store: SQLite in WAL mode, one connection owned by one worker thread.

Every call runs on that thread (``sqlite3`` objects must not cross threads), so the event loop
never blocks on disk and writes are serialized without extra locks. Each area of the product
(rooms, cases, records, ...) keeps its own repository module and its own ordered list of
migrations, registered under a component name before the database opens.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class SQLiteDatabase:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._migrations: dict[str, Sequence[str]] = {}

    def register(self, component: str, migrations: Sequence[str]) -> None:
        """Add a component's migrations (append-only: a released one is never edited)."""
        if self._conn is not None:
            raise RuntimeError("register migrations before the database opens")
        self._migrations[component] = migrations

    # lifecycle -----------------------------------------------------------------------------
    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        await self.run(self._connect)

    async def close(self) -> None:
        if self._executor is None:
            return
        await self.run(self._disconnect)
        self._executor.shutdown(wait=True)
        self._executor = None

    def _connect(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self._conn = conn
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (component TEXT NOT NULL,"
            " version INTEGER NOT NULL, PRIMARY KEY (component, version))"
        )
        for component, migrations in self._migrations.items():
            self._migrate(conn, component, migrations)

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @staticmethod
    def _migrate(conn: sqlite3.Connection, component: str, migrations: Sequence[str]) -> None:
        row = conn.execute(
            "SELECT MAX(version) FROM schema_migrations WHERE component = ?", (component,)
        ).fetchone()
        current = row[0] or 0
        for version, sql in enumerate(migrations[current:], start=current + 1):
            log.info("applying migration component=%s version=%s", component, version)
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations(component, version) VALUES (?, ?)",
                    (component, version),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` on the database thread (it may use :attr:`conn`)."""
        if self._executor is None:
            raise RuntimeError("database is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on the database thread inside BEGIN IMMEDIATE ... COMMIT."""

        def op() -> T:
            conn = self.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        return await self.run(op)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn
