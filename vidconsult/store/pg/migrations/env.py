"""Alembic's environment for the PostgreSQL store: run on the connection the app hands it
(:func:`vidconsult.store.pg.database.alembic_config`), or, for a developer's ``alembic
revision --autogenerate``, on ``$VIDCONSULT_DATABASE_URL`` (see docs/operations.md)."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from vidconsult.store.pg.tables import metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_url(url: str) -> None:
    from vidconsult.store.pg.database import async_url

    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    asyncio.run(_run_on_url(os.environ["VIDCONSULT_DATABASE_URL"]))
