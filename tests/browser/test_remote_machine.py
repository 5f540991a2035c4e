"""A browser on another machine joins over HTTPS.

The other machine is a network namespace joined to this one by a veth pair; Chromium runs in
it (through a wrapper that starts it with ``ip netns exec``) and opens the join link on this
machine's address on that link, as a doctor opens a link from another PC. The server serves
HTTPS with its self-signed certificate, which Chromium trusts the way a careful trial user
does: by that certificate's public key (SPKI) only, not by ignoring certificate errors.

Over plain HTTP the same page on the same address is not a secure context and gets no camera
(which shows the test really crosses machines: on loopback it would); over HTTPS it gets its
camera and sees the participant on this machine (a second Chromium, here), and the media
path runs between the two ends of the link.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.browser.conftest import CHROMIUM_ARGS, csp_violations
from tests.browser.waits import goto_settled
from tests.fakes import NullMediaEngine
from tests.helpers import SECRET, ServerHandle, require_module
from tests.netns import OtherMachine, other_machine
from vidconsult.app import RunningServer, run_server
from vidconsult.config import Settings
from vidconsult.tokens import TokenSigner

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

MEDIA_TIMEOUT_MS = 30_000

# keeps every RTCPeerConnection the page makes, to read which addresses media flows between
KEEP_PEER_CONNECTIONS = """
(() => {
  window.__pcs = [];
  const Original = window.RTCPeerConnection;
  if (!Original) return;
  window.RTCPeerConnection = class extends Original {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
})();
"""
JS_SECURITY = """() => ({
  secure: window.isSecureContext,
  protocol: location.protocol,
  mediaDevices: typeof navigator.mediaDevices,
})"""
JS_PLAYING = """([selector, since]) => {
  const v = document.querySelector(selector);
  return !!v && v.videoWidth > 0 && v.currentTime > since;
}"""
JS_SELECTED_PAIRS = """async () => {
  const pairs = [];
  for (const pc of window.__pcs) {
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      if (s.type !== "candidate-pair" || s.state !== "succeeded" || !s.nominated) continue;
      const local = stats.get(s.localCandidateId), remote = stats.get(s.remoteCandidateId);
      pairs.push({local: local.address || local.ip, remote: remote.address || remote.ip,
                  received: s.bytesReceived, sent: s.bytesSent});
    }
  }
  return pairs;
}"""


@pytest.fixture
def machine() -> Iterator[OtherMachine]:
    with other_machine() as m:
        yield m


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    path = tmp_path / "artifacts"
    path.mkdir()
    return path


@pytest.fixture
async def https_server(tmp_path: Path, machine: OtherMachine) -> AsyncIterator[RunningServer]:
    """The real server (aiortc media, no ICE servers) on this machine's end of the link,
    serving HTTPS with its self-signed certificate."""
    settings = Settings.from_env(
        {},
        host=machine.host_ip,
        port=0,
        data_dir=tmp_path / "var",
        secret=SECRET,
        tls_self_signed="true",
    )
    assert settings.ice_servers == []
    async with run_server(settings) as server:
        yield server


@pytest.fixture
async def https_api(https_server: RunningServer) -> AsyncIterator[ServerHandle]:
    """The API of ``https_server`` over HTTPS, its self-signed certificate trusted."""
    tls = https_server.tls
    assert tls is not None
    trust = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=tls.cert_path))
    async with aiohttp.ClientSession(connector=trust) as session:
        yield ServerHandle(
            url=https_server.url,
            signer=TokenSigner(SECRET.encode()),
            app=https_server.app,
            session=session,
        )


async def launch(playwright: Any, executable: Path, spki: str) -> Any:
    return await playwright.chromium.launch(
        executable_path=str(executable),
        headless=True,
        # trust this one public key, as a user who compared the printed fingerprint would
        args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={spki}"],
    )


async def open_page(browser: Any, url: str, log: list[str], who: str, *init_scripts: str) -> Any:
    context = await browser.new_context(permissions=["camera", "microphone"])
    await context.add_init_script(KEEP_PEER_CONNECTIONS)
    for script in init_scripts:
        await context.add_init_script(script)
    page = await context.new_page()
    page.on("console", lambda m: log.append(f"[{who}] {m.type}: {m.text}"))
    page.on("pageerror", lambda e: log.append(f"[{who}] pageerror: {e}"))
    page.on(
        "response",
        lambda r: log.append(f"[{who}] HTTP {r.status} {r.url}") if r.status >= 400 else None,
    )
    await goto_settled(page, url)
    return page


async def wait_playing(page: Any, selector: str) -> None:
    """The video element shows frames and its clock moves on."""
    await page.wait_for_function(JS_PLAYING, arg=[selector, 0], timeout=MEDIA_TIMEOUT_MS)
    since = await page.evaluate(f"document.querySelector({selector!r}).currentTime")
    await page.wait_for_function(JS_PLAYING, arg=[selector, since + 0.5], timeout=MEDIA_TIMEOUT_MS)


async def test_a_browser_on_another_machine_joins_over_https(
    machine: OtherMachine,
    https_server: RunningServer,
    https_api: ServerHandle,
    chromium_path: Path,
    tmp_path: Path,
    artifacts: Path,
) -> None:
    playwright_api = require_module("playwright.async_api")  # skipped locally, fails in CI
    tls = https_server.tls
    assert tls is not None and machine.host_ip in tls.names
    assert https_server.url == f"https://{machine.host_ip}:{https_server.port}"

    log: list[str] = []
    api, session = https_api, https_api.session
    async with (
        run_server(
            Settings.from_env(
                {}, host=machine.host_ip, port=0, data_dir=tmp_path / "plain", secret=SECRET
            ),
            media=NullMediaEngine(),
            installers=[],
        ) as plain_server,
        playwright_api.async_playwright() as pw,
    ):
        room = await api.create_room("Across the LAN")
        remote_link = (await api.join_token(room["id"], "dr-remote", "doctor", "Dr Remote"))[
            "join_url"
        ]
        local_link = (await api.join_token(room["id"], "expert-here", "expert", "Expert Here"))[
            "join_url"
        ]
        assert remote_link.startswith(f"https://{machine.host_ip}:{https_server.port}/room/")

        in_other_machine = machine.wrapper(tmp_path, str(chromium_path))
        remote_browser = await launch(pw, in_other_machine, tls.spki_sha256)
        local_browser = await launch(pw, chromium_path, tls.spki_sha256)
        try:
            # without the pin the self-signed certificate is refused: the pin is what trusts it
            unpinned = await pw.chromium.launch(
                executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
            )
            with pytest.raises(playwright_api.Error, match="ERR_CERT"):
                await (await unpinned.new_page()).goto(remote_link)
            await unpinned.close()

            # plain HTTP on the link's address: not a secure context, no camera at all
            # (a room of that server's own: the page checks its link before the camera)
            plain_api = ServerHandle(
                url=plain_server.url,
                signer=TokenSigner(SECRET.encode()),
                app=plain_server.app,
                session=session,
            )
            plain_room = await plain_api.create_room("Over plain HTTP")
            token = (
                await plain_api.join_token(plain_room["id"], "dr-remote", "doctor", "Dr Remote")
            )["join_url"].split("#", 1)[1]
            plain_url = f"{plain_server.url}/room/{plain_room['id']}#{token}"
            assert plain_server.url.startswith(f"http://{machine.host_ip}:")
            plain = await open_page(remote_browser, plain_url, log, "remote/http")
            assert await plain.evaluate(JS_SECURITY) == {
                "secure": False,
                "protocol": "http:",
                "mediaDevices": "undefined",
            }
            # the page says why, instead of failing on a missing API
            status = plain.locator("#preview-status")
            await status.get_by_text("https://", exact=False).wait_for(timeout=MEDIA_TIMEOUT_MS)
            assert "not secure" in await status.inner_text()
            await plain.context.close()

            # HTTPS, the certificate trusted by its public key only
            remote = await open_page(remote_browser, remote_link, log, "remote")
            assert await remote.evaluate(JS_SECURITY) == {
                "secure": True,
                "protocol": "https:",
                "mediaDevices": "object",
            }
            local = await open_page(local_browser, local_link, log, "local")
            for page in (remote, local):
                await page.wait_for_selector("[data-testid=join-button]:enabled")
                # the camera preview runs: getUserMedia succeeded
                await wait_playing(page, "[data-testid=preview-video]")
                await page.click("[data-testid=join-button]")
            for page in (remote, local):
                await page.wait_for_function(
                    # a function: an expression would go through eval(), which the CSP refuses
                    "() => window.vidconsult.state === 'joined'",
                    timeout=MEDIA_TIMEOUT_MS,
                )
            # each sees the other; the remote page shows its own camera too
            await wait_playing(remote, 'video[data-identity="expert-here"]')
            await wait_playing(local, 'video[data-identity="dr-remote"]')
            await wait_playing(remote, "[data-testid=local-video]")

            # media runs between the two ends of the link: the page is on the other machine
            pairs = await remote.evaluate(JS_SELECTED_PAIRS)
            assert pairs, log[-40:]
            assert all(p["local"] == machine.ip for p in pairs), pairs
            assert all(p["remote"] == machine.host_ip for p in pairs), pairs
            assert all(p["received"] > 0 and p["sent"] > 0 for p in pairs), pairs

            shot = artifacts / "remote-machine-joined.png"
            await remote.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot of the remote page: {shot}")
            errors = [line for line in log if "pageerror" in line]
            assert not errors, errors
            assert csp_violations(log) == []  # the page works under its CSP, over HTTPS too
        finally:
            print("\n".join(log[-80:]))
            await remote_browser.close()
            await local_browser.close()
