"""Contract of AccountStore and ApiTokenStore."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.store.record_backends import Backend, backend_fixture
from vidconsult.domain.accounts import Account, AccountRole, ApiToken
from vidconsult.errors import Conflict
from vidconsult.store.pg.accounts import PgAccountStore
from vidconsult.store.sqlite_accounts import SQLiteAccountStore

STORES = {"sqlite": SQLiteAccountStore, "postgres": PgAccountStore}
backend = backend_fixture()
T0 = datetime(2026, 3, 9, 2, tzinfo=UTC)


def account(name: str, role: AccountRole = AccountRole.EXPERT) -> Account:
    return Account(
        id=f"acc_{name}",
        username=name,
        role=role,
        password_hash="$argon2id$x",
        created_at=T0,
        display_name=name.title(),
    )


def token(i: int, **kw) -> ApiToken:
    return ApiToken(
        id=f"tok_{i}",
        name=f"his-{i}",
        role=AccountRole.COORDINATOR,
        token_hash=f"{i:064x}",
        prefix="vck_abcdefgh",
        created_by="lead",
        created_at=T0 + timedelta(minutes=i),
        **kw,
    )


async def test_accounts_create_get_list_save(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    await store.create_account(account("zhao"))
    await store.create_account(account("li", AccountRole.COORDINATOR))
    with pytest.raises(Conflict):
        await store.create_account(replace(account("li"), id="acc_other"))
    locked = replace(
        account("zhao"),
        password_hash="$argon2id$y",
        failed_logins=2,
        locked_until=T0 + timedelta(minutes=15),
        display_name="Prof. Zhao",
    )
    await store.save_account(locked)
    store = await backend.open(STORES[backend.kind])
    assert await store.get_account("zhao") == locked
    assert await store.get_account("nobody") is None
    assert [a.username for a in await store.list_accounts()] == ["li", "zhao"]


async def test_save_account_never_writes_disabled_nor_session_generation(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    await store.create_account(account("zhao"))
    stale = await store.get_account("zhao")
    assert stale is not None
    disabled = await store.set_disabled("acc_zhao", True)
    assert disabled is not None and disabled.disabled and disabled.session_generation == 1
    # a copy read before the disable, written back: the disable and the generation stay
    await store.save_account(replace(stale, password_hash="$argon2id$y", failed_logins=1))
    got = await store.get_account("zhao")
    assert got == replace(disabled, password_hash="$argon2id$y", failed_logins=1)
    await store.save_account(replace(stale, disabled=False, session_generation=7))
    got = await store.get_account("zhao")
    assert got is not None and got.disabled and got.session_generation == 1


async def test_set_disabled_and_end_sessions_are_atomic_and_return_the_fresh_row(
    backend: Backend,
) -> None:
    store = await backend.open(STORES[backend.kind])
    await store.create_account(account("zhao"))
    await store.save_account(
        replace(account("zhao"), failed_logins=3, locked_until=T0 + timedelta(minutes=15))
    )
    # disabling ends the sessions in the same update
    disabled = await store.set_disabled("acc_zhao", True)
    assert disabled == replace(
        account("zhao"),
        disabled=True,
        failed_logins=3,
        locked_until=T0 + timedelta(minutes=15),
        session_generation=1,
    )
    # enabling keeps the generation and lifts the lockout
    enabled = await store.set_disabled("acc_zhao", False)
    assert enabled == replace(account("zhao"), session_generation=1)
    ended = await store.end_sessions("acc_zhao")
    assert ended == replace(account("zhao"), session_generation=2)
    assert (await store.end_sessions("acc_zhao")).session_generation == 3
    assert await store.set_disabled("acc_nobody", True) is None
    assert await store.end_sessions("acc_nobody") is None
    store = await backend.open(STORES[backend.kind])
    assert await store.get_account("zhao") == replace(account("zhao"), session_generation=3)


async def test_api_tokens_by_hash_list_and_revoke(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    await store.create_api_token(token(1))
    await store.create_api_token(token(2, expires_at=T0 + timedelta(days=30)))
    assert await store.get_api_token_by_hash(f"{2:064x}") == token(
        2, expires_at=T0 + timedelta(days=30)
    )
    assert await store.get_api_token_by_hash("0" * 63 + "9") is None
    assert [t.id for t in await store.list_api_tokens()] == ["tok_2", "tok_1"]
    revoked = await store.revoke_api_token("tok_1", T0 + timedelta(hours=1))
    assert revoked is not None and revoked.revoked_at == T0 + timedelta(hours=1)
    # idempotent: the first revocation time stays
    again = await store.revoke_api_token("tok_1", T0 + timedelta(hours=2))
    assert again is not None and again.revoked_at == T0 + timedelta(hours=1)
    assert await store.revoke_api_token("tok_9", T0) is None
    store = await backend.open(STORES[backend.kind])
    got = await store.get_api_token_by_hash(f"{1:064x}")
    assert got is not None and not got.usable(T0 + timedelta(hours=3))


async def test_a_unit_doctors_unit_and_a_phone_are_kept(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    doctor = replace(
        account("vil.doctor", AccountRole.DOCTOR), unit_id="vil-1", phone="+86 138 0000 0001"
    )
    await store.create_account(doctor)
    await store.create_account(account("zhou"))
    store = await backend.open(STORES[backend.kind])  # durable
    got = await store.get_account("vil.doctor")
    assert got is not None and (got.unit_id, got.phone) == ("vil-1", "+86 138 0000 0001")
    plain = await store.get_account("zhou")
    assert plain is not None and (plain.unit_id, plain.phone) == (None, "")
