"""Contract of RevocationStore: the token revocation list, durable and self-pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.store.record_backends import Backend, backend_fixture
from vidconsult.domain.revocations import Revocation, RevocationKind
from vidconsult.store.pg.records import PgRevocationStore
from vidconsult.store.sqlite_revocations import SQLiteRevocationStore

STORES = {"sqlite": SQLiteRevocationStore, "postgres": PgRevocationStore}
backend = backend_fixture()
T0 = datetime(2026, 12, 5, 9, tzinfo=UTC)


def entry(kind: RevocationKind, key: str, at: float = 0, lasts: float = 3600) -> Revocation:
    revoked = T0 + timedelta(seconds=at)
    return Revocation(kind, key, revoked, revoked + timedelta(seconds=lasts), f"why {key}")


async def test_entries_survive_a_restart_until_they_expire(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    token = entry(RevocationKind.TOKEN, "jti-1", lasts=60)
    minter = entry(RevocationKind.MINTER, "acc_1", lasts=30 * 86400)
    await store.add_revocation(token)
    await store.add_revocation(minter)
    store = await backend.open(STORES[backend.kind])  # a restart loses nothing
    assert await store.live_revocations(T0) == [token, minter]
    # past the token's own expiry its entry is gone (and stays gone): the list stays small
    assert await store.live_revocations(T0 + timedelta(seconds=60)) == [minter]
    assert await store.live_revocations(T0) == [minter]


async def test_same_key_keeps_the_later_revocation(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    later = entry(RevocationKind.MINTER, "acc_1", at=100)
    await store.add_revocation(later)
    await store.add_revocation(entry(RevocationKind.MINTER, "acc_1", at=10))
    # a token and a minter may share a key without replacing each other
    same_key = entry(RevocationKind.TOKEN, "acc_1", at=5)
    await store.add_revocation(same_key)
    assert await store.live_revocations(T0) == [same_key, later]
    again = entry(RevocationKind.MINTER, "acc_1", at=200)
    await store.add_revocation(again)
    assert await store.live_revocations(T0) == [same_key, again]
