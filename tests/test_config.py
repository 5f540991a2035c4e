import stat
from pathlib import Path

import pytest

from vidconsult.cli import main
from vidconsult.config import Settings
from vidconsult.tokens import TokenSigner


def test_defaults_need_nothing_from_the_environment() -> None:
    s = Settings.from_env({})
    assert (s.host, s.port, s.store, s.ice_servers) == ("127.0.0.1", 8080, "sqlite", [])


def test_environment_and_overrides() -> None:
    s = Settings.from_env(
        {
            "VIDCONSULT_PORT": "9000",
            "VIDCONSULT_ICE_SERVERS": "stun:127.0.0.1:3478",
            "VIDCONSULT_DEMO": "yes",
        },
        host="0.0.0.0",
    )
    assert s.port == 9000 and s.host == "0.0.0.0" and s.demo is True
    assert s.ice_servers == [{"urls": ["stun:127.0.0.1:3478"]}]
    assert s.base_url() == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    "env",
    [
        {"VIDCONSULT_PORT": "x"},
        {"VIDCONSULT_STORE": "mongo"},
        {"VIDCONSULT_ICE_SERVERS": '[{"nourls": 1}]'},
    ],
)
def test_bad_settings_are_refused(env) -> None:
    with pytest.raises(ValueError):
        Settings.from_env(env)


def test_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    s = Settings.from_env({}, data_dir=str(tmp_path))
    first = s.load_secret()
    assert Settings.from_env({}, data_dir=str(tmp_path)).load_secret() == first
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600
    assert Settings.from_env({"VIDCONSULT_SECRET": "z" * 32}).load_secret() == b"z" * 32


def test_token_command_prints_a_token_the_server_accepts(tmp_path: Path, capsys) -> None:
    assert (
        main(["token", "--identity", "coord", "--role", "coordinator", "--data-dir", str(tmp_path)])
        == 0
    )
    token = capsys.readouterr().out.strip()
    secret = Settings.from_env({}, data_dir=str(tmp_path)).load_secret()
    claims = TokenSigner(secret).verify(token)
    assert claims.is_coordinator and claims.identity == "coord"


def test_token_command_refuses_bad_role(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["token", "--identity", "x", "--role", "surgeon", "--data-dir", str(tmp_path)])
