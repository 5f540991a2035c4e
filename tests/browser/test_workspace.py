"""The people around the room, in headless Chromium against the real server (real media):

- a village unit's doctor files an emergency from the unit's page; the on-duty expert's open
  workspace rings (alert, bell, desktop notification) within 2 s; Accept lands the expert in
  the room, joined, where the unit's video plays (and the expert's plays at the unit);
- a second emergency left unanswered pages the backup on the rota after the configured time
  (short here); the backup answers; the case's audit trail (the coordinators' dashboard) shows
  both pages and the answer, with times; the paging board shows elapsed time and who answered;
- the expert files the report and a referral from the workspace and the unit sees it.

Both languages, axe-core (0 serious/critical) on every page shown, screenshots in /tmp.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser.axe import serious_violations
from tests.browser.conftest import csp_violations
from tests.browser.test_dashboard import PASSWORD, unit_doctor_account
from tests.conftest import _serve
from tests.helpers import ServerHandle
from vidconsult.account_admin import create_account
from vidconsult.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

TIMEOUT_MS = 15_000
MEDIA_TIMEOUT_MS = 30_000
ANSWER_SECONDS = 4.0
SHOT = "/tmp/workspace-{}.png"
CST = ZoneInfo("Asia/Shanghai")
JS_PLAYING = """(identity) => {
  const v = document.querySelector(`video[data-identity="${identity}"]`);
  return !!v && v.videoWidth > 0 && v.currentTime > 0.3;
}"""
# counts desktop notifications the page raises (the browser's own would need a display)
COUNT_NOTIFICATIONS = """
(() => {
  window.__notifications = [];
  const Real = window.Notification;
  if (!Real) return;
  class Counting extends Real {
    constructor(title, options) { super(title, options); window.__notifications.push(title); }
  }
  Object.defineProperty(Counting, "permission", { get: () => Real.permission });
  Counting.requestPermission = Real.requestPermission.bind(Real);
  window.Notification = Counting;
})();
"""


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[ServerHandle]:
    tuned = settings.model_copy(
        update={"paging_answer_seconds": ANSWER_SECONDS, "paging_interval": 0.2}
    )
    async for handle in _serve(tuned):
        yield handle


class Tab:
    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name
        self.log: list[str] = []
        page.on("console", lambda m: self.log.append(f"[{name}] {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.log.append(f"[{name}] pageerror: {e}"))
        page.on(
            "response",
            lambda r: (
                self.log.append(f"[{name}] http {r.status} {r.url}") if r.status >= 400 else None
            ),
        )

    async def axe_clean(self) -> None:
        assert await serious_violations(self.page) == [], self.name

    async def shot(self, what: str, full: bool = True) -> None:
        await self.page.screenshot(path=SHOT.format(what), full_page=full)


@pytest.fixture
async def tabs(browser: Any) -> AsyncIterator[Any]:
    opened: list[Tab] = []

    async def open_tab(name: str, url: str) -> Tab:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 900},
            permissions=["camera", "microphone", "notifications"],
        )
        await context.add_init_script(COUNT_NOTIFICATIONS)
        tab = Tab(await context.new_page(), name)
        opened.append(tab)
        await tab.page.goto(url)
        return tab

    yield open_tab
    for tab in opened:
        print("\n".join(tab.log[-40:]))
        await tab.page.context.close()
    # every page ran under its Content-Security-Policy: nothing was refused
    assert csp_violations([line for tab in opened for line in tab.log]) == []
    assert [line for tab in opened for line in tab.log if "pageerror" in line] == []


async def ok(server: ServerHandle, method: str, path: str, body: Any = None, status: int = 200):
    got, data = await server.api(method, path, body)
    assert got == status, (got, data)
    return data


async def seed(server: ServerHandle, settings: Settings) -> None:
    await ok(
        server,
        "POST",
        "/api/v1/units",
        {
            "id": "vil-1",
            "name": "Xiaoshan Village Clinic",
            "tier": "village",
            "consult_rooms": ["consult room 1"],
        },
        status=201,
    )
    for expert_id, name in (("zhou", "Dr Zhou Wei"), ("wang", "Dr Wang Fang")):
        await ok(
            server,
            "POST",
            "/api/v1/experts",
            {
                "id": expert_id,
                "name": name,
                "institution": {"id": "pumch", "name": "PUMCH", "kind": "domestic"},
                "specialties": ["cardiology"],
                "languages": ["zh", "en"],
                "time_zone": "Asia/Shanghai",
            },
            status=201,
        )
    # zhou on duty, wang the backup (rota order), in a weekly slot around now (centre time)
    await ok(server, "PUT", "/api/v1/rota/cardiology", {"slots": duty_slots(["zhou", "wang"])})
    for username, role, name, kw in (
        ("zhou", "expert", "Dr Zhou Wei", {"phone": "+86 138 0000 0001"}),
        ("wang", "expert", "Dr Wang Fang", {"phone": "+86 138 0000 0002"}),
        ("vil.doctor", "doctor", "Dr Zhao (village)", {"unit_id": "vil-1"}),
        ("li.coord", "coordinator", "Li Coordinator", {}),
    ):
        await asyncio.to_thread(
            create_account, settings.data_dir, username, role, PASSWORD, name, **kw
        )


def duty_slots(expert_ids: list[str]) -> list[dict[str, Any]]:
    """Weekly duty slots from an hour ago to three hours on, in the centre's zone."""
    now = datetime.now(CST)
    start, end = now - timedelta(hours=1), now + timedelta(hours=3)
    return [
        {
            "expert_id": expert_id,
            "weekday": start.weekday(),
            "start": start.strftime("%H:%M"),
            "end": end.strftime("%H:%M"),
            "time_zone": "Asia/Shanghai",
        }
        for expert_id in expert_ids
    ]


async def sign_in(tab: Tab, username: str) -> None:
    page = tab.page
    await page.wait_for_selector("[data-testid=sign-in-form]", timeout=TIMEOUT_MS)
    await page.fill("[data-testid=username]", username)
    await page.fill("[data-testid=password]", PASSWORD)
    await page.click("[data-testid=sign-in-button]")
    await page.locator("[data-testid=signed-in-as]").wait_for(timeout=TIMEOUT_MS)


async def expert_ready(tab: Tab) -> None:
    await tab.page.wait_for_selector("body[data-channel=up]", timeout=TIMEOUT_MS)


async def expert_on_duty(
    server: ServerHandle, settings: Settings, tabs: Any, lang: str, username: str = "zhou"
) -> Tab:
    """The seeded centre with ``username``'s workspace open in ``lang``, signed in and
    ready for pages (the paging tests' opening scene)."""
    await seed(server, settings)
    tab: Tab = await tabs(username, f"{server.url}/workspace?lang={lang}")
    await sign_in(tab, username)
    await expert_ready(tab)
    return tab


async def serve_paging(settings: Settings, answer_seconds: int) -> AsyncIterator[ServerHandle]:
    """A server whose pages do not move on by themselves during a test (the paging tick once
    an hour; ``answer_seconds`` before a page would escalate)."""
    tuned = settings.model_copy(
        update={"paging_answer_seconds": answer_seconds, "paging_interval": 3600}
    )
    async for handle in _serve(tuned):
        yield handle


async def file_emergency(unit: Tab, patient: str) -> float:
    page = unit.page
    await page.check("[data-testid=kind-emergency]")
    await page.fill("[data-testid=patient-name]", patient)
    await page.fill("[data-testid=patient-age]", "67")
    await page.select_option("[data-testid=patient-sex]", "male")
    await page.fill(
        "[data-testid=clinical-summary]",
        "Crushing chest pain for 40 minutes, ST elevation II III aVF",
    )
    started = time.monotonic()
    await page.evaluate("window.__clickedAt = Date.now()")
    await page.click("[data-testid=file-button]")
    return started


async def test_emergency_paging_workspace_and_unit(
    server: ServerHandle, settings: Settings, tabs: Any
) -> None:
    await seed(server, settings)
    zhou = await tabs("zhou", f"{server.url}/workspace?lang=en")
    await sign_in(zhou, "zhou")
    await expert_ready(zhou)
    await zhou.page.wait_for_selector("[data-testid=consultations]", timeout=TIMEOUT_MS)
    await zhou.axe_clean()
    await zhou.shot("expert-idle")

    unit = await tabs("unit", f"{server.url}/workspace?lang=zh")
    await sign_in(unit, "vil.doctor")
    await unit.page.wait_for_selector("[data-testid=file-form]", timeout=TIMEOUT_MS)
    assert "新申请" in await unit.page.inner_text("body")  # zh-CN strings
    await unit.axe_clean()
    await unit.shot("unit-form-zh")

    # 1. the unit files an emergency: the on-duty expert's workspace rings within 2 s
    started = await file_emergency(unit, "Zhang San")
    alert = zhou.page.locator("[data-testid=page-alert]")
    await alert.wait_for(timeout=TIMEOUT_MS)
    rang_after = time.monotonic() - started
    clicked = await unit.page.evaluate("window.__clickedAt")
    rang = await zhou.page.evaluate("Object.values(window.vidconsultWorkspace.ringAt)[0]")
    print(
        f"emergency click -> ring: {rang_after * 1000:.0f} ms (test), {rang - clicked} ms (pages)"
    )
    assert rang_after < 2.0, rang_after
    assert "Emergency" in await alert.inner_text() and "Xiaoshan" in await alert.inner_text()
    assert await zhou.page.evaluate("window.vidconsultWorkspace.rings") >= 1  # the bell
    assert await zhou.page.evaluate("window.__notifications") == ["Emergency consultation"]
    await zhou.axe_clean()
    await zhou.shot("expert-ringing")
    join = unit.page.locator("[data-testid=emergency-join]")
    await join.wait_for(timeout=TIMEOUT_MS)
    case1 = await join.get_attribute("data-case-id")
    room1 = await join.get_attribute("data-room-id")
    await unit.shot("unit-emergency-filed-zh")

    # the unit joins its room; the expert's Accept lands them in it, joined: video both ways
    await join.click()
    await unit.page.wait_for_url(f"**/room/{room1}*", timeout=TIMEOUT_MS)
    await zhou.page.click("[data-testid=page-accept]")
    await zhou.page.wait_for_url(f"**/room/{room1}*", timeout=TIMEOUT_MS)
    await zhou.page.wait_for_function(JS_PLAYING, arg="unit-vil-1", timeout=MEDIA_TIMEOUT_MS)
    await unit.page.wait_for_function(JS_PLAYING, arg="zhou", timeout=MEDIA_TIMEOUT_MS)
    await zhou.shot("expert-in-room")

    # 2. a second emergency nobody answers: the backup is paged after the configured time
    wang = await tabs("wang", f"{server.url}/workspace?lang=en")
    await sign_in(wang, "wang")
    await expert_ready(wang)
    await unit.page.goto(f"{server.url}/workspace?lang=zh")
    await unit.page.wait_for_selector("[data-testid=file-form]", timeout=TIMEOUT_MS)
    started = await file_emergency(unit, "Li Si")
    join = unit.page.locator("[data-testid=emergency-join]")
    await join.wait_for(timeout=TIMEOUT_MS)
    case2 = await join.get_attribute("data-case-id")
    backup_alert = wang.page.locator("[data-testid=page-alert]")
    await backup_alert.wait_for(timeout=TIMEOUT_MS)
    waited = time.monotonic() - started
    assert ANSWER_SECONDS - 0.5 <= waited < ANSWER_SECONDS + 2.0, waited
    assert "Step 2" in await backup_alert.inner_text()
    await wang.shot("backup-ringing")
    await wang.page.click("[data-testid=page-accept]")
    await wang.page.wait_for_url("**/room/**", timeout=TIMEOUT_MS)

    # the audit trail, as the coordinator reads it on the dashboard: both pages and the answer
    coord = await tabs("coordinator", f"{server.url}/dashboard?lang=en")
    await coord.page.wait_for_selector("[data-testid=sign-in-form]", timeout=TIMEOUT_MS)
    await coord.page.fill("[data-testid=username]", "li.coord")
    await coord.page.fill("[data-testid=password]", PASSWORD)
    await coord.page.click("[data-testid=sign-in-button]")
    await coord.page.locator("[data-testid=signed-in-as]").wait_for(timeout=TIMEOUT_MS)
    await coord.page.goto(f"{server.url}/dashboard?lang=en#cases/{case2}")
    trail = coord.page.locator("table", has_text="page accepted")
    await trail.wait_for(timeout=TIMEOUT_MS)
    text = await trail.inner_text()
    assert text.count("paged") >= 2 and "page not answered in time" in text
    assert "expert zhou" in text and "expert wang" in text and "page accepted" in text
    await coord.shot("coordinator-audit")
    case = await ok(server, "GET", f"/api/v1/cases/{case2}")
    pages = [row for row in case["audit"] if row["action"].startswith("page.")]
    assert [row["action"] for row in pages] == [
        "page.sent",
        "page.unanswered",
        "page.sent",
        "page.accepted",
        "page.cancelled",
    ]
    assert pages[3]["actor"] == "wang"
    sent_at = [datetime.fromisoformat(row["at"]) for row in pages if row["action"] == "page.sent"]
    assert sent_at[1] - sent_at[0] >= timedelta(seconds=ANSWER_SECONDS)
    # the board: elapsed time, who was paged, who answered
    await coord.page.goto(f"{server.url}/dashboard?lang=en#emergencies")
    row = coord.page.locator(f"[data-testid=paging-row][data-case-id='{case2}']")
    await row.wait_for(timeout=TIMEOUT_MS)
    assert "wang" in await row.locator("[data-testid=paging-answered]").inner_text()
    steps = await row.locator("[data-testid=paging-steps] li").all_inner_texts()
    assert steps[0].startswith("zhou") and steps[1].startswith("wang")
    assert await coord.page.locator("[data-testid=paging-row]").count() == 2
    await coord.axe_clean()
    await coord.shot("coordinator-board")

    # 3. the expert files the report and a referral from the workspace; the unit sees it
    await zhou.page.goto(f"{server.url}/workspace?lang=en")
    row1 = zhou.page.locator(f"[data-testid=consultation-row][data-case-id='{case1}']")
    await row1.wait_for(timeout=TIMEOUT_MS)
    # my time, the unit's and the centre's (one zone here, so one line naming all three)
    times = await row1.locator("[data-testid~=time-mine]").inner_text()
    assert "UTC+8 · China Standard Time" in times and "CST" not in times
    assert "Asia/Shanghai" not in times
    assert "Your time" in times and "Unit’s time" in times and "Centre time" in times
    await row1.locator("[data-testid=details-button]").click()
    form = zhou.page.locator("[data-testid=report-form]")
    await form.wait_for(timeout=TIMEOUT_MS)
    await form.locator("[data-testid=report-diagnosis-input]").fill("Acute inferior STEMI")
    await form.locator("[data-testid=report-plan-input]").fill("Aspirin 300 mg; transfer for PCI")
    await form.locator("[data-testid=referral-toggle]").check()
    await form.locator("[data-testid=referral-hospital]").fill("Anda City Hospital")
    await form.locator("[data-testid=referral-department]").fill("Cardiology")
    await form.locator("[data-testid=referral-priority]").select_option("emergency")
    await form.locator("[data-testid=referral-green]").check()
    await form.locator("[data-testid=referral-reason]").fill("primary PCI")
    await zhou.axe_clean()
    await zhou.shot("expert-report-form")
    await form.locator("[data-testid=submit-report]").click()
    await zhou.page.wait_for_selector(
        f"[data-testid=consultation-row][data-case-id='{case1}'] [data-testid=case-status]"
        ":has-text('completed')",
        timeout=TIMEOUT_MS,
    )
    done = await ok(server, "GET", f"/api/v1/cases/{case1}")
    assert done["report"]["signed_by"] == "zhou" and done["referral"]["green_channel"] is True

    await unit.page.goto(f"{server.url}/workspace?lang=zh")
    urow = unit.page.locator(f"[data-testid=unit-case-row][data-case-id='{case1}']")
    await urow.wait_for(timeout=TIMEOUT_MS)
    await urow.locator("[data-testid=details-button]").click()
    report = unit.page.locator("[data-testid=report]")
    await report.wait_for(timeout=TIMEOUT_MS)
    assert "Acute inferior STEMI" in await report.inner_text()
    referral = await report.locator("[data-testid=report-referral]").inner_text()
    assert "Anda City Hospital" in referral and "绿色通道" in referral
    await unit.axe_clean()
    await unit.shot("unit-report-zh")


async def test_front_page_leads_experts_and_units_to_their_workspace(
    app_server: ServerHandle, tabs: Any
) -> None:
    """The front page links the workspace (experts, unit doctors), in both languages, not
    only the coordinators' dashboard: a village doctor who types the server's address finds
    where to sign in."""
    front = await tabs("front", f"{app_server.url}/")
    await front.axe_clean()
    await front.page.click("[data-testid=index-workspace-zh]")
    await front.page.wait_for_selector("[data-testid=sign-in-form]", timeout=TIMEOUT_MS)
    assert front.page.url.endswith("/workspace?lang=zh")
    assert "专家和成员单位医生请使用中心分配的账号登录" in await front.page.inner_text("body")


async def test_reload_while_the_server_is_unreachable_keeps_the_session(
    app_server: ServerHandle, settings: Settings, tabs: Any
) -> None:
    """A unit doctor's workspace reloaded while the server does not answer says so and keeps
    the session (no password asked): when the server answers again the workspace comes back
    by itself. A refused session still asks to sign in (test_dashboard's sign-in tests)."""
    await ok(
        app_server,
        "POST",
        "/api/v1/units",
        {"id": "vil-1", "name": "Xiaoshan Village Clinic", "tier": "village"},
        status=201,
    )
    doctor = await unit_doctor_account(settings)
    tab: Tab = await tabs("unit", f"{app_server.url}/workspace?lang=zh")
    await sign_in(tab, doctor)
    await tab.page.route("**/api/v1/**", lambda route: route.abort())
    await tab.page.reload()
    notice = tab.page.locator("[data-testid=notice]")
    await notice.wait_for(timeout=TIMEOUT_MS)
    assert await notice.inner_text() == "暂时无法连接服务器。您仍处于登录状态，页面会自动重试。"
    assert await tab.page.locator("[data-testid=sign-in-form]").count() == 0
    await tab.shot("unit-unreachable-zh")
    await tab.page.unroute("**/api/v1/**")
    await tab.page.locator("[data-testid=signed-in-as]").wait_for(timeout=TIMEOUT_MS)
    assert "Dr Zhao" in await tab.page.locator("[data-testid=signed-in-as]").inner_text()
    assert await notice.is_hidden()
