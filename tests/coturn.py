"""Debian's coturn for tests: an unprivileged ``turnserver`` on loopback ports, with the TURN
REST API's shared secret (``use-auth-secret``) and a self-signed certificate for TLS. Locally a
test without coturn is skipped; in CI (CI=true) it fails."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.helpers import require_binary
from vidconsult.tls import ensure_self_signed

READY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Coturn:
    host: str
    port: int  # UDP and TCP
    tls_port: int
    secret: str = field(repr=False)
    log: Path
    #: base64 SHA-256 of the TLS certificate's public key: what a browser is told to trust
    spki_sha256: str
    #: the ports it relays from (min-port, max-port)
    relay_ports: tuple[int, int]
    #: its configuration file (mode 0600: it holds the secret); ``pid``: its process
    conf: Path
    pid: int = 0

    @property
    def urls(self) -> dict[str, str]:
        return {
            "udp": f"turn:{self.host}:{self.port}?transport=udp",
            "tcp": f"turn:{self.host}:{self.port}?transport=tcp",
            "tls": f"turns:{self.host}:{self.tls_port}?transport=tcp",
        }

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_tcp_udp_port() -> int:
    """A port free for both TCP and UDP on loopback."""
    for _ in range(50):
        port = _free_port(socket.SOCK_STREAM)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port for both TCP and UDP")


def _wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"turnserver exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)  # polling a port another process opens: there is no event to await
    raise RuntimeError(f"turnserver not listening on {host}:{port}:\n{log.read_text()[-3000:]}")


@contextmanager
def coturn() -> Iterator[Coturn]:
    """Start ``turnserver`` (as ``nobody`` when this runs as root) on 127.0.0.1: UDP+TCP on one
    free port, TLS on another; relay ports on loopback too. Stopped and removed on exit (its
    directory is its own: a test's tmp_path is not reachable by ``nobody``)."""
    binary = require_binary("turnserver")
    directory = Path(tempfile.mkdtemp(prefix="vc-coturn-"))
    try:
        with _coturn(binary, directory) as server:
            yield server
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def _coturn(binary: str, directory: Path) -> Iterator[Coturn]:
    tls = ensure_self_signed(directory / "tls", ["127.0.0.1", "localhost"])
    relay_low = 49152 + secrets.randbelow(8000)
    conf = directory / "turnserver.conf"
    server = Coturn(
        host="127.0.0.1",
        port=_free_tcp_udp_port(),
        tls_port=_free_port(socket.SOCK_STREAM),
        secret=secrets.token_hex(24),
        log=directory / "turnserver.log",
        spki_sha256=tls.spki_sha256,
        relay_ports=(relay_low, relay_low + 200),
        conf=conf,
    )
    # the secret is in this file only, readable by its owner only; never on turnserver's
    # command line (ps and /proc/PID/cmdline show that to every user of the machine)
    conf.touch(mode=0o600)
    conf.chmod(0o600)
    conf.write_text(
        "\n".join(
            [
                f"listening-ip={server.host}",
                f"relay-ip={server.host}",
                f"listening-port={server.port}",
                f"tls-listening-port={server.tls_port}",
                "alt-listening-port=0",
                "alt-tls-listening-port=0",
                f"min-port={relay_low}",
                f"max-port={relay_low + 200}",
                "use-auth-secret",
                f"static-auth-secret={server.secret}",
                "realm=vidconsult.test",
                f"cert={tls.cert_path}",
                f"pkey={tls.key_path}",
                "no-dtls",
                "no-cli",
                "no-multicast-peers",
                # the peer (the server's aiortc) is on this machine
                "allow-loopback-peers",
                "fingerprint",
                f"userdb={directory / 'turndb'}",
                f"pidfile={directory / 'turnserver.pid'}",
                f"log-file={server.log}",
                "simple-log",
                "verbose",
                "",
            ]
        )
    )
    preexec = None
    if os.geteuid() == 0:  # unprivileged: its files belong to nobody, and it runs as nobody
        nobody = pwd.getpwnam("nobody")
        for path in [directory, directory / "tls", *directory.rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)

        def preexec() -> None:
            os.setgid(nobody.pw_gid)
            os.setgroups([])
            os.setuid(nobody.pw_uid)

    proc = subprocess.Popen(
        [binary, "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=preexec,  # noqa: PLW1509 - only setuid/setgid, no threads touched
    )
    try:
        _wait_listening(server.host, server.port, proc, server.log)
        _wait_listening(server.host, server.tls_port, proc, server.log)
        yield replace(server, pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
