"""Backends for the records/accounts/webhooks/access/revocations store contracts: SQLite, and
PostgreSQL on the session's real server (tests/postgres.py), each test on a database of its
own.

Kept out of ``tests/store/conftest.py`` (owned by the workflow stores); each contract module
makes its fixture with :func:`backend_fixture` and names its store class per kind in STORES."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from vidconsult.store.pg.database import PostgresDatabase
from vidconsult.store.sqlite import SQLiteDatabase

IMPLEMENTATIONS = ["postgres", "sqlite"]


class Backend:
    """Opens (and re-opens, to check durability) one backend with the given repositories."""

    def __init__(self, kind: str, tmp_path: Path, url: str | None = None) -> None:
        self.kind = kind
        self.path = tmp_path / "store.db"
        self.url = url
        self.db: SQLiteDatabase | PostgresDatabase | None = None

    async def open(self, make: Callable[[Any], Any]) -> Any:
        await self.close()
        if self.kind == "postgres":
            assert self.url is not None
            self.db = PostgresDatabase(self.url, pool_size=2)
        else:
            self.db = SQLiteDatabase(self.path)
        store = make(self.db)
        await self.db.open()
        return store

    async def close(self) -> None:
        if self.db is not None:
            await self.db.close()
            self.db = None


def backend_fixture() -> Any:
    @pytest.fixture(params=IMPLEMENTATIONS)
    async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
        url = (
            request.getfixturevalue("postgres").new_database()
            if request.param == "postgres"
            else None
        )
        b = Backend(request.param, tmp_path, url)
        yield b
        await b.close()

    return backend
