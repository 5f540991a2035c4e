"""Run the real app with extra areas installed (records, accounts, webhooks) for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from tests.fakes import NullMediaEngine
from tests.helpers import ServerHandle, served
from vidconsult import areas
from vidconsult.app import Installer
from vidconsult.config import Settings
from vidconsult.services.accounts import AccountsConfig

# Argon2id at the smallest cost: the tests check behaviour, not hashing strength
FAST_HASH = {"hash_time_cost": 1, "hash_memory_kib": 8, "hash_parallelism": 1}


def fast_accounts(**kw: Any) -> AccountsConfig:
    return AccountsConfig(**{**FAST_HASH, **kw})


def store_areas() -> list[Installer]:
    """The areas that keep their data in the store (records, accounts at the fast hash,
    webhooks, the access log): what a node on PostgreSQL is tested with."""
    return [
        areas.install_records,
        areas.accounts_installer(fast_accounts()),
        areas.install_webhooks,
        areas.install_access,
    ]


@asynccontextmanager
async def serve(
    settings: Settings, installers: Sequence[Installer], **kw: Any
) -> AsyncIterator[ServerHandle]:
    async with served(settings, media=NullMediaEngine(), installers=installers, **kw) as handle:
        yield handle
