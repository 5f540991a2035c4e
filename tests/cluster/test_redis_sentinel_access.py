"""Sentinels that ask a password, and Sentinels on TLS, on real servers (tests/redis_server.py):
the node's live state, built from its settings as `vidconsult serve` builds it
(vidconsult/compose.py), works through them with the right password (the default user's
requirepass, or an ACL user's) and over TLS with the operator's CA; with a wrong or missing
password the node stops at start with a line naming the flag, within its timeout (no endless
"Redis unreachable"); without the CA the TLS connection is refused, not made unchecked."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.scene import room_of_a_heard_from_b
from tests.helpers import SECRET, served
from tests.redis_server import SENTINEL_ACL_USER, RedisSentinelServers, redis_sentinel
from tests.throwaway_ca import make_tls_files
from vidconsult.cluster.redis_state import RedisLiveState
from vidconsult.compose import make_live_state
from vidconsult.config import Settings
from vidconsult.errors import Misconfigured, Unavailable

PASSWORD = "sentinel-pw-7f3a"
# a refused start ends at the first answer; a whole timeout (2 s) would mean it waited
REFUSED_WITHIN = 1.5


@pytest.fixture(scope="module")
def with_password() -> Iterator[RedisSentinelServers]:
    with redis_sentinel(password=PASSWORD, replica=False) as servers:
        yield servers


@pytest.fixture(scope="module")
def on_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinelServers]:
    tls = make_tls_files(tmp_path_factory.mktemp("tls"))
    with redis_sentinel(tls=tls, replica=False) as servers:
        yield servers


def _settings(
    servers: RedisSentinelServers,
    node_id: str,
    data_dir: Path,
    *,
    environ: dict[str, str] | None = None,
    **more: Any,
) -> Settings:
    """A node's settings for ``servers``: the variables an operator sets, and ``environ``'s
    more; ``more``: flags."""
    sentinels = ",".join(f"{host}:{port}" for host, port in servers.sentinels)
    scheme = "rediss" if servers.tls else "redis"
    return Settings.from_env(
        {
            "VIDCONSULT_REDIS_URL": f"{scheme}://ignored.invalid/0",  # the Sentinel names it
            "VIDCONSULT_REDIS_SENTINELS": sentinels,
            "VIDCONSULT_REDIS_SENTINEL_MASTER": servers.master_name,
            **(environ or {}),
        },
        host="127.0.0.1",
        port=0,
        data_dir=data_dir,
        secret=SECRET,
        store="postgres",
        database_url="postgresql://x@db.invalid/vc",  # never reached: the live state only
        live="redis",
        node_id=node_id,
        **more,
    )


def _state(settings: Settings) -> RedisLiveState:
    state = make_live_state(settings)
    assert isinstance(state, RedisLiveState)
    return state


@pytest.fixture
async def states() -> AsyncIterator[list[RedisLiveState]]:
    made: list[RedisLiveState] = []
    yield made
    for state in made:
        await state.close()


async def test_nodes_giving_the_sentinels_password_share_the_live_state(
    with_password: RedisSentinelServers, tmp_path: Path, states: list[RedisLiveState]
) -> None:
    # a: the Sentinel's requirepass (its default user); b: its ACL user, from a secret file
    a = _state(_settings(with_password, "a", tmp_path / "a", redis_sentinel_password=PASSWORD))
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "vidconsult_redis_sentinel_password").write_text(with_password.acl_password)
    b_settings = _settings(
        with_password,
        "b",
        tmp_path / "b",
        environ={
            "VIDCONSULT_SECRETS_DIR": str(secrets),
            "VIDCONSULT_REDIS_SENTINEL_USERNAME": SENTINEL_ACL_USER,
        },
    )
    assert b_settings.redis_sentinel_password.get_secret_value() == with_password.acl_password
    b = _state(b_settings)
    states += [a, b]
    await a.start()
    await b.start()
    await room_of_a_heard_from_b(a, b)
    assert await a.placement.where("rm_1") == "a"


@pytest.mark.parametrize(
    ("access", "why"),
    [
        ({}, "no password"),
        ({"redis_sentinel_password": "not-" + PASSWORD}, "a wrong password"),
        (
            {"redis_sentinel_password": PASSWORD, "redis_sentinel_username": SENTINEL_ACL_USER},
            "the default user's password given for the ACL user",
        ),
    ],
)
async def test_a_node_the_sentinels_refuse_stops_at_start_naming_the_flag(
    with_password: RedisSentinelServers,
    tmp_path: Path,
    states: list[RedisLiveState],
    access: dict[str, str],
    why: str,
) -> None:
    state = _state(_settings(with_password, "a", tmp_path, **access))
    states.append(state)
    began = time.monotonic()
    with pytest.raises(Misconfigured) as refused:
        await state.start()
    assert time.monotonic() - began < REFUSED_WITHIN, why
    message = refused.value.message
    assert "--redis-sentinel-password" in message and "refused" in message, message
    assert f"127.0.0.1:{with_password.sentinel.port}" in message
    assert PASSWORD not in message


async def test_the_server_does_not_start_when_the_sentinels_refuse_it(
    with_password: RedisSentinelServers, tmp_path: Path, states: list[RedisLiveState]
) -> None:
    """The serving app's start (cleanup_ctx) lets the refusal through: `vidconsult serve`
    prints it and exits 2, instead of running on with the live state 'unreachable'."""
    state = _state(_settings(with_password, "a", tmp_path / "live", redis_sentinel_password="x"))
    states.append(state)
    node = Settings.from_env({}, host="127.0.0.1", port=0, data_dir=tmp_path / "var", secret=SECRET)
    with pytest.raises(Misconfigured):
        async with served(node, installers=[], live=state):
            raise AssertionError("the server started")


async def test_the_live_state_over_tls_to_the_sentinel_and_the_primary(
    on_tls: RedisSentinelServers, tmp_path: Path, states: list[RedisLiveState]
) -> None:
    assert on_tls.tls is not None
    tls = {"redis_sentinel_tls": True, "redis_tls_ca": str(on_tls.tls.ca)}
    a = _state(_settings(on_tls, "a", tmp_path / "a", **tls))
    b = _state(_settings(on_tls, "b", tmp_path / "b", **tls))
    states += [a, b]
    await a.start()
    await b.start()
    await room_of_a_heard_from_b(a, b)
    # the primary's connection is TLS too (the Sentinel named its tls-port: plain would fail)
    assert a.client.connection_pool.connection_kwargs["ssl_ca_certs"] == str(on_tls.tls.ca)


@pytest.mark.parametrize(
    "tls",
    [
        {"redis_sentinel_tls": True},  # the system's CAs do not know the test CA
        {},  # plain to a Sentinel on TLS only
    ],
)
async def test_a_sentinel_on_tls_is_not_reached_unchecked_or_in_plain(
    on_tls: RedisSentinelServers,
    tmp_path: Path,
    states: list[RedisLiveState],
    tls: dict[str, Any],
) -> None:
    state = _state(_settings(on_tls, "a", tmp_path, **tls))
    states.append(state)
    await state.start()  # an unreachable live state is an outage, retried: not a refusal
    with pytest.raises(Unavailable):
        await state.placement.place("rm_1")
