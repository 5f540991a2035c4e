"""Sentinels that ask a password, and Sentinels on TLS, on real servers (tests/redis_server.py):
the node's live state, built from its settings as `vidconsult serve` builds it
(vidconsult/compose.py), works through them with the right password (the default user's
requirepass, or an ACL user's) and over TLS (the operator's CA, the node's client
certificate: Redis asks for one by default); with a wrong or missing
password the node stops at start with a line naming the flag, within its timeout (no endless
"Redis unreachable"), as with a Sentinel's certificate that does not verify; a Sentinel that
hangs up (a plain client) is an outage, never a hang."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

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


def _tls(servers: RedisSentinelServers, *, ca: bool = True, cert: bool = True) -> dict[str, Any]:
    """The TLS settings of a node of ``servers``: the Sentinels' switch, the CA, the node's
    client certificate."""
    assert servers.tls is not None
    tls: dict[str, Any] = {"redis_sentinel_tls": True}
    if ca:
        tls["redis_tls_ca"] = str(servers.tls.ca)
    if cert:
        tls["redis_tls_cert"] = str(servers.tls.client_cert)
        tls["redis_tls_key"] = str(servers.tls.client_key)
    return tls


async def test_the_live_state_over_tls_to_the_sentinel_and_the_primary(
    on_tls: RedisSentinelServers, tmp_path: Path, states: list[RedisLiveState]
) -> None:
    a = _state(_settings(on_tls, "a", tmp_path / "a", **_tls(on_tls)))
    b = _state(_settings(on_tls, "b", tmp_path / "b", **_tls(on_tls)))
    states += [a, b]
    await a.start()
    await b.start()
    await room_of_a_heard_from_b(a, b)
    # the primary is reached in TLS too, with the same files (the Sentinel named its tls-port,
    # and it asks for a client certificate: nothing else would have worked)
    primary = a.client.connection_pool.connection_kwargs
    assert on_tls.tls is not None
    assert primary["ssl_certfile"] == str(on_tls.tls.client_cert)


async def test_a_node_that_cannot_verify_the_sentinels_stops_at_start_naming_the_flags(
    on_tls: RedisSentinelServers, tmp_path: Path, states: list[RedisLiveState]
) -> None:
    # no --redis-tls-ca: the system's CAs, which do not know the test's
    state = _state(_settings(on_tls, "a", tmp_path, **_tls(on_tls, ca=False)))
    states.append(state)
    began = time.monotonic()
    with pytest.raises(Misconfigured) as refused:
        await state.start()
    assert time.monotonic() - began < REFUSED_WITHIN
    message = refused.value.message
    assert f"TLS to 127.0.0.1:{on_tls.sentinel.port} failed" in message, message
    assert "certificate verify failed" in message and "--redis-tls-ca" in message, message


async def test_a_node_speaking_plain_to_sentinels_on_tls_finds_them_unreachable(
    on_tls: RedisSentinelServers, tmp_path: Path, states: list[RedisLiveState]
) -> None:
    """A Sentinel that closes the connection (a plain client on its TLS port) looks like an
    outage to the node: it starts, and its calls say Unavailable, as when Redis is away."""
    state = _state(_settings(on_tls, "a", tmp_path))
    states.append(state)
    await state.start()
    began = time.monotonic()
    with pytest.raises(Unavailable):
        await state.placement.place("rm_1")
    assert time.monotonic() - began < 3 * 2.0  # the call's timeout, its retry


async def test_a_node_without_the_client_certificate_never_gets_in(
    on_tls: RedisSentinelServers, tmp_path: Path, states: list[RedisLiveState]
) -> None:
    """The Sentinel asks for a client certificate (tls-auth-clients yes) and the node has none.
    Its TLS alert reaches the node before the connection closes, or, on uvloop, not always:
    then the node sees only a closed connection. Either way it does not get in nor hang: it
    stops at start naming the flags, or it starts and its calls say Unavailable."""
    state = _state(_settings(on_tls, "a", tmp_path, **_tls(on_tls, cert=False)))
    states.append(state)
    began = time.monotonic()
    try:
        await state.start()
    except Misconfigured as refused:
        assert "certificate required" in refused.message, refused.message
        assert "--redis-tls-cert" in refused.message
    else:
        with pytest.raises(Unavailable):
            await state.placement.place("rm_1")
    assert time.monotonic() - began < 3 * 2.0


async def test_a_sentinel_user_that_may_not_ping_still_gets_the_node_its_live_state(
    with_password: RedisSentinelServers, tmp_path: Path, states: list[RedisLiveState]
) -> None:
    """An ACL user of the Sentinel made for the nodes with what finding the primary needs, not
    PING: the start check's PING is refused (NOPERM) after its password was taken. That is no
    refusal of the node's credentials, and no reason to start without the bus's reader: the
    node shares the live state as with any user."""
    host, port = "127.0.0.1", with_password.sentinel.port
    admin = aioredis.Redis(host=host, port=port, password=PASSWORD)
    try:
        await admin.execute_command(
            "ACL", "SETUSER", "noping", "on", ">noping-pw", "+@all", "-ping"
        )
    finally:
        await admin.aclose()
    access = {"redis_sentinel_password": "noping-pw", "redis_sentinel_username": "noping"}
    a = _state(_settings(with_password, "a", tmp_path / "a", **access))
    b = _state(_settings(with_password, "b", tmp_path / "b", **access))
    states += [a, b]
    await a.start()
    await b.start()
    await room_of_a_heard_from_b(a, b)
