"""The coordinators' dashboard (/dashboard) in headless Chromium against the real server.

A coordinator signs in with a real account, opens a room, mints a join link that a Python SDK
participant then uses, watches that participant (and its mute) appear live, ends the room and
the participant is told; a routine case is created and booked (SLA met, and breached when the
expert is away); an emergency request opens a room with its links at once; a failed sign-in
shows the sentence for the API's code (its own words folded away).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.helpers import ServerHandle
from vidconsult.account_admin import create_account
from vidconsult.client import RoomClient
from vidconsult.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

PASSWORD = "correct horse battery"
CST = ZoneInfo("Asia/Shanghai")
TIMEOUT_MS = 15_000
SCREENSHOT = "/tmp/dashboard.png"


class Dashboard:
    """One coordinator's dashboard page, with its console kept for the failure report."""

    def __init__(self, page: Any, server: ServerHandle) -> None:
        self.page = page
        self.server = server
        self.log: list[str] = []
        page.on("console", lambda m: self.log.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.log.append(f"pageerror: {e}"))

    async def open(self, query: str = "") -> None:
        await self.page.goto(f"{self.server.url}/dashboard{query}")

    async def sign_in(self, username: str, password: str = PASSWORD) -> None:
        await self.page.wait_for_selector("[data-testid=sign-in-form]", timeout=TIMEOUT_MS)
        await self.page.fill("[data-testid=username]", username)
        await self.page.fill("[data-testid=password]", password)
        await self.page.click("[data-testid=sign-in-button]")

    async def signed_in(self) -> str:
        who = self.page.locator("[data-testid=signed-in-as]")
        await who.wait_for(state="visible", timeout=TIMEOUT_MS)
        return await who.inner_text()

    def row(self, room_id: str) -> str:
        return f"[data-testid=room-row][data-room-id='{room_id}']"

    def page_errors(self) -> list[str]:
        return [line for line in self.log if line.startswith("pageerror")]


Opener = Callable[[ServerHandle], Awaitable[Dashboard]]


async def coordinator_account(settings: Settings, username: str = "li.coord") -> str:
    # the CLI's path (vidconsult account create), against the running server's data dir
    await asyncio.to_thread(
        create_account, settings.data_dir, username, "coordinator", PASSWORD, "Li Coordinator"
    )
    return username


async def unit_doctor_account(settings: Settings, unit_id: str = "vil-1") -> str:
    """The village clinic's doctor (``vil.doctor``, Dr Zhao of unit ``unit_id``), made as
    the centre makes it (the CLI's path): signs in to the unit's own workspace."""
    await asyncio.to_thread(
        create_account,
        settings.data_dir,
        "vil.doctor",
        "doctor",
        PASSWORD,
        "Dr Zhao",
        unit_id=unit_id,
    )
    return "vil.doctor"


async def signed_in_dashboard(
    open_dashboard: Opener, server: ServerHandle, username: str, where: str = ""
) -> Dashboard:
    """A dashboard page opened at ``where`` (a query and/or fragment) and signed in as
    ``username`` (an account made before, e.g. by :func:`coordinator_account`)."""
    dash = await open_dashboard(server)
    await dash.open(where)
    await dash.sign_in(username)
    await dash.signed_in()
    return dash


async def ok(
    server: ServerHandle, method: str, path: str, body: Any = None, status: int = 200
) -> Any:
    got, data = await server.api(method, path, body)
    assert got == status, (got, data)
    return data


async def test_rooms_live_join_link_participant_and_end(
    live_server: ServerHandle,
    settings: Settings,
    open_dashboard: Opener,
    sdk_clients: list[RoomClient],
) -> None:
    username = await coordinator_account(settings)
    dash = await open_dashboard(live_server)
    page = dash.page
    await dash.open()
    await dash.sign_in(username)
    assert "Li Coordinator" in await dash.signed_in()
    token = await page.evaluate("sessionStorage.getItem('vidconsult.dashboard.token')")
    assert token and (await live_server.api("GET", "/api/v1/auth/me", token=token))[0] == 200
    await page.wait_for_selector("[data-testid=rooms-empty]", timeout=TIMEOUT_MS)

    # open a room from the UI
    await page.fill("[data-testid=room-name-input]", "Cardiology · Anda County Hospital")
    await page.click("[data-testid=create-room-button]")
    row = page.locator("[data-testid=room-row]", has_text="Cardiology · Anda County Hospital")
    await row.wait_for(timeout=TIMEOUT_MS)
    room_id = await row.get_attribute("data-room-id")
    room = await ok(live_server, "GET", f"/api/v1/rooms/{room_id}")
    assert room["status"] == "open" and room["name"] == "Cardiology · Anda County Hospital"

    # a join link for a village kiosk, minted from the UI (the invite panel opened by itself)
    await page.fill("[data-testid=invite-identity]", "kiosk-vil-1")
    await page.fill("[data-testid=invite-name]", "Village kiosk")
    await page.select_option("[data-testid=invite-role]", "patient")
    await page.click("[data-testid=mint-link-button]")
    link = page.locator("[data-testid=invite-panel] [data-testid=join-link]")
    await link.wait_for(timeout=TIMEOUT_MS)
    join_url = await link.input_value()
    parts = urlsplit(join_url)
    assert f"{parts.scheme}://{parts.netloc}" == live_server.url
    assert parts.path == f"/room/{room_id}" and parts.fragment.startswith("token=")
    kiosk_token = parts.fragment.removeprefix("token=")
    claims = live_server.signer.verify(kiosk_token)
    assert (claims.room, claims.identity, claims.role.value, claims.name) == (
        room_id,
        "kiosk-vil-1",
        "patient",
        "Village kiosk",
    )
    status, html = await live_server.api("GET", parts.path, token="")
    assert status == 200 and "room.js" in html

    # the SDK participant joins with that link's token: it shows up live, with its tracks
    kiosk = RoomClient(live_server.url, kiosk_token, room=room_id)
    sdk_clients.append(kiosk)
    await kiosk.connect()
    await kiosk.publish(VideoStreamTrack(), AudioStreamTrack())
    participant = f"{dash.row(room_id)} [data-testid=participant][data-identity='kiosk-vil-1']"
    await page.wait_for_selector(participant, timeout=TIMEOUT_MS)
    for kind in ("audio", "video"):
        await page.wait_for_selector(
            f"{participant} [data-testid=track][data-kind={kind}][data-muted=false]",
            timeout=TIMEOUT_MS,
        )
    assert "Village kiosk" in await page.locator(participant).inner_text()

    # its mute shows too
    room = await ok(live_server, "GET", f"/api/v1/rooms/{room_id}")
    (audio_sid,) = [
        t["sid"] for p in room["participants"] for t in p["tracks"] if t["kind"] == "audio"
    ]
    await kiosk.set_muted(audio_sid, True)
    await page.wait_for_selector(
        f"{participant} [data-testid=track][data-kind=audio][data-muted=true]", timeout=TIMEOUT_MS
    )
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=SCREENSHOT)

    # ending asks first; cancelling keeps the room
    end = page.locator(f"{dash.row(room_id)} [data-testid=end-room-button]")
    await end.click()
    await page.wait_for_selector("[data-testid=confirm-dialog][open]", timeout=TIMEOUT_MS)
    await page.click("[data-testid=confirm-cancel]")
    await page.wait_for_selector("[data-testid=confirm-dialog]", state="hidden")
    assert (await ok(live_server, "GET", f"/api/v1/rooms/{room_id}"))["status"] == "open"
    await end.click()
    await page.click("[data-testid=confirm-ok]")
    await page.wait_for_selector(dash.row(room_id), state="detached", timeout=TIMEOUT_MS)
    ended = await kiosk.wait_event("room.ended")
    assert "ended" in ended["reason"]
    await asyncio.wait_for(kiosk.disconnected.wait(), 15)
    assert (await ok(live_server, "GET", f"/api/v1/rooms/{room_id}"))["status"] == "ended"

    # signing out forgets the token
    await page.click("[data-testid=sign-out-button]")
    await page.wait_for_selector("[data-testid=sign-in-form]", timeout=TIMEOUT_MS)
    assert await page.evaluate("sessionStorage.getItem('vidconsult.dashboard.token')") is None
    assert not dash.page_errors()


async def test_failed_sign_in_shows_the_sentence_for_the_code(
    app_server: ServerHandle,
    settings: Settings,
    open_dashboard: Opener,
) -> None:
    username = await coordinator_account(settings)
    dash = await open_dashboard(app_server)
    page = dash.page
    await dash.open()
    await dash.sign_in(username, "not the password at all")
    error = page.locator("[data-testid=sign-in-error]")
    await page.wait_for_selector("[data-testid=sign-in-error]:not(:empty)", timeout=TIMEOUT_MS)
    # the sentence of the page's table for the code the API gives for a wrong password; the
    # API's own words only under the folded-away details
    status, body = await app_server.api(
        "POST", "/api/v1/auth/login", {"username": username, "password": "wrong again!!"}, token=""
    )
    assert status == 401 and body["error"]["code"] == "invalid_credentials"
    sentence = await page.evaluate(
        "async () => (await import('/static/i18n.js')).STRINGS.en.errors.invalid_credentials"
    )
    assert await error.locator("[data-testid=error-text]").inner_text() == sentence
    assert await error.get_attribute("data-code") == "invalid_credentials"
    details = error.locator("[data-testid=error-details]")
    assert await details.get_attribute("open") is None
    assert await details.locator("span").text_content() == body["error"]["message"]
    assert await page.locator("[data-testid=signed-in-as]").is_hidden()

    # a pasted token that is not a coordinator's is refused; a coordinator's is taken
    await page.click("[data-testid=token-toggle]")
    await page.fill("[data-testid=token-input]", app_server.mint("dr-wang", "expert"))
    await page.click("[data-testid=use-token-button]")
    await page.wait_for_function(
        # a function, not an expression: Playwright evaluates an expression with eval(),
        # which the page's CSP (no 'unsafe-eval') refuses
        "() => document.querySelector('[data-testid=sign-in-error]').textContent"
        ".includes('expert')",
        timeout=TIMEOUT_MS,
    )
    await page.fill("[data-testid=token-input]", app_server.coordinator_token)
    await page.click("[data-testid=use-token-button]")
    assert "coordinator" in await dash.signed_in()
    assert not dash.page_errors()


async def test_chinese_ui(app_server: ServerHandle, open_dashboard: Opener) -> None:
    dash = await open_dashboard(app_server)
    await dash.open("?lang=zh")
    await dash.page.wait_for_selector("[data-testid=sign-in-form]", timeout=TIMEOUT_MS)
    assert await dash.page.locator("#sign-in-heading").inner_text() == "登录"
    assert await dash.page.evaluate("document.documentElement.lang") == "zh-CN"
    # the landing page links to the dashboard
    status, html = await app_server.api("GET", "/", token="")
    assert status == 200 and 'href="/dashboard"' in html


async def seed_directory(server: ServerHandle) -> None:
    """A village unit; a cardiologist on shift every day; a neurologist away for 10 days."""
    await ok(
        server,
        "POST",
        "/api/v1/units",
        {
            "id": "vil-1",
            "name": "Xiaohe village clinic",
            "tier": "village",
            "consult_rooms": ["first-consult room"],
        },
        201,
    )
    every_day = [{"weekday": d, "start": "00:00", "end": "23:30"} for d in range(7)]
    for expert_id, name, specialty in (
        ("dr-wang", "Prof. Wang Li", "cardiology"),
        ("dr-zhou", "Prof. Zhou Min", "neurology"),
    ):
        await ok(
            server,
            "POST",
            "/api/v1/experts",
            {
                "id": expert_id,
                "name": name,
                "institution": {"id": "pumch", "name": "PUMCH", "kind": "domestic"},
                "specialties": [specialty],
                "languages": ["zh"],
                "time_zone": "Asia/Shanghai",
            },
            201,
        )
    now = datetime.now(UTC)
    await ok(server, "PUT", "/api/v1/experts/dr-wang/roster", {"shifts": every_day})
    await ok(
        server,
        "PUT",
        "/api/v1/experts/dr-zhou/roster",
        {
            "shifts": every_day,
            "leave": [
                {
                    "start": (now - timedelta(hours=1)).isoformat(),
                    "end": (now + timedelta(days=10)).isoformat(),
                    "reason": "congress",
                }
            ],
        },
    )


def centre_minutes(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(CST).strftime("%Y-%m-%d %H:%M")


async def test_case_created_and_booked_with_sla_badge(
    app_server: ServerHandle,
    settings: Settings,
    open_dashboard: Opener,
) -> None:
    await seed_directory(app_server)
    username = await coordinator_account(settings)
    dash = await signed_in_dashboard(open_dashboard, app_server, username, "#cases")
    page = dash.page
    await page.wait_for_selector("[data-testid=cases-empty]", timeout=TIMEOUT_MS)

    # a routine case from the form, booked at its earliest slot: within the SLA
    form = "[data-testid=new-case-form]"
    await page.wait_for_selector(
        f"{form} [data-testid=case-unit] option[value=vil-1]", state="attached", timeout=TIMEOUT_MS
    )
    await page.fill(f"{form} [data-testid=case-patient-name]", "Zhang San")
    await page.select_option(f"{form} [data-testid=case-sex]", "male")
    await page.fill(f"{form} [data-testid=case-age]", "35")
    await page.select_option(f"{form} [data-testid=case-unit]", "vil-1")
    await page.fill(f"{form} [data-testid=case-doctor]", "Dr Zhao")
    await page.select_option(f"{form} [data-testid=case-specialty]", "cardiology")
    await page.fill(f"{form} [data-testid=case-summary]", "chest pain for two weeks")
    await page.click("[data-testid=create-case-button]")
    created = page.locator("[data-testid=case-created]")
    await created.wait_for(timeout=TIMEOUT_MS)
    case_id = await created.get_attribute("data-case-id")
    case = await ok(app_server, "GET", f"/api/v1/cases/{case_id}")
    assert (
        case["status"],
        case["patient"]["name"],
        case["patient"]["age_years"],
        case["specialty"],
        case["referring_unit_id"],
    ) == ("requested", "Zhang San", 35, "cardiology", "vil-1")
    await page.wait_for_selector(
        f"[data-testid=case-row][data-case-id='{case_id}']", timeout=TIMEOUT_MS
    )

    await page.click("[data-testid=new-case-result] [data-testid=book-button]")
    result = page.locator("[data-testid=new-case-result] [data-testid=booking-result]")
    await result.wait_for(timeout=TIMEOUT_MS)
    case = await ok(app_server, "GET", f"/api/v1/cases/{case_id}")
    assert case["status"] == "scheduled" and case["sla_breach"] is False
    assert await result.locator("[data-testid=booked-expert]").inner_text() == "Prof. Wang Li"
    start_text = await result.locator("[data-testid=booked-start]").inner_text()
    assert centre_minutes(case["scheduled_start"]) in start_text and "UTC+8" in start_text
    assert "CST" not in await page.inner_text("body")  # an abbreviation US readers misread
    assert await result.locator("[data-testid=sla-badge]").get_attribute("data-sla") == "met"
    # the list follows
    await page.wait_for_selector(
        f"[data-testid=case-row][data-case-id='{case_id}'][data-status=scheduled] "
        "[data-testid=sla-badge][data-sla=met]",
        timeout=TIMEOUT_MS,
    )

    # a neurology case: its only expert is away, so the earliest slot misses the deadline
    neuro = await ok(
        app_server,
        "POST",
        "/api/v1/cases",
        {
            "patient": {"name": "Wang Fang", "sex": "female", "age_years": 61},
            "referring_unit_id": "vil-1",
            "referring_doctor": "Dr Zhao",
            "specialty": "neurology",
            "clinical_summary": "recurrent dizziness",
        },
        201,
    )
    await page.click("[data-testid=cases-refresh]")
    await page.click(f"[data-testid=case-row][data-case-id='{neuro['id']}'] a")
    detail = page.locator(f"[data-testid=case-detail][data-case-id='{neuro['id']}']")
    await detail.locator("[data-testid=book-button]").click()
    await page.wait_for_selector(
        f"[data-testid=case-detail][data-case-id='{neuro['id']}'][data-status=scheduled]",
        timeout=TIMEOUT_MS,
    )
    booking = detail.locator("[data-testid=case-booking]")
    assert await booking.locator("[data-testid=sla-badge]").get_attribute("data-sla") == "breach"
    assert "Prof. Zhou Min" in await booking.inner_text()
    # the booked room's state and attendance in words, not the codes "scheduled" / "pending"
    booked_text = await booking.inner_text()
    assert "Room state\nnot open yet · Attendance: not yet known" in booked_text, booked_text
    assert "pending" not in booked_text
    neuro = await ok(app_server, "GET", f"/api/v1/cases/{neuro['id']}")
    assert neuro["sla_breach"] is True
    assert centre_minutes(neuro["scheduled_start"]) in await booking.inner_text()
    # the audit trail shows the booking
    assert await detail.locator("[data-testid=audit-row]").count() == len(neuro["audit"]) >= 2
    # in words: no booking id nor a list's brackets in its note
    booked_row = detail.locator("[data-testid=audit-row]").nth(1)
    assert await booked_row.locator("td.note").inner_text() == "bookings made: 1"
    # and the filters narrow the list
    await page.click("[data-testid=nav-cases]")
    await page.wait_for_selector("[data-testid=case-row]", timeout=TIMEOUT_MS)
    assert await page.locator("[data-testid=case-row]").count() == 2
    await page.select_option("[data-testid=filter-specialty]", "neurology")
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=case-row]').length === 1",
        timeout=TIMEOUT_MS,
    )
    assert await page.locator("[data-testid=case-row]").get_attribute("data-case-id") == neuro["id"]
    assert not dash.page_errors()


async def test_emergency_request_opens_a_room_with_links(
    app_server: ServerHandle,
    settings: Settings,
    open_dashboard: Opener,
) -> None:
    await seed_directory(app_server)
    # the cardiology rota covers every minute of the week: two overlapping slots a day
    slots = [
        {"expert_id": "dr-wang", "weekday": d, "start": s, "end": e}
        for d in range(7)
        for s, e in (("00:00", "23:59"), ("12:00", "11:59"))
    ]
    await ok(app_server, "PUT", "/api/v1/rota/cardiology", {"slots": slots})
    dash = await open_dashboard(app_server)
    page = dash.page
    await dash.open("#cases")
    await page.click("[data-testid=token-toggle]")
    await page.fill("[data-testid=token-input]", app_server.coordinator_token)
    await page.click("[data-testid=use-token-button]")
    await page.wait_for_selector(
        "[data-testid=emergency-form] [data-testid=emergency-unit] option[value=vil-1]",
        state="attached",
        timeout=TIMEOUT_MS,
    )
    await page.select_option("[data-testid=emergency-unit]", "vil-1")
    await page.select_option("[data-testid=emergency-specialty]", "cardiology")
    await page.fill("[data-testid=emergency-age]", "35")
    await page.click("[data-testid=emergency-button]")
    opened = page.locator("[data-testid=emergency-opened]")
    await page.wait_for_selector(
        "[data-testid=emergency-opened], [data-testid=emergency-error]:not(:empty)",
        timeout=TIMEOUT_MS,
    )
    assert await page.locator("[data-testid=emergency-error]").inner_text() == ""
    room_id = await opened.get_attribute("data-room-id")
    room = await ok(app_server, "GET", f"/api/v1/rooms/{room_id}")
    assert room["status"] == "open" and room["kind"] == "emergency"
    assert "Prof. Wang Li" in await opened.inner_text()
    links = [await el.input_value() for el in await opened.locator("[data-testid=join-link]").all()]
    assert len(links) == 2
    for url in links:
        assert urlsplit(url).path == f"/room/{room_id}"
        token = urlsplit(url).fragment.removeprefix("token=")
        assert app_server.signer.verify(token).room == room_id
    # and the room is in the live list
    await page.click("[data-testid=nav-rooms]")
    await page.wait_for_selector(
        f"[data-testid=room-row][data-room-id='{room_id}']", timeout=TIMEOUT_MS
    )
    assert not dash.page_errors()
