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


@pytest.mark.parametrize(
    ("flags", "reason"),
    [
        (["--live", "redis"], "--live redis (several nodes) needs --store postgres"),
        (["--live", "cluster"], "--live"),
        ([*PG, "--live", "redis", "--redis-url", "http://r:6379"], "redis:// or rediss:// URL"),
        (["--node-id", "no spaces"], "--node-id"),
        (["--node-limit", "-1"], "--node-limit"),
        (["--node-heartbeat", "5", "--node-ttl", "2"], "--node-ttl must be longer"),
    ],
)
def test_invalid_live_settings_fail_at_start_with_one_line(
    flags: list[str], reason: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["serve", "--data-dir", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert reason in err and err.count("\n") == 1, err
    assert not (tmp_path / "vidconsult.db").exists()  # nothing started


def test_the_redis_url_is_a_secret(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    url = "redis://:s3cret-passw0rd@redis.internal:6379/0"
    with caplog.at_level(logging.DEBUG):
        settings = Settings.from_env(
            {"VIDCONSULT_REDIS_URL": url},
            data_dir=tmp_path,
            secret=SECRET,
            store="postgres",
            database_url="postgresql://x@db/vc",
            live="redis",
        )
        logging.getLogger("test").info("settings %s %r", settings, settings)
    assert settings.redis_url.get_secret_value() == url
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)
    assert "s3cret" not in caplog.text


def test_the_node_id_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path / "var", secret=SECRET)
    first = node_id_of(settings)
    assert first.startswith("node-")
    assert (tmp_path / "var" / "node-id").read_text().strip() == first
    assert node_id_of(settings) == first  # a restart is the same node
    named = Settings.from_env({}, data_dir=tmp_path / "var", secret=SECRET, node_id="lab-2")
    assert node_id_of(named) == "lab-2"
