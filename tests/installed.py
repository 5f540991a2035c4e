"""Run the real app with extra areas installed (records, accounts, webhooks) for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from tests.fakes import NullMediaEngine
from tests.helpers import SECRET, ServerHandle
from vidconsult.app import Installer, run_server
from vidconsult.config import Settings
from vidconsult.services.accounts import AccountsConfig
from vidconsult.tokens import TokenSigner

# Argon2id at the smallest cost: the tests check behaviour, not hashing strength
FAST_HASH = {"hash_time_cost": 1, "hash_memory_kib": 8, "hash_parallelism": 1}


def fast_accounts(**kw: Any) -> AccountsConfig:
    return AccountsConfig(**{**FAST_HASH, **kw})


@asynccontextmanager
async def serve(
    settings: Settings, installers: Sequence[Installer], **kw: Any
) -> AsyncIterator[ServerHandle]:
    async with (
        run_server(settings, media=NullMediaEngine(), installers=installers, **kw) as server,
        aiohttp.ClientSession() as session,
    ):
        yield ServerHandle(
            url=server.url, signer=TokenSigner(SECRET.encode()), app=server.app, session=session
        )
