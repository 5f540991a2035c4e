"""Debian's redis-server for tests: a throwaway server on a free loopback port, no persistence;
a Redis Cluster of three primaries (:func:`redis_cluster`) and a primary with a replica watched
by one Sentinel (:func:`redis_sentinel`), made of the same binary (``redis-server --sentinel``
is Redis Sentinel; Debian's redis-sentinel package only links that name to it) and redis-cli.
The Sentinel set may ask a password of its Sentinel (``requirepass`` and an ACL user), or
speak only TLS (the Sentinel and the primary, with a throwaway CA: tests/throwaway_ca.py).
Locally a test without redis-server (or redis-cli) is skipped; in CI (CI=true) it fails.

:meth:`RedisServer.stop` and :meth:`RedisServer.start` stop and start it again on the same
port (the live state's "Redis goes away and comes back" tests)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import require_binary
from tests.throwaway_ca import TlsFiles

READY_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers_ping(port: int, tls: TlsFiles | None = None) -> bool:
    """It answers (PONG, or that it wants a password first): it is up."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw:
            s = raw
            if tls is not None:
                context = ssl.create_default_context(cafile=str(tls.ca))
                context.load_cert_chain(tls.client_cert, tls.client_key)
                s = context.wrap_socket(raw, server_hostname="127.0.0.1")
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def _tls_options(tls: TlsFiles) -> list[tuple[str, str]]:
    """A server on TLS only (its port is its tls-port) that asks its clients for a certificate
    of the CA (Redis' default, tls-auth-clients yes); its own connections out (a Sentinel to
    the primary, a replica to it) in TLS too, with its certificate."""
    return [
        ("tls-cert-file", str(tls.cert)),
        ("tls-key-file", str(tls.key)),
        ("tls-ca-cert-file", str(tls.ca)),
        ("tls-auth-clients", "yes"),
        ("tls-replication", "yes"),
    ]


def tls_client_options(tls: TlsFiles | None) -> dict[str, Any]:
    """redis-py's options of a test's client of a server on TLS (none for one without)."""
    if tls is None:
        return {}
    return {
        "ssl": True,
        "ssl_ca_certs": str(tls.ca),
        "ssl_certfile": str(tls.client_cert),
        "ssl_keyfile": str(tls.client_key),
    }


@dataclass(slots=True)
class RedisServer:
    binary: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None)
    db: int = 0
    extra: tuple[str, ...] = ()  # more of redis-server's options (a cluster node, a replica)
    tls: TlsFiles | None = None  # TLS only: the port is its tls-port

    @property
    def url(self) -> str:
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    def new_url(self) -> str:
        """A database of its own (0..15) for a test, emptied first."""
        self.db = self.db % 15 + 1
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(f"SELECT {self.db}\r\nFLUSHDB\r\n".encode())
            s.recv(64)
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    def log_text(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text(errors="replace") if log.exists() else ""

    def start(self) -> None:
        """Start (or start again after :meth:`stop`) and wait until it answers PING."""
        ports = ["--port", str(self.port)]
        if self.tls is not None:
            ports = ["--port", "0", "--tls-port", str(self.port)]
            ports += [arg for name, value in _tls_options(self.tls) for arg in (f"--{name}", value)]
        self.process = subprocess.Popen(
            [self.binary, *ports, "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.directory)]
            + ["--logfile", str(self.directory / "redis.log"), "--protected-mode", "yes"]
            + list(self.extra),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while not _answers_ping(self.port, self.tls):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{self.log_text()[-2000:]}")
            time.sleep(0.05)  # a process starting: no event to wait on but its port

    def kill(self) -> None:
        """SIGKILL: the machine under it is gone (nothing flushed, no goodbye to anyone)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextmanager
def redis_server(extra: tuple[str, ...] = ()) -> Iterator[RedisServer]:
    """A redis-server of its own; ``extra``: more of its options (a password, ACL users)."""
    binary = require_binary("redis-server")
    directory = Path(tempfile.mkdtemp(prefix="vc-redis-"))
    server = RedisServer(binary, _free_port(), directory, extra=extra)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _until(what: str, check: Callable[[], bool], timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout} s")
        time.sleep(0.05)  # servers agreeing among themselves: no event to wait on from here


def _info(port: int, section: str, tls: TlsFiles | None = None) -> dict[str, str]:
    import redis

    options = tls_client_options(tls)
    with redis.Redis(port=port, socket_timeout=2, decode_responses=True, **options) as client:
        text = client.execute_command("INFO", section)
    if isinstance(text, dict):  # redis-py parses INFO itself
        return {k: str(v) for k, v in text.items()}
    return dict(line.split(":", 1) for line in str(text).splitlines() if ":" in line)


@dataclass(slots=True)
class RedisClusterServers:
    """Three primaries (with their replicas, if any), all 16384 slots assigned."""

    nodes: list[RedisServer]

    @property
    def url(self) -> str:
        """One node's URL: the client finds the others from it."""
        return self.nodes[0].url

    def primary_of(self, key: str) -> RedisServer:
        """The node serving ``key``'s slot now, as a running node of the cluster says."""
        from redis.cluster import RedisCluster

        alive = next(n for n in self.nodes if n.process is not None)
        with RedisCluster(host="127.0.0.1", port=alive.port, socket_timeout=2) as client:
            port = int(client.get_node_from_key(key).port)
        return next(n for n in self.nodes if n.port == port)


def _cluster_state_ok(port: int) -> bool:
    import redis

    try:
        with redis.Redis(port=port, socket_timeout=2, decode_responses=True) as client:
            info = client.execute_command("CLUSTER INFO")
    except redis.RedisError:
        return False
    if isinstance(info, dict):  # redis-py parses CLUSTER INFO itself
        return info.get("cluster_state") == "ok"
    return "cluster_state:ok" in str(info)


@contextmanager
def redis_cluster(replicas: int = 0) -> Iterator[RedisClusterServers]:
    """Three primaries, each with ``replicas`` replicas (in sync before this returns)."""
    binary = require_binary("redis-server")
    cli = require_binary("redis-cli")
    directory = Path(tempfile.mkdtemp(prefix="vc-redis-cluster-"))
    nodes: list[RedisServer] = []
    try:
        for i in range(3 * (1 + replicas)):
            port, bus = _free_port(), _free_port()  # the bus port given: port + 10000 may not exist
            node_dir = directory / f"n{i}"
            node_dir.mkdir()
            extra = ("--cluster-enabled", "yes", "--cluster-port", str(bus))
            extra += ("--cluster-config-file", str(node_dir / "nodes.conf"))
            extra += ("--cluster-node-timeout", "1000", "--repl-diskless-sync-delay", "0")
            nodes.append(RedisServer(binary, port, node_dir, extra=extra))
            nodes[-1].start()
        created = subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes)]
            + ["--cluster-replicas", str(replicas), "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if created.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout[-2000:]}")
        for node in nodes:
            _until("cluster_state:ok", lambda node=node: _cluster_state_ok(node.port))
        for node in nodes:
            _until("replicas in sync", lambda node=node: _in_sync(node.port))
        yield RedisClusterServers(nodes)
    finally:
        for node in nodes:
            node.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _in_sync(port: int) -> bool:
    """A primary, or a replica whose link to its primary is up."""
    info = _info(port, "replication")
    return info.get("role") == "master" or info.get("master_link_status") == "up"


SENTINEL_MASTER = "vcmaster"
SENTINEL_ACL_USER = "vcnode"  # the Sentinel's ACL user, when it asks a password


@dataclass(slots=True)
class RedisSentinelServers:
    """A primary, its replica (if any), and one Sentinel (quorum 1) that fails over after 1 s
    down. ``password``: the Sentinel's requirepass (its default user's); its ACL user
    SENTINEL_ACL_USER has ``acl_password``. ``tls``: the Sentinel and the primary speak
    only TLS, with certificates of this CA."""

    primary: RedisServer
    replica: RedisServer | None
    sentinel: RedisServer
    master_name: str = SENTINEL_MASTER
    password: str = ""
    acl_password: str = ""
    tls: TlsFiles | None = None

    @property
    def sentinels(self) -> tuple[tuple[str, int], ...]:
        return (("127.0.0.1", self.sentinel.port),)

    def sentinel_client(self) -> Any:
        """A (blocking) client of the Sentinel, with its password and TLS."""
        import redis

        options = tls_client_options(self.tls)
        return redis.Redis(
            port=self.sentinel.port, socket_timeout=2, password=self.password or None, **options
        )

    def master_port(self) -> int:
        """The primary's port as the Sentinel names it now."""
        with self.sentinel_client() as client:
            address = client.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", self.master_name)
        return int(address[1])


@contextmanager
def redis_sentinel(
    *, password: str = "", tls: TlsFiles | None = None, replica: bool = True
) -> Iterator[RedisSentinelServers]:
    """The Sentinel set; ``password``: its Sentinel's requirepass (and an ACL user's, with
    "-acl" after it); ``tls``: the Sentinel and the primary on TLS only; ``replica``: with a
    replica (the fail-over tests), else the primary alone (quicker)."""
    binary = require_binary("redis-server")
    directory = Path(tempfile.mkdtemp(prefix="vc-redis-sentinel-"))
    started: list[RedisServer] = []
    try:
        dirs = [directory / name for name in ("primary", "replica", "sentinel")]
        for d in dirs:
            d.mkdir()
        # a replica syncs at once (diskless sync otherwise waits 5 s for more replicas)
        at_once = ("--repl-diskless-sync-delay", "0")
        primary = RedisServer(binary, _free_port(), dirs[0], extra=at_once, tls=tls)
        primary.start()
        started.append(primary)
        copy: RedisServer | None = None
        if replica:
            copy = RedisServer(
                binary,
                _free_port(),
                dirs[1],
                extra=(*at_once, "--replicaof", "127.0.0.1", str(primary.port)),
                tls=tls,
            )
            copy.start()
            started.append(copy)
            port = copy.port
            _until(
                "replica in sync",
                lambda: _info(port, "replication", tls).get("master_link_status") == "up",
            )
        sentinel_port = _free_port()
        config = dirs[2] / "sentinel.conf"  # Sentinel rewrites its file: one of its own
        lines = [
            "bind 127.0.0.1",
            f"sentinel monitor {SENTINEL_MASTER} 127.0.0.1 {primary.port} 1",
            f"sentinel down-after-milliseconds {SENTINEL_MASTER} 1000",
            f"sentinel failover-timeout {SENTINEL_MASTER} 10000",
        ]
        if copy is not None:  # told, not found by its next INFO round (up to 10 s)
            lines.append(f"sentinel known-replica {SENTINEL_MASTER} 127.0.0.1 {copy.port}")
        if tls is None:
            lines.append(f"port {sentinel_port}")
        else:
            lines += ["port 0", f"tls-port {sentinel_port}"]
            lines += [f"{name} {value}" for name, value in _tls_options(tls)]
        acl_password = f"{password}-acl" if password else ""
        if password:
            lines.append(f"requirepass {password}")
            lines.append(f"user {SENTINEL_ACL_USER} on >{acl_password} ~* &* +@all")
        config.write_text("\n".join(lines) + "\n")
        sentinel = RedisServer(binary, sentinel_port, dirs[2], tls=tls)
        _start_sentinel(sentinel, config)
        started.append(sentinel)
        servers = RedisSentinelServers(
            primary, copy, sentinel, password=password, acl_password=acl_password, tls=tls
        )
        if copy is not None:
            _until("the sentinel knows the replica", lambda: _knows_replica(servers))
        else:
            _until("the sentinel sees the primary", lambda: _sees_primary(servers))
        yield servers
    finally:
        for server in started:
            server.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _start_sentinel(server: RedisServer, config: Path) -> None:
    server.process = subprocess.Popen(
        [
            server.binary,
            str(config),
            "--sentinel",
            "--logfile",
            str(server.directory / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + READY_TIMEOUT
    while not _answers_ping(server.port, server.tls):
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"redis-server --sentinel did not start:\n{server.log_text()[-2000:]}"
            )
        time.sleep(0.05)  # a process starting: no event to wait on but its port


def _fields(reply: Any) -> dict[str, str]:
    """A Sentinel's record (a dict in RESP3, a flat list of pairs in RESP2) as text."""
    if not isinstance(reply, dict):
        reply = dict(zip(reply[::2], reply[1::2], strict=True))
    return {_str(k): _str(v) for k, v in reply.items()}


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _knows_replica(servers: RedisSentinelServers) -> bool:
    assert servers.replica is not None
    with servers.sentinel_client() as c:
        replicas = c.execute_command("SENTINEL REPLICAS", servers.master_name)
    for replica in replicas:
        fields = _fields(replica)
        if fields.get("port") == str(servers.replica.port) and "s_down" not in fields.get(
            "flags", ""
        ):
            return True
    return False


def _sees_primary(servers: RedisSentinelServers) -> bool:
    """The Sentinel had the primary's INFO (over TLS, when the set is on TLS): it watches it."""
    with servers.sentinel_client() as c:
        fields = _fields(c.execute_command("SENTINEL MASTER", servers.master_name))
    return fields.get("flags") == "master" and int(fields.get("info-refresh", "inf")) < 10_000
