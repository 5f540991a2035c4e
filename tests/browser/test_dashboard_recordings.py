"""Recordings in the coordinators' dashboard, in headless Chromium against the real server
(passthrough media, recording installed).

Two SDK participants publish a synthetic file in a consultation room of a real case whose
policy does not record by itself. From the live rooms view the coordinator starts recording
(the REC marker appears, and is still there when the view comes back: it comes from the
server's one-request-per-refresh status), lets ~4 s be recorded and stops it (after a
confirmation). Then in #recordings: the two files, completed, newest first; the date filter;
Play shows the <video> really playing (a picture, and time advancing); Download saves the file
under its name; a legal hold set and released (with the confirmation) is what the API says; a
composite export reaches done and its link serves an MP4. The case view lists the same files
and sets the case's legal hold.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack

from tests.browser.axe import serious_violations
from tests.browser.test_dashboard import (
    CST,
    TIMEOUT_MS,
    Opener,
    coordinator_account,
    ok,
    seed_directory,
    signed_in_dashboard,
)
from tests.helpers import ServerHandle
from vidconsult.client import RoomClient
from vidconsult.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

RECORD_SECONDS = 4.0
SCREENSHOTS = "/tmp/dashboard-recordings-{}.png"


async def _case_with_room(server: ServerHandle) -> tuple[str, dict[str, Any]]:
    await seed_directory(server)
    case = await ok(
        server,
        "POST",
        "/api/v1/cases",
        {
            "patient": {"name": "Zhang San", "sex": "male", "age_years": 35},
            "referring_unit_id": "vil-1",
            "referring_doctor": "Dr Zhao",
            "specialty": "cardiology",
            "clinical_summary": "chest pain for two weeks",
        },
        201,
    )
    room = await server.create_room("Cardiology · Anda County", case_id=case["id"])
    # the coordinator starts it from the dashboard, not the policy on the first track
    await ok(server, "PUT", f"/api/v1/rooms/{room['id']}/recording/policy", {"enabled": False})
    return case["id"], room


async def test_record_play_hold_export_from_the_dashboard(
    live_server: ServerHandle,
    settings: Settings,
    open_dashboard: Opener,
    sdk_clients: list[RoomClient],
    media_file: Path,
) -> None:
    server = live_server
    case_id, room = await _case_with_room(server)
    rid = room["id"]
    for identity, role in (("dr-li", "doctor"), ("pt-wang", "patient")):
        client = RoomClient(server.url, server.mint(identity, role, room=rid), room=rid)
        sdk_clients.append(client)
        await client.connect()
        await client.publish_file(str(media_file), loop=False)

    username = await coordinator_account(settings)
    dash = await signed_in_dashboard(open_dashboard, server, username)
    page = dash.page
    row = dash.row(rid)
    for identity in ("dr-li", "pt-wang"):
        await page.wait_for_selector(
            f"{row} [data-testid=participant][data-identity='{identity}'] "
            "[data-testid=track][data-kind=video]",
            timeout=TIMEOUT_MS,
        )
    assert await page.locator(f"{row} [data-testid=rec-marker]").count() == 0

    # ---- live rooms: start recording, the REC marker shows --------------------------------
    await page.click(f"{row} [data-testid=start-recording-button]")
    await page.wait_for_selector(f"{row} [data-testid=rec-marker]", timeout=TIMEOUT_MS)
    began = asyncio.get_running_loop().time()
    status = await ok(server, "GET", f"/api/v1/rooms/{rid}/recording")
    assert status["active"] is True
    # while it records, #recordings lists both files as being recorded...
    await page.click("[data-testid=nav-recordings]")
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=recording-row][data-status=recording]')"
        ".length === 2",
        timeout=TIMEOUT_MS,
    )
    # ...and back in the live rooms, the marker comes from the server's status
    await page.click("[data-testid=nav-rooms]")
    await page.wait_for_selector(
        f"{row}[data-recording=true] [data-testid=rec-marker]", timeout=TIMEOUT_MS
    )
    await page.screenshot(path=SCREENSHOTS.format("rooms"))
    assert await serious_violations(page) == [], "rooms"
    # the session's length (what is recorded), not a synchronisation
    await asyncio.sleep(max(0.0, RECORD_SECONDS - (asyncio.get_running_loop().time() - began)))

    # stopping asks first
    await page.click(f"{row} [data-testid=stop-recording-button]")
    await page.wait_for_selector("[data-testid=confirm-dialog][open]", timeout=TIMEOUT_MS)
    await page.click("[data-testid=confirm-ok]")
    await page.wait_for_selector(
        f"{row} [data-testid=rec-marker]", state="detached", timeout=TIMEOUT_MS
    )
    await page.wait_for_selector(f"{row} [data-testid=start-recording-button]", timeout=TIMEOUT_MS)
    assert (await ok(server, "GET", f"/api/v1/rooms/{rid}/recording"))["active"] is False
    listing = (await ok(server, "GET", f"/api/v1/recordings?room_id={rid}"))["recordings"]
    recs = {r["identity"]: r for r in listing}
    assert set(recs) == {"dr-li", "pt-wang"}
    assert all(r["status"] == "completed" and r["duration_ms"] > 2000 for r in listing), listing

    # ---- #recordings: two completed files, grouped under the room with its case ----------
    await page.click("[data-testid=nav-recordings]")
    done = "[data-testid=recording-row][data-status=completed]"
    await page.wait_for_function(
        f"() => document.querySelectorAll('{done}').length === 2", timeout=TIMEOUT_MS
    )
    group = page.locator(f"[data-testid=recording-group][data-room-id='{rid}']")
    assert "Cardiology · Anda County" in await group.inner_text()
    assert (
        await group.locator("[data-testid=recording-case-link]").get_attribute("href")
        == f"#cases/{case_id}"
    )
    starts = [
        await el.get_attribute("datetime")
        for el in await page.locator("[data-testid=recording-row] time").all()
    ]
    assert starts == sorted(starts, reverse=True)  # newest first
    row_texts = await page.locator(done).all_inner_texts()
    assert any("dr-li" in text and "doctor" in text for text in row_texts)
    badge = page.locator(f"{done} [data-testid=recording-status]").first
    assert await badge.inner_text() == "completed"

    # the date range, in the centre's days
    today = datetime.now(CST).date()
    await page.fill("[data-testid=filter-since]", (today + timedelta(days=1)).isoformat())
    await page.click("[data-testid=recordings-refresh]")
    await page.wait_for_selector("[data-testid=recordings-empty]", timeout=TIMEOUT_MS)
    await page.fill("[data-testid=filter-since]", today.isoformat())
    await page.fill("[data-testid=filter-until]", today.isoformat())
    await page.fill("[data-testid=filter-room]", rid)
    await page.click("[data-testid=recordings-refresh]")
    await page.wait_for_function(
        f"() => document.querySelectorAll('{done}').length === 2", timeout=TIMEOUT_MS
    )

    # ---- Play: the picture shows and time advances --------------------------------------
    doctor_row = "[data-testid=recording-row][data-identity='dr-li']"
    doctor = page.locator(doctor_row)
    await doctor.locator("[data-testid=play-button]").click()
    player = page.locator(
        f"[data-testid=recording-player][data-recording-id='{recs['dr-li']['id']}']"
    )
    await player.wait_for(timeout=TIMEOUT_MS)
    assert "dr-li" in await player.locator("[data-testid=player-heading]").inner_text()
    assert "Cardiology · Anda County" in await player.inner_text()
    video = "document.querySelector('[data-testid=player-video]')"
    await page.wait_for_function(
        f"() => {video}.videoWidth > 0 && {video}.currentTime > 0.2", timeout=TIMEOUT_MS
    )
    assert await page.evaluate(f"[{video}.videoWidth, {video}.videoHeight]") == [320, 240]
    played = await page.evaluate(f"{video}.currentTime")
    await page.wait_for_function(f"() => {video}.currentTime > {played} + 0.3", timeout=TIMEOUT_MS)
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=SCREENSHOTS.format("player"), full_page=True)
    assert await serious_violations(page) == [], "player"

    # ---- Download: the file, under its name -------------------------------------------------
    async with page.expect_download(timeout=TIMEOUT_MS) as download:
        await doctor.locator("[data-testid=download-button]").click()
    assert (await download.value).suggested_filename == recs["dr-li"]["file"]

    # ---- legal hold: set, then released after the confirmation, as the API says -----------
    hold = doctor.locator("[data-testid=hold-toggle]")
    base = f"/api/v1/recordings/{recs['dr-li']['id']}"
    await hold.click()
    await page.wait_for_selector(
        "[data-testid=notice]:has-text('Legal hold set')", timeout=TIMEOUT_MS
    )
    assert (await ok(server, "GET", base))["legal_hold"] is True
    assert await hold.is_checked()
    await hold.click()  # releasing asks; cancelled, the hold stays
    await page.wait_for_selector("[data-testid=confirm-dialog][open]", timeout=TIMEOUT_MS)
    await page.click("[data-testid=confirm-cancel]")
    await page.wait_for_selector(
        f"{doctor_row} [data-testid=hold-toggle]:checked", timeout=TIMEOUT_MS
    )
    assert (await ok(server, "GET", base))["legal_hold"] is True
    await hold.click()
    await page.click("[data-testid=confirm-ok]")
    await page.wait_for_selector(
        "[data-testid=notice]:has-text('Legal hold released')", timeout=TIMEOUT_MS
    )
    assert (await ok(server, "GET", base))["legal_hold"] is False
    assert not await hold.is_checked()

    # ---- the composite export: progress, then a link to the MP4 -------------------------------
    exporter = group.locator("[data-testid=export]")
    await exporter.locator("[data-testid=export-button]").click()
    await page.wait_for_selector(
        f"[data-testid=export][data-room-id='{rid}'][data-status=done] [data-testid=export-link]",
        timeout=30_000,
    )
    job = await ok(server, "GET", f"/api/v1/exports/{await exporter.get_attribute('data-job-id')}")
    assert job["status"] == "done" and job["room_id"] == rid
    href = await exporter.locator("[data-testid=export-link]").get_attribute("href")
    async with server.session.head(href) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
    async with server.session.get(href) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
        assert (await resp.read())[4:8] == b"ftyp"
    assert await exporter.locator("[data-testid=export-error]").inner_text() == ""

    # ---- the case view: its recordings, and the case's legal hold ----------------------------
    await group.locator("[data-testid=recording-case-link]").click()
    panel = page.locator(
        f"[data-testid=case-detail][data-case-id='{case_id}'] [data-testid=case-recordings]"
    )
    await panel.locator("[data-testid=recording-row]").nth(1).wait_for(timeout=TIMEOUT_MS)
    assert await panel.locator("[data-testid=recording-row]").count() == 2
    hold_path = f"/api/v1/cases/{case_id}/recording-hold"
    assert (await ok(server, "GET", hold_path))["held"] is False
    await panel.locator("[data-testid=case-hold-toggle]:enabled").click()
    await panel.locator("[data-testid=case-hold-badge]").nth(1).wait_for(timeout=TIMEOUT_MS)
    assert (await ok(server, "GET", hold_path))["held"] is True
    assert await panel.locator("[data-testid=case-hold-toggle]").is_checked()
    await panel.scroll_into_view_if_needed()
    await page.screenshot(path=SCREENSHOTS.format("case"), full_page=True)
    assert await serious_violations(page) == [], "case"
    assert not dash.page_errors(), dash.page_errors()


async def test_chinese_recordings_section(
    live_server: ServerHandle, settings: Settings, open_dashboard: Opener
) -> None:
    """The section in Chinese, with the API's answer when nothing is recorded yet."""
    username = await coordinator_account(settings)
    dash = await signed_in_dashboard(open_dashboard, live_server, username, "?lang=zh#recordings")
    page = dash.page
    await page.wait_for_selector("[data-testid=recordings-empty]", timeout=TIMEOUT_MS)
    empty = await page.locator("[data-testid=recordings-empty]").inner_text()
    assert empty == "没有符合条件的录像。"
    assert await page.locator("[data-testid=nav-recordings]").inner_text() == "录像"
    assert (
        await page.locator("[data-testid=nav-recordings]").get_attribute("aria-current") == "page"
    )
    assert (await ok(live_server, "GET", "/api/v1/recordings"))["recordings"] == []
    assert not dash.page_errors()


async def test_audio_only_recording_plays(
    live_server: ServerHandle,
    settings: Settings,
    open_dashboard: Opener,
    sdk_clients: list[RoomClient],
) -> None:
    """A participant without a camera: its file has no picture and still plays in the player."""
    room = await live_server.create_room("Phone follow-up")
    rid = room["id"]
    client = RoomClient(live_server.url, live_server.mint("pt-zhou", "patient", room=rid), room=rid)
    sdk_clients.append(client)
    await client.connect()
    await client.publish(AudioStreamTrack())
    await client.wait_event("recording.started")  # a consultation records by default
    await asyncio.sleep(2.5)  # the session's length
    await ok(live_server, "POST", f"/api/v1/rooms/{rid}/recording/stop")
    (rec,) = (await ok(live_server, "GET", f"/api/v1/recordings?room_id={rid}"))["recordings"]
    assert rec["status"] == "completed" and rec["kinds"] == ["audio"], rec

    username = await coordinator_account(settings)
    dash = await signed_in_dashboard(open_dashboard, live_server, username, "#recordings")
    page = dash.page
    row = page.locator(f"[data-testid=recording-row][data-recording-id='{rec['id']}']")
    await row.wait_for(timeout=TIMEOUT_MS)
    assert "Audio only" in await row.inner_text()
    await row.locator("[data-testid=play-button]").click()
    await page.wait_for_selector("[data-testid=recording-player].audio-only", timeout=TIMEOUT_MS)
    video = "document.querySelector('[data-testid=player-video]')"
    await page.wait_for_function(f"() => {video}.currentTime > 0.3", timeout=TIMEOUT_MS)
    assert await page.evaluate(f"{video}.videoWidth") == 0
    played = await page.evaluate(f"{video}.currentTime")
    await page.wait_for_function(f"() => {video}.currentTime > {played} + 0.2", timeout=TIMEOUT_MS)
    await page.click("[data-testid=player-close]")
    await page.wait_for_selector("[data-testid=recording-player]", state="hidden")
    assert await page.evaluate(f"{video}.paused")
    assert not dash.page_errors()
