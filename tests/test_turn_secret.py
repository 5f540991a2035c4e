"""The TURN shared secret never shows in ``ps``: every turnserver we start reads it from a
configuration file of mode 0600 (``turnserver -c``), and the running process's command line
(/proc/PID/cmdline, what ps shows every user of the machine) does not hold it. Both the tests'
coturn (tests/coturn.py) and deploy/compose.yaml's entrypoint (deploy/coturn-start.sh, run here
with Debian's turnserver), whose secret is then shown to work: a TURN allocation with a password
made from it succeeds."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aioice
import pytest

from tests.coturn import _free_tcp_udp_port, _wait_listening, coturn
from tests.helpers import require_binary
from vidconsult.turn import TurnRelay

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"

pytestmark = [pytest.mark.timeout(60)]


def cmdline(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def test_the_tests_coturn_has_its_secret_in_a_0600_file_only() -> None:
    with coturn() as server:
        argv = cmdline(server.pid)
        assert argv.split(b"\0")[0].endswith(b"turnserver"), argv
        assert server.secret.encode() not in argv, argv
        assert stat.S_IMODE(server.conf.stat().st_mode) == 0o600
        assert f"static-auth-secret={server.secret}" in server.conf.read_text()


@dataclass(frozen=True, slots=True)
class Started:
    pid: int
    port: int
    secret: str
    run_dir: Path
    log: Path


@contextmanager
def deploy_coturn(tmp_path: Path) -> Iterator[Started]:
    """deploy/coturn-start.sh with Debian's turnserver, as compose.yaml runs it, on a loopback
    port of its own instead of the deployment's 3478 on every address (none of the extra
    arguments carries a secret: the script hands them on as they are)."""
    require_binary("turnserver")
    secret = secrets.token_urlsafe(48)
    secret_file = tmp_path / "vidconsult_turn_secret"
    secret_file.write_text(secret + "\n")  # as make-secrets.sh writes it
    secret_file.chmod(0o600)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    port = _free_tcp_udp_port()
    log = tmp_path / "turnserver.log"
    env = {
        "PATH": os.environ["PATH"],
        "TURN_SECRET_FILE": str(secret_file),
        "TURN_CONFIG": str(DEPLOY / "turnserver.conf"),
        "TURN_RUN_DIR": str(run_dir),
        "TURN_HOST": "turn.test",
        "TURN_EXTERNAL_IP": "127.0.0.1",
    }
    extra = [
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--listening-port={port}",
        "--allow-loopback-peers",
        f"--pidfile={tmp_path / 'turnserver.pid'}",
        f"--userdb={tmp_path / 'turndb'}",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["sh", str(DEPLOY / "coturn-start.sh"), *extra], env=env, stdout=out, stderr=out
        )
    try:
        _wait_listening("127.0.0.1", port, proc, log)
        yield Started(proc.pid, port, secret, run_dir, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_the_deploy_entrypoint_keeps_the_secret_off_turnservers_command_line(
    tmp_path: Path,
) -> None:
    with deploy_coturn(tmp_path) as started:
        argv = cmdline(started.pid)  # the script exec'd turnserver: the same process
        assert argv.split(b"\0")[0] == b"turnserver", argv
        assert started.secret.encode() not in argv, argv
        (conf,) = started.run_dir.iterdir()
        assert stat.S_IMODE(conf.stat().st_mode) == 0o600
        assert f"static-auth-secret={started.secret}\n" in conf.read_text()
        assert "realm=turn.test\n" in conf.read_text()

        # the secret turnserver read is the one the nodes make passwords with
        port = started.port
        relay = TurnRelay(
            urls=(f"turn:127.0.0.1:{port}?transport=udp",), secret=started.secret.encode()
        )
        creds = relay.credentials("kiosk-9", datetime.now(UTC) + timedelta(minutes=5))
        connection = aioice.Connection(
            ice_controlling=True,
            turn_server=("127.0.0.1", port),
            turn_username=creds["username"],
            turn_password=creds["credential"],
            transport_policy=aioice.TransportPolicy.RELAY,
        )
        try:
            await connection.gather_candidates()
            candidates = [c.type for c in connection.local_candidates]
            assert candidates == ["relay"], started.log.read_text()
        finally:
            await connection.close()


def test_the_deploy_entrypoint_refuses_an_empty_secret(tmp_path: Path) -> None:
    empty = tmp_path / "vidconsult_turn_secret"
    empty.write_text("\n")
    out = subprocess.run(
        ["sh", str(DEPLOY / "coturn-start.sh")],
        env={
            "PATH": os.environ["PATH"],
            "TURN_SECRET_FILE": str(empty),
            "TURN_CONFIG": str(DEPLOY / "turnserver.conf"),
            "TURN_RUN_DIR": str(tmp_path),
            "TURN_HOST": "turn.test",
            "TURN_EXTERNAL_IP": "127.0.0.1",
        },
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "is empty" in out.stderr, out
    assert [p.name for p in tmp_path.iterdir()] == [empty.name]  # no configuration written


def test_no_turnserver_we_start_or_document_takes_the_secret_as_an_argument() -> None:
    root = DEPLOY.parent
    for path in [
        root / "docs/operations.md",
        root / "README.md",
        root / "tests/coturn.py",
        *DEPLOY.rglob("*"),
    ]:
        if path.is_file() and path.name != "turnserver.conf":
            assert "--static-auth-secret=" not in path.read_text(errors="replace"), path
