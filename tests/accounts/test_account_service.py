"""Account rules at the service seam: Argon2id re-hash on log-in, equal work for unknown users,
and the synchronous entry point of ``vidconsult account create``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes import FakeClock
from tests.helpers import SECRET
from tests.installed import fast_accounts
from vidconsult.account_admin import create_account
from vidconsult.domain.accounts import AccountRole
from vidconsult.errors import Conflict, Unauthenticated
from vidconsult.services.accounts import AccountService, Passwords
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_accounts import SQLiteAccountStore
from vidconsult.tokens import TokenSigner

PASSWORD = "correct horse battery"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteAccountStore]:
    db = SQLiteDatabase(tmp_path / "vidconsult.db")
    s = SQLiteAccountStore(db)
    await db.open()
    yield s
    await db.close()


def service(store: SQLiteAccountStore, **config: int) -> AccountService:
    return AccountService(
        accounts=store,
        tokens=store,
        signer=TokenSigner(SECRET.encode()),
        clock=FakeClock(datetime.now(UTC)),
        config=fast_accounts(**config),
    )


async def test_login_rehashes_when_parameters_change(store: SQLiteAccountStore) -> None:
    await service(store).create_account("prof-zhao", AccountRole.EXPERT, PASSWORD)
    before = (await store.get_account("prof-zhao")).password_hash
    assert before.startswith("$argon2id$") and ",t=1," in before
    stronger = service(store, hash_time_cost=2)
    result = await stronger.login("prof-zhao", PASSWORD)
    after = (await store.get_account("prof-zhao")).password_hash
    assert ",t=2," in after and after != before
    assert TokenSigner(SECRET.encode()).verify(result.token).identity == "prof-zhao"
    # the new hash still verifies, and is not re-hashed again
    await stronger.login("prof-zhao", PASSWORD)
    assert (await store.get_account("prof-zhao")).password_hash == after


async def test_unknown_user_costs_a_verification(
    store: SQLiteAccountStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = service(store)
    burned: list[str] = []
    monkeypatch.setattr(Passwords, "burn", lambda self, pw: burned.append(pw))
    with pytest.raises(Unauthenticated):
        await svc.login("nobody", "some password")
    assert burned == ["some password"]


def test_cli_entry_point_creates_an_account(tmp_path: Path) -> None:
    account, generated = create_account(tmp_path, "li.coord", "coordinator", config=fast_accounts())
    assert account.username == "li.coord" and account.role is AccountRole.COORDINATOR
    assert generated and len(generated) >= 20
    account2, none = create_account(
        tmp_path, "prof-zhao", "expert", PASSWORD, display_name="Prof. Zhao", config=fast_accounts()
    )
    assert none is None and account2.display_name == "Prof. Zhao"
    with pytest.raises(Conflict):
        create_account(tmp_path, "li.coord", "expert", PASSWORD, config=fast_accounts())

    async def check() -> None:
        db = SQLiteDatabase(tmp_path / "vidconsult.db")
        store = SQLiteAccountStore(db)
        await db.open()
        try:
            svc = service(store)
            assert (await svc.login("li.coord", generated)).account.id == account.id
            assert (await svc.login("prof-zhao", PASSWORD)).account.id == account2.id
        finally:
            await db.close()

    asyncio.run(check())
