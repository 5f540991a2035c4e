"""The coordinator's tools in the dashboard, in headless Chromium against the real server.

- A two-expert panel (Beijing and New York) plus a bookable interpreter is booked through the
  slot picker: every offered slot lies inside the village clinic's consult hours (a New York
  morning expert, 21:00+ in the village, is never offered), each row shows the centre's, the
  unit's and each person's own local time, and after booking the case's page, the API and each
  party's own workspace (both experts, the village doctor) show the same instant on their own
  clock.
- The directory is edited from the page: a unit with consult hours, an expert, a roster with
  leave, the on-duty rota, dated overrides (the newest of two overlapping is on duty first),
  deletes (refused for an expert on the rota: the sentence for the code, the server's reason
  under its details); the API has what was typed.
- The specialty catalogue is edited from the page: created, renamed, given to an expert,
  retired (then refused for new cases), shown by its Chinese name in zh-CN.
- A booked case is rescheduled from the picker and then cancelled: the old booking is
  cancelled, the new one stands, then none.
- A lecture is scheduled from the page, held (an SDK presenter publishes; the village clinic's
  screen watches in the room page and asks a question from its chat, which the presenter
  receives and the dashboard lists), recorded by default, and played from the replay library.
- The statistics page draws its charts (Chart.js, under the page's CSP).
Every page state is checked with axe-core (no serious or critical violation) and screenshotted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.axe import serious_violations
from tests.browser.rtc_js import JS_MEDIA_COUNTS, KEEP_PEER_CONNECTIONS
from tests.browser.test_dashboard import (
    PASSWORD,
    TIMEOUT_MS,
    Dashboard,
    Opener,
    coordinator_account,
    ok,
    signed_in_dashboard,
    unit_doctor_account,
)
from tests.helpers import ServerHandle
from vidconsult.account_admin import create_account
from vidconsult.client import RoomClient
from vidconsult.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

BEIJING = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
SHOTS = Path("/tmp/vidconsult-coordinator-shots")
EVERY_DAY = range(7)
#: a video in the page shows the lecture moving: more frames presented than a still picture
JS_LECTURE_PLAYS = """() => [...document.querySelectorAll('video')].some((v) =>
  v.videoWidth > 0 && v.currentTime > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 5)"""
# what a page's video elements show, for a failure's report: a paused element (autoplay
# refused: a play button) and one that gets no frames are different faults
JS_VIDEOS = """() => [...document.querySelectorAll('video')].map((v) => ({
  identity: v.dataset.identity || null, paused: v.paused, readyState: v.readyState,
  currentTime: v.currentTime, width: v.videoWidth,
  frames: v.getVideoPlaybackQuality().totalVideoFrames,
  dropped: v.getVideoPlaybackQuality().droppedVideoFrames,
  playBlocked: !!(v.parentElement && v.parentElement.querySelector('.play-blocked'))}))"""


def shot(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / f"{name}.png")


async def axe_check(page: Any, label: str) -> None:
    """axe-core on the page as it is (tests/browser/axe.py): no serious or critical violation,
    colour contrast of the badges included."""
    bad = await serious_violations(page)
    assert bad == [], f"{label}: {json.dumps(bad, indent=1)}"


async def put_unit(server: ServerHandle, unit_id: str, name: str, **kw: Any) -> None:
    body = {"id": unit_id, "name": name, "tier": "village", "consult_rooms": ["first-consult"]}
    await ok(server, "POST", "/api/v1/units", {**body, **kw}, 201)


async def put_expert(
    server: ServerHandle,
    expert_id: str,
    name: str,
    *,
    zone: str,
    specialties: list[str],
    languages: list[str],
    international: bool = False,
    shift: tuple[str, str] = ("08:00", "12:00"),
) -> None:
    inst = (
        {"id": "us-group", "name": "US Partner Group", "kind": "international", "country": "US"}
        if international
        else {"id": "pumch", "name": "PUMCH", "kind": "domestic"}
    )
    await ok(
        server,
        "POST",
        "/api/v1/experts",
        {
            "id": expert_id,
            "name": name,
            "institution": inst,
            "specialties": specialties,
            "languages": languages,
            "time_zone": zone,
        },
        201,
    )
    start, end = shift
    shifts = [{"weekday": d, "start": start, "end": end} for d in EVERY_DAY]
    await ok(server, "PUT", f"/api/v1/experts/{expert_id}/roster", {"shifts": shifts})


async def seed(server: ServerHandle) -> None:
    """A village clinic open 08:00-17:30 Beijing time every day; a Beijing cardiologist in the
    mornings; a New York cardiologist on New York evenings (Beijing mornings); a New York
    cardiologist on New York mornings (21:00+ in the village: never fits); an interpreter in
    Los Angeles on LA afternoons and evenings (Beijing mornings)."""
    hours = [{"weekday": d, "start": "08:00", "end": "17:30"} for d in EVERY_DAY]
    await put_unit(server, "vil-1", "Xiaohe village clinic", consult_hours=hours)
    await put_expert(
        server,
        "dr-wang",
        "Prof. Wang Li",
        zone="Asia/Shanghai",
        specialties=["cardiology"],
        languages=["zh"],
        shift=("08:00", "12:00"),
    )
    # 19:00-23:30 New York is 08:00-12:30 Beijing in winter (07:00-11:30 in summer)
    await put_expert(
        server,
        "dr-jones",
        "Dr Amy Jones",
        zone="America/New_York",
        specialties=["cardiology"],
        languages=["en"],
        international=True,
        shift=("19:00", "23:30"),
    )
    await put_expert(
        server,
        "dr-smith",
        "Dr John Smith",
        zone="America/New_York",
        specialties=["cardiology"],
        languages=["en"],
        international=True,
        shift=("08:00", "11:00"),
    )
    await put_expert(
        server,
        "chen-i",
        "Chen Hui (interpreter)",
        zone="America/Los_Angeles",
        specialties=["interpretation"],
        languages=["zh", "en"],
        # 15:00-23:00 Los Angeles is 07:00-15:00 Beijing in winter (06:00-14:00 in summer)
        shift=("15:00", "23:00"),
    )


async def new_case(server: ServerHandle, **kw: Any) -> dict[str, Any]:
    body = {
        "patient": {"name": "Zhang San", "sex": "male", "age_years": 35},
        "referring_unit_id": "vil-1",
        "referring_doctor": "Dr Zhao",
        "specialty": "cardiology",
        "clinical_summary": "chest pain for two weeks",
        **kw,
    }
    return await ok(server, "POST", "/api/v1/cases", body, 201)


async def signed_in(
    open_dashboard: Opener, server: ServerHandle, settings: Settings, where: str
) -> Dashboard:
    username = await coordinator_account(settings)
    return await signed_in_dashboard(open_dashboard, server, username, where)


def local(iso: str, zone: ZoneInfo) -> str:
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M")


async def test_panel_with_interpreter_booked_through_the_slot_picker(
    app_server: ServerHandle, settings: Settings, open_dashboard: Opener
) -> None:
    await seed(app_server)
    case = await new_case(app_server, interpreter_needed=True)
    dash = await signed_in(open_dashboard, app_server, settings, f"#cases/{case['id']}")
    page = dash.page
    detail = page.locator(f"[data-testid=case-detail][data-case-id='{case['id']}']")
    await detail.locator("[data-testid=choose-slot] summary").click()
    picker = detail.locator("[data-testid=slot-picker-card]")
    await picker.locator("[data-testid=slot-row]").first.wait_for(timeout=TIMEOUT_MS)

    # every fitting expert is offered for choice, the interpreter apart
    offered = await picker.locator("[data-testid=picker-expert]").evaluate_all(
        "els => els.map(e => e.value)"
    )
    assert sorted(offered) == ["dr-jones", "dr-smith", "dr-wang"]
    # ...but the New York morning expert has no slot inside the village's hours
    rows = await picker.locator("[data-testid=slot-row]").evaluate_all(
        "els => els.map(e => e.dataset.experts)"
    )
    assert rows and "dr-smith" not in rows and {"dr-wang", "dr-jones"} <= set(rows)
    await axe_check(page, "slot picker, each expert's slots")

    # a panel: Jones (leads: the first ticked in the list) and Wang, with the interpreter
    await picker.locator("[data-testid=picker-expert][data-expert-id=dr-wang]").check()
    await picker.locator("[data-testid=picker-expert][data-expert-id=dr-jones]").check()
    await picker.locator("[data-testid=picker-interpreter]").select_option("chen-i")
    await picker.locator("[data-testid=find-slots]").click()
    panel_row = picker.locator(
        "[data-testid=slot-row][data-experts='dr-jones,dr-wang,chen-i']"
    ).first
    await panel_row.wait_for(timeout=TIMEOUT_MS)
    start = await panel_row.get_attribute("data-start")
    assert start is not None
    at = datetime.fromisoformat(start)
    assert 8 <= at.astimezone(BEIJING).hour < 17  # inside the clinic's hours
    times = {
        await li.get_attribute("data-identity"): await li.inner_text()
        for li in await panel_row.locator("[data-testid=party-time]").all()
    }
    assert set(times) == {"unit-vil-1", "dr-wang", "dr-jones", "chen-i"}
    ny_offset = "UTC-5" if at.astimezone(NEW_YORK).utcoffset() == timedelta(hours=-5) else "UTC-4"
    assert local(start, NEW_YORK) in times["dr-jones"] and ny_offset in times["dr-jones"]
    assert local(start, BEIJING) in times["unit-vil-1"] and "UTC+8" in times["unit-vil-1"]
    assert "CST" not in await panel_row.inner_text()
    await page.screenshot(path=shot("slot-picker-panel"), full_page=True)
    await axe_check(page, "slot picker, panel")

    await panel_row.locator("[data-testid=pick-slot]").click()
    await page.wait_for_selector(
        f"[data-testid=case-detail][data-case-id='{case['id']}'][data-status=scheduled]",
        timeout=TIMEOUT_MS,
    )
    got = await ok(app_server, "GET", f"/api/v1/cases/{case['id']}")
    assert got["expert_ids"] == ["dr-jones", "dr-wang"] and len(got["booking_ids"]) == 3
    # each party sees the same instant on their own clock: the booking page...
    booking = detail.locator("[data-testid=case-booking]")
    party = {
        await li.get_attribute("data-identity"): await li.inner_text()
        for li in await booking.locator("[data-testid=party-time]").all()
    }
    assert local(start, NEW_YORK) in party["dr-jones"]
    assert local(start, BEIJING) in party["dr-wang"]
    assert local(start, LOS_ANGELES) in party["chen-i"]
    assert local(start, BEIJING) in party["unit-vil-1"]
    # ...and the API: each member's booking (and so each party's own list) has it in UTC
    for bid, who in zip(got["booking_ids"], ["dr-jones", "dr-wang", "chen-i"], strict=True):
        b = await ok(app_server, "GET", f"/api/v1/bookings/{bid}")
        assert b["expert_id"] == who and b["start"] == at.astimezone(UTC).isoformat()
        mine = await ok(app_server, "GET", f"/api/v1/bookings?expert={who}")
        assert [x["id"] for x in mine["bookings"]] == [bid]
        parties = {p["identity"] for p in b["room"]["parties"]}
        assert {"dr-wang", "dr-jones", "chen-i"} <= parties
    await page.screenshot(path=shot("panel-booked"), full_page=True)
    await axe_check(page, "case with a booked panel")
    assert not dash.page_errors()

    # each party's own workspace shows it on their own clock: the New York expert, the Beijing
    # expert, the Los Angeles interpreter (an expert-kind account named by its directory id),
    # and the village clinic's doctor
    for username, role, kw in (
        ("dr-jones", "expert", {}),
        ("dr-wang", "expert", {}),
        ("chen-i", "expert", {}),
        ("vil.doctor", "doctor", {"unit_id": "vil-1"}),
    ):
        await asyncio.to_thread(
            create_account, settings.data_dir, username, role, PASSWORD, username, **kw
        )
    for username, role, zone, mine in (
        ("dr-jones", "expert", NEW_YORK, "time-mine"),
        ("dr-wang", "expert", BEIJING, "time-mine"),
        ("chen-i", "expert", LOS_ANGELES, "time-mine"),
        ("vil.doctor", "doctor", BEIJING, "time-unit"),
    ):
        ws = await open_dashboard(app_server)
        await ws.page.goto(f"{app_server.url}/workspace?lang=en")
        await ws.sign_in(username)
        kind = "unit-case-row" if role == "doctor" else "consultation-row"
        row = ws.page.locator(f"[data-testid={kind}][data-case-id='{case['id']}']")
        await row.wait_for(timeout=TIMEOUT_MS)
        text = await row.locator(f"[data-testid~={mine}]").first.inner_text()
        assert local(start, zone) in text, (username, text)
        # the zone by its name, never its IANA id (America/New_York)
        names = {NEW_YORK: "Eastern Time", BEIJING: "China Standard Time"}
        assert names.get(zone, "Pacific Time") in text and str(zone) not in text, text
        # with its weekday in that zone: across the date line the day is what is misread
        day = datetime.fromisoformat(start).astimezone(zone).strftime("%a")
        assert f"{day} {local(start, zone)}" in text, (username, text)
        if username == "chen-i":
            await interpreter_sees_the_booking(ws, row, case["id"], start)
        if username == "vil.doctor":
            # the unit's row says whom the patient will see: the panel's experts, no interpreter
            experts = await row.locator("[data-testid=booked-experts]").inner_text()
            assert experts == "With Dr Amy Jones (Cardiology), Prof. Wang Li (Cardiology)", experts
        await ws.page.screenshot(path=shot(f"workspace-{username}"), full_page=True)
        await axe_check(ws.page, f"workspace of {username}")


async def interpreter_sees_the_booking(ws: Dashboard, row: Any, case_id: str, start: str) -> None:
    """The interpreter's row: marked as theirs to interpret, the unit's and the centre's time
    beside their own, a join button, and a join link for their own interpreter seat only; no
    records nor report form (those are the experts')."""
    assert "Interpreter" in await ws.signed_in()
    await row.locator("[data-testid=interpreting]").wait_for(timeout=TIMEOUT_MS)
    beijing = await row.locator("[data-testid~=time-unit]").inner_text()
    assert local(start, BEIJING) in beijing and "UTC+8" in beijing
    assert "time-centre" in (
        await row.locator("[data-testid~=time-unit]").get_attribute("data-testid") or ""
    )
    assert await row.locator("[data-testid=join-button]").count() == 1
    assert await row.locator("[data-testid=details-button]").count() == 0
    status, got = await ws.page.evaluate(
        """async (id) => {
          const token = sessionStorage.getItem("vidconsult.dashboard.token");
          const r = await fetch(`/api/v1/workspace/cases/${id}/join`,
            { method: "POST", headers: { Authorization: `Bearer ${token}` } });
          return [r.status, await r.json()];
        }""",
        case_id,
    )
    assert status == 200, got
    assert [(x["identity"], x["role"]) for x in got["links"]] == [("chen-i", "interpreter")]


async def test_reschedule_and_cancel_from_the_case_page(
    app_server: ServerHandle, settings: Settings, open_dashboard: Opener
) -> None:
    await seed(app_server)
    case = await new_case(app_server, requested_expert_id="dr-wang")
    first = await ok(app_server, "POST", f"/api/v1/cases/{case['id']}/booking", {}, 201)
    assert first["booking"]["expert_id"] == "dr-wang"
    old_id = first["booking"]["id"]
    dash = await signed_in(open_dashboard, app_server, settings, f"#cases/{case['id']}")
    page = dash.page
    detail = page.locator(f"[data-testid=case-detail][data-case-id='{case['id']}']")
    await detail.locator("[data-testid=reschedule] summary").click()
    picker = detail.locator("[data-testid=slot-picker-card]")
    await picker.locator("[data-testid=picker-expert][data-expert-id=dr-jones]").check()
    await picker.locator("[data-testid=find-slots]").click()
    row = picker.locator("[data-testid=slot-row][data-experts='dr-jones']").first
    await row.wait_for(timeout=TIMEOUT_MS)
    await picker.locator("[data-testid=reschedule-reason]").fill("the patient asked for later")
    await row.locator("[data-testid=pick-slot]").click()
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=case-booking]')?.innerText"
        ".includes('Dr Amy Jones')",
        timeout=TIMEOUT_MS,
    )
    got = await ok(app_server, "GET", f"/api/v1/cases/{case['id']}")
    assert got["status"] == "scheduled" and got["expert_ids"] == ["dr-jones"]
    old = await ok(app_server, "GET", f"/api/v1/bookings/{old_id}")
    assert old["cancelled_at"] is not None and old["room"]["state"] == "closed"
    assert got["audit"][-2]["note"] == "rescheduled: the patient asked for later"
    await page.screenshot(path=shot("rescheduled"), full_page=True)
    await axe_check(page, "rescheduled case")

    await detail.locator("details:has([data-testid=cancel-reason]) summary").click()
    await detail.locator("[data-testid=cancel-reason]").fill("recovered")
    await detail.locator("[data-testid=cancel-case-button]").click()
    await page.wait_for_selector(
        f"[data-testid=case-detail][data-case-id='{case['id']}'][data-status=cancelled]",
        timeout=TIMEOUT_MS,
    )
    jones = await ok(app_server, "GET", "/api/v1/bookings?expert=dr-jones")
    assert all(b["cancelled_at"] for b in jones["bookings"]) and jones["bookings"]
    assert not dash.page_errors()


#: how many lines the text of the first element ``sel`` selects takes on the page
JS_LINES = """(sel) => {
  const range = document.createRange();
  range.selectNodeContents(document.querySelector(sel));
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}"""


async def test_directory_in_chinese_on_a_coordinator_screen(
    app_server: ServerHandle, settings: Settings, open_dashboard: Opener
) -> None:
    """The coordinator's 1920x1080 screen in Chinese: a specialty's name is not broken in the
    middle ("心内" / "科") by the narrow column of the experts' table."""
    await seed(app_server)
    dash = await signed_in(open_dashboard, app_server, settings, "?lang=zh#directory")
    page = dash.page
    await page.set_viewport_size({"width": 1920, "height": 1080})
    cell = "[data-testid=expert-row][data-expert-id=dr-jones] [data-testid=expert-specialties]"
    await page.wait_for_selector(cell, timeout=TIMEOUT_MS)
    assert await page.inner_text(cell) == "心内科"
    assert await page.evaluate(JS_LINES, cell) == 1
    # the country by its name in the page's language, not its code ("国际 · US")
    badge = "[data-testid=expert-row][data-expert-id=dr-jones] [data-testid=expert-kind]"
    assert await page.inner_text(badge) == "国际 · 美国"
    await page.screenshot(path=shot("directory-zh-1920"), full_page=True)


async def test_directory_is_edited_from_the_page(
    app_server: ServerHandle, settings: Settings, open_dashboard: Opener
) -> None:
    await seed(app_server)
    dash = await signed_in(open_dashboard, app_server, settings, "#directory")
    page = dash.page
    await page.wait_for_selector("[data-testid=unit-row]", timeout=TIMEOUT_MS)
    await axe_check(page, "directory")

    # a new township unit on its own clock: Monday to Friday 08:30-16:00, except Monday with a
    # lunch break (08:30-12:00 and 13:30-16:00), and Saturday mornings 09:00-12:00
    await page.click("[data-testid=new-unit]")
    editor = page.locator("[data-testid=unit-editor]")
    await editor.locator("[data-testid=unit-id]").fill("twn-2")
    await editor.locator("[data-testid=unit-name]").fill("Dongshan township centre")
    await editor.locator("[data-testid=unit-tier]").select_option("township")
    wanted = {
        0: [("08:30", "12:00"), ("13:30", "16:00")],
        **{d: [("08:30", "16:00")] for d in range(1, 5)},
        5: [("09:00", "12:00")],
    }
    for day, windows in wanted.items():
        line = editor.locator(f"[data-testid=hours-day][data-weekday='{day}']")
        for i, (start, end) in enumerate(windows):
            await line.locator("[data-testid=hours-add]").click()
            window = line.locator("[data-testid=hours-window]").nth(i)
            await window.locator("[data-testid=hours-from]").fill(start)
            await window.locator("[data-testid=hours-to]").fill(end)
    await axe_check(page, "unit editor")
    await page.screenshot(path=shot("unit-editor"), full_page=True)
    await editor.locator("[data-testid=editor-save]").click()
    await page.wait_for_selector("[data-testid=unit-row][data-unit-id=twn-2]", timeout=TIMEOUT_MS)
    unit = await ok(app_server, "GET", "/api/v1/units/twn-2")
    assert unit["tier"] == "township" and unit["name"] == "Dongshan township centre"
    expected = [
        {"weekday": d, "start": start, "end": end}
        for d, windows in wanted.items()
        for start, end in windows
    ]
    assert unit["consult_hours"] == expected
    # edit it: renamed only; the hours that differ by day come back as they were (no loss)
    await page.click("[data-testid=unit-row][data-unit-id=twn-2] [data-testid=edit-unit]")
    editor = page.locator("[data-testid=unit-editor]")
    assert await editor.locator("[data-testid=unit-id]").get_attribute("readonly") is not None
    assert await editor.locator("[data-testid=hours-window]").count() == len(expected)
    await editor.locator("[data-testid=unit-name]").fill("Dongshan township health centre")
    await editor.locator("[data-testid=editor-save]").click()
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=unit-row][data-unit-id=twn-2]')?.innerText"
        ".includes('Dongshan township health centre')",
        timeout=TIMEOUT_MS,
    )
    unit = await ok(app_server, "GET", "/api/v1/units/twn-2")
    assert unit["consult_hours"] == expected
    # edit it again: rename, consult hours off
    await page.click("[data-testid=unit-row][data-unit-id=twn-2] [data-testid=edit-unit]")
    editor = page.locator("[data-testid=unit-editor]")
    await editor.locator("[data-testid=unit-name]").fill("Dongshan health centre")
    while await editor.locator("[data-testid=hours-remove]").count():
        await editor.locator("[data-testid=hours-remove]").first.click()
    await editor.locator("[data-testid=editor-save]").click()
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=unit-row][data-unit-id=twn-2]')?.innerText"
        ".includes('Dongshan health centre')",
        timeout=TIMEOUT_MS,
    )
    unit = await ok(app_server, "GET", "/api/v1/units/twn-2")
    assert unit["consult_hours"] == [] and unit["name"] == "Dongshan health centre"

    # a new expert, a neurologist in Los Angeles
    await page.click("[data-testid=new-expert]")
    editor = page.locator("[data-testid=expert-editor]")
    await editor.locator("[data-testid=expert-id]").fill("dr-garcia")
    await editor.locator("[data-testid=expert-name]").fill("Dr Ana Garcia")
    await editor.locator("[data-testid=expert-inst-id]").fill("ucla")
    await editor.locator("[data-testid=expert-inst-name]").fill("UCLA Health")
    await editor.locator("[data-testid=expert-inst-kind]").select_option("international")
    await editor.locator("[data-testid=expert-country]").fill("us")
    await editor.locator("[data-testid=expert-specialties]").select_option(
        ["neurology", "neurosurgery"]
    )
    await editor.locator("[data-testid=expert-languages]").fill("en, es")
    await editor.locator("[data-testid=expert-zone]").fill("America/Los_Angeles")
    await editor.locator("[data-testid=editor-save]").click()
    await page.wait_for_selector(
        "[data-testid=expert-row][data-expert-id=dr-garcia]", timeout=TIMEOUT_MS
    )
    expert = await ok(app_server, "GET", "/api/v1/experts/dr-garcia")
    assert expert["institution"] == {
        "id": "ucla",
        "name": "UCLA Health",
        "kind": "international",
        "country": "US",
    }
    assert sorted(expert["specialties"]) == ["neurology", "neurosurgery"]
    assert sorted(expert["languages"]) == ["en", "es"] and expert["international"] is True

    # her roster: Tuesday 09:00-13:00 (Los Angeles), and a week of leave
    await page.click("[data-testid=expert-row][data-expert-id=dr-garcia] [data-testid=edit-roster]")
    editor = page.locator("[data-testid=roster-editor]")
    await editor.locator("[data-testid=shift-add]").click()
    shift = editor.locator("[data-testid=shift-row]").last
    await shift.locator("[data-testid=shift-weekday]").select_option("1")
    await shift.locator("[data-testid=shift-start]").fill("09:00")
    await shift.locator("[data-testid=shift-end]").fill("13:00")
    await editor.locator("[data-testid=leave-add]").click()
    leave = editor.locator("[data-testid=leave-row]").last
    await leave.locator("[data-testid=leave-from]").fill("2027-01-04")
    await leave.locator("[data-testid=leave-to]").fill("2027-01-08")
    await leave.locator("[data-testid=leave-reason]").fill("conference")
    await axe_check(page, "roster editor")
    await page.screenshot(path=shot("roster-editor"), full_page=True)
    await editor.locator("[data-testid=editor-save]").click()
    await page.wait_for_selector(
        "[data-testid=roster-editor]:not(:has([data-testid=editor-error]:empty)),"
        "[data-testid=directory-editor][hidden]",
        state="attached",
        timeout=TIMEOUT_MS,
    )
    assert await page.locator("[data-testid=roster-editor]").count() == 0, await page.locator(
        "[data-testid=editor-error]"
    ).inner_text()
    roster = await ok(app_server, "GET", "/api/v1/experts/dr-garcia/roster")
    assert roster["shifts"] == [{"weekday": 1, "start": "09:00", "end": "13:00"}]
    # whole days in her zone: 4 Jan 00:00 to 9 Jan 00:00 Los Angeles (UTC-8), in UTC
    assert roster["leave"] == [
        {
            "start": "2027-01-04T08:00:00+00:00",
            "end": "2027-01-09T08:00:00+00:00",
            "reason": "conference",
        }
    ]

    # the on-duty rota for cardiology: Wang on Mondays 08:00-20:00
    await page.select_option("[data-testid=rota-specialty]", "cardiology")
    await page.click("[data-testid=rota-edit]")
    editor = page.locator("[data-testid=rota-editor]")
    await editor.locator("[data-testid=rota-add]").click()
    row = editor.locator("[data-testid=rota-row]").last
    await row.locator("[data-testid=rota-expert]").select_option("dr-wang")
    await row.locator("[data-testid=shift-weekday]").select_option("0")
    await editor.locator("[data-testid=editor-save]").click()
    await page.wait_for_selector(
        "[data-testid=rota-specialty-row][data-specialty=cardiology]", timeout=TIMEOUT_MS
    )
    rota = await ok(app_server, "GET", "/api/v1/rota")
    assert [
        (s["specialty"], s["expert_id"], s["weekday"], s["start"], s["end"]) for s in rota["slots"]
    ] == [("cardiology", "dr-wang", 0, "08:00", "20:00")]

    # dated overrides: Jones, then Wang over the same Saturday; the newest is paged first
    card = page.locator("[data-testid=overrides-card]")
    for expert in ("dr-jones", "dr-wang"):
        await card.locator("[data-testid=override-specialty]").select_option("cardiology")
        await card.locator("[data-testid=override-expert]").select_option(expert)
        await card.locator("[data-testid=override-from]").fill("2027-01-09T08:00")
        await card.locator("[data-testid=override-to]").fill("2027-01-09T20:00")
        await card.locator("[data-testid=override-add]").click()
        await page.wait_for_selector(
            f"[data-testid=override-row][data-expert-id={expert}]", timeout=TIMEOUT_MS
        )
        card = page.locator("[data-testid=overrides-card]")
    rota = await ok(app_server, "GET", "/api/v1/rota")
    assert {(o["expert_id"], o["start"], o["end"]) for o in rota["overrides"]} == {
        (e, "2027-01-09T00:00:00+00:00", "2027-01-09T12:00:00+00:00")
        for e in ("dr-jones", "dr-wang")
    }
    noon = "2027-01-09T12%3A00%3A00%2B08%3A00"
    duty = await ok(app_server, "GET", f"/api/v1/rota/on-duty?specialty=cardiology&at={noon}")
    assert duty["expert_ids"] == ["dr-wang", "dr-jones"]
    row_text = await card.locator("[data-testid=override-row]").first.inner_text()
    assert "2027-01-09 08:00" in row_text and "UTC+8" in row_text
    await page.screenshot(path=shot("overrides"), full_page=True)
    await axe_check(page, "directory with overrides")
    await card.locator(
        "[data-testid=override-row][data-expert-id=dr-wang] [data-testid=override-delete]"
    ).click()
    await page.wait_for_selector(
        "[data-testid=override-row][data-expert-id=dr-wang]",
        state="detached",
        timeout=TIMEOUT_MS,
    )
    duty = await ok(app_server, "GET", f"/api/v1/rota/on-duty?specialty=cardiology&at={noon}")
    assert duty["expert_ids"] == ["dr-jones"]

    # delete: Smith (no history) goes after a second click; Wang (on the rota) stays, and why
    smith = page.locator("[data-testid=expert-row][data-expert-id=dr-smith]")
    await smith.locator("[data-testid=delete-expert]").click()
    assert await smith.count() == 1  # the first click only arms the button
    await smith.locator("[data-testid=delete-expert]").click()
    await smith.wait_for(state="detached", timeout=TIMEOUT_MS)
    assert (await app_server.api("GET", "/api/v1/experts/dr-smith"))[0] == 404
    wang = page.locator("[data-testid=expert-row][data-expert-id=dr-wang]")
    for _ in range(2):
        await wang.locator("[data-testid=delete-expert]").click()
    # the sentence for the code; the server's words (what refers to her) under the details
    refused = page.locator("[role=alert][data-code=in_use]")
    await refused.wait_for(timeout=TIMEOUT_MS)
    sentence = await page.evaluate(
        "async () => (await import('/static/i18n.js')).STRINGS.en.errors.in_use"
    )
    assert await refused.locator("[data-testid=error-text]").inner_text() == sentence
    assert "rota" in await refused.locator("[data-testid=error-details]").text_content()
    assert (await app_server.api("GET", "/api/v1/experts/dr-wang"))[0] == 200
    twn = page.locator("[data-testid=unit-row][data-unit-id=twn-2]")
    for _ in range(2):
        await twn.locator("[data-testid=delete-unit]").click()
    await twn.wait_for(state="detached", timeout=TIMEOUT_MS)
    assert (await app_server.api("GET", "/api/v1/units/twn-2"))[0] == 404
    await page.screenshot(path=shot("directory"), full_page=True)
    await axe_check(page, "directory after editing")
    assert not dash.page_errors()


async def test_specialties_created_renamed_and_retired_from_the_page(
    app_server: ServerHandle, settings: Settings, open_dashboard: Opener
) -> None:
    await seed(app_server)
    dash = await signed_in(open_dashboard, app_server, settings, "#directory")
    page = dash.page
    await page.wait_for_selector("[data-testid=specialty-row]", timeout=TIMEOUT_MS)
    # a new specialty, with its names in English and Chinese
    await page.click("[data-testid=new-specialty]")
    editor = page.locator("[data-testid=specialty-editor]")
    await editor.locator("[data-testid=specialty-slug]").fill("sports_medicine")
    await editor.locator("[data-testid=specialty-name-en]").fill("Sports medicine")
    await editor.locator("[data-testid=specialty-name-zh]").fill("运动医学科")
    await axe_check(page, "specialty editor")
    await editor.locator("[data-testid=editor-save]").click()
    row = page.locator("[data-testid=specialty-row][data-slug=sports_medicine]")
    await row.wait_for(timeout=TIMEOUT_MS)
    # renamed (the slug stays)
    await row.locator("[data-testid=edit-specialty]").click()
    editor = page.locator("[data-testid=specialty-editor]")
    assert (
        await editor.locator("[data-testid=specialty-slug]").get_attribute("readonly") is not None
    )
    await editor.locator("[data-testid=specialty-name-en]").fill("Sport and exercise medicine")
    await editor.locator("[data-testid=editor-save]").click()
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=specialty-row][data-slug=sports_medicine]')"
        "?.innerText.includes('Sport and exercise medicine')",
        timeout=TIMEOUT_MS,
    )
    listed = await ok(app_server, "GET", "/api/v1/specialties")
    mine = [s for s in listed["specialties"] if s["slug"] == "sports_medicine"]
    assert mine == [
        {
            "slug": "sports_medicine",
            "name_en": "Sport and exercise medicine",
            "name_zh": "运动医学科",
            "retired": False,
            "built_in": False,
        }
    ]
    # an expert can have it: the expert editor offers it by its new name, and saving works
    await page.click("[data-testid=expert-row][data-expert-id=dr-wang] [data-testid=edit-expert]")
    editor = page.locator("[data-testid=expert-editor]")
    option = editor.locator("[data-testid=expert-specialties] option[value=sports_medicine]")
    assert await option.inner_text() == "Sport and exercise medicine"
    await editor.locator("[data-testid=expert-specialties]").select_option(
        ["cardiology", "sports_medicine"]
    )
    await editor.locator("[data-testid=editor-save]").click()
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=expert-row][data-expert-id=dr-wang]')"
        "?.innerText.includes('Sport and exercise medicine')",
        timeout=TIMEOUT_MS,
    )
    wang = await ok(app_server, "GET", "/api/v1/experts/dr-wang")
    assert sorted(wang["specialties"]) == ["cardiology", "sports_medicine"]
    # ...and a case can name it
    await new_case(app_server, specialty="sports_medicine")
    # retired: no new case names it; the expert who has it keeps it
    await page.locator(
        "[data-testid=specialty-row][data-slug=sports_medicine] [data-testid=retire-specialty]"
    ).click()
    await page.wait_for_selector(
        "[data-testid=specialty-row][data-slug=sports_medicine][data-retired=true]",
        timeout=TIMEOUT_MS,
    )
    status, err = await app_server.api(
        "POST",
        "/api/v1/cases",
        {
            "patient": {"name": "Li Si", "sex": "male", "age_years": 20},
            "referring_unit_id": "vil-1",
            "referring_doctor": "Dr Zhao",
            "specialty": "sports_medicine",
            "clinical_summary": "knee",
        },
    )
    assert status == 400 and err["error"]["code"] == "retired_specialty", err
    wang = await ok(app_server, "GET", "/api/v1/experts/dr-wang")
    assert "sports_medicine" in wang["specialties"]
    # the new-case form no longer offers it
    await dash.open("#cases")
    await page.wait_for_selector(
        "[data-testid=case-specialty] option[value=cardiology]",
        state="attached",
        timeout=TIMEOUT_MS,
    )
    assert (
        await page.locator("[data-testid=case-specialty] option[value=sports_medicine]").count()
        == 0
    )
    await dash.open("#directory")
    await page.wait_for_selector(
        "[data-testid=specialty-row][data-slug=sports_medicine][data-retired=true]",
        timeout=TIMEOUT_MS,
    )
    await page.screenshot(path=shot("specialties"), full_page=True)
    await axe_check(page, "directory with specialties")
    # in Chinese the catalogue's Chinese name is shown
    zh = await open_dashboard(app_server)
    await zh.page.goto(f"{app_server.url}/dashboard?lang=zh#directory")
    await zh.sign_in(await coordinator_account(settings, "coord2"))
    await zh.page.wait_for_function(
        "() => document.querySelector('[data-testid=expert-row][data-expert-id=dr-wang]')"
        "?.innerText.includes('运动医学科')",
        timeout=TIMEOUT_MS,
    )
    await zh.page.screenshot(path=shot("specialties-zh"), full_page=True)
    await axe_check(zh.page, "directory in Chinese")
    assert not dash.page_errors() and not zh.page_errors()


async def test_statistics_draw_charts(
    app_server: ServerHandle, settings: Settings, open_dashboard: Opener
) -> None:
    await seed(app_server)
    for _ in range(2):
        await new_case(app_server)
    booked = await new_case(app_server, requested_expert_id="dr-jones")
    await ok(app_server, "POST", f"/api/v1/cases/{booked['id']}/booking", {}, 201)
    dash = await signed_in(open_dashboard, app_server, settings, "#stats")
    page = dash.page
    # no emergency in this scene: the emergency card says so rather than drawing empty axes
    await page.wait_for_selector("[data-testid=stats][data-charts='5']", timeout=TIMEOUT_MS)
    empty = page.locator("[data-testid=chart-emergency]")
    assert await empty.locator("canvas").count() == 0
    assert "No emergencies in this period." in await empty.inner_text()
    stats = await ok(app_server, "GET", "/api/v1/stats?period=month")
    assert (stats["overall"]["domestic"], stats["overall"]["international"]) == (2, 1)
    assert await page.inner_text("[data-testid=stat-intl] .tile-value") == "2 / 1"
    # each chart drew something: its canvas has coloured pixels
    painted = await page.evaluate(
        """() => [...document.querySelectorAll('[data-testid$=-canvas]')].map(c => {
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let n = 0;
             for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
             return [c.dataset.testid, c.width > 0 && n > 500];
           })"""
    )
    assert len(painted) == 5 and all(ok_ for _, ok_ in painted), painted
    assert await page.locator("[data-testid=stats-by-specialty] tbody tr").count() == 1
    await page.screenshot(path=shot("statistics"), full_page=True)
    await axe_check(page, "statistics")
    # the same in Chinese
    await dash.open("?lang=zh#stats")
    await page.wait_for_selector("[data-testid=stats][data-charts='5']", timeout=TIMEOUT_MS)
    assert "按专科" in await page.inner_text("[data-testid=stats]")
    assert "本期间没有急诊。" in await page.inner_text("[data-testid=chart-emergency]")
    await page.screenshot(path=shot("statistics-zh"), full_page=True)
    await axe_check(page, "statistics (zh)")
    assert not dash.page_errors()


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Poll the API (the server publishes no event a test can await for a finished file)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.2)


async def test_lecture_scheduled_held_recorded_and_replayed(
    live_server: ServerHandle,
    settings: Settings,
    open_dashboard: Opener,
    sdk_clients: list[RoomClient],
    media_file: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = live_server
    await seed(server)
    await put_unit(server, "cty-1", "Anda county hospital")
    dash = await signed_in(open_dashboard, server, settings, "#lectures")
    page = dash.page
    form = page.locator("[data-testid=lecture-form]")
    await form.wait_for(timeout=TIMEOUT_MS)
    await axe_check(page, "lectures")
    # in five minutes (centre time): its room is open already (10 minutes' lead)
    start = datetime.now(BEIJING) + timedelta(minutes=5)
    await form.locator("[data-testid=lecture-title]").fill("ECG for village doctors")
    await form.locator("[data-testid=lecture-presenter]").select_option("dr-wang")
    await form.locator("[data-testid=lecture-unit][data-unit-id=vil-1]").check()
    await form.locator("[data-testid=lecture-unit][data-unit-id=cty-1]").check()
    await form.locator("[data-testid=lecture-day]").fill(start.strftime("%Y-%m-%d"))
    await form.locator("[data-testid=lecture-time]").fill(start.strftime("%H:%M"))
    await form.locator("[data-testid=schedule-lecture]").click()
    row = page.locator("[data-testid=lecture-row]")
    await row.wait_for(timeout=TIMEOUT_MS)
    [lecture] = (await ok(server, "GET", "/api/v1/lectures"))["lectures"]
    assert lecture["title"] == "ECG for village doctors"
    assert lecture["audience_unit_ids"] == ["cty-1", "vil-1"]
    assert local(lecture["start"], BEIJING) == start.strftime("%Y-%m-%d %H:%M")
    assert datetime.fromisoformat(lecture["end"]) - datetime.fromisoformat(
        lecture["start"]
    ) == timedelta(hours=1)
    detail = await ok(server, "GET", f"/api/v1/lectures/{lecture['id']}")
    room_id = detail["room"]["room_id"]
    assert (await ok(server, "GET", f"/api/v1/rooms/{room_id}/recording"))["policy"][
        "enabled"
    ] is True

    # held: the presenter publishes; the village clinic's screen watches in the room page and
    # asks a question from the page's chat; the presenter gets it
    links = (await ok(server, "GET", f"/api/v1/lectures/{lecture['id']}/links"))["links"]
    token = {link["identity"]: link["token"] for link in links}
    url = {link["identity"]: link["join_url"] for link in links}
    presenter = RoomClient(server.url, token["dr-wang"], room=room_id)
    sdk_clients.append(presenter)
    await presenter.connect()
    # looped: the lecture goes on while its audience joins. The 12 s file played once could
    # end before a loaded machine's audience page is in; the server then sends the page its
    # last keyframe (media/keyframe_cache.py) and nothing after: a still picture
    await presenter.publish_file(str(media_file), loop=True)
    audience = await open_dashboard(server)
    viewer = audience.page
    await viewer.add_init_script(KEEP_PEER_CONNECTIONS)  # for the failure's report
    caplog.set_level(logging.INFO, logger="media.downstream")  # its layer and pause choices
    await viewer.goto(f"{url['unit-vil-1']}&join=now")
    await viewer.wait_for_function(
        "() => window.vidconsult && window.vidconsult.state === 'joined'", timeout=TIMEOUT_MS
    )
    # the lecture plays in the page: frame after frame (a page's first frame may be the
    # server's kept keyframe, and a still picture's clock runs on with its sound's). Under
    # load (13-28 on 2 cores) CI once saw the first frame 155 ms after the join and not 5
    # in 15 s, a cause not reproduced in 12 runs at load 10-26: a failure says what the page
    # and the server's forwarding knew
    try:
        await viewer.wait_for_function(JS_LECTURE_PLAYS, timeout=TIMEOUT_MS)
    except Exception:  # Playwright's timeout
        report = {
            "state": await viewer.evaluate("window.vidconsult.state"),
            "videos": await viewer.evaluate(JS_VIDEOS),
            "received": await viewer.evaluate(JS_MEDIA_COUNTS),
            "forwarding": [r.getMessage() for r in caplog.records],
            "console": audience.log[-20:],
        }
        raise AssertionError(f"the lecture does not play in the page: {report}") from None
    question = "Is ST elevation in aVR urgent?"
    await viewer.fill("[data-testid=chat-input]", question)
    await viewer.click("[data-testid=chat-send]")
    heard = await presenter.wait_event("chat.message", lambda d: d.get("text") == question)
    assert heard["identity"] == "unit-vil-1"
    mine = viewer.locator("[data-testid=chat-message][data-identity=unit-vil-1]")
    await mine.wait_for(timeout=TIMEOUT_MS)
    assert question in await mine.inner_text()
    # the audience may not publish: its page offers no publish connection to be refused
    assert not [line for line in audience.log if "permission_denied" in line], audience.log
    await viewer.screenshot(path=shot("lecture-room-question"), full_page=True)
    await axe_check(viewer, "lecture room page with a question")
    await wait_until(lambda: _recording_active(server, room_id))
    await row.locator("[data-testid=show-activity]").click()
    activity = row.locator("[data-testid=lecture-activity]")
    await activity.locator("[data-testid=question]").wait_for(timeout=TIMEOUT_MS)
    assert "Is ST elevation in aVR urgent?" in await activity.inner_text()
    assert "1" in await activity.locator("[data-testid=audience-count]").inner_text()
    await page.screenshot(path=shot("lecture-activity"), full_page=True)
    await axe_check(page, "lecture activity")
    # the file's length (what is recorded), not a synchronisation
    await asyncio.sleep(3)
    await ok(server, "DELETE", f"/api/v1/rooms/{room_id}")
    await wait_until(lambda: _completed(server, room_id))

    # the replay library plays it
    library = (await ok(server, "GET", "/api/v1/library"))["lectures"]
    assert [len(e["recordings"]) for e in library] == [1]
    await page.reload()  # the section loads the library afresh
    play = page.locator("[data-testid=library-play]").first
    await play.wait_for(timeout=TIMEOUT_MS)
    await play.click()
    await page.wait_for_function(
        "() => { const v = document.querySelector('[data-testid=library-video]');"
        " return v && v.currentTime > 0.5 && v.videoWidth > 0; }",
        timeout=TIMEOUT_MS,
    )
    await page.screenshot(path=shot("lecture-replay"), full_page=True)
    await axe_check(page, "replay library")
    log = await ok(server, "GET", f"/api/v1/rooms/{room_id}/access-log")
    assert [e["action"] for e in log["entries"]] == ["recording.play"]
    assert not dash.page_errors()

    # the village clinic's doctor watches it from the unit's own workspace
    doctor = await unit_doctor_account(settings)
    unit = await open_dashboard(server)
    await unit.page.goto(f"{server.url}/workspace?lang=zh")
    await unit.sign_in(doctor)
    entry = unit.page.locator(f"[data-testid=library-entry][data-lecture-id='{lecture['id']}']")
    await entry.wait_for(timeout=TIMEOUT_MS)
    assert local(lecture["start"], BEIJING) in await entry.inner_text()
    await entry.locator("[data-testid=library-play]").click()
    await unit.page.wait_for_function(
        "() => { const v = document.querySelector('[data-testid=library-video]');"
        " return v && v.currentTime > 0.5 && v.videoWidth > 0; }",
        timeout=TIMEOUT_MS,
    )
    await unit.page.screenshot(path=shot("unit-library-zh"), full_page=True)
    await axe_check(unit.page, "unit workspace library (zh)")
    log = await ok(server, "GET", f"/api/v1/rooms/{room_id}/access-log")
    assert [(e["actor"], e["action"]) for e in log["entries"]][-1] == (doctor, "recording.play")


async def _recording_active(server: ServerHandle, room_id: str) -> bool:
    status = await ok(server, "GET", f"/api/v1/rooms/{room_id}/recording")
    return bool(status["active"])


async def _completed(server: ServerHandle, room_id: str) -> bool:
    found = (await ok(server, "GET", f"/api/v1/recordings?room_id={room_id}"))["recordings"]
    return bool(found) and all(r["status"] == "completed" for r in found)
