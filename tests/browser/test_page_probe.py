"""The room page asks the server when its network changes, and joins again when the signaling
socket does not answer (web/static/session.js "network-change", room-live.js probeSignaling;
commit b77136a).

The page runs in Chromium on another machine (a network namespace joined to this one by a veth
pair, tests/netns.py), over HTTPS. It joins while its UDP to the server is held (iptables in
its namespace), so its media connections have gathered their candidates but ICE is still
checking: Chromium gathers once, and keeps gathering only until a check succeeds. Then its
signaling socket goes silently dead (every packet of its TCP connections to the server is
dropped, by their ports; a new connection passes), as when the address a socket was opened from
vanishes, and the machine gets one more address. Socket.IO alone would notice the dead socket
only when its own ping times out, 10-20 s later (ping_interval + ping_timeout in
signaling/server.py), and no media connection was ever up for the liveness watch to miss. The
page sees a candidate on the new address, sends ``ping``, gets no answer in 3 s and joins again
on a new socket: here within ``BACK_WITHIN_S`` of the new address, saying why; once UDP passes
again, it publishes.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import pytest

from tests.browser.test_remote_machine import (  # noqa: F401 - fixtures
    artifacts,
    https_api,
    https_server,
    launch,
    machine,
    open_page,
)
from tests.browser.timeline import JS_WATCH, RECORD_PEER_CONNECTIONS, merged, server_log
from tests.browser.waits import mark_when, marked, wait_true
from tests.helpers import ServerHandle, require_binary, require_module
from tests.netns import OtherMachine, ip, new_block
from vidconsult.app import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

MEDIA_TIMEOUT_MS = 30_000
# the probe's own 3 s, plus seeing the new candidate and joining again, on a loaded machine;
# without the probe the first sign of the dead socket comes more than 10 s after it died
BACK_WITHIN_S = 9.0
# the reason room-live.js gives when the probe went unanswered
PROBE_REASON = "and the server did not answer"
JS_PUBLISHING = """() => window.vidconsult.state === "joined" && window.__pcs.some(
  (pc) => pc.connectionState === "connected" && pc.getSenders().some((s) => s.track))"""
JS_JOINED_AND_GATHERED = """() => window.vidconsult.state === "joined" && window.__pcs.some(
  (pc) => pc.iceGatheringState === "complete" && pc.connectionState !== "connected")"""
JS_SOCKET_ID = "() => window.vidconsult.page.signaling.socket.id || ''"
# joined again, on another socket than `old`
JS_JOINED_ON_ANOTHER_SOCKET = """(old) => window.vidconsult.state === "joined"
  && !!window.vidconsult.page.signaling.socket.id
  && window.vidconsult.page.signaling.socket.id !== old"""


def in_machine(other: OtherMachine, *args: str) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", other.name, *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return done.stdout


def open_ports(other: OtherMachine, server_port: int) -> list[int]:
    """The local ports of the machine's established TCP connections to the server."""
    out = in_machine(other, "ss", "-Htn", "state", "established", f"( dport = :{server_port} )")
    return sorted({int(line.split()[2].rsplit(":", 1)[1]) for line in out.splitlines() if line})


def silence(other: OtherMachine, port: int) -> None:
    """Drop every packet of the machine's connection from ``port``, both ways: no reset, no
    FIN, as if the address it was opened from were gone."""
    in_machine(other, "iptables", "-I", "OUTPUT", "-p", "tcp", "--sport", str(port), "-j", "DROP")
    in_machine(other, "iptables", "-I", "INPUT", "-p", "tcp", "--dport", str(port), "-j", "DROP")


def media_path(other: OtherMachine, action: str) -> None:
    """Hold (``-I``) or let through (``-D``) every UDP packet from the machine to the server:
    ICE gathers its candidates but no check gets an answer, so a connection stays "connecting"
    (with GATHER_ONCE, Chromium stops gathering only once a check succeeds)."""
    in_machine(other, "iptables", action, "OUTPUT", "-p", "udp", "-d", other.host_ip, "-j", "DROP")


async def test_page_rejoins_when_its_socket_is_silently_dead_after_a_new_address(
    machine: OtherMachine,  # noqa: F811
    https_server: RunningServer,  # noqa: F811
    https_api: ServerHandle,  # noqa: F811
    chromium_path: Path,
    tmp_path: Path,
    artifacts: Path,  # noqa: F811
) -> None:
    playwright_api = require_module("playwright.async_api")
    require_binary("iptables")
    require_binary("ss")
    tls = https_server.tls
    assert tls is not None
    log: list[str] = []
    console: list[tuple[float, str]] = []
    added_at: float | None = None
    page = None
    async with (
        playwright_api.async_playwright() as pw,
        server_log("signaling", "vidconsult") as server,
    ):
        api = https_api
        room = await api.create_room("Expert whose socket dies")
        link = (await api.join_token(room["id"], "dr-hotel", "expert", "Dr Hotel"))["join_url"]
        browser = await launch(pw, machine.wrapper(tmp_path, str(chromium_path)), tls.spki_sha256)
        try:
            page = await open_page(browser, link, log, "remote", RECORD_PEER_CONNECTIONS)
            page.on("console", lambda m: console.append((time.time(), f"console {m.text}")))
            await page.wait_for_selector("[data-testid=join-button]:enabled")
            # joined, candidates gathered, ICE still checking: a candidate on a new address now
            # is a network change (session.js), and the page asks the server
            media_path(machine, "-I")
            await page.click("[data-testid=join-button]")
            await wait_true(page, JS_JOINED_AND_GATHERED, timeout_ms=MEDIA_TIMEOUT_MS)
            await page.evaluate(JS_WATCH, "nobody")
            old_socket = await page.evaluate(JS_SOCKET_ID)
            assert old_socket

            # the signaling socket (and any other connection to the server) goes silent
            ports = open_ports(machine, https_server.port)
            assert ports, "the page has no connection to the server"
            for port in ports:
                silence(machine, port)
            # one more address: the old one stays, a new one appears
            _, new_ip = new_block()
            ip("-n", machine.name, "addr", "add", f"{new_ip}/30", "dev", machine.link)
            added_at = time.time()

            await mark_when(page, "rejoined", JS_JOINED_ON_ANOTHER_SOCKET, old_socket)
            # waited for longer than the bound and than Socket.IO's own timeout, so that a
            # run without the probe says how it came back instead
            at = await marked(page, "rejoined", timeout_ms=30_000) / 1000
            back = at - added_at
            timeline = [what for _, what in await page.evaluate("window.__timeline")]
            reasons = [what for _, what in console if "joining again" in what]
            print(f"\nthe page joined again {back:.1f} s after its new address: {reasons}")
            # it saw the new address on a connection that had gathered...
            assert any(new_ip in what for what in timeline if "candidate" in what), timeline
            # ...asked, got no answer, and joined again for that reason, in time
            assert any(PROBE_REASON in r for r in reasons), reasons
            assert back < BACK_WITHIN_S, (back, reasons)
            # and it is in the room again, its media going out once the path is back
            media_path(machine, "-D")
            await wait_true(page, JS_PUBLISHING, timeout_ms=MEDIA_TIMEOUT_MS)
            shot = artifacts / "page-after-dead-socket.png"
            await page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
            assert not [line for line in log if "pageerror" in line]
        finally:
            print("\n".join(log[-60:]))
            if added_at is not None and page is not None:
                events: list[tuple[float, str]] = []
                with contextlib.suppress(Exception):
                    events = [
                        (at / 1000, what) for at, what in await page.evaluate("window.__timeline")
                    ]
                print(
                    "timeline (s after the new address):\n"
                    + merged(added_at, ("remote", events + console), ("", server.lines))
                )
            await browser.close()
