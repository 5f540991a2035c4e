"""The real app on PostgreSQL (``--store postgres --database-url``): two server processes'
worth of apps (two nodes) on one database see each other's records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from tests.helpers import ServerHandle
from tests.installed import serve, store_areas
from tests.postgres import PostgresServer, postgres_node_settings
from vidconsult.cli import main

Node = Callable[[str], AbstractAsyncContextManager[ServerHandle]]


@pytest.fixture
def node(tmp_path: Path, postgres: PostgresServer) -> Node:
    url = postgres.new_database()

    @asynccontextmanager
    async def start(name: str) -> AsyncIterator[ServerHandle]:
        settings = postgres_node_settings(tmp_path / name, url, password_workers=1)
        async with serve(settings, store_areas()) as handle:
            yield handle

    return start


async def test_two_nodes_share_rooms_and_accounts(node: Node) -> None:
    async with node("a") as a, node("b") as b:
        room = await a.create_room("Cardiology consult", case_id="case-1")
        status, listed = await b.api("GET", "/api/v1/rooms")
        assert status == 200 and [r["id"] for r in listed["rooms"]] == [room["id"]]

        status, _ = await a.api(
            "POST",
            "/api/v1/accounts",
            {"username": "coord.li", "role": "coordinator", "password": "a long passphrase 1"},
        )
        assert status == 201
        status, login = await b.api(
            "POST",
            "/api/v1/auth/login",
            {"username": "coord.li", "password": "a long passphrase 1"},
            token="",
        )
        assert status == 200, login
        status, me = await a.api("GET", "/api/v1/auth/me", token=login["token"])
        assert status == 200 and me["role"] == "coordinator", me
        # ending every session on one node ends it on the other (the generation is shared)
        status, _ = await a.api("POST", "/api/v1/auth/logout-all", token=login["token"])
        assert status == 200
        status, _ = await b.api("GET", "/api/v1/auth/me", token=login["token"])
        assert status == 401

        status, _ = await b.api("DELETE", f"/api/v1/rooms/{room['id']}")
        assert status == 200
        status, got = await a.api("GET", f"/api/v1/rooms/{room['id']}")
        assert status == 200 and got["status"] == "ended"


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--store", "postgres"], "--store postgres needs --database-url"),
        (["--store", "redis"], "--store redis is not a records store"),
        (["--database-url", "postgresql://x@db/vc"], "applies only with --store postgres"),
        (["--store", "postgres", "--database-url", "mysql://x@db/vc"], "postgresql:// URL"),
    ],
)
def test_invalid_store_settings_fail_at_start_with_one_line(
    flags: list[str], reason: str, capsys, tmp_path: Path
) -> None:
    assert main(["serve", "--data-dir", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1, err
    assert not (tmp_path / "vidconsult.db").exists()  # nothing started


async def test_account_command_writes_to_the_shared_database(
    postgres: PostgresServer, monkeypatch, tmp_path: Path, capsys
) -> None:
    import asyncio
    import io

    from vidconsult.store.pg.accounts import PgAccountStore
    from vidconsult.store.pg.database import PostgresDatabase

    url = postgres.new_database()
    monkeypatch.setenv("VIDCONSULT_STORE", "postgres")
    monkeypatch.setenv("VIDCONSULT_DATABASE_URL", url)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long passphrase 1\n"))
    argv = ["account", "create", "--username", "coord.wu", "--role", "coordinator"]
    # the command runs its own event loop: off this test's loop
    code = await asyncio.to_thread(main, [*argv, "--password-stdin", "--data-dir", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    db = PostgresDatabase(url)
    store = PgAccountStore(db)
    await db.open()
    try:
        account = await store.get_account("coord.wu")
        assert account is not None and account.role.value == "coordinator"
    finally:
        await db.close()
    assert not (tmp_path / "vidconsult.db").exists()
