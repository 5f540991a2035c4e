"""The workflow stores, built per backend: every workflow contract test runs against each entry
of BACKENDS (SQLite, and PostgreSQL on the session's real server: tests/postgres.py). The
records/accounts/webhooks contracts use tests/store/record_backends.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import PostgresServer
from vidconsult.store.base_workflow import WorkflowStores
from vidconsult.store.pg.database import PostgresDatabase
from vidconsult.store.pg.workflow import pg_workflow_stores
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_workflow import sqlite_workflow_stores


@dataclass
class Stores:
    db: Any
    units: Any
    experts: Any
    rota: Any
    cases: Any
    bookings: Any
    lectures: Any
    leases: Any


def _bundle(db: Any, w: WorkflowStores) -> Stores:
    return Stores(db, w.units, w.experts, w.rota, w.cases, w.bookings, w.lectures, w.leases)


def sqlite_stores(path: Path) -> Stores:
    db = SQLiteDatabase(path / "vidconsult.db")
    return _bundle(db, sqlite_workflow_stores(db))


def postgres_stores(url: str) -> Stores:
    db = PostgresDatabase(url, pool_size=4)
    return _bundle(db, pg_workflow_stores(db))


BACKENDS = ["postgres", "sqlite"]


@pytest.fixture(params=BACKENDS)
def open_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A factory: ``async with open_stores() as s`` opens (or reopens) the same data; two
    at once are two independent connections (engines, pools), as two server processes or two
    nodes would hold."""
    factory: Callable[[], Stores]
    if request.param == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.new_database()
        factory = lambda: postgres_stores(url)  # noqa: E731
    else:
        factory = lambda: sqlite_stores(tmp_path)  # noqa: E731

    @asynccontextmanager
    async def opener() -> AsyncIterator[Stores]:
        stores = factory()
        await stores.db.open()
        try:
            yield stores
        finally:
            await stores.db.close()

    return opener


@pytest.fixture
async def stores(open_stores: Any) -> AsyncIterator[Stores]:
    async with open_stores() as s:
        yield s
