"""Refusals on the coordinators' dashboard read in the person's language, in headless Chromium
(zh-CN locale) against the real server: a booking that someone else took meanwhile (409
double booking), a specialty code the server does not accept (400), a session ended by the
account being disabled (401) and its sign-in then refused (403). Each shows the sentence of
the one table (web/static/i18n.js ``errors``) for the server's code, never the code or the
server's English reason; the reason stays folded away in a disclosure for support, and opens
on demand. Every state is checked with axe-core and screenshotted
(/tmp/vidconsult-error-shots)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import csp_violations
from tests.browser.test_dashboard import PASSWORD, TIMEOUT_MS, Dashboard, coordinator_account, ok
from tests.browser.test_dashboard_coordinator import axe_check, new_case, seed
from tests.helpers import ServerHandle
from vidconsult.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

SHOTS = Path("/tmp/vidconsult-error-shots")


def shot(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / f"{name}.png")


@pytest.fixture
async def zh_dashboard(browser: Any, app_server: ServerHandle) -> AsyncIterator[Dashboard]:
    """A signed-out dashboard page of a browser whose language is Simplified Chinese."""
    context = await browser.new_context(
        locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 1280, "height": 900}
    )
    dash = Dashboard(await context.new_page(), app_server)
    yield dash
    print("\n".join(dash.log[-60:]))
    await context.close()
    assert csp_violations(dash.log) == []


async def zh_errors(page: Any) -> dict[str, str]:
    table: dict[str, str] = await page.evaluate(
        "async () => (await import('/static/i18n.js')).STRINGS.zh.errors"
    )
    return table


async def assert_refusal_in_chinese(page: Any, error: Any, code: str, reason: str) -> None:
    """`error` (the form's error line) shows the Chinese sentence for `code`: not the code, not
    the server's `reason`; the reason is in the closed disclosure only."""
    await error.locator("[data-testid=error-text]").wait_for(timeout=TIMEOUT_MS)
    assert await error.get_attribute("data-code") == code
    assert await error.get_attribute("data-tone") is None  # red, not the muted info tone
    sentence = (await zh_errors(page))[code]
    assert await error.locator("[data-testid=error-text]").inner_text() == sentence
    shown = await error.inner_text()  # what is rendered: a closed <details> shows its summary
    assert code not in shown and reason not in shown, shown
    visible = await page.locator("body").inner_text()
    assert code not in visible and reason not in visible
    details = error.locator("[data-testid=error-details]")
    assert await details.get_attribute("open") is None
    assert await details.locator("span").text_content() == reason


async def test_refusals_read_in_chinese(
    app_server: ServerHandle, settings: Settings, zh_dashboard: Dashboard
) -> None:
    dash, page = zh_dashboard, zh_dashboard.page
    await seed(app_server)
    case = await new_case(app_server)
    other = await new_case(app_server)
    username = await coordinator_account(settings)
    await dash.open(f"#cases/{case['id']}")
    await dash.sign_in(username)
    await dash.signed_in()
    assert await page.evaluate("document.documentElement.lang") == "zh-CN"

    # 1. a booking conflict: the picker offered a slot that another case took meanwhile
    detail = page.locator(f"[data-testid=case-detail][data-case-id='{case['id']}']")
    await detail.locator("[data-testid=choose-slot] summary").click()
    picker = detail.locator("[data-testid=slot-picker-card]")
    row = picker.locator("[data-testid=slot-row][data-experts='dr-wang']").first
    await row.wait_for(timeout=TIMEOUT_MS)
    start = await row.get_attribute("data-start")
    await ok(
        app_server,
        "POST",
        f"/api/v1/cases/{other['id']}/booking",
        {"expert_id": "dr-wang", "panel": [], "start": start},
        201,
    )
    # what the server says to the second booking of that slot, asked of the API directly
    status, body = await app_server.api(
        "POST",
        f"/api/v1/cases/{case['id']}/booking",
        {"expert_id": "dr-wang", "panel": [], "start": start},
    )
    assert status == 409, body
    code, reason = body["error"]["code"], body["error"]["message"]
    assert code == "double_booking", body
    await row.locator("[data-testid=pick-slot]").click()
    error = picker.locator("[data-testid=picker-error]")
    await assert_refusal_in_chinese(page, error, code, reason)
    assert (await ok(app_server, "GET", f"/api/v1/cases/{case['id']}"))["status"] == "requested"
    # the list is drawn again without the slot taken meanwhile; the sentence stays above it
    taken = picker.locator(f"[data-testid=slot-row][data-experts='dr-wang'][data-start='{start}']")
    await taken.wait_for(state="detached", timeout=TIMEOUT_MS)
    await picker.locator("[data-testid=slot-row]").first.wait_for(timeout=TIMEOUT_MS)
    assert (
        await error.locator("[data-testid=error-text]").inner_text()
        == (await zh_errors(page))["double_booking"]
    )
    await page.screenshot(path=shot("booking-conflict-zh"), full_page=True)
    await axe_check(page, "booking conflict, zh-CN")
    # support opens the details: the server's own words, marked as English
    await error.locator("[data-testid=error-details] summary").click()
    assert await error.locator("[data-testid=error-details] span").is_visible()
    assert await error.locator("[data-testid=error-details] span").get_attribute("lang") == "en"
    await page.screenshot(path=shot("booking-conflict-details-zh"), full_page=True)
    await axe_check(page, "booking conflict with its details open, zh-CN")

    # 2. invalid input: a specialty code the server keeps for itself
    await dash.open("#directory")
    await page.locator("[data-testid=new-specialty]").click()
    form = page.locator("[data-testid=specialty-editor]")
    await form.locator("[data-testid=specialty-slug]").fill("overrides")
    await form.locator("[data-testid=specialty-name-en]").fill("Overrides")
    await form.locator("[data-testid=specialty-name-zh]").fill("覆盖")
    status, body = await app_server.api(
        "POST", "/api/v1/specialties", {"slug": "overrides", "name_en": "O", "name_zh": "覆盖"}
    )
    assert status == 400 and body["error"]["code"] == "reserved_slug", body
    await form.locator("[data-testid=editor-save]").click()
    await assert_refusal_in_chinese(
        page, form.locator("[data-testid=editor-error]"), "reserved_slug", body["error"]["message"]
    )
    await page.screenshot(path=shot("reserved-slug-zh"), full_page=True)
    await axe_check(page, "specialty refused, zh-CN")

    # 3. the coordinator's account is disabled meanwhile: the session ends (401), said in
    # Chinese without the code, and signing in again is refused (403, permission)
    await ok(app_server, "PATCH", f"/api/v1/accounts/{username}", {"disabled": True})
    status, body = await app_server.api(
        "POST", "/api/v1/auth/login", {"username": username, "password": PASSWORD}, token=""
    )
    assert status == 403 and body["error"]["code"] == "account_disabled", body
    await dash.open("#cases")
    ended = page.locator("[data-testid=sign-in-error]")
    expected = await page.evaluate(
        "async () => (await import('/static/i18n.js')).STRINGS.zh.sessionExpired"
    )
    await page.wait_for_function(
        "(text) => document.querySelector('[data-testid=sign-in-error]')?.textContent === text",
        arg=expected,
        timeout=TIMEOUT_MS,
    )
    assert "session_ended" not in await page.locator("body").inner_text()
    await page.screenshot(path=shot("session-ended-zh"), full_page=True)
    await axe_check(page, "session ended, zh-CN")
    await dash.sign_in(username)
    await assert_refusal_in_chinese(page, ended, "account_disabled", body["error"]["message"])
    await page.screenshot(path=shot("account-disabled-zh"), full_page=True)
    await axe_check(page, "sign-in refused, zh-CN")
    assert not dash.page_errors()
