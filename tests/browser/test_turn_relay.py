"""Relay-only browsers through a real coturn, with short-lived TURN REST API credentials.

A county hospital's firewall lets nothing through but its TURN server: the Chromium page is
made with ``iceTransportPolicy: "relay"``, so every candidate it may use is a relayed one on
the TURN server, over UDP, TCP or TLS (one run each). The server's aiortc stays host-only (it
answers the relay's traffic from its own addresses). The page gets its TURN username and
password in the join reply, minted for it from the secret shared with coturn; the secret itself
never reaches the page. Media flows both ways between the page and a Python participant, and
the page's selected candidate pairs are relayed ones over the transport under test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.browser.conftest import CHROMIUM_ARGS, csp_violations
from tests.browser.rtc_js import (
    JS_MEDIA_COUNTS,
    JS_SELECTED_PAIRS,
    KEEP_PEER_CONNECTIONS,
    RELAY_ONLY,
)
from tests.coturn import Coturn, coturn
from tests.helpers import SECRET, require_module
from vidconsult.client import RoomClient
from vidconsult.config import Settings
from vidconsult.turn import rest_api_password

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

MEDIA_TIMEOUT_MS = 30_000
JS_PLAYING = """([identity, since]) => {
  const v = document.querySelector(`video[data-identity="${identity}"]`);
  return !!v && v.videoWidth > 0 && v.currentTime > since;
}"""
# RELAY_PROTOCOL: what getStats calls the transport between the browser and the TURN server
RELAY_PROTOCOL = {"udp": "udp", "tcp": "tcp", "tls": "tls"}


@pytest.fixture(scope="module")
def turn_server() -> Iterator[Coturn]:
    with coturn() as server:
        yield server


@pytest.fixture
async def browser(chromium_path: Path, turn_server: Coturn) -> AsyncIterator[Any]:
    """Chromium that trusts the TURN server's self-signed certificate by its public key only,
    as an operator's own CA would be trusted (not by ignoring certificate errors)."""
    playwright_api = require_module("playwright.async_api")
    async with playwright_api.async_playwright() as pw:
        instance = await pw.chromium.launch(
            executable_path=str(chromium_path),
            headless=True,
            args=[
                *CHROMIUM_ARGS,
                f"--ignore-certificate-errors-spki-list={turn_server.spki_sha256}",
            ],
        )
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture(params=["udp", "tcp", "tls"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(tmp_path: Path, turn_server: Coturn, transport: str) -> Settings:
    """The live server's settings: only the TURN URL of the transport under test."""
    return Settings.from_env(
        {"VIDCONSULT_TURN_SECRET": turn_server.secret},
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "var",
        secret=SECRET,
        turn_urls=turn_server.urls[transport],
    )


async def test_relay_only_page_through_coturn(
    live_server: Any,
    browser: Any,
    turn_server: Coturn,
    transport: str,
    sdk_clients: list[RoomClient],
) -> None:
    room = await live_server.create_room("Relay-only consultation")
    expert = RoomClient(live_server.url, live_server.mint("dr-expert", "expert", room=room["id"]))
    sdk_clients.append(expert)
    await expert.connect()
    await expert.publish(VideoStreamTrack(), AudioStreamTrack())

    # the join reply carries this participant's own TURN credentials, not the secret
    (turn,) = expert.joined["ice_servers"]
    expiry, identity = turn["username"].split(":", 1)
    assert identity == "dr-expert" and int(expiry) > 0
    assert turn["credential"] == rest_api_password(turn_server.secret.encode(), turn["username"])
    assert turn_server.secret not in json.dumps(expert.joined)

    joined = await live_server.join_token(room["id"], "pt-county", "patient", "Patient Zhao")
    context = await browser.new_context(permissions=["camera", "microphone"])
    log: list[str] = []
    try:
        await context.add_init_script(RELAY_ONLY)
        await context.add_init_script(KEEP_PEER_CONNECTIONS)
        page = await context.new_page()
        page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
        await page.goto(joined["join_url"])
        await page.click("[data-testid=join-button]:enabled")
        await page.wait_for_function(JS_PLAYING, arg=["dr-expert", 0], timeout=MEDIA_TIMEOUT_MS)
        since = await page.evaluate(
            "() => document.querySelector('video[data-identity=dr-expert]').currentTime"
        )
        await page.wait_for_function(
            JS_PLAYING, arg=["dr-expert", since + 0.5], timeout=MEDIA_TIMEOUT_MS
        )
        # and the expert gets the page's video and sound, through the same relay
        video = await expert.wait_for_track("pt-county", "video")
        frame = await video.next_frame(timeout=20)
        assert frame.width > 0 and frame.height > 0
        await (await expert.wait_for_track("pt-county", "audio")).wait_frames(10, timeout=20)

        pairs = await page.evaluate(JS_SELECTED_PAIRS)
        assert {p["direction"] for p in pairs} == {"send", "recv"}, pairs
        for pair in pairs:
            assert pair["localType"] == "relay", pairs
            assert pair["relayProtocol"] == RELAY_PROTOCOL[transport], pairs
        counts = await page.evaluate(JS_MEDIA_COUNTS)
        assert counts["videoFramesDecoded"] > 0 and counts["audioSamplesReceived"] > 0, counts

        # what the page was given: its own short-lived username, never the shared secret
        configs = await page.evaluate(
            "() => JSON.stringify(window.__pcs.map((pc) => pc.getConfiguration()))"
        )
        assert turn_server.secret not in configs
        assert ":pt-county" in configs and turn_server.urls[transport] in configs
        shot = Path(f"/tmp/turn-relay-{transport}.png")
        await page.screenshot(path=str(shot), full_page=True)
        print(f"\nselected pairs: {pairs}\nscreenshot: {shot}")
    finally:
        print("\n".join(log[-40:]))
        print(turn_server.log_text()[-2500:])
        await context.close()
    assert csp_violations(log) == []
    # coturn saw this participant's allocation under its REST API username
    await asyncio.sleep(0)
    assert ":pt-county>" in turn_server.log_text()
