"""The case view's audit trail in headless Chromium: access to the case's medical data (here an
attachment opened and downloaded by the patient's room token) reads as words, in English and in
Chinese, with who and in which role."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.helpers import ServerHandle
from vidconsult.account_admin import create_account
from vidconsult.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(120)]

PASSWORD = "correct horse battery"
TIMEOUT_MS = 15_000
PDF = b"%PDF-1.7\n" + b"x" * 500 + b"\n%%EOF\n"
EXPECTED = {
    "en": {
        "attachment.view": ("opened an attachment", "pt (patient)"),
        "attachment.download": ("downloaded an attachment", "pt (patient)"),
    },
    "zh": {
        "attachment.view": ("查看附件", "pt（患者）"),
        "attachment.download": ("下载附件", "pt（患者）"),
    },
}


async def ok(server: ServerHandle, method: str, path: str, body: Any = None, status=200) -> Any:
    got, data = await server.api(method, path, body)
    assert got == status, (got, data)
    return data


async def case_with_accesses(server: ServerHandle) -> tuple[str, str]:
    await ok(
        server,
        "POST",
        "/api/v1/units",
        {"id": "vil-1", "name": "Xiaohe village clinic", "tier": "village"},
        201,
    )
    case = await ok(
        server,
        "POST",
        "/api/v1/cases",
        {
            "patient": {"name": "Wang Fang", "sex": "female", "age_years": 61},
            "referring_unit_id": "vil-1",
            "referring_doctor": "Dr Zhao",
            "specialty": "cardiology",
            "clinical_summary": "chest pain",
        },
        201,
    )
    status, att = await server.api(
        "POST",
        f"/api/v1/cases/{case['id']}/attachments",
        params={"filename": "ecg.pdf"},
        data=PDF,
        headers={"Content-Type": "application/pdf"},
    )
    assert status == 201, att
    patient = server.mint("pt", "patient", room="rm_x", case=case["id"])
    path = f"/api/v1/cases/{case['id']}/attachments/{att['id']}"
    seen = (await server.api("GET", path, token=patient))[1]
    async with server.session.get(seen["download_url"]) as resp:
        assert resp.status == 200
    return case["id"], att["id"]


async def test_access_entries_read_in_both_languages(
    app_server: ServerHandle, settings: Settings, browser: Any
) -> None:
    await asyncio.to_thread(
        create_account, settings.data_dir, "li.coord", "coordinator", PASSWORD, "Li Coordinator"
    )
    case_id, att_id = await case_with_accesses(app_server)
    for lang, expected in EXPECTED.items():
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        try:
            await page.goto(f"{app_server.url}/dashboard?lang={lang}")
            await page.wait_for_selector("[data-testid=sign-in-form]", timeout=TIMEOUT_MS)
            await page.fill("[data-testid=username]", "li.coord")
            await page.fill("[data-testid=password]", PASSWORD)
            await page.click("[data-testid=sign-in-button]")
            await page.wait_for_selector("[data-testid=signed-in-as]", timeout=TIMEOUT_MS)
            await page.goto(f"{app_server.url}/dashboard?lang={lang}#cases/{case_id}")
            audit = page.locator("[data-testid=case-audit]")
            for action, (words, who) in expected.items():
                row = audit.locator(f"[data-testid=audit-row][data-action='{action}']")
                await row.wait_for(timeout=TIMEOUT_MS)
                cells = await row.locator("td").all_inner_texts()
                assert cells[1] == who and cells[2] == words, cells
                assert att_id in cells[4] and "ecg.pdf" in cells[4], cells
            assert not errors
        finally:
            await context.close()


async def test_who_withdrew_an_emergency_reads_as_words(
    app_server: ServerHandle, settings: Settings, browser: Any
) -> None:
    """The withdrawal's audit entry (``emergency.withdrawn``, its note the withdrawal's code)
    reads as words in both languages, never as the code."""
    from tests.browser.test_emergency_withdrawn import emergency_on_duty

    await asyncio.to_thread(
        create_account, settings.data_dir, "li.coord", "coordinator", PASSWORD, "Li Coordinator"
    )
    opened = await emergency_on_duty(app_server)
    case_id = opened["case"]["id"]
    await ok(app_server, "POST", f"/api/v1/cases/{case_id}/cancel", {"reason": "duplicate"})
    expected = {
        "en": ("emergency withdrawn", "by the consultation centre"),
        "zh": ("急诊撤销", "由会诊中心撤销"),
    }
    for lang, (words, note) in expected.items():
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        try:
            await page.goto(f"{app_server.url}/dashboard?lang={lang}")
            await page.wait_for_selector("[data-testid=sign-in-form]", timeout=TIMEOUT_MS)
            await page.fill("[data-testid=username]", "li.coord")
            await page.fill("[data-testid=password]", PASSWORD)
            await page.click("[data-testid=sign-in-button]")
            await page.wait_for_selector("[data-testid=signed-in-as]", timeout=TIMEOUT_MS)
            await page.goto(f"{app_server.url}/dashboard?lang={lang}#cases/{case_id}")
            audit = page.locator("[data-testid=case-audit]")
            row = audit.locator("[data-testid=audit-row][data-action='emergency.withdrawn']")
            await row.wait_for(timeout=TIMEOUT_MS)
            cells = await row.locator("td").all_inner_texts()
            assert cells[2] == words and cells[4] == note, cells
        finally:
            await context.close()
