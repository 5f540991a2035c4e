"""Backends for the records/accounts/webhooks store contracts (Redis joins the list later).

Kept out of ``tests/store/conftest.py`` (owned by the workflow stores); each contract module
makes its fixture with :func:`backend_fixture`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from vidconsult.store.sqlite import SQLiteDatabase

IMPLEMENTATIONS = ["sqlite"]


class Backend:
    """Opens (and re-opens, to check durability) one backend with the given repositories."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.path = tmp_path / "store.db"
        self.db: SQLiteDatabase | None = None

    async def open(self, make: Callable[[SQLiteDatabase], Any]) -> Any:
        await self.close()
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
        b = Backend(request.param, tmp_path)
        yield b
        await b.close()

    return backend
