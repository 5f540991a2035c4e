"""Firefox (Debian's firefox-esr, over WebDriver BiDi), a Chromium page and the Python client
in one room: each receives the others' audio and video, and each browser shows the other as
speaking (its fake microphone) and the Python client (silence) as not.

Firefox writes a ``max-bundle`` offer as JSEP says (every section after the first has port 0
and ``a=bundle-only``); the server once took those sections for rejected ones and listed
Firefox's tracks as ``['audio']``, so Chromium never saw Firefox's video. Here every page's
getStats shows video frames decoded and audio received from each other participant, and the
Python client decodes both browsers' video and audio.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.browser.conftest import csp_violations
from tests.browser.firefox import firefox
from tests.browser.rtc_js import (
    JS_RECEIVED_FROM,
    JS_RECEIVING_FROM,
    JS_VIDEO_SENT,
    KEEP_PEER_CONNECTIONS,
)
from tests.browser.waits import wait_true
from vidconsult.client import RoomClient

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

MEDIA_TIMEOUT_MS = 40_000
# the speaking indicator on a participant's tile (null: no tile)
JS_SPEAKING = """(id) => {
  const tile = document.querySelector(`#tiles .tile[data-participant='${id}']`);
  return tile ? tile.dataset.speaking === 'true' : null;
}"""
JOIN = "[data-testid=join-button]"


async def test_firefox_chromium_and_python_client_in_one_room(
    live_server: Any, browser: Any, sdk_clients: list[RoomClient]
) -> None:
    room = await live_server.create_room("Firefox and Chromium")
    rid = room["id"]
    kiosk = RoomClient(live_server.url, live_server.mint("kiosk", "interpreter", room=rid))
    sdk_clients.append(kiosk)
    await kiosk.connect()
    await kiosk.publish(VideoStreamTrack(), AudioStreamTrack())

    ff_url = (await live_server.join_token(rid, "dr-firefox", "expert", "Dr Firefox"))["join_url"]
    cr_url = (await live_server.join_token(rid, "pt-chromium", "patient", "Chromium"))["join_url"]

    context = await browser.new_context(permissions=["camera", "microphone"])
    cr_log: list[str] = []
    ff_log: list[str] = []
    async with firefox() as ff:
        try:
            await context.add_init_script(KEEP_PEER_CONNECTIONS)
            chromium = await context.new_page()
            chromium.on("console", lambda m: cr_log.append(f"{m.type}: {m.text}"))
            await chromium.goto(cr_url)
            fox = await ff.open(ff_url, init=[KEEP_PEER_CONNECTIONS])
            print(f"\n{await ff.call('version')}")
            await asyncio.gather(chromium.click(f"{JOIN}:enabled"), fox.click(JOIN))

            # each page decodes the two others' video and receives their sound, and goes on
            pairs = [
                ("chromium", chromium, "dr-firefox"),
                ("chromium", chromium, "kiosk"),
                ("firefox", fox, "pt-chromium"),
                ("firefox", fox, "kiosk"),
            ]

            async def receiving(page: Any, other: str, frames: int) -> None:
                # getStats is async: Playwright's wait_for_function would not wait for it
                await wait_true(
                    page, JS_RECEIVING_FROM, [other, frames], timeout_ms=MEDIA_TIMEOUT_MS
                )

            await asyncio.gather(*(receiving(page, other, 10) for _, page, other in pairs))
            received = {
                (name, other): await page.evaluate(JS_RECEIVED_FROM, other)
                for name, page, other in pairs
            }
            print(f"received: {received}")
            for got in received.values():
                assert got["tracks"] == ["audio", "video"], received
            await asyncio.gather(
                *(
                    receiving(page, other, received[(name, other)]["framesDecoded"] + 10)
                    for name, page, other in pairs
                )
            )

            # who is speaking (room-speaking.js, from each browser's own getStats): the fake
            # microphones make sound, the Python client's AudioStreamTrack is silence
            for page, other in ((fox, "pt-chromium"), (chromium, "dr-firefox")):
                await wait_true(page, JS_SPEAKING, other, timeout_ms=MEDIA_TIMEOUT_MS)
            for page in (fox, chromium):
                assert await page.evaluate(JS_SPEAKING, "kiosk") is False

            sent = {
                "firefox": await fox.evaluate(JS_VIDEO_SENT),
                "chromium": await chromium.evaluate(JS_VIDEO_SENT),
            }
            print(f"video sent: {sent}")
            # Firefox takes the page's simulcast too: layers with their rids reach the server
            assert len([x for x in sent["firefox"] if x["rid"] and x["framesEncoded"]]) >= 2, sent
            # the server lists Firefox's tracks as audio and video
            status, view = await live_server.api("GET", f"/api/v1/rooms/{rid}")
            assert status == 200, view
            kinds = {
                p["identity"]: sorted(t["kind"] for t in p["tracks"]) for p in view["participants"]
            }
            assert kinds["dr-firefox"] == ["audio", "video"], kinds

            # and the Python client decodes both browsers
            for identity in ("dr-firefox", "pt-chromium"):
                video = await kiosk.wait_for_track(identity, "video")
                frame = await video.next_frame(timeout=20)
                assert frame.width > 0 and frame.height > 0
                await (await kiosk.wait_for_track(identity, "audio")).wait_frames(10, timeout=20)

            await fox.screenshot("/tmp/firefox-room.png")
            await chromium.screenshot(path="/tmp/firefox-room-chromium.png", full_page=True)
            ff_log.extend(await fox.console())
            assert not [line for line in ff_log if line.startswith("pageerror")], ff_log
        finally:
            print("\n".join(["chromium:", *cr_log[-30:], "firefox:", *ff_log[-30:]]))
            await context.close()
    assert csp_violations(cr_log) == []
