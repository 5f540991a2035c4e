"""Disabling an account, or ending its sessions, is never undone by a log-in or password
change that read the account before its slow password hash and writes it back afterwards."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FakeClock
from tests.helpers import SECRET
from tests.installed import fast_accounts
from vidconsult.domain.accounts import AccountRole
from vidconsult.errors import PermissionDenied, Unauthenticated
from vidconsult.services.accounts import AccountService, Passwords
from vidconsult.store.sqlite import SQLiteDatabase
from vidconsult.store.sqlite_accounts import SQLiteAccountStore
from vidconsult.tokens import TokenSigner

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another long passphrase"
SIGNER = TokenSigner(SECRET.encode())


class Gate:
    """Holds the password hasher's thread until released, so that a request is provably
    in the middle of its hash work while the test acts."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self.entered = threading.Event()
        self.release = threading.Event()

    def install(self) -> None:
        """Gate Passwords.verify from now on (after the test's own set-up log-ins)."""
        self._monkeypatch.setattr(Passwords, "verify", self.wrap(Passwords.verify))

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def gated(*args: Any) -> Any:
            self.entered.set()
            assert self.release.wait(10), "gate never released"
            return fn(*args)

        return gated

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10), "hash work never started"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteAccountStore]:
    db = SQLiteDatabase(tmp_path / "vidconsult.db")
    s = SQLiteAccountStore(db)
    await db.open()
    yield s
    await db.close()


@pytest.fixture
async def svc(store: SQLiteAccountStore) -> AccountService:
    service = AccountService(
        accounts=store,
        tokens=store,
        signer=SIGNER,
        clock=FakeClock(datetime.now(UTC)),
        config=fast_accounts(),
    )
    await service.create_account("dr-leaving", AccountRole.COORDINATOR, PASSWORD)
    return service


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    return Gate(monkeypatch)


async def session_refused(svc: AccountService, token: str) -> bool:
    try:
        await svc.check_session(SIGNER.verify(token))
    except Unauthenticated:
        return True
    return False


async def test_wrong_password_login_does_not_undo_a_disable(
    svc: AccountService, store: SQLiteAccountStore, gate: Gate
) -> None:
    old = (await svc.login("dr-leaving", PASSWORD)).token
    gate.install()
    bad = asyncio.create_task(svc.login("dr-leaving", "wrong password!!"))
    await gate.wait_entered()
    await svc.set_disabled("dr-leaving", True)
    gate.release.set()
    with pytest.raises(Unauthenticated):
        await bad
    account = await store.get_account("dr-leaving")
    assert account is not None and account.disabled and account.failed_logins == 1
    assert account.session_generation == 1
    assert await session_refused(svc, old)


async def test_password_change_does_not_undo_a_disable(
    svc: AccountService, store: SQLiteAccountStore, gate: Gate
) -> None:
    old = (await svc.login("dr-leaving", PASSWORD)).token
    gate.install()
    change = asyncio.create_task(svc.change_password("dr-leaving", PASSWORD, NEW_PASSWORD))
    await gate.wait_entered()
    await svc.set_disabled("dr-leaving", True)
    gate.release.set()
    login = await change
    account = await store.get_account("dr-leaving")
    assert account is not None and account.disabled
    # both the disable and the password change moved the generation on
    assert account.session_generation == 2
    assert await session_refused(svc, old)
    assert await session_refused(svc, login.token)


async def test_password_change_keeps_a_concurrent_sign_out_and_mints_the_fresh_session(
    svc: AccountService, store: SQLiteAccountStore, gate: Gate
) -> None:
    old = (await svc.login("dr-leaving", PASSWORD)).token
    gate.install()
    change = asyncio.create_task(svc.change_password("dr-leaving", PASSWORD, NEW_PASSWORD))
    await gate.wait_entered()
    await svc.end_sessions("dr-leaving")
    gate.release.set()
    login = await change
    account = await store.get_account("dr-leaving")
    assert account is not None and account.session_generation == 2
    assert await session_refused(svc, old)
    assert not await session_refused(svc, login.token)


async def test_correct_login_racing_a_disable_is_refused(
    svc: AccountService, store: SQLiteAccountStore, gate: Gate
) -> None:
    old = (await svc.login("dr-leaving", PASSWORD)).token
    gate.install()
    login = asyncio.create_task(svc.login("dr-leaving", PASSWORD))
    await gate.wait_entered()
    await svc.set_disabled("dr-leaving", True)
    gate.release.set()
    with pytest.raises(PermissionDenied) as refused:
        await login
    assert refused.value.code == "account_disabled"
    account = await store.get_account("dr-leaving")
    assert account is not None and account.disabled
    assert await session_refused(svc, old)
