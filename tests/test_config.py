import os
import stat
from pathlib import Path

import pytest

from vidconsult.cli import main
from vidconsult.config import Settings, SettingsError
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


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"tls_cert": "server.crt"}, "give both or neither"),
        ({"tls_key": "server.key"}, "give both or neither"),
        (
            {"tls_cert": "a.crt", "tls_key": "a.key", "tls_self_signed": "true"},
            "exclude each other",
        ),
        ({"tls_names": "consult.lan"}, "only applies with --tls-self-signed"),
        ({"tls_self_signed": "true", "tls_names": "ok.lan,bad_name"}, "'bad_name'"),
        ({"tls_self_signed": "maybe"}, "not a boolean"),
    ],
)
def test_tls_settings_are_checked(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env({}, **overrides)


def test_links_are_https_when_the_server_speaks_tls() -> None:
    env = {"VIDCONSULT_TLS_SELF_SIGNED": "1", "VIDCONSULT_TLS_NAMES": "consult.lan, 10.0.0.9"}
    s = Settings.from_env(env, host="0.0.0.0", port=8443)
    assert s.tls_enabled and s.tls_extra_names() == ["consult.lan", "10.0.0.9"]
    assert s.base_url() == "https://127.0.0.1:8443"
    assert s.base_url(9443, host="192.168.1.20") == "https://192.168.1.20:9443"
    assert s.base_url(host="fd00::20") == "https://[fd00::20]:8443"
    files = Settings.from_env({}, tls_cert="a.crt", tls_key="a.key")
    assert files.tls_enabled and files.base_url().startswith("https://")
    # behind a TLS proxy the server speaks HTTP, and the links are the proxy's
    proxied = Settings.from_env({}, public_url="https://consult.example.org/")
    assert not proxied.tls_enabled
    assert proxied.base_url(8080, host="10.0.0.1") == "https://consult.example.org"
    assert Settings.from_env({}).base_url() == "http://127.0.0.1:8080"


def test_serve_flags_for_tls_are_switches_and_values() -> None:
    from vidconsult.cli import build_parser

    args = build_parser().parse_args(
        ["serve", "--tls-self-signed", "--tls-names", "a.lan", "--demo"]
    )
    assert (args.tls_self_signed, args.tls_names, args.demo) == ("true", "a.lan", "true")
    args = build_parser().parse_args(["serve", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
    assert (args.tls_cert, args.tls_key, args.tls_self_signed) == ("c.pem", "k.pem", None)


@pytest.mark.parametrize("where", ["flag", "env", "file"])
@pytest.mark.parametrize("command", ["serve", "token"])
def test_a_short_secret_is_one_line_and_exit_2(
    tmp_path: Path, capsys, monkeypatch, where: str, command: str
) -> None:
    # before: `vidconsult serve` with a short secret ended in a ValueError traceback
    argv = [command, "--data-dir", str(tmp_path)]
    if command == "serve":
        argv += ["--port", "0"]
    else:
        argv += ["--identity", "a", "--role", "doctor"]
    if where == "flag":
        argv += ["--secret", "short"]
    elif where == "env":
        monkeypatch.setenv("VIDCONSULT_SECRET", "short")
    else:
        (tmp_path / "secret.key").write_text("short\n")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "32 characters" in err and "Traceback" not in err, err


def test_turn_settings_mint_rest_api_credentials(tmp_path: Path) -> None:
    secret_file = tmp_path / "turn.secret"
    secret_file.write_text("s" * 40 + "\n")
    s = Settings.from_env(
        {"VIDCONSULT_TURN_SECRET_FILE": str(secret_file)},
        turn_urls="turn:turn.example.org:3478?transport=udp, turns:turn.example.org:443",
    )
    relay = s.turn_relay()
    assert relay is not None and "s" * 40 not in repr(relay)
    from datetime import UTC, datetime

    creds = relay.credentials("dr-li", datetime(2026, 12, 5, 12, 0, tzinfo=UTC))
    assert creds["urls"] == [
        "turn:turn.example.org:3478?transport=udp",
        "turns:turn.example.org:443",
    ]
    assert creds["username"] == "1796472000:dr-li"
    # base64(HMAC-SHA1(secret, username)), as coturn's use-auth-secret computes it
    import base64
    import hashlib
    import hmac

    expected = hmac.new(b"s" * 40, b"1796472000:dr-li", hashlib.sha1).digest()
    assert base64.b64decode(creds["credential"]) == expected
    assert "s" * 40 not in repr(Settings.from_env({}, turn_urls="turn:x", turn_secret="s" * 40))


@pytest.mark.parametrize(
    "kw",
    [
        {"turn_urls": "turn:x:3478"},  # no secret
        {"turn_secret": "s" * 40},  # no URL
        {"turn_urls": "stun:x:3478", "turn_secret": "s" * 40},
        {"turn_urls": "turn:x", "turn_secret": "short"},
        {"turn_urls": "turn:x", "turn_secret": "s" * 40, "turn_secret_file": "/x"},
    ],
)
def test_bad_turn_settings_are_refused(kw) -> None:
    with pytest.raises(ValueError):
        Settings.from_env({}, **kw)


def test_unreadable_turn_secret_file_is_refused(tmp_path: Path) -> None:
    s = Settings.from_env({}, turn_urls="turn:x", turn_secret_file=str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="turn-secret-file"):
        s.turn_relay()


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"VIDCONSULT_PORT": "70000"}, "--port (VIDCONSULT_PORT) must be at most 65535"),
        ({"VIDCONSULT_TOKEN_TTL": "0"}, "--token-ttl (VIDCONSULT_TOKEN_TTL) must be positive"),
        (
            {"VIDCONSULT_STORE": "mongo"},
            "--store (VIDCONSULT_STORE) must be 'sqlite' or 'postgres', not 'mongo'",
        ),
        (
            {"VIDCONSULT_SCHEDULER_INTERVAL": "-1"},
            "--scheduler-interval (VIDCONSULT_SCHEDULER_INTERVAL) must not be negative",
        ),
        ({"VIDCONSULT_DEMO": "maybe"}, "--demo (VIDCONSULT_DEMO): not a boolean: 'maybe'"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_flag_and_variable(env, line: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value) == line


def test_an_invalid_combination_fails_at_start_with_one_line(tmp_path: Path, capsys) -> None:
    argv = ["serve", "--data-dir", str(tmp_path), "--port", "0", "--tls-names", "a.lan"]
    assert main([*argv, "--token-ttl", "-5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert "--token-ttl (VIDCONSULT_TOKEN_TTL) must be positive" in err


def test_secrets_never_show_in_repr_or_dump() -> None:
    s = Settings.from_env(
        {"VIDCONSULT_DATABASE_URL": "postgresql://vc:pw-db-123@db/vc"},
        store="postgres",
        secret="k" * 40,
        turn_urls="turn:x",
        turn_secret="t" * 40,
    )
    shown = repr(s) + str(s) + str(s.model_dump()) + s.model_dump_json()
    for hidden in ("pw-db-123", "k" * 40, "t" * 40):
        assert hidden not in shown
    assert s.load_secret() == b"k" * 40
    assert s.database_url.get_secret_value() == "postgresql://vc:pw-db-123@db/vc"


def test_secrets_come_from_files_of_the_secrets_dir(tmp_path: Path) -> None:
    # Docker secrets: /run/secrets/vidconsult_secret etc.; a variable or a flag wins over a file
    (tmp_path / "vidconsult_secret").write_text("f" * 40 + "\n")
    (tmp_path / "vidconsult_database_url").write_text("postgresql://vc:pw@db/vc")
    env = {"VIDCONSULT_SECRETS_DIR": str(tmp_path), "VIDCONSULT_STORE": "postgres"}
    s = Settings.from_env(env)
    assert s.load_secret() == b"f" * 40
    assert s.database_url.get_secret_value() == "postgresql://vc:pw@db/vc"
    assert Settings.from_env(env, secret="g" * 40).load_secret() == b"g" * 40
    with pytest.raises(SettingsError, match="VIDCONSULT_SECRETS_DIR: .* is not a directory"):
        Settings.from_env({"VIDCONSULT_SECRETS_DIR": str(tmp_path / "missing")})


def test_an_unreadable_secret_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as compose bind-mounts a root-owned 0600 file for a server of uid 10001 (root, who runs
    # the tests, reads anything: the permission check is what is replaced)
    (tmp_path / "vidconsult_secret").write_text("f" * 40)
    (tmp_path / "unrelated").write_text("x")
    real_access = os.access
    unreadable = {tmp_path / "vidconsult_secret", tmp_path / "unrelated"}
    monkeypatch.setattr(
        os, "access", lambda path, mode: Path(path) not in unreadable and real_access(path, mode)
    )
    with pytest.raises(SettingsError, match="vidconsult_secret cannot be read by this user"):
        Settings.from_env({"VIDCONSULT_SECRETS_DIR": str(tmp_path)})


def test_every_setting_has_a_flag_a_variable_and_a_help() -> None:
    from vidconsult.cli import build_parser

    serve = build_parser()._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    flags = {a.dest: a for a in serve._actions if a.dest in Settings.model_fields}
    assert set(flags) == set(Settings.model_fields)
    for name, action in flags.items():
        assert f"--{name.replace('_', '-')}" in action.option_strings
        assert f"[env VIDCONSULT_{name.upper()}]" in (action.help or "")
        assert Settings.model_fields[name].description, f"{name} has no help"
