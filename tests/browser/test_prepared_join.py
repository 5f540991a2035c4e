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
# the m= sections of the pending (early) publish offer that send: their kinds
JS_EARLY_SENDING_KINDS = """() => window.__pcs
  .filter((pc) => pc.signalingState === 'have-local-offer')
  .map((pc) => pc.localDescription.sdp.split('\\r\\nm=').slice(1)
    .filter((s) => s.includes('a=sendonly')).map((s) => s.split(' ')[0]).sort())"""
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


async def doctor_in_and_patient_prepared(
    live_server: Any,
    open_doctor: Any,
    open_patient: Any,
    room_name: str,
    early_kinds: tuple[str, ...] = ("audio", "video"),
) -> tuple[str, Page, Page]:
    """A room whose doctor (dr-he) has joined, and a patient (pt-ma) on the pre-join step whose
    media connections are prepared and whose early publish offer sends `early_kinds`:
    (room id, doctor, patient). The page says "ready" once its connections are prepared; when
    its camera opens after that, the early offer is made then, so it is awaited here."""
    room_id = await create_room(live_server, room_name)
    doctor = await open_doctor(
        "dr-he", await mint(live_server, room_id, "dr-he", "doctor", "Dr He")
    )
    await doctor.page.click("[data-testid=join-button]")
    await doctor.wait_state("joined")
    patient = await open_patient(
        "pt-ma", await mint(live_server, room_id, "pt-ma", "patient", "Ma")
    )
    assert await prepared(patient) == "ready"
    await patient.page.wait_for_function(
        f"(kinds) => JSON.stringify(({JS_EARLY_SENDING_KINDS})()) === JSON.stringify([kinds])",
        arg=sorted(early_kinds),
        timeout=EVENT_TIMEOUT_MS,
    )
    return room_id, doctor, patient


async def test_prepared_page_is_connected_but_unseen_until_the_click(
    live_server: Any, open_page: Any
) -> None:
    room_id, doctor, patient = await doctor_in_and_patient_prepared(
        live_server, open_page, open_page, "Prepared join"
    )
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
    _, doctor, patient = await doctor_in_and_patient_prepared(
        live_server, open_page, open_page, "Prepared device change"
    )
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


# The camera as the person's machine has it, switched by the test: "ok", "blocked" (the person
# refused it: the page offers audio only) or "busy" (another program has it: the page falls back
# to the microphone). The microphone is always there; the devices are Chromium's fake ones.
SWITCHED_CAMERA = """
(() => {
  const md = navigator.mediaDevices;
  const original = md.getUserMedia.bind(md);
  window.__camera = window.__camera || "ok";
  md.getUserMedia = (c) => {
    if (c && c.video && window.__camera === "blocked") {
      return Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
    }
    if (c && c.video && window.__camera === "busy") {
      return Promise.reject(new DOMException("Could not start video source", "NotReadableError"));
    }
    return original(c);
  };
})();
"""
CAMERA_BUSY_FROM_THE_START = 'window.__camera = "busy";'
JS_LOCAL_KINDS = """() => {
  const s = window.vidconsult.page.localStream;
  return s ? s.getTracks().filter((t) => t.readyState === 'live').map((t) => t.kind).sort() : [];
}"""
# the kinds of the tracks the page got for `identity` (camera and microphone)
JS_REMOTE_KINDS = """(id) => {
  const session = window.vidconsult.page.session;
  const entry = session && session.remote.get(id);
  return entry && entry.stream ? entry.stream.getTracks().map((t) => t.kind).sort() : [];
}"""
JS_STATUS = """() => {
  const s = document.querySelector('[data-testid=status]');
  return [s.textContent, s.dataset.tone];
}"""


def page_errors(page: Page) -> list[str]:
    """What the page reported as going wrong: uncaught errors, console errors, and the
    warnings of a failed prepare or early offer (the click would then have made its own)."""
    return [
        line
        for line in page.log
        if "pageerror:" in line
        or "] error:" in line
        or "early publish offer failed" in line
        or "media not prepared" in line
    ]


async def assert_joined_without_error(page: Page) -> None:
    await page.wait_state("joined")
    text, tone = await page.page.evaluate(JS_STATUS)
    assert (text, tone) in {("In the room", "info"), ("已在会诊室中", "info")}, (text, tone)
    assert page_errors(page) == [], page.log


def published_kinds(live_server: Any, room_id: str, identity: str) -> list[str]:
    media = live_server.app[MEDIA]
    return sorted(t.kind.value for who, t in media.published_tracks(room_id) if who == identity)


async def test_camera_turned_off_after_the_early_offer_goes_out_as_audio_only(
    live_server: Any, browser: Any
) -> None:
    """Prepared with camera and microphone (the early offer sends both); before the click the
    camera is refused and the person chooses audio only: the click rolls the early offer back and
    offers the microphone alone, on the prepared connections. The doctor hears the patient and
    gets no video track; the server has one audio track of the patient; no error is shown."""
    async with page_opener(browser, KEEP_PEER_CONNECTIONS, SWITCHED_CAMERA) as (open_page, _):
        room_id, doctor, patient = await doctor_in_and_patient_prepared(
            live_server, open_page, open_page, "Prepared, camera off"
        )
        assert await patient.page.evaluate(JS_EARLY_SENDING_KINDS) == [["audio", "video"]]

        # the camera is refused now: the page explains, the person goes on with audio only
        await patient.page.evaluate("window.__camera = 'blocked'")
        await patient.page.dispatch_event("[data-testid=camera-select]", "change")
        await patient.page.wait_for_selector("[data-testid=camera-help]", state="visible")
        await patient.page.click("[data-testid=audio-only-button]")
        await patient.page.wait_for_function(
            f"() => ({JS_LOCAL_KINDS})().join() === 'audio'", timeout=EVENT_TIMEOUT_MS
        )
        # the early offer still pending is the camera+microphone one: the click must redo it
        assert await patient.page.evaluate(JS_EARLY_SENDING_KINDS) == [["audio", "video"]]

        await patient.page.click("[data-testid=join-button]")
        await assert_joined_without_error(patient)
        await patient.wait_playing("dr-he")
        # the doctor hears the patient, over the prepared connections
        await wait_true(
            doctor.page,
            "async () => (await (" + JS_MEDIA_COUNTS + ")()).audioPacketsReceived > 50",
            timeout_ms=EVENT_TIMEOUT_MS,
        )
        assert await patient.page.evaluate(JS_CONNECTIONS) == ["connected", "connected"]
        # what reached the server: the microphone alone
        assert published_kinds(live_server, room_id, "pt-ma") == ["audio"]
        links = live_server.app[MEDIA].subscriber_links(room_id, "dr-he")
        assert sorted(x["kind"] for x in links if x["publisher"] == "pt-ma") == ["audio"], links
        # the doctor's page has the patient's audio and no video track, and decoded no video
        await doctor.page.wait_for_function(
            f"() => ({JS_REMOTE_KINDS})('pt-ma').join() === 'audio'", timeout=EVENT_TIMEOUT_MS
        )
        counts = await doctor.page.evaluate(JS_MEDIA_COUNTS)
        assert counts["videoPacketsReceived"] == 0, counts
        # nor does the patient encode any: its camera section went inactive
        patient_counts = await patient.page.evaluate(JS_MEDIA_COUNTS)
        assert patient_counts["videoFramesEncoded"] == 0, patient_counts
        assert patient_counts["audioPacketsSent"] > 0, patient_counts
        assert await doctor.page.evaluate(JS_LISTED) == ["dr-he", "pt-ma"]
        assert page_errors(doctor) == [], doctor.log
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await patient.page.screenshot(
            path=str(ARTIFACTS / "camera-off-patient.png"), full_page=True
        )
        await doctor.page.screenshot(path=str(ARTIFACTS / "camera-off-doctor.png"), full_page=True)


async def test_camera_turned_on_after_the_early_offer_goes_out_with_video(
    live_server: Any, browser: Any
) -> None:
    """The reverse: the camera is busy at first (the page falls back to the microphone, and the
    early offer sends audio only); before the click it is free again and chosen: the click rolls
    the early offer back and offers both, the camera in its three simulcast layers, on the
    prepared connections. The doctor sees the patient; no error is shown."""
    busy_camera = (KEEP_PEER_CONNECTIONS, CAMERA_BUSY_FROM_THE_START, SWITCHED_CAMERA)
    async with (
        page_opener(browser, KEEP_PEER_CONNECTIONS) as (open_doctor, _),
        page_opener(browser, *busy_camera) as (open_patient, _),
    ):
        room_id, doctor, patient = await doctor_in_and_patient_prepared(
            live_server, open_doctor, open_patient, "Prepared, camera on", early_kinds=("audio",)
        )
        # the early offer was made with what there was: the microphone alone
        assert await patient.page.evaluate(f"() => ({JS_LOCAL_KINDS})().join()") == "audio"

        # the camera is free again and the person picks it
        await patient.page.evaluate("window.__camera = 'ok'")
        await patient.page.dispatch_event("[data-testid=camera-select]", "change")
        await patient.page.wait_for_function(
            f"() => ({JS_LOCAL_KINDS})().join() === 'audio,video'", timeout=EVENT_TIMEOUT_MS
        )
        assert await patient.page.evaluate(JS_EARLY_SENDING_KINDS) == [["audio"]]

        await patient.page.click("[data-testid=join-button]")
        await assert_joined_without_error(patient)
        # the doctor sees (and hears) the patient, over the prepared connections
        await asyncio.gather(doctor.wait_playing("pt-ma"), patient.wait_playing("dr-he"))
        await wait_true(
            doctor.page,
            "async () => (await (" + JS_MEDIA_COUNTS + ")()).audioPacketsReceived > 50",
            timeout_ms=EVENT_TIMEOUT_MS,
        )
        assert await patient.page.evaluate(JS_CONNECTIONS) == ["connected", "connected"]
        assert await doctor.page.evaluate(f"() => ({JS_REMOTE_KINDS})('pt-ma')") == [
            "audio",
            "video",
        ]
        # what reached the server: microphone and camera, the camera in three layers
        assert published_kinds(live_server, room_id, "pt-ma") == ["audio", "video"]
        links = live_server.app[MEDIA].subscriber_links(room_id, "dr-he")
        video = [x for x in links if x["publisher"] == "pt-ma" and x["kind"] == "video"]
        assert video and video[0]["layers"] == 3, links
        assert page_errors(doctor) == [], doctor.log
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await patient.page.screenshot(path=str(ARTIFACTS / "camera-on-patient.png"), full_page=True)
        await doctor.page.screenshot(path=str(ARTIFACTS / "camera-on-doctor.png"), full_page=True)
