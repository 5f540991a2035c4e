"""Debian's PostgreSQL for tests: a throwaway cluster (``initdb``) run by ``pg_ctl`` on a free
loopback port. PostgreSQL refuses to run as root, so when the tests run as root the cluster's
files belong to, and the server runs as, the ``postgres`` system user that Debian's package
creates. Locally a test without PostgreSQL is skipped; in CI (CI=true) it fails.

One server per test session; each test gets a database of its own (``CREATE DATABASE``), so
tests never see each other's rows."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import SECRET, require_binary
from vidconsult.config import Settings


def _pg_bin() -> Path:
    """Debian's server binaries (not on PATH): the newest installed major version."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
SUPERUSER = "vidconsult"


@dataclass(frozen=True, slots=True)
class PostgresServer:
    host: str
    port: int
    directory: Path
    owner: pwd.struct_passwd | None = None

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            [str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
            + ["-h", self.host, "-p", str(self.port), "-U", SUPERUSER, "-d", database]
            + ["-c", sql],
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def new_database(self) -> str:
        """A fresh empty database; its URL."""
        name = f"t_{secrets.token_hex(6)}"
        self.psql(f"CREATE DATABASE {name}")
        return self.url(name)

    def log_text(self) -> str:
        log = self.directory / "postgres.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def _as_owner(self, *argv: str) -> None:
        run: dict[str, object] = {}
        if self.owner is not None:
            run = {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}
        try:
            subprocess.run(
                list(argv),
                check=True,
                capture_output=True,
                cwd=self.directory,
                **run,  # type: ignore[call-overload]
            )
        except subprocess.CalledProcessError as err:
            raise RuntimeError(
                f"{argv[0]} failed: {err.stderr!r}\n{self.log_text()[-3000:]}"
            ) from err

    def start(self) -> None:
        """Start (or restart after :meth:`stop`) and wait until it accepts connections."""
        options = (
            f"-c listen_addresses={self.host} -c port={self.port}"
            f" -c unix_socket_directories={self.directory} -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._as_owner(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self) -> None:
        """Fast shutdown: open transactions are rolled back, clients are disconnected."""
        self._as_owner(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


def postgres_node_settings(
    data_dir: Path, database_url: str, *, pool_size: int = 3, **more: object
) -> Settings:
    """A node's settings on a test database (``--store postgres``) on a free loopback
    port, with the tests' secret; ``more`` adds to (or overrides) them."""
    return Settings.from_env(
        {},
        host="127.0.0.1",
        port=0,
        data_dir=data_dir,
        secret=SECRET,
        store="postgres",
        database_url=database_url,
        database_pool_size=pool_size,
        **more,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """initdb + pg_ctl start on 127.0.0.1 (trust authentication, loopback only), as the
    ``postgres`` user when this runs as root; stopped (fast shutdown) and removed on exit."""
    require_binary(str(PG_BIN / "pg_ctl"))
    owner = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
    directory = Path(tempfile.mkdtemp(prefix="vc-postgres-"))
    if owner is not None:
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    server = PostgresServer("127.0.0.1", _free_port(), directory, owner)
    try:
        server._as_owner(
            str(PG_BIN / "initdb"),
            "-D",
            str(server.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        server.start()
        try:
            yield server
        finally:
            try:
                server.stop()
            except RuntimeError:
                pass  # already stopped by the test
    finally:
        shutil.rmtree(directory, ignore_errors=True)
