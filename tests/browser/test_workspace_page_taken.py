"""An expert's Accept that loses the race reads, in their workspace, as a sentence in their
language (en and zh-CN): "someone else has already answered this emergency", not the code or
the server's English; the page stops ringing there.

In headless Chromium against the real server: zhou's workspace rings; zhou clicks Accept; the
server makes the acceptance and its write is held at the store's door (the gate of
tests/workflow/test_paging_race.py) while another node's changes land in the same store: the
page escalates to wang and wang accepts. Let through, zhou's write finds the store moved on;
made again on the store's copy it is refused, 409 ``page_answered``. axe-core clean,
screenshots in /tmp/vidconsult-page-taken-shots."""

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
from tests.workflow.test_paging_race import Gate
from vidconsult.config import Settings
from web.workflow_keys import PAGING

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

SHOTS = Path("/tmp/vidconsult-page-taken-shots")
TAKEN = {
    "en": "Someone else has already answered this emergency.",
    "zh": "其他人已接听此急诊。",
}


def shot(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / f"{name}.png")


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[ServerHandle]:
    # the escalation here is the other node's, written to the store by the test
    async for handle in serve_paging(settings, 60):
        yield handle


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_accept_that_lost_the_race_reads_as_taken(
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
    store = service._store
    held = Gate(store)
    service._store = held
    await alert.locator("[data-testid=page-accept]").click()
    await held.reached.wait()  # zhou's acceptance is made; its write waits
    # meanwhile another node: the page escalated to wang, and wang accepted
    other = await store.get_paging(case["id"])
    assert other is not None
    other.tick(other.pages[0].sent_at + other.policy.answer_within)
    other.accept(f"{case['id']}.p1", "wang", other.pages[1].sent_at, coordinator=False)
    assert await store.save_paging(other)
    held.go.set()

    # the page stops ringing here, and the notice says why, in zhou's language
    notice = zhou.page.locator("#notice")
    await notice.filter(has_text=TAKEN[lang]).wait_for(timeout=TIMEOUT_MS)
    await zhou.page.screenshot(path=shot(f"{lang}-taken"), full_page=True)
    text = await notice.inner_text()
    assert text == TAKEN[lang]
    assert "page_answered" not in text and "wang" not in text, text
    assert await alert.count() == 0
    assert await zhou.page.evaluate("Object.keys(window.vidconsultWorkspace.pages)") == []
    assert zhou.page.url.startswith(f"{server.url}/workspace")  # not sent into the room
    kept = await store.get_paging(case["id"])
    assert kept is not None and kept.answered_by == "wang"
    assert [p.status.value for p in kept.pages] == ["cancelled", "accepted"]
    await zhou.axe_clean()
