"""An expert's Accept that the server cannot save (its database is down) reads, in their
workspace, as a sentence in their language (en and zh-CN): the answer was not saved and the call
still rings; the page keeps ringing there, the sentence stays through the alert's redraws, and
the Accept button stays usable: with the database back, the same button answers and lands the
expert in the room.

In headless Chromium against the real server; only the paging store is wrapped (the seam of
tests/workflow/test_paging_store_failures.py raises as the PostgreSQL store does when the
database is gone). axe-core clean, screenshots in /tmp/vidconsult-store-down-shots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_workspace import (
    TIMEOUT_MS,
    expert_on_duty,
    ok,
    serve_paging,
    tabs,  # noqa: F401 - the fixture
)
from tests.helpers import ServerHandle
from tests.workflow.helpers import case_body
from tests.workflow.test_paging_store_failures import Outage
from vidconsult.config import Settings
from web.workflow_keys import PAGING

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

SHOTS = Path("/tmp/vidconsult-store-down-shots")
NOT_SAVED = {
    "en": "Your answer was not saved: the server cannot reach its database right now. This call"
    " is still ringing for you — please answer again in a moment.",
    "zh": "您的应答未能保存：服务器暂时无法连接数据库。此呼叫仍在为您响铃，请稍后再次应答。",
}
ACCEPT = {"en": "Accept and join", "zh": "接受并进入"}


def shot(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / f"{name}.png")


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[ServerHandle]:
    # no escalation during the test: zhou's page is the only one
    async for handle in serve_paging(settings, 600):
        yield handle


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_accept_not_saved_says_so_and_accept_still_answers(
    lang: str,
    server: ServerHandle,
    settings: Settings,
    tabs: Any,  # noqa: F811
) -> None:
    zhou = await expert_on_duty(server, settings, tabs, lang)
    case = (await ok(server, "POST", "/api/v1/emergencies", case_body(), status=201))["case"]
    alert = zhou.page.locator("[data-testid=page-alert]")
    await alert.wait_for(timeout=TIMEOUT_MS)

    service = server.app[PAGING]
    outage = Outage(service._store)
    service._store = outage
    accept = alert.locator("[data-testid=page-accept]")
    await accept.click()

    # the alert says the answer was not saved, in zhou's language; the page still rings
    error = alert.locator("[data-testid=page-error]")
    await error.filter(has_text=NOT_SAVED[lang]).wait_for(timeout=TIMEOUT_MS)
    assert outage.refused == 1  # the acceptance reached the store's door and was refused
    assert await error.locator("[data-testid=error-text]").inner_text() == NOT_SAVED[lang]
    assert await error.get_attribute("data-code") == "store_unavailable"
    assert "store_unavailable" not in await zhou.page.locator("#pager").inner_text()
    await zhou.page.screenshot(path=shot(f"{lang}-not-saved"), full_page=True)
    assert await accept.is_enabled() and await accept.inner_text() == ACCEPT[lang]
    assert await zhou.page.evaluate("Object.keys(window.vidconsultWorkspace.pages)") == [
        f"{case['id']}.p0"
    ]
    assert zhou.page.url.startswith(f"{server.url}/workspace")
    kept = await outage._store.get_paging(case["id"])
    assert kept is not None and [p.status.value for p in kept.pages] == ["ringing"]
    assert service.of_case(case["id"]) == kept  # this node decided nothing the store has not
    await zhou.axe_clean()

    # the alert is drawn again (every 5 s while a page rings): the sentence stays
    drawn = await error.element_handle()
    await zhou.page.wait_for_function("(el) => !el.isConnected", arg=drawn, timeout=TIMEOUT_MS)
    assert await error.locator("[data-testid=error-text]").inner_text() == NOT_SAVED[lang]

    # the database is back: the same button answers and lands zhou in the room
    outage.down = False
    await accept.click()
    await zhou.page.wait_for_url("**/room/**", timeout=TIMEOUT_MS)
    answered = await outage._store.get_paging(case["id"])
    assert answered is not None and answered.answered_by == "zhou"
