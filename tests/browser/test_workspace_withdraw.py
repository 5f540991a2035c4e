"""The calling clinic withdraws its own emergency from the unit workspace (en and zh-CN), in
headless Chromium against the real server: the case's details offer "Withdraw the emergency"
with a reason; withdrawn, the case reads cancelled and the room is closed with the unit's
reason. A second emergency whose expert is already in the room is refused, and the page says
why in the doctor's language (no raw code); nothing changes. axe-core clean, screenshots in
/tmp/vidconsult-withdraw-shots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_consult_room import table
from tests.browser.test_workspace import (
    TIMEOUT_MS,
    Tab,
    file_emergency,
    ok,
    seed,
    serve_paging,
    sign_in,
    tabs,  # noqa: F401 - the fixture
)
from tests.helpers import ServerHandle
from tests.sio import RawClient
from vidconsult.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

SHOTS = Path("/tmp/vidconsult-withdraw-shots")


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[ServerHandle]:
    async for handle in serve_paging(settings, 600):
        yield handle


def shot_path(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / f"{name}.png")


async def shot(tab: Tab, name: str) -> None:
    await tab.page.screenshot(path=shot_path(name), full_page=True)
    await tab.axe_clean()


async def filed(unit: Tab, patient: str, before: str | None = None) -> tuple[str, str]:
    """File an emergency from the form: (case id, room id) of the new one (``before``: the
    case the form announced last, replaced once this one is filed)."""
    await file_emergency(unit, patient)
    join = unit.page.locator("[data-testid=emergency-join]")
    await unit.page.wait_for_function(
        """(before) => {
          const b = document.querySelector("[data-testid=emergency-join]");
          return !!b && b.dataset.caseId !== before;
        }""",
        arg=before or "",
        timeout=TIMEOUT_MS,
    )
    case_id = await join.get_attribute("data-case-id")
    room_id = await join.get_attribute("data-room-id")
    assert case_id and room_id
    return case_id, room_id


async def open_details(unit: Tab, case_id: str) -> Any:
    row = unit.page.locator(f"[data-testid=unit-case-row][data-case-id='{case_id}']")
    await row.locator("[data-testid=details-button]").click()
    form = unit.page.locator("[data-testid=withdraw-form]")
    await form.wait_for(timeout=TIMEOUT_MS)
    return form


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_the_clinic_withdraws_its_emergency_from_the_workspace(
    server: ServerHandle,
    settings: Settings,
    tabs: Any,  # noqa: F811
    lang: str,
) -> None:
    words = table(lang)
    await seed(server, settings)
    unit: Tab = await tabs("unit", f"{server.url}/workspace?lang={lang}")
    await sign_in(unit, "vil.doctor")
    await unit.page.wait_for_selector("[data-testid=file-form]", timeout=TIMEOUT_MS)

    # 1. filed, then withdrawn (the patient is stable): the room closes with the unit's reason
    case_id, room_id = await filed(unit, "Zhang San")
    form = await open_details(unit, case_id)
    assert words["workspace"]["withdrawHeading"] in await form.inner_text()
    await form.locator("[data-testid=withdraw-reason]").fill("patient stable, ECG normal")
    await shot(unit, f"{lang}-withdraw-form")
    await form.locator("[data-testid=withdraw-button]").click()
    row = unit.page.locator(f"[data-testid=unit-case-row][data-case-id='{case_id}']")
    await (
        row.locator("[data-testid=case-status]")
        .filter(has_text=words["statuses"]["cancelled"])
        .wait_for(timeout=TIMEOUT_MS)
    )
    room = await ok(server, "GET", f"/api/v1/rooms/{room_id}")
    assert (room["status"], room["end_reason"]) == ("ended", "emergency_withdrawn_by_unit")
    case = await ok(server, "GET", f"/api/v1/cases/{case_id}")
    [cancelled] = [e for e in case["audit"] if e["to"] == "cancelled"]
    assert case["status"] == "cancelled" and cancelled["actor"] == "vil.doctor", case
    assert not await unit.page.locator("[data-testid=withdraw-form]").count()  # nothing left
    await shot(unit, f"{lang}-withdrawn")

    # 2. another emergency whose expert is already in the room: refused, said in the page's
    # language, and nothing changes
    # (filed with the form as it was reset after the first: on its default specialty again)
    assert await unit.page.input_value("[data-testid=specialty]") == "cardiology"
    case_id, room_id = await filed(unit, "Li Si", before=case_id)
    expert = RawClient()
    try:
        await expert.connect(server.url, server.mint("zhou", "expert", room=room_id, case=case_id))
        assert "room" in await expert.request("join")
        form = await open_details(unit, case_id)
        await form.locator("[data-testid=withdraw-reason]").fill("filed twice")
        await form.locator("[data-testid=withdraw-button]").click()
        error = unit.page.locator("[data-testid=withdraw-error] [data-testid=error-text]")
        await error.wait_for(timeout=TIMEOUT_MS)
        assert await error.inner_text() == words["errors"]["expert_joined"]
        await shot(unit, f"{lang}-withdraw-refused")
        room = await ok(server, "GET", f"/api/v1/rooms/{room_id}")
        assert room["status"] == "open" and [p["identity"] for p in room["participants"]] == [
            "zhou"
        ]
        assert (await ok(server, "GET", f"/api/v1/cases/{case_id}"))["status"] == "in_progress"
        assert not expert.seen("room.ended")
    finally:
        await expert.close()
