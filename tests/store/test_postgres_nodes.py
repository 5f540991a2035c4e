"""PostgreSQL as the store of several nodes: each "node" here is its own engine (pool of
connections) on one real database, as separate server processes would hold."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from tests.postgres import PostgresServer, postgres_server
from tests.store.conftest import Stores, postgres_stores
from tests.store.test_booking_stores import T0 as START
from tests.store.test_booking_stores import add, booking
from vidconsult.errors import Conflict, Unavailable
from vidconsult.store.pg.database import PostgresDatabase, alembic_config

NODES = 4


def alembic_script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


async def open_nodes(url: str, n: int = NODES) -> list[Stores]:
    nodes = [postgres_stores(url) for _ in range(n)]
    # every node migrates at start: the advisory lock lets exactly one apply the revisions
    await asyncio.gather(*(s.db.open() for s in nodes))
    return nodes


async def close_nodes(nodes: list[Stores]) -> None:
    await asyncio.gather(*(s.db.close() for s in nodes))


async def test_nodes_starting_together_migrate_once(postgres: PostgresServer) -> None:
    url = postgres.new_database()
    nodes = await open_nodes(url)
    try:
        async with nodes[0].db.begin() as conn:
            heads = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        # the latest revision, once (the head of vidconsult/store/pg/migrations)
        head = alembic_script().get_current_head()
        assert [h[0] for h in heads] == [head]
    finally:
        await close_nodes(nodes)


async def test_bookings_racing_on_four_nodes_never_overlap(postgres: PostgresServer) -> None:
    """Forty concurrent transactions on four engines, for two experts, with overlapping and
    back-to-back slots: what is kept never overlaps, and every refusal is a double booking."""
    nodes = await open_nodes(postgres.new_database())
    try:
        attempts = []
        for i in range(40):
            expert = "wang" if i % 2 else "li"
            start = START + timedelta(minutes=10 * (i % 7))  # 30-minute bookings, 10 apart
            attempts.append(add(nodes[i % NODES], booking(f"b{i}", expert=expert, start=start)))
        results = await asyncio.gather(*attempts, return_exceptions=True)
        assert all(r is None or isinstance(r, Conflict) for r in results), results
        assert all(r.code == "double_booking" for r in results if isinstance(r, Conflict))
        for expert in ("wang", "li"):
            kept = await nodes[0].bookings.list_bookings(expert_id=expert)
            assert kept, expert
            for earlier, later in zip(kept, kept[1:], strict=False):
                assert earlier.end <= later.start, (earlier, later)
        async with nodes[1].db.begin() as conn:  # the database agrees (no overlap at all)
            overlaps = await conn.scalar(
                text(
                    "SELECT count(*) FROM bookings a JOIN bookings b ON a.expert_id ="
                    " b.expert_id AND a.id < b.id AND a.active AND b.active AND"
                    " tstzrange(a.start_at, a.end_at) && tstzrange(b.start_at, b.end_at)"
                )
            )
        assert overlaps == 0
        kept_total = len(await nodes[2].bookings.list_bookings())
        assert kept_total == sum(r is None for r in results)
    finally:
        await close_nodes(nodes)


async def test_scheduler_lease_has_one_owner_among_racing_nodes(postgres: PostgresServer) -> None:
    nodes = await open_nodes(postgres.new_database())
    try:
        ttl = timedelta(seconds=30)
        for round_ in range(5):
            now = START + timedelta(minutes=round_)  # each round: the previous lease expired
            won = await asyncio.gather(
                *(s.leases.acquire("scheduler", f"node-{i}", now, ttl) for i, s in enumerate(nodes))
            )
            assert sum(won) == 1, won
    finally:
        await close_nodes(nodes)


async def test_a_stopped_database_answers_unavailable_and_keeps_nothing_half_written() -> None:
    """PostgreSQL stopped: a write raises Unavailable (the HTTP edge's 503 with a reason); a
    write refused meanwhile leaves nothing; once it is back, the same node writes again."""
    with postgres_server() as server:
        url = server.new_database()
        stores = postgres_stores(url)
        await stores.db.open()
        try:
            await add(stores, booking("before"))
            server.stop()
            with pytest.raises(Unavailable) as err:
                await add(stores, booking("during", start=START + timedelta(hours=2)))
            assert err.value.code == "store_unavailable"
            assert err.value.retry_after
            with pytest.raises(Unavailable):
                await stores.bookings.get_booking("before")
            server.start()
            assert (await stores.bookings.get_booking("before")) is not None
            assert await stores.bookings.get_booking("during") is None
            await add(stores, booking("after", start=START + timedelta(hours=2)))
            ids = [b.id for b in await stores.bookings.list_bookings()]
            assert ids == ["before", "after"]
        finally:
            await stores.db.close()


async def test_an_unreachable_database_fails_at_start_with_a_reason(
    postgres: PostgresServer,
) -> None:
    db = PostgresDatabase(postgres.url("no_such_database"))
    with pytest.raises(Exception, match="no_such_database"):
        await db.open()


async def test_migrations_match_the_tables_declared(postgres: PostgresServer) -> None:
    """Alembic's autogenerate finds nothing to add after the last revision: every change of
    vidconsult/store/pg/tables.py came with its revision."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from vidconsult.store.pg.tables import metadata

    db = PostgresDatabase(postgres.new_database())
    await db.open()
    try:
        async with db.begin() as conn:
            diffs = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata)
            )
        assert diffs == []
    finally:
        await db.close()
