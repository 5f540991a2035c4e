"""The room page prepares its media connections on the pre-join step (docs/protocol.md,
"Prepare"), in headless Chromium against a live server: both connections are up (ICE and DTLS)
before the click, and yet nobody in the room sees, hears or lists the person, the room's
recording has nothing of it, and nothing flows either way. At the click the same connections
carry the media, the camera in three simulcast layers. A page in a room's waiting room prepares
nothing and receives no media."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.browser.rtc_js import JS_MEDIA_COUNTS, KEEP_PEER_CONNECTIONS
from tests.browser.test_e2e_room import EVENT_TIMEOUT_MS, Page, create_room, mint, page_opener
from tests.browser.waits import wait_true
from vidconsult.app import MEDIA

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

ARTIFACTS = Path(os.environ.get("VIDCONSULT_ARTIFACTS", "/tmp/vidconsult-artifacts")) / "prepared"

# every connection the page made: its state and how many were made
JS_CONNECTIONS = """() => window.__pcs.map((pc) => pc.connectionState)"""
# the local offer of each connection that has one pending (made, not answered)
JS_PENDING_OFFER = """() => window.__pcs.filter((pc) => pc.signalingState === 'have-local-offer')
  .map((pc) => pc.localDescription.sdp)"""
JS_LISTED = """() => [...document.querySelectorAll('[data-testid=participants] li')]
  .map((li) => li.dataset.participant)"""
JS_TILES = """() => [...document.querySelectorAll('#tiles [data-participant]')]
  .map((el) => el.dataset.participant)"""


@pytest.fixture
async def open_page(browser: Any) -> Any:
    async with page_opener(browser, KEEP_PEER_CONNECTIONS) as (opener, _):
        yield opener


async def prepared(page: Page) -> str:
    await page.page.wait_for_function(
        "() => ['ready', 'no'].includes(window.vidconsult.prepared)", timeout=EVENT_TIMEOUT_MS
    )
    return str(await page.page.evaluate("window.vidconsult.prepared"))


async def test_prepared_page_is_connected_but_unseen_until_the_click(
    live_server: Any, open_page: Any
) -> None:
    room_id = await create_room(live_server, "Prepared join")
    doctor = await open_page("dr-he", await mint(live_server, room_id, "dr-he", "doctor", "Dr He"))
    await doctor.page.click("[data-testid=join-button]")
    await doctor.wait_state("joined")

    patient = await open_page("pt-ma", await mint(live_server, room_id, "pt-ma", "patient", "Ma"))
    assert await prepared(patient) == "ready"
    # both of its connections are up before the click
    await patient.page.wait_for_function(
        "() => window.__pcs.filter((pc) => pc.connectionState === 'connected').length === 2",
        timeout=EVENT_TIMEOUT_MS,
    )
    media = live_server.app[MEDIA]
    assert media.prepared_count(room_id) == 1
    # let the doctor's camera run and the prepared connections idle a while: nothing may move
    await wait_true(  # getStats is async: evaluate awaits, wait_for_function would not
        doctor.page,
        "async () => (await (" + JS_MEDIA_COUNTS + ")()).videoFramesEncoded > 30",
        timeout_ms=EVENT_TIMEOUT_MS,
    )
    counts = await patient.page.evaluate(JS_MEDIA_COUNTS)
    assert counts["videoPacketsReceived"] == counts["audioPacketsReceived"] == 0, counts
    assert counts["videoFramesEncoded"] == counts["audioPacketsSent"] == 0, counts
    # though the click's publish offer is made already (camera and microphone in, applied
    # locally): it waits for the click, unsent, and nothing is encoded before its answer
    early = await patient.page.evaluate(JS_PENDING_OFFER)
    assert len(early) == 1 and "a=simulcast:send" in early[0], early
    assert early[0].count("a=sendonly") == 2, early
    # the doctor's page lists nobody new and shows no tile for it; the server's roster neither
    assert await doctor.page.evaluate(JS_LISTED) == ["dr-he"]
    assert "pt-ma" not in await doctor.page.evaluate(JS_TILES)
    doctor_counts = await doctor.page.evaluate(JS_MEDIA_COUNTS)
    assert doctor_counts["videoPacketsReceived"] == doctor_counts["audioPacketsReceived"] == 0
    status, view = await live_server.api("GET", f"/api/v1/rooms/{room_id}")
    assert status == 200 and [p["identity"] for p in view["participants"]] == ["dr-he"]
    # the room records (its policy): the doctor's file only, nothing of the prepared patient
    status, recording = await live_server.api("GET", f"/api/v1/rooms/{room_id}/recording")
    assert status == 200 and recording["active"], recording
    assert "pt-ma" not in json.dumps(recording["files"]), recording["files"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await patient.page.screenshot(path=str(ARTIFACTS / "patient-prejoin.png"), full_page=True)
    await doctor.page.screenshot(path=str(ARTIFACTS / "doctor-alone.png"), full_page=True)

    # the click: the same two connections carry the media both ways
    await patient.page.click("[data-testid=join-button]")
    await asyncio.gather(doctor.wait_playing("pt-ma"), patient.wait_playing("dr-he"))
    assert await patient.page.evaluate(JS_CONNECTIONS) == ["connected", "connected"]
    assert media.prepared_count(room_id) == 0
    assert sorted(await doctor.page.evaluate(JS_LISTED)) == ["dr-he", "pt-ma"]
    # the camera goes out in the room page's three simulcast layers
    links = media.subscriber_links(room_id, "dr-he")
    video = [link for link in links if link["publisher"] == "pt-ma" and link["kind"] == "video"]
    assert video and video[0]["layers"] == 3, links
    await patient.page.screenshot(path=str(ARTIFACTS / "patient-joined.png"), full_page=True)
    # and the recording takes the patient from the click on
    status, recording = await live_server.api("GET", f"/api/v1/rooms/{room_id}/recording")
    assert "pt-ma" in json.dumps(recording["files"]), recording["files"]


# the tracks on the page's publish senders (the connection with sendonly sections)
JS_SENT_TRACKS = """() => window.__pcs.flatMap((pc) => pc.getSenders())
  .filter((s) => s.track).map((s) => [s.track.kind, s.track.id, s.track.readyState])"""
JS_PREVIEW_TRACKS = """() => {
  const v = document.querySelector('[data-testid=preview-video]');
  return v.srcObject ? v.srcObject.getTracks().map((t) => t.id) : [];
}"""


async def test_a_device_chosen_after_the_early_offer_is_what_the_click_sends(
    live_server: Any, open_page: Any
) -> None:
    """The click's publish offer is made on the pre-join step; a microphone chosen after it
    (a new camera+microphone stream, the old tracks stopped) goes into the same senders at the
    click, and the room gets the new tracks over the prepared connections."""
    room_id = await create_room(live_server, "Prepared device change")
    doctor = await open_page("dr-he", await mint(live_server, room_id, "dr-he", "doctor", "Dr He"))
    await doctor.page.click("[data-testid=join-button]")
    await doctor.wait_state("joined")
    patient = await open_page("pt-ma", await mint(live_server, room_id, "pt-ma", "patient", "Ma"))
    assert await prepared(patient) == "ready"
    assert len(await patient.page.evaluate(JS_PENDING_OFFER)) == 1  # the early offer
    early = await patient.page.evaluate(JS_SENT_TRACKS)
    assert sorted(kind for kind, _, _ in early) == ["audio", "video"], early
    # another device chosen: the preview restarts with new tracks, the early ones stop
    await patient.page.dispatch_event("[data-testid=mic-select]", "change")
    old_ids = [track_id for _, track_id, _ in early]
    await patient.page.wait_for_function(
        f"(old) => ({JS_PREVIEW_TRACKS})().length === 2 && "
        f"({JS_PREVIEW_TRACKS})().every((id) => !old.includes(id))",
        arg=old_ids,
        timeout=EVENT_TIMEOUT_MS,
    )
    fresh = await patient.page.evaluate(JS_PREVIEW_TRACKS)

    await patient.page.click("[data-testid=join-button]")
    await asyncio.gather(doctor.wait_playing("pt-ma"), patient.wait_playing("dr-he"))
    sent = await patient.page.evaluate(JS_SENT_TRACKS)
    assert sorted(track_id for _, track_id, _ in sent) == sorted(fresh), (sent, fresh)
    assert {state for _, _, state in sent} == {"live"}, sent
    # on the prepared connections (no new ones), and the doctor hears the new microphone
    assert await patient.page.evaluate(JS_CONNECTIONS) == ["connected", "connected"]
    await wait_true(
        doctor.page,
        "async () => (await (" + JS_MEDIA_COUNTS + ")()).audioPacketsReceived > 10",
        timeout_ms=EVENT_TIMEOUT_MS,
    )


async def test_waiting_room_page_prepares_nothing_and_receives_nothing(
    live_server: Any, open_page: Any
) -> None:
    status, room = await live_server.api(
        "POST",
        "/api/v1/rooms",
        json={"name": "Prepared lobby", "lobby": True},
        token=live_server.coordinator_token,
    )
    assert status == 201, room
    room_id = room["id"]
    doctor = await open_page("dr-he", await mint(live_server, room_id, "dr-he", "doctor", "Dr He"))
    await doctor.page.click("[data-testid=join-button]")
    await doctor.wait_state("joined")
    patient = await open_page("pt-ma", await mint(live_server, room_id, "pt-ma", "patient", "Ma"))
    assert await prepared(patient) == "no"
    assert live_server.app[MEDIA].prepared_count(room_id) == 0
    await patient.page.click("[data-testid=join-button]")
    await patient.page.wait_for_function(
        "() => window.vidconsult.state === 'lobby'", timeout=EVENT_TIMEOUT_MS
    )
    await wait_true(  # getStats is async: evaluate awaits, wait_for_function would not
        doctor.page,
        "async () => (await (" + JS_MEDIA_COUNTS + ")()).videoFramesEncoded > 30",
        timeout_ms=EVENT_TIMEOUT_MS,
    )
    counts = await patient.page.evaluate(JS_MEDIA_COUNTS)
    assert counts["videoPacketsReceived"] == counts["audioPacketsReceived"] == 0, counts
    assert counts["videoFramesEncoded"] == 0, counts
    assert await doctor.page.evaluate(JS_LISTED) == ["dr-he"]
