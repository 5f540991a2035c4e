"""A page cancelled while it rings says why in the expert's workspace, in their language (en and
zh-CN), from the ``reason`` of ``page.closed``: the emergency withdrawn (its case cancelled by a
coordinator) and its room closed each read as their own sentence, and the page stops ringing
there. Before, every cancelled page read "answered by someone else". The coordinators' board
shows each cancelled page with its reason.

In headless Chromium against the real server; axe-core clean, screenshots in
/tmp/vidconsult-page-cancelled-shots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_workspace import (
    PASSWORD,
    TIMEOUT_MS,
    Tab,
    expert_on_duty,
    ok,
    serve_paging,
    tabs,  # noqa: F401 - the fixture
)
from tests.helpers import ServerHandle
from tests.workflow.helpers import case_body
from vidconsult.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

SHOTS = Path("/tmp/vidconsult-page-cancelled-shots")
WITHDRAWN = {
    "en": "The emergency was withdrawn: you are no longer needed for it.",
    "zh": "该急诊已撤销，无需您再应答。",
}
# the coordinators' board, each cancelled page with its reason
ON_BOARD = {
    "en": ("zhou · stopped (the emergency was withdrawn)", "zhou · stopped (the room closed)"),
    "zh": ("zhou · 已停止（原因：急诊已撤销）", "zhou · 已停止（原因：会诊室已关闭）"),
}
ROOM_CLOSED = {
    "en": "The emergency’s consultation room has closed: the page has stopped.",
    "zh": "该急诊的会诊室已关闭，呼叫已停止。",
}


def shot(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / f"{name}.png")


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[ServerHandle]:
    async for handle in serve_paging(settings, 600):
        yield handle


async def stops_with(zhou: Tab, text: str, name: str) -> None:
    notice = zhou.page.locator("#notice")
    await notice.filter(has_text=text).wait_for(timeout=TIMEOUT_MS)
    await zhou.page.screenshot(path=shot(name), full_page=True)
    assert await notice.inner_text() == text
    assert await zhou.page.locator("[data-testid=page-alert]").count() == 0
    assert await zhou.page.evaluate("Object.keys(window.vidconsultWorkspace.pages)") == []
    await zhou.axe_clean()


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_cancelled_page_says_why_it_stopped(
    lang: str,
    server: ServerHandle,
    settings: Settings,
    tabs: Any,  # noqa: F811
) -> None:
    zhou = await expert_on_duty(server, settings, tabs, lang)
    alert = zhou.page.locator("[data-testid=page-alert]")

    # withdrawn: a coordinator cancels the emergency's case while zhou's page rings
    case = (await ok(server, "POST", "/api/v1/emergencies", case_body(), status=201))["case"]
    await alert.wait_for(timeout=TIMEOUT_MS)
    await ok(server, "POST", f"/api/v1/cases/{case['id']}/cancel", {"reason": "patient stable"})
    await stops_with(zhou, WITHDRAWN[lang], f"{lang}-withdrawn")

    # the room closed: a coordinator ends the emergency's room while zhou's page rings
    opened = await ok(server, "POST", "/api/v1/emergencies", case_body(), status=201)
    await alert.wait_for(timeout=TIMEOUT_MS)
    await ok(server, "DELETE", f"/api/v1/rooms/{opened['room']['id']}")
    await stops_with(zhou, ROOM_CLOSED[lang], f"{lang}-room-closed")

    # the coordinators' board: each stopped page with why
    coord: Tab = await tabs("coordinator", f"{server.url}/dashboard?lang={lang}")
    await coord.page.wait_for_selector("[data-testid=sign-in-form]", timeout=TIMEOUT_MS)
    await coord.page.fill("[data-testid=username]", "li.coord")
    await coord.page.fill("[data-testid=password]", PASSWORD)
    await coord.page.click("[data-testid=sign-in-button]")
    await coord.page.locator("[data-testid=signed-in-as]").wait_for(timeout=TIMEOUT_MS)
    await coord.page.goto(f"{server.url}/dashboard?lang={lang}#emergencies")
    for case_id, reason, text in (
        (case["id"], "emergency_withdrawn", ON_BOARD[lang][0]),
        (opened["case"]["id"], "room_closed", ON_BOARD[lang][1]),
    ):
        row = coord.page.locator(f"[data-testid=paging-row][data-case-id='{case_id}']")
        await row.wait_for(timeout=TIMEOUT_MS)
        step = row.locator("[data-testid=paging-steps] li")
        assert await step.get_attribute("data-reason") == reason
        assert (await step.inner_text()).startswith(text), await step.inner_text()
    await coord.page.screenshot(path=shot(f"{lang}-board"), full_page=True)
    await coord.axe_clean()
