"""Janus 1.1.x videoroom as the reference SFU for benchmarks/sfu_forwarding.py.

Janus skips loopback-flagged interfaces when gathering ICE candidates, so it runs in its own
network namespace joined to this one by a veth pair (10.231.0.1 here, 10.231.0.2 there); no
address outside that pair is involved. Needs root (ip netns) and the ``janus`` binary.
Signaling is Janus's plain HTTP API (create / attach / message / long-poll).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

NS = "vcbench-janus"
HOST_IF, NS_IF = "vcbj0", "vcbj1"
HOST_IP, NS_IP = "10.231.0.1", "10.231.0.2"
URL = f"http://{NS_IP}:8088/janus"
ROOM = 4242
LIB = Path("/usr/lib/x86_64-linux-gnu/janus")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def netns_up() -> None:
    netns_down()
    _ip("netns", "add", NS)
    _ip("link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF)
    _ip("link", "set", NS_IF, "netns", NS)
    _ip("addr", "add", f"{HOST_IP}/24", "dev", HOST_IF)
    _ip("link", "set", HOST_IF, "up")
    _ip("netns", "exec", NS, "ip", "addr", "add", f"{NS_IP}/24", "dev", NS_IF)
    _ip("netns", "exec", NS, "ip", "link", "set", NS_IF, "up")
    _ip("netns", "exec", NS, "ip", "link", "set", "lo", "up")


def netns_down() -> None:
    subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)


def write_config(
    root: Path,
    *,
    http_ip: str = NS_IP,
    http_port: int = 8088,
    ice_enforce: str = NS_IF,
    rtp_range: str = "40000-40999",
) -> Path:
    """Janus's configuration under ``root`` (defaults: in its own namespace, see above;
    benchmarks/weak_links.py runs it on this machine's side of the netlab links)."""
    conf, plugins, transports = root / "conf", root / "plugins", root / "transports"
    for d in (conf, plugins, transports, root / "events", root / "loggers"):
        d.mkdir(parents=True, exist_ok=True)
    (plugins / "libjanus_videoroom.so").symlink_to(LIB / "plugins" / "libjanus_videoroom.so")
    (transports / "libjanus_http.so").symlink_to(LIB / "transports" / "libjanus_http.so")
    (conf / "janus.jcfg").write_text(f"""
general: {{
    configs_folder = "{conf}"
    plugins_folder = "{plugins}"
    transports_folder = "{transports}"
    events_folder = "{root / "events"}"
    loggers_folder = "{root / "loggers"}"
    debug_level = 3
    session_timeout = 0
}}
media: {{
    rtp_port_range = "{rtp_range}"
}}
nat: {{
    nice_debug = false
    ice_enforce_list = "{ice_enforce}"
}}
""")
    (conf / "janus.transport.http.jcfg").write_text(f"""
general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {http_port}
    ip = "{http_ip}"
    https = false
}}
admin: {{
    admin_http = false
}}
""")
    (conf / "janus.plugin.videoroom.jcfg").write_text(f"""
general: {{
}}
room-{ROOM}: {{
    description = "bench"
    publishers = 1
    bitrate = 0
    fir_freq = 0
    videocodec = "vp8"
    audiocodec = "opus"
    record = false
}}
""")
    return conf


# --- HTTP API, used from the publisher / subscriber processes ---------------------------------

_sessions: dict[str, tuple[int, int]] = {}  # identity -> (session, handle)


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    body = {**body, "transaction": uuid.uuid4().hex}
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=15) as resp:
        reply: dict[str, Any] = json.loads(resp.read())
    if reply.get("janus") == "error":
        raise RuntimeError(f"janus error: {reply}")
    return reply


def _event(base: str, session: int, handle: int, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/{session}?maxev=1", timeout=35) as resp:
            ev = json.loads(resp.read())
        for e in ev if isinstance(ev, list) else [ev]:
            if e.get("sender") == handle and e.get("jsep"):
                return e
    raise TimeoutError("no jsep event from janus")


def _handle(base: str) -> tuple[int, int]:
    session = _post(base, {"janus": "create"})["data"]["id"]
    handle = _post(f"{base}/{session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"})[
        "data"
    ]["id"]
    return session, handle


def janus_signal_sync(base: str, what: str, arg: str, identity: str) -> str:
    if what == "publish":
        session, handle = _handle(base)
        _sessions["pub"] = (session, handle)
        _post(
            f"{base}/{session}/{handle}",
            {
                "janus": "message",
                "body": {
                    "request": "joinandconfigure",
                    "room": ROOM,
                    "ptype": "publisher",
                    "display": "pub",
                },
                "jsep": {"type": "offer", "sdp": arg},
            },
        )
        return str(_event(base, session, handle)["jsep"]["sdp"])
    if what == "subscribe":
        session, handle = _handle(base)
        _sessions[arg] = (session, handle)
        listing = _post(
            f"{base}/{session}/{handle}",
            {"janus": "message", "body": {"request": "listparticipants", "room": ROOM}},
        )
        feed = listing["plugindata"]["data"]["participants"][0]["id"]
        _post(
            f"{base}/{session}/{handle}",
            {
                "janus": "message",
                "body": {
                    "request": "join",
                    "room": ROOM,
                    "ptype": "subscriber",
                    "streams": [{"feed": feed}],
                },
            },
        )
        return str(_event(base, session, handle)["jsep"]["sdp"])
    session, handle = _sessions[identity]
    _post(
        f"{base}/{session}/{handle}",
        {
            "janus": "message",
            "body": {"request": "start"},
            "jsep": {"type": "answer", "sdp": arg},
        },
    )
    return ""


async def janus_signal(base: str, what: str, arg: str, identity: str) -> str:
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(
        None, janus_signal_sync, base, what, arg, identity
    )


#: held while a benchmark's Janus runs: its namespace, addresses and port are fixed, and
#: netns_up tears down whatever holds them, so a second benchmark on the machine (another
#: engineer's join_time.py, say) waits here instead of breaking the first one's Janus
LOCK = Path(tempfile.gettempdir()) / "vcbench-janus.lock"


@contextlib.contextmanager
def machine_lock() -> Iterator[None]:
    fd = os.open(LOCK, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("# waiting for another benchmark's Janus to end", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class JanusUnavailable(RuntimeError):
    """Janus cannot run here (not installed, no root, did not start)."""


@contextlib.contextmanager
def janus_process(command: list[str], url: str, root: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Janus run by ``command`` (its log in ``root``/janus.log), once its API at ``url``
    answers; stopped at the end (terminated, killed after 10 s)."""
    log = open(root / "janus.log", "w")
    proc = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/info", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    why = f"janus did not start, see {root / 'janus.log'}"
                    raise JanusUnavailable(why) from None
                time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def janus_running() -> Iterator[tuple[str, int]]:
    """Start Janus in its network namespace; yields (HTTP API URL, PID of janus)."""
    if shutil.which("janus") is None:
        raise JanusUnavailable("janus binary not installed (apt-get install janus)")
    if os.geteuid() != 0:
        raise JanusUnavailable("needs root for the network namespace")
    with machine_lock():
        root = Path(tempfile.mkdtemp(prefix="vcbench-janus-"))
        conf = write_config(root)
        netns_up()
        command = [
            "ip",
            "netns",
            "exec",
            NS,
            "janus",
            "-F",
            str(conf),
            "-C",
            str(conf / "janus.jcfg"),
        ]
        try:
            with janus_process(command, URL, root) as proc:
                yield URL, _janus_pid(proc.pid)
        finally:
            netns_down()


def janus_version(url: str = URL) -> str | None:
    info: dict[str, Any] = json.loads(urllib.request.urlopen(f"{url}/info").read())
    return info.get("version_string")


def create_room(url: str, room: int, *, publishers: int, bitrate: int) -> None:
    """A VideoRoom room through the API (VP8 + Opus, like the configured one)."""
    session, handle = _handle(url)
    _post(
        f"{url}/{session}/{handle}",
        {
            "janus": "message",
            "body": {
                "request": "create",
                "room": room,
                "publishers": publishers,
                "bitrate": bitrate,
                "fir_freq": 0,
                "videocodec": "vp8",
                "audiocodec": "opus",
                "record": False,
            },
        },
    )
    _post(f"{url}/{session}", {"janus": "destroy"})


def destroy_room(url: str, room: int) -> None:
    session, handle = _handle(url)
    try:
        _post(
            f"{url}/{session}/{handle}",
            {"janus": "message", "body": {"request": "destroy", "room": room}},
        )
    finally:
        _post(f"{url}/{session}", {"janus": "destroy"})


def bench_janus(
    counts: list[int],
    window: float,
    settle: float,
    clip: str,
    run_sweep: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    try:
        with janus_running() as (url, pid):
            result = run_sweep("janus", ("janus", url), pid, counts, window, settle, clip, None)
            result["version"] = janus_version(url)
            return result
    except JanusUnavailable as exc:
        return {"skipped": str(exc)}


def _janus_pid(parent: int) -> int:
    """``ip netns exec`` execs janus in place, so the PID is the same; check anyway."""
    comm = Path(f"/proc/{parent}/comm").read_text().strip()
    if comm == "janus":
        return parent
    for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
        return int(child)
    return parent
