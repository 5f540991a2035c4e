"""PostgreSQL for the records when several nodes serve one centre.

Stack (chosen for being the well-kept, widely deployed ones for this job):

- SQLAlchemy Core 2.x (``sqlalchemy.ext.asyncio``): tables and queries as expressions, the
  connection pool, and one mapping of driver errors; no ORM (the domain objects stay plain
  dataclasses, the repositories map rows themselves as the SQLite ones do).
- asyncpg as the driver: native asyncio (no thread per query, unlike the SQLite store's one
  writer thread), and the driver SQLAlchemy's async dialect is built and tested against.
- Alembic for the migrations (SQLAlchemy's own migration tool): revisions generated from
  :mod:`vidconsult.store.pg.tables`, applied at start under an advisory lock so several nodes
  starting together migrate once.

Every node opens the same database; what must be decided once across nodes (a slot booked
twice, a lease held twice, a stale case write) is decided by the database's constraints and
row locks, never by a check in one process. A database that cannot be reached answers
:class:`~vidconsult.errors.Unavailable` (the HTTP edge maps it to 503 with its reason), and a
failed transaction leaves nothing half-written (each write is one transaction).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Executable, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from vidconsult.errors import Conflict, Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

MIGRATIONS = Path(__file__).parent / "migrations"
#: the advisory lock key held while migrating (any constant unique to this application)
MIGRATION_LOCK = 0x76696463  # "vidc"


def async_url(url: str) -> str:
    """``postgresql://user@host/db`` (as operators write it) with the asyncpg driver named."""
    if url.startswith("postgres://"):  # libpq's short form, which SQLAlchemy does not name
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    # several nodes starting at once: one migrates, the others wait and then find it done
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), "head")


class PostgresDatabase:
    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout: float = 5.0) -> None:
        self._url = async_url(url)
        self._pool_size = pool_size
        self._connect_timeout = connect_timeout
        self._engine: AsyncEngine | None = None

    @property
    def safe_url(self) -> str:
        return make_url(self._url).render_as_string(hide_password=True)

    async def open(self) -> None:
        engine = create_async_engine(
            self._url,
            pool_size=self._pool_size,
            pool_pre_ping=True,
            connect_args={"timeout": self._connect_timeout},
        )
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        log.info("postgresql store open url=%s", self.safe_url)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("database is not open")
        return self._engine

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises. A lost
        or unreachable database raises Unavailable (nothing of the block is kept)."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except (exc.DBAPIError, OSError, TimeoutError) as err:
            if isinstance(err, exc.DBAPIError) and not _connection_lost(err):
                raise
            raise Unavailable(
                "the database cannot be reached; try again shortly",
                code="store_unavailable",
                retry_after=5,
            ) from err

    async def first(self, stmt: Executable, load: Callable[[Any], T]) -> T | None:
        """The first row of ``stmt`` as ``load`` makes it, or None when there is none."""
        async with self.begin() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else load(row)

    async def every(self, stmt: Executable, load: Callable[[Any], T]) -> list[T]:
        """Every row of ``stmt``, each as ``load`` makes it."""
        async with self.begin() as conn:
            rows = (await conn.execute(stmt)).all()
        return [load(row) for row in rows]

    async def insert_new(self, stmt: Executable, exists: Callable[[], Conflict]) -> None:
        """Run one insert; a key that exists already (or another constraint the row breaks)
        raises ``exists()`` and keeps nothing."""
        try:
            async with self.begin() as conn:
                await conn.execute(stmt)
        except exc.IntegrityError:
            raise exists() from None


# the driver's errors of a connection that is gone or unusable, whatever SQLAlchemy wraps them
# in: a statement in flight when the server shuts down ends in ConnectionDoesNotExistError
# (a plain DBAPIError) or, between protocol states, in InternalClientError (an InternalError)
_LOST = (
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin / crash shutdown, cannot connect now
)


def _connection_lost(err: exc.DBAPIError) -> bool:
    """Whether a database error means "the database is not there" (503), not a bad statement."""
    if isinstance(err, exc.OperationalError | exc.InterfaceError) or err.connection_invalidated:
        return True
    cause = getattr(err.orig, "__cause__", None) or err.orig
    # asyncpg files a value it cannot encode under InterfaceError too: that is a bad statement
    bad_input = (asyncpg.exceptions.DataError, asyncpg.exceptions.ClientConfigurationError)
    return isinstance(cause, _LOST) and not isinstance(cause, bad_input)
