"""The live state's settings: invalid combinations stop `vidconsult serve` with one line before
anything starts; the Redis URL (it may hold a password) never shows in the settings' repr or in
the log; the node id is generated once and kept in the data directory."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.helpers import SECRET
from vidconsult.cli import main
from vidconsult.compose import node_id_of
from vidconsult.config import Settings

PG = ["--store", "postgres", "--database-url", "postgresql://x@db/vc"]
SENTINELS = ["--redis-sentinels", "s1:26379,s2:26379", "--redis-sentinel-master", "vc"]


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--live", "redis"], "--live redis (several nodes) needs --store postgres"),
        (["--live", "cluster"], "--live"),
        ([*PG, "--live", "redis", "--redis-url", "http://r:6379"], "redis:// or rediss:// URL"),
        (["--node-id", "no spaces"], "--node-id"),
        (["--node-limit", "-1"], "--node-limit"),
        (["--node-heartbeat", "5", "--node-ttl", "2"], "--node-ttl must be longer"),
        (["--redis-cluster"], "--redis-cluster and --redis-sentinels apply only with --live redis"),
        (
            [*PG, "--live", "redis", "--redis-sentinels", "s1:26379"],
            "--redis-sentinels and --redis-sentinel-master go together",
        ),
        (
            [*PG, "--live", "redis", "--redis-sentinel-master", "vc"],
            "--redis-sentinels and --redis-sentinel-master go together",
        ),
        (
            [*PG, "--live", "redis", "--redis-cluster", *SENTINELS],
            "--redis-cluster and --redis-sentinels exclude each other",
        ),
        (
            [
                *PG,
                "--live",
                "redis",
                "--redis-sentinels",
                "s1:26379,s2",
                "--redis-sentinel-master",
                "vc",
            ],
            "--redis-sentinels: 's2' is not host:port",
        ),
        (
            [*PG, "--live", "redis", "--redis-cluster", "--redis-url", "redis://r:6379/3"],
            "--redis-cluster needs a redis:// or rediss:// URL of database 0",
        ),
        (
            [*PG, "--live", "redis", "--redis-sentinel-password", "pw"],
            "--redis-sentinel-password applies only with --redis-sentinels",
        ),
        (
            ["--redis-sentinel-password", "pw"],
            "--redis-sentinel-password applies only with --redis-sentinels",
        ),
        (
            [*PG, "--live", "redis", "--redis-sentinel-tls"],
            "--redis-sentinel-tls applies only with --redis-sentinels",
        ),
        (
            [*PG, "--live", "redis", "--redis-sentinel-username", "vc", "--redis-sentinel-tls"],
            "--redis-sentinel-username and --redis-sentinel-tls apply only with --redis-sentinels",
        ),
        (
            [*PG, "--live", "redis", *SENTINELS, "--redis-sentinel-username", "vc"],
            "--redis-sentinel-username needs --redis-sentinel-password",
        ),
        (
            [*PG, "--live", "redis", *SENTINELS, "--redis-tls-ca", "/etc/hostname"],
            "--redis-tls-ca applies only with --live redis and TLS to Redis",
        ),
        (
            [*PG, "--live", "redis", "--redis-url", "rediss://r/0", "--redis-tls-ca", "/no/ca"],
            "--redis-tls-ca /no/ca: no such file",
        ),
        (
            [*PG, "--live", "redis", "--redis-url", "rediss://r/0", "--redis-tls-cert", "/c"],
            "--redis-tls-cert and --redis-tls-key go together",
        ),
        (
            [*PG, "--live", "redis", "--redis-tls-cert", "/c", "--redis-tls-key", "/k"],
            "--redis-tls-cert and --redis-tls-key apply only with --live redis and TLS to Redis",
        ),
    ],
)
def test_invalid_live_settings_fail_at_start_with_one_line(
    flags: list[str], reason: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["serve", "--data-dir", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1, err
    assert not (tmp_path / "vidconsult.db").exists()  # nothing started


def test_the_redis_url_and_the_sentinels_password_are_secrets(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    url = "redis://:s3cret-passw0rd@redis.internal:6379/0"
    with caplog.at_level(logging.DEBUG):
        settings = Settings.from_env(
            {
                "VIDCONSULT_REDIS_URL": url,
                "VIDCONSULT_REDIS_SENTINEL_PASSWORD": "s3ntinel-pw",
                "VIDCONSULT_REDIS_SENTINELS": "s1:26379",
                "VIDCONSULT_REDIS_SENTINEL_MASTER": "vc",
            },
            data_dir=tmp_path,
            secret=SECRET,
            store="postgres",
            database_url="postgresql://x@db/vc",
            live="redis",
            node_id="n1",
        )
        logging.getLogger("test").info("settings %s %r", settings, settings)
        from vidconsult.compose import make_live_state

        state = make_live_state(settings)
        logging.getLogger("test").info("live %r", state.client)  # type: ignore[union-attr]
    assert settings.redis_url.get_secret_value() == url
    assert settings.redis_sentinel_password.get_secret_value() == "s3ntinel-pw"
    for secret in ("s3cret", "s3ntinel"):
        assert secret not in repr(settings) and secret not in str(settings)
        assert secret not in caplog.text


def test_the_node_id_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path / "var", secret=SECRET)
    first = node_id_of(settings)
    assert first.startswith("node-")
    assert (tmp_path / "var" / "node-id").read_text().strip() == first
    assert node_id_of(settings) == first  # a restart is the same node
    named = Settings.from_env({}, data_dir=tmp_path / "var", secret=SECRET, node_id="lab-2")
    assert node_id_of(named) == "lab-2"


def test_redis_with_fail_over_reaches_the_live_state(tmp_path: Path) -> None:
    """The settings of a Sentinel set and of a Redis Cluster reach the live state's client."""
    from redis.asyncio.cluster import RedisCluster
    from redis.asyncio.sentinel import SentinelConnectionPool

    from vidconsult.cluster.redis_state import RedisLiveState
    from vidconsult.compose import make_live_state

    base = {
        "data_dir": tmp_path,
        "secret": SECRET,
        "store": "postgres",
        "database_url": "postgresql://x@db/vc",
        "live": "redis",
        "node_id": "n1",
    }
    sentinel = Settings.from_env(
        {
            "VIDCONSULT_REDIS_URL": "redis://:pw@ignored/2",
            "VIDCONSULT_REDIS_SENTINELS": "s1.lan:26379, [::1]:26380",
            "VIDCONSULT_REDIS_SENTINEL_MASTER": "vc",
        },
        **base,
    )
    assert sentinel.redis_sentinel_addresses() == (("s1.lan", 26379), ("::1", 26380))
    state = make_live_state(sentinel)
    assert isinstance(state, RedisLiveState)
    pool = state.client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "vc"
    assert pool.connection_kwargs["password"] == "pw" and pool.connection_kwargs["db"] == 2
    # the Sentinels themselves: no password, no TLS unless given
    assert "password" not in pool.sentinel_manager.sentinel_kwargs
    assert "ssl" not in pool.sentinel_manager.sentinel_kwargs
    ca, cert, key = tmp_path / "ca.pem", tmp_path / "node.pem", tmp_path / "node.key"
    for path in (ca, cert, key):
        path.write_text("PEM\n")
    guarded = Settings.from_env(
        {
            "VIDCONSULT_REDIS_URL": "rediss://:pw@ignored/2",
            "VIDCONSULT_REDIS_SENTINELS": "s1.lan:26379",
            "VIDCONSULT_REDIS_SENTINEL_MASTER": "vc",
            "VIDCONSULT_REDIS_SENTINEL_PASSWORD": "spw",
            "VIDCONSULT_REDIS_SENTINEL_USERNAME": "vcnode",
            "VIDCONSULT_REDIS_SENTINEL_TLS": "true",
            "VIDCONSULT_REDIS_TLS_CA": str(ca),
            "VIDCONSULT_REDIS_TLS_CERT": str(cert),
            "VIDCONSULT_REDIS_TLS_KEY": str(key),
        },
        **base,
    )
    state = make_live_state(guarded)
    assert isinstance(state, RedisLiveState)
    pool = state.client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    sentinel_kwargs = pool.sentinel_manager.sentinel_kwargs
    assert sentinel_kwargs["password"] == "spw" and sentinel_kwargs["username"] == "vcnode"
    files = {"ssl_ca_certs": str(ca), "ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    assert sentinel_kwargs["ssl"] is True
    assert {name: sentinel_kwargs[name] for name in files} == files
    assert pool.connection_kwargs["password"] == "pw"  # the primary's, from the URL
    assert {name: pool.connection_kwargs[name] for name in files} == files
    # one Redis on TLS (no Sentinels) takes the same files
    single = Settings.from_env(
        {
            "VIDCONSULT_REDIS_URL": "rediss://:pw@r1:6380/0",
            "VIDCONSULT_REDIS_TLS_CA": str(ca),
            "VIDCONSULT_REDIS_TLS_CERT": str(cert),
            "VIDCONSULT_REDIS_TLS_KEY": str(key),
        },
        **base,
    )
    state = make_live_state(single)
    assert isinstance(state, RedisLiveState)
    kwargs = state.client.connection_pool.connection_kwargs
    assert {name: kwargs[name] for name in files} == files
    assert state.prefix == "{vc}:"  # one hash tag for every key
    cluster = Settings.from_env(
        {"VIDCONSULT_REDIS_URL": "redis://r1:7000/0", "VIDCONSULT_REDIS_CLUSTER": "true"}, **base
    )
    state = make_live_state(cluster)
    assert isinstance(state, RedisLiveState)
    assert isinstance(state.client, RedisCluster)
