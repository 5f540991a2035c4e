"""End to end in headless Chromium: the room page of web/static against a live server.

Two publishers (a doctor and a patient) and a Python participant (a consult-room kiosk on the
SDK) see and hear each other, an observer watches without ever touching the camera, a leave
and the end of the room reach everyone. The join time of each publisher (join click -> first
decoded remote frame) is printed and recorded.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.browser.conftest import csp_violations
from vidconsult.client import RoomClient
from vidconsult.domain.roles import Role
from vidconsult.tokens import TokenSigner

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

MEDIA_TIMEOUT_MS = 30_000
EVENT_TIMEOUT_MS = 15_000

JS_PLAYING = """([identity, since]) => {
  const v = document.querySelector(`video[data-identity="${identity}"]`);
  return !!v && v.videoWidth > 0 && v.currentTime > since;
}"""
ARTIFACTS = Path(os.environ.get("VIDCONSULT_ARTIFACTS", "/tmp/vidconsult-artifacts")) / "e2e-room"
JS_CURRENT_TIME = """(identity) => {
  const v = document.querySelector(`video[data-identity="${identity}"]`);
  return v ? v.currentTime : -1;
}"""


async def mint(live_server: Any, room_id: str, identity: str, role: str, name: str) -> str:
    status, body = await live_server.api(
        "POST",
        f"/api/v1/rooms/{room_id}/tokens",
        json={"identity": identity, "role": role, "name": name},
        token=live_server.coordinator_token,
    )
    assert status == 201, body
    assert "#token=" in body["join_url"]
    return body["join_url"]


class Page:
    """One participant's page, with its console kept for the failure report."""

    def __init__(self, page: Any, identity: str) -> None:
        self.page = page
        self.identity = identity
        self.log: list[str] = []
        page.on("console", lambda m: self.log.append(f"[{identity}] {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.log.append(f"[{identity}] pageerror: {e}"))

    async def state(self) -> str:
        return await self.page.evaluate("window.vidconsult.state")

    async def wait_state(self, state: str) -> None:
        await self.page.wait_for_function(
            "(s) => window.vidconsult && window.vidconsult.state === s",
            arg=state,
            timeout=EVENT_TIMEOUT_MS,
        )

    async def wait_playing(self, other: str) -> None:
        """`video[data-identity=other]` shows frames and its clock moves on."""
        await self.page.wait_for_function(JS_PLAYING, arg=[other, 0], timeout=MEDIA_TIMEOUT_MS)
        since = await self.page.evaluate(JS_CURRENT_TIME, other)
        await self.page.wait_for_function(
            JS_PLAYING, arg=[other, since + 0.5], timeout=MEDIA_TIMEOUT_MS
        )

    async def join_time(self, other: str) -> float:
        await self.page.wait_for_function(
            "(id) => window.vidconsult.joinTimes[id] !== undefined",
            arg=other,
            timeout=MEDIA_TIMEOUT_MS,
        )
        return await self.page.evaluate("(id) => window.vidconsult.joinTimes[id]", other)

    async def gum_calls(self) -> int:
        return await self.page.evaluate("window.__gumCalls")


Opener = Callable[[str, str], Awaitable[Page]]


async def create_room(live_server: Any, name: str) -> str:
    status, room = await live_server.api(
        "POST", "/api/v1/rooms", json={"name": name}, token=live_server.coordinator_token
    )
    assert status == 201, room
    return str(room["id"])


@asynccontextmanager
async def page_opener(browser: Any, *init_scripts: str) -> AsyncIterator[tuple[Opener, list[Page]]]:
    """An opener of join URLs, each as one participant in a browser context of its own (a
    machine each: separate storage, separate fake devices), with ``init_scripts``, and the
    pages opened. Page consoles are printed when it closes, which pytest shows only when the
    test failed."""
    pages: list[Page] = []

    async def opener(identity: str, join_url: str) -> Page:
        context = await browser.new_context(permissions=["camera", "microphone"])
        for script in init_scripts:
            await context.add_init_script(script)
        page = Page(await context.new_page(), identity)
        pages.append(page)
        await page.page.goto(join_url)
        await page.page.wait_for_selector("[data-testid=join-button]:enabled")
        return page

    try:
        yield opener, pages
    finally:
        for page in pages:
            print("\n".join(page.log[-60:]))
            await page.page.context.close()


@pytest.fixture
async def open_as(browser: Any, count_get_user_media: str) -> AsyncIterator[Opener]:
    """Opens a join URL as one participant (:func:`page_opener`)."""
    async with page_opener(browser, count_get_user_media) as (opener, pages):
        yield opener
    # the room page works under its Content-Security-Policy: nothing was refused
    assert csp_violations([line for page in pages for line in page.log]) == []


async def test_room_in_the_browser(
    live_server: Any, open_as: Opener, record_property: Any, sdk_clients: list[RoomClient]
) -> None:
    room_id = await create_room(live_server, "E2E browser consultation")
    doctor_url = await mint(live_server, room_id, "dr-li", "doctor", "Dr Li")
    patient_url = await mint(live_server, room_id, "pt-zhang", "patient", "Zhang Wei")
    observer_url = await mint(live_server, room_id, "obs-chen", "observer", "Chen (observer)")

    # a Python participant (the village consult-room kiosk) is already in the room
    kiosk_token = await mint(live_server, room_id, "kiosk-village", "interpreter", "Kiosk")
    kiosk = RoomClient(live_server.url, kiosk_token.split("#token=", 1)[1])
    sdk_clients.append(kiosk)
    await kiosk.connect()
    await kiosk.publish(VideoStreamTrack(), AudioStreamTrack())

    doctor = await open_as("dr-li", doctor_url)
    patient = await open_as("pt-zhang", patient_url)
    # the publishers show a camera preview before joining
    for page in (doctor, patient):
        await page.page.wait_for_function(
            "() => document.querySelector('[data-testid=preview-video]').videoWidth > 0"
        )
        assert await page.gum_calls() >= 1

    # both join at once, as a booked consultation starts
    await asyncio.gather(
        doctor.page.click("[data-testid=join-button]"),
        patient.page.click("[data-testid=join-button]"),
    )
    await asyncio.gather(doctor.wait_state("joined"), patient.wait_state("joined"))
    await asyncio.gather(doctor.wait_playing("pt-zhang"), patient.wait_playing("dr-li"))

    # the browsers receive the Python participant, and it receives both browsers
    await asyncio.gather(
        doctor.wait_playing("kiosk-village"), patient.wait_playing("kiosk-village")
    )
    for browser_identity in ("dr-li", "pt-zhang"):
        video = await kiosk.wait_for_track(browser_identity, "video")
        try:
            frame = await video.next_frame(timeout=20)
        except TimeoutError:
            state = [(r.publisher, r.kind, r.frames) for r in kiosk.remote_tracks.values()]
            offers = [d["tracks"] for e, d in kiosk.events if e == "subscribe.offer"]
            published = [d for e, d in kiosk.events if e.startswith("track.")]
            raise AssertionError(
                f"no video from {browser_identity} at the SDK client: "
                f"{kiosk.subscribe_state} {state} offers={offers} "
                f"track events={published}"
            ) from None
        assert frame.width > 0 and frame.height > 0
        audio = await kiosk.wait_for_track(browser_identity, "audio")
        await audio.wait_frames(10, timeout=20)

    # the remote element carries sound too, and is not muted
    for page, other in ((doctor, "pt-zhang"), (patient, "dr-li")):
        media = await page.page.evaluate(
            """(id) => { const v = document.querySelector(`video[data-identity="${id}"]`);
                return {audio: v.srcObject.getAudioTracks().length,
                        video: v.srcObject.getVideoTracks().length, muted: v.muted}; }""",
            other,
        )
        assert media == {"audio": 1, "video": 1, "muted": False}, media
        assert await page.page.locator("[data-testid=local-video]").count() == 1

    times = {
        "dr-li": await doctor.join_time("pt-zhang"),
        "pt-zhang": await patient.join_time("dr-li"),
    }
    for identity, ms in times.items():
        record_property(f"join_time_ms[{identity}]", ms)
    sources = [await p.page.evaluate("window.vidconsult.frameSource") for p in (doctor, patient)]
    print(f"\njoin time (join click -> first remote frame): {times} ms, measured by {sources}")

    # an observer sees both, and never asks for a camera or microphone
    observer = await open_as("obs-chen", observer_url)
    await observer.page.click("[data-testid=join-button]")
    await observer.wait_state("joined")
    await asyncio.gather(observer.wait_playing("dr-li"), observer.wait_playing("pt-zhang"))
    assert await observer.gum_calls() == 0
    assert await observer.page.locator("[data-testid=local-video]").count() == 0
    observer_times = await observer.page.evaluate("window.vidconsult.joinTimes")
    record_property("join_time_ms[obs-chen]", observer_times)
    print(f"observer join times: {observer_times}")

    # everyone is listed; the doctor's mute reaches the others' participant lists
    for page in (doctor, patient, observer):
        roster = page.page.locator("[data-testid=participants]")
        for name in ("Dr Li", "Zhang Wei", "Chen (observer)"):
            await roster.get_by_text(name, exact=False).first.wait_for(timeout=EVENT_TIMEOUT_MS)
    await doctor.page.click("[data-testid=mute-button]")
    muted = "[data-testid=participants] li[data-participant='dr-li'][data-audio='muted']"
    await patient.page.wait_for_selector(muted, timeout=EVENT_TIMEOUT_MS)
    await observer.page.wait_for_selector(muted, timeout=EVENT_TIMEOUT_MS)

    # the patient leaves: their tile disappears for the others
    await patient.page.click("[data-testid=leave-button]")
    await patient.wait_state("left")
    left = await kiosk.wait_event("participant.left", lambda d: d["identity"] == "pt-zhang")
    assert left["reason"] == "left"
    for page in (doctor, observer):
        await page.page.wait_for_selector(
            "#tiles [data-participant='pt-zhang']", state="detached", timeout=EVENT_TIMEOUT_MS
        )
        assert await page.page.locator("video[data-identity='pt-zhang']").count() == 0
    assert await doctor.page.locator("video[data-identity='obs-chen']").count() == 0

    # ending the room over REST reaches every page still in it
    status, ended = await live_server.api(
        "DELETE", f"/api/v1/rooms/{room_id}", token=live_server.coordinator_token
    )
    assert status == 200, ended
    for page in (doctor, observer):
        await page.wait_state("ended")
        text = await page.page.locator("[data-testid=status]").inner_text()
        assert "ended" in text.lower(), text
        assert await page.page.locator("video[data-identity]").count() == 0
    assert await patient.state() == "left"
    await asyncio.wait_for(kiosk.disconnected.wait(), 15)
    assert kiosk.closed_reason and "ended" in kiosk.closed_reason
    for page in (doctor, patient, observer):
        errors = [line for line in page.log if "pageerror" in line]
        assert not errors, errors


async def test_page_rejoins_after_a_network_drop(live_server: Any, open_as: Opener) -> None:
    """A weak village uplink drops the socket: the page joins again by itself, media resumes
    both ways, and a mute chosen before the drop still holds."""
    room_id = await create_room(live_server, "E2E reconnect")
    doctor = await open_as("dr-wu", await mint(live_server, room_id, "dr-wu", "expert", "Dr Wu"))
    patient = await open_as("pt-liu", await mint(live_server, room_id, "pt-liu", "patient", "Liu"))
    await asyncio.gather(
        doctor.page.click("[data-testid=join-button]"),
        patient.page.click("[data-testid=join-button]"),
    )
    await asyncio.gather(doctor.wait_playing("pt-liu"), patient.wait_playing("dr-wu"))
    await patient.page.click("[data-testid=mute-button]")
    await patient.page.evaluate("window.vidconsult.dropConnection()")
    # the server holds the patient's seat meanwhile: the doctor sees it reconnecting, not gone
    held = "[data-testid=participants] li[data-participant='pt-liu'][data-reconnecting]"
    await doctor.page.wait_for_selector(held, timeout=EVENT_TIMEOUT_MS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await doctor.page.screenshot(path=str(ARTIFACTS / "peer-reconnecting.png"), full_page=True)
    assert "reconnecting" in (await doctor.page.locator(held).inner_text())
    await patient.wait_state("reconnecting")
    await patient.wait_state("joined")
    await asyncio.gather(doctor.wait_playing("pt-liu"), patient.wait_playing("dr-wu"))
    await doctor.page.wait_for_selector(
        "[data-testid=participants] li[data-participant='pt-liu'][data-audio='muted']",
        timeout=EVENT_TIMEOUT_MS,
    )
    assert await doctor.page.locator("#tiles [data-participant='pt-liu']").count() == 1
    # back in its seat, no longer marked
    await doctor.page.wait_for_selector(held, state="detached", timeout=EVENT_TIMEOUT_MS)


async def test_refused_connection_is_explained(
    live_server: Any, browser: Any, count_get_user_media: str
) -> None:
    """A forged token: the link check says why it cannot be used, before any camera."""
    room_id = await create_room(live_server, "Refused")
    forged = TokenSigner(b"not-the-server-secret-" + b"y" * 20).mint(
        identity="mallory",
        role=Role.OBSERVER,
        room=room_id,
        now=datetime.now(UTC),
        ttl=timedelta(minutes=5),
    )
    context = await browser.new_context()
    await context.add_init_script(count_get_user_media)
    page = Page(await context.new_page(), "mallory")
    await page.page.goto(f"{live_server.url}/room/{room_id}#token={forged}")
    await page.wait_state("blocked")
    text = await page.page.locator("[data-testid=blocked-reason]").inner_text()
    # in words, not the server's code or its English reason
    assert "this link is not valid" in text.lower() and "token_invalid" not in text, text
    assert await page.gum_calls() == 0
    assert csp_violations(page.log) == []
    await context.close()
