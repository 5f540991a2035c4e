"""The multi-node deployment (deploy/), checked offline: CI reaches no container registry and
does not start the stack (deploy/smoke.sh does, by hand, from images built of Debian's
packages). docker-compose (Debian's) resolves and validates deploy/compose.yaml, Caddy
(Debian's) validates deploy/Caddyfile, and the resolved file is read back: every VIDCONSULT_*
variable and secret file is a setting, each node's settings (with the secrets
deploy/make-secrets.sh makes) pass vidconsult's own validation, the proxy's upstreams are
exactly the nodes' ports, and the images built without a registry are the ones compose uses."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from tests.helpers import require_binary
from vidconsult.config import SECRETS_DIR_VARIABLE, Settings, variable

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NODES = ("node1", "node2", "node3")


@pytest.fixture(scope="module")
def deploy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/ with its .env from env.example and the secrets make-secrets.sh makes."""
    copy = tmp_path_factory.mktemp("deploy") / "deploy"
    shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("secrets", ".env"))
    shutil.copy(copy / "env.example", copy / ".env")
    subprocess.run(["sh", str(copy / "make-secrets.sh")], check=True, capture_output=True)
    return copy


@pytest.fixture(scope="module")
def resolved(deploy: Path) -> dict[str, Any]:
    """deploy/compose.yaml as docker-compose resolves it (anchors, merges, variables)."""
    compose = require_binary("docker-compose")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDCONSULT_", "TURN_"))}
    out = subprocess.run(
        [compose, "-f", str(deploy / "compose.yaml"), "config"],
        check=True,
        capture_output=True,
        text=True,
        cwd=deploy,
        env=env,
    )
    data: dict[str, Any] = yaml.safe_load(out.stdout)
    return data


def test_make_secrets_makes_private_files_once(deploy: Path) -> None:
    secrets = deploy / "secrets"
    before = {p.name: p.read_text() for p in secrets.iterdir()}
    assert all((p.stat().st_mode & 0o077) == 0 for p in secrets.iterdir())
    subprocess.run(["sh", str(deploy / "make-secrets.sh")], check=True, capture_output=True)
    assert {p.name: p.read_text() for p in secrets.iterdir()} == before  # kept, not remade
    password = (secrets / "postgres_password").read_text().strip()
    assert f":{password}@" in (secrets / "vidconsult_database_url").read_text()


def test_compose_has_the_services_of_several_nodes(resolved: dict[str, Any], deploy: Path) -> None:
    services = resolved["services"]
    assert {*NODES, "proxy", "postgres", "redis", "coturn"} <= set(services)
    for name in NODES:  # built from the repository's Dockerfile, not pulled
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
        assert Path(services[name]["build"]["context"]) == deploy.parent  # the repository
    assert (DEPLOY.parent / "Dockerfile").is_file()
    # media goes straight to the nodes' own addresses (docs/operations.md, Container image)
    assert all(s.get("network_mode") == "host" for s in services.values() if "build" in s)


def test_every_node_setting_is_a_setting_and_the_combination_is_valid(
    resolved: dict[str, Any], deploy: Path, tmp_path: Path
) -> None:
    settings_vars = {variable(name) for name in Settings.model_fields} | {SECRETS_DIR_VARIABLE}
    secret_fields = {
        f"vidconsult_{name}"
        for name, info in Settings.model_fields.items()
        if info.annotation is SecretStr
    }
    declared = resolved["secrets"]
    nodes = {}
    for name in NODES:
        service = resolved["services"][name]
        env = {k: str(v) for k, v in service["environment"].items()}
        unknown = {k for k in env if k.startswith("VIDCONSULT_")} - settings_vars
        assert not unknown, f"{name}: not settings: {unknown}"
        names = [s["source"] if isinstance(s, dict) else s for s in service["secrets"]]
        assert set(names) <= secret_fields, f"{name}: secrets that are no setting"
        # what the container sees in /run/secrets, here in a directory of its own
        run = tmp_path / name
        run.mkdir()
        for secret in names:
            shutil.copy(declared[secret]["file"], run / secret)
        assert env[SECRETS_DIR_VARIABLE] == "/run/secrets"
        settings = Settings.from_env({**env, SECRETS_DIR_VARIABLE: str(run)})
        assert settings.store == "postgres" and settings.live == "redis"
        assert settings.database_url.get_secret_value().startswith("postgresql://vidconsult:")
        assert settings.turn_relay() is not None and settings.load_secret()
        assert settings.cluster_secret.get_secret_value()
        assert settings.host == "127.0.0.1"  # only the proxy faces the network
        nodes[name] = settings
    assert len({s.port for s in nodes.values()}) == len(NODES)
    assert len({s.node_id for s in nodes.values()}) == len(NODES)
    # one public address, one secret for all (a token minted on one node is checked on another)
    assert len({s.public_url for s in nodes.values()}) == 1
    assert len({s.load_secret() for s in nodes.values()}) == 1
    assert next(iter(nodes.values())).public_url == "https://consult.example.org"
    # the database URL's password is PostgreSQL's own
    postgres = resolved["services"]["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    password = Path(declared["postgres_password"]["file"]).read_text().strip()
    assert f":{password}@127.0.0.1:5432/" in nodes["node1"].database_url.get_secret_value()
    # Redis and PostgreSQL where the nodes look for them
    assert "6379" in resolved["services"]["redis"]["command"]
    assert nodes["node1"].redis_url.get_secret_value() == "redis://127.0.0.1:6379/0"


def test_the_proxy_sends_to_exactly_the_nodes(resolved: dict[str, Any]) -> None:
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    upstreams = re.search(r"reverse_proxy ([^{]+)\{", caddyfile)
    assert upstreams is not None
    ports = {int(u.rsplit(":", 1)[1]) for u in upstreams.group(1).split()}
    node_ports = {int(resolved["services"][n]["environment"]["VIDCONSULT_PORT"]) for n in NODES}
    assert ports == node_ports
    assert "health_uri /healthz" in caddyfile


def test_caddy_accepts_the_caddyfile(tmp_path: Path) -> None:
    caddy = require_binary("caddy")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # caddy's storage, not the tester's
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "VIDCONSULT_DOMAIN": "consult.example.org",
        "TLS_ISSUER": "internal",
    }
    out = subprocess.run(
        [caddy, "validate", "--config", str(DEPLOY / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0 and "Valid configuration" in out.stdout + out.stderr, out.stderr
    formatted = subprocess.run(
        [caddy, "fmt", str(DEPLOY / "Caddyfile")], capture_output=True, text=True, env=env
    )
    assert formatted.stdout == (DEPLOY / "Caddyfile").read_text()


def test_the_images_built_without_a_registry_stand_in_for_the_public_ones(
    deploy: Path,
) -> None:
    """deploy/offline.env names, for compose.yaml, exactly the images deploy/build-offline.sh
    tags from the stages of deploy/offline/Containerfile (deploy/smoke.sh runs them for real)."""
    compose = require_binary("docker-compose")
    offline = dict(
        line.split("=", 1)
        for line in (DEPLOY / "offline.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDCONSULT_", "TURN_"))}
    out = subprocess.run(
        [compose, "-f", str(deploy / "compose.yaml"), "config"],
        check=True,
        capture_output=True,
        text=True,
        cwd=deploy,
        env={**env, **offline},
    )
    services = yaml.safe_load(out.stdout)["services"]
    stages = set(
        re.findall(r"^FROM \S+ AS (\w+)$", (DEPLOY / "offline/Containerfile").read_text(), re.M)
    )
    script = (DEPLOY / "build-offline.sh").read_text()
    built = re.search(r"for name in ([a-z ]+); do", script)
    assert built is not None and "localhost/vidconsult-offline/$name:bookworm" in script
    for service, variable_name in [
        ("postgres", "POSTGRES_IMAGE"),
        ("redis", "REDIS_IMAGE"),
        ("proxy", "CADDY_IMAGE"),
        ("coturn", "COTURN_IMAGE"),
    ]:
        name = offline[variable_name].split("/")[-1].split(":")[0]
        assert services[service]["image"] == offline[variable_name]
        assert offline[variable_name] == f"localhost/vidconsult-offline/{name}:bookworm"
        assert name in stages and name in built.group(1).split()
    # the nodes' image: what build-offline.sh tags from the repository's Dockerfile
    assert {services[n]["image"] for n in NODES} == {"vidconsult:local"}
    assert "--tag localhost/vidconsult:local --file Dockerfile" in script
    # the nodes (uid 10001) and coturn (run as 10001) can read their secret files
    assert services["coturn"]["user"] == "10001:10001"
    if os.getuid() == 0:
        for path in (deploy / "secrets").glob("vidconsult_*"):
            assert (path.stat().st_uid, path.stat().st_mode & 0o777) == (10001, 0o600), path
