"""The dashboard's pages as their people read them, at 1366x768 (a consult-room PC) and
1024x600: a village doctor or coordinator in Chinese in Beijing, a New York expert in English
at night. Zones by their names, people by their names, languages by their names, dates that
fit their inputs, a lecture that cannot start in the past."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.axe import serious_violations
from tests.browser.conftest import csp_violations
from tests.browser.test_dashboard import TIMEOUT_MS, Dashboard, coordinator_account
from tests.browser.test_dashboard_coordinator import BEIJING, new_case, ok, seed
from tests.helpers import ServerHandle
from vidconsult.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

SHOTS = Path("/tmp/vidconsult-pages-as-read")
#: (page language, browser locale, browser zone): the Beijing village doctor / coordinator,
#: and the New York expert at night
BEIJING_ZH = ("zh", "zh-CN", "Asia/Shanghai")
NEW_YORK_EN = ("en", "en-US", "America/New_York")

Reader = Callable[..., Awaitable[Dashboard]]


def shot(name: str) -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(SHOTS / f"{name}.png")


@pytest.fixture
async def reader(browser: Any, settings: Settings) -> AsyncIterator[Reader]:
    """Opens the dashboard signed in as a coordinator, in a browser of a given language, zone
    and screen size; the pages must run under their CSP with no page error."""
    pages: list[Dashboard] = []
    accounts: list[str] = []

    async def open_as(
        server: ServerHandle,
        who: tuple[str, str, str],
        where: str,
        size: tuple[int, int] = (1366, 768),
    ) -> Dashboard:
        lang, locale, zone = who
        context = await browser.new_context(
            locale=locale,
            timezone_id=zone,
            viewport={"width": size[0], "height": size[1]},
        )
        dash = Dashboard(await context.new_page(), server)
        pages.append(dash)
        if not accounts:
            accounts.append(await coordinator_account(settings))
        username = accounts[0]
        sep = "&" if "?" in where else "?"
        path, _, fragment = where.partition("#")
        await dash.open(f"{path}{sep}lang={lang}#{fragment}")
        await dash.sign_in(username)
        await dash.signed_in()
        return dash

    yield open_as
    for dash in pages:
        print("\n".join(dash.log[-40:]))
        await dash.page.context.close()
    assert csp_violations([line for dash in pages for line in dash.log]) == []
    assert [line for dash in pages for line in dash.page_errors()] == []


async def axe_clean(page: Any, label: str) -> None:
    bad = await serious_violations(page)
    assert bad == [], (label, bad)


#: every text node of the page that looks like an IANA zone id ("Asia/Shanghai")
JS_ZONE_IDS = r"""() => {
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const text = walk.currentNode.textContent;
    const el = walk.currentNode.parentElement;
    if (el.closest("[hidden], script, style, option:not(:checked)")) continue;
    const ids = /\b(Africa|America|Asia|Atlantic|Australia|Europe|Pacific|Etc)\/[A-Za-z_]+/g;
    for (const m of text.matchAll(ids)) out.push(m[0]);
  }
  return out;
}"""


async def test_zones_are_named_in_the_readers_language(
    app_server: ServerHandle, reader: Reader
) -> None:
    """The directory (experts' zones, a unit's consult hours), the dated overrides' and the
    lecture form's hints name zones as people say them ("北美东部时间", "Eastern Time"), never by
    their IANA id ("America/New_York")."""
    await seed(app_server)
    names = {
        "zh": {"dr-jones": "北美东部时间", "dr-wang": "中国标准时间", "chen-i": "北美太平洋时间"},
        "en": {
            "dr-jones": "Eastern Time",
            "dr-wang": "China Standard Time",
            "chen-i": "Pacific Time",
        },
    }
    for who in (BEIJING_ZH, NEW_YORK_EN):
        lang = who[0]
        dash = await reader(app_server, who, "#directory")
        page = dash.page
        await page.wait_for_selector("[data-testid=override-form]", timeout=TIMEOUT_MS)
        await page.wait_for_selector("[data-testid=expert-row]", timeout=TIMEOUT_MS)
        assert await page.evaluate(JS_ZONE_IDS) == []
        for expert, name in names[lang].items():
            cell = page.locator(
                f"[data-testid=expert-row][data-expert-id={expert}] [data-testid=expert-zone-name]"
            )
            assert await cell.inner_text() == name
        centre = names[lang]["dr-wang"]
        assert centre in await page.locator("[data-testid=unit-row]").first.inner_text()
        assert centre in await page.locator("[data-testid=override-form]").inner_text()
        await page.screenshot(path=shot(f"zones-directory-{lang}"), full_page=True)
        await axe_clean(page, f"directory {lang}")
        await page.goto(f"{app_server.url}/dashboard?lang={lang}#lectures")
        form = page.locator("[data-testid=lecture-form]")
        await form.wait_for(timeout=TIMEOUT_MS)
        assert centre in await form.inner_text()
        assert await page.evaluate(JS_ZONE_IDS) == []
        await page.screenshot(path=shot(f"zones-lectures-{lang}"))


async def test_case_page_names_people_and_the_case(
    app_server: ServerHandle, reader: Reader
) -> None:
    """The case page's heading says whose case and what about, not its id; its trail says
    who acted by name and role in the page's language, never a user name or the raw role word
    ("coordinator" for the centre's service token)."""
    await seed(app_server)
    case = await new_case(app_server, requested_expert_id="dr-wang")
    await ok(app_server, "POST", f"/api/v1/cases/{case['id']}/booking", {}, 201)
    expected = {
        "zh": (
            "心内科会诊 · Xiaohe village clinic",
            "协调员（未留姓名）",
            "Li Coordinator（协调员）",
        ),
        "en": (
            "Cardiology consultation · Xiaohe village clinic",
            "coordinator (no name on record)",
            "Li Coordinator (coordinator)",
        ),
    }
    for who, cancel in ((BEIJING_ZH, False), (NEW_YORK_EN, True)):
        lang = who[0]
        label, service, person = expected[lang]
        dash = await reader(app_server, who, f"#cases/{case['id']}")
        page = dash.page
        detail = page.locator(f"[data-testid=case-detail][data-case-id='{case['id']}']")
        if cancel:  # an entry made by the signed-in coordinator
            await detail.locator("details:has([data-testid=cancel-reason]) summary").click()
            await detail.locator("[data-testid=cancel-reason]").fill("recovered")
            await detail.locator("[data-testid=cancel-case-button]").click()
            await page.wait_for_selector(
                "[data-testid=case-detail][data-status=cancelled]", timeout=TIMEOUT_MS
            )
        await detail.locator("[data-testid=audit-row]").first.wait_for(timeout=TIMEOUT_MS)
        heading = await detail.locator("h2").first.inner_text()
        assert case["id"] not in heading and label in heading, heading
        actors = await detail.locator("[data-testid=audit-actor]").all_inner_texts()
        assert actors[:2] == [service, service], actors
        if cancel:
            assert actors[2:] == [person], actors
        text = await page.locator("main").inner_text()
        assert case["id"] not in text and "li.coord" not in text
        if lang == "zh":
            assert "coordinator" not in text, text
        await page.screenshot(path=shot(f"case-{lang}"), full_page=True)
        await axe_clean(page, f"case page {lang}")


async def test_directory_names_languages_in_the_page_language(
    app_server: ServerHandle, reader: Reader
) -> None:
    """The experts' languages by their names ("英语、中文" / "English, Chinese"), not the codes
    ("en, zh"), as is the language a case asked for."""
    await seed(app_server)
    case = await new_case(app_server, requested_language="en", interpreter_needed=True)
    expected = {
        "zh": {"chen-i": "英语、中文", "dr-jones": "英语", "dr-wang": "中文", "case": "英语"},
        "en": {
            "chen-i": "English, Chinese",
            "dr-jones": "English",
            "dr-wang": "Chinese",
            "case": "English",
        },
    }
    for who in (BEIJING_ZH, NEW_YORK_EN):
        lang = who[0]
        dash = await reader(app_server, who, "#directory")
        page = dash.page
        await page.wait_for_selector("[data-testid=expert-row]", timeout=TIMEOUT_MS)
        for expert in ("chen-i", "dr-jones", "dr-wang"):
            # the fourth column (name, institution, specialties, languages)
            cell = page.locator(
                f"[data-testid=expert-row][data-expert-id={expert}] > :nth-child(4)"
            )
            assert await cell.inner_text() == expected[lang][expert]
        await page.locator("[data-testid=expert-row]").first.screenshot(
            path=shot(f"languages-directory-{lang}")
        )
        await page.screenshot(path=shot(f"languages-directory-page-{lang}"))
        await axe_clean(page, f"directory {lang}")
        await page.goto(f"{app_server.url}/dashboard?lang={lang}#cases/{case['id']}")
        facts = page.locator("[data-testid=case-detail] dl.facts").first
        await facts.wait_for(timeout=TIMEOUT_MS)
        assert f"\n{expected[lang]['case']}\n" in f"\n{await facts.inner_text()}\n"


#: the width a date input's own content needs (a copy left to its natural width), the width
#: it has, its scroll and client widths, and how far it sticks out of its field
JS_DATE_FIT = """(el) => {
  const probe = el.cloneNode();
  probe.removeAttribute("id");
  probe.style.cssText = "position:absolute;left:0;top:0;visibility:hidden;" +
    "width:auto;min-width:0;max-width:none;flex:none";
  el.parentElement.append(probe);
  const need = probe.getBoundingClientRect().width;
  probe.remove();
  const box = el.getBoundingClientRect();
  const field = el.closest(".field").getBoundingClientRect();
  // sticking out of its field, it lies under the next field, which hides its end
  return { need, have: box.width, scroll: el.scrollWidth, client: el.clientWidth,
           overflow: Math.max(0, box.right - field.right, field.left - box.left) };
}"""


async def squeezed_dates(page: Any, selector: str) -> list[dict[str, Any]]:
    """The date inputs under ``selector`` that do not show their whole date."""
    out = []
    for box in await page.locator(f"{selector} input[type^=date]").all():
        fit = await box.evaluate(JS_DATE_FIT)
        squeezed = fit["have"] + 0.5 < fit["need"] or fit["scroll"] > fit["client"]
        if squeezed or fit["overflow"] > 0.5:
            out.append({"name": await box.get_attribute("name"), **fit})
    return out


@pytest.mark.parametrize("size", [(1366, 768), (1024, 600)], ids=["1366x768", "1024x600"])
async def test_date_inputs_show_the_whole_date(
    app_server: ServerHandle, reader: Reader, size: tuple[int, int]
) -> None:
    """The overrides' from/to (date and time) and the lecture's day are as wide as the date
    they show, on a consult-room PC and on a small laptop, in both languages."""
    await seed(app_server)
    for who in (BEIJING_ZH, NEW_YORK_EN):
        lang = who[0]
        dash = await reader(app_server, who, "#directory", size)
        page = dash.page
        form = "[data-testid=override-form]"
        await page.wait_for_selector(form, timeout=TIMEOUT_MS)
        await page.fill("[data-testid=override-from]", "2026-12-24T08:00")
        await page.fill("[data-testid=override-to]", "2026-12-31T18:30")
        assert await squeezed_dates(page, form) == []
        await page.locator(form).scroll_into_view_if_needed()
        await page.locator(form).screenshot(path=shot(f"dates-overrides-{lang}-{size[0]}"))
        await page.goto(f"{app_server.url}/dashboard?lang={lang}#lectures")
        form = "[data-testid=lecture-form]"
        await page.wait_for_selector(form, timeout=TIMEOUT_MS)
        assert await squeezed_dates(page, form) == []
        await page.screenshot(path=shot(f"dates-lectures-{lang}-{size[0]}"))
        await axe_clean(page, f"lectures {lang} {size}")


LONG_CAMERA = "Logitech BRIO 4K Ultra HD Pro Webcam with HDR, front of the consult-room screen"
#: the browser's fake devices under the long names a consult-room PC's devices have
LONG_DEVICE_NAMES = """(() => {
  const md = navigator.mediaDevices;
  const list = md.enumerateDevices.bind(md);
  md.enumerateDevices = async () => (await list()).map((d) => ({
    deviceId: d.deviceId, groupId: d.groupId, kind: d.kind,
    label: d.kind === "videoinput" ? `CAMERA ${d.label}` : d.label,
    toJSON() { return { ...this }; } }));
})();""".replace("CAMERA", LONG_CAMERA)


@pytest.mark.parametrize("who", [BEIJING_ZH, NEW_YORK_EN], ids=["zh", "en"])
async def test_a_long_camera_name_is_readable_before_joining(
    live_server: ServerHandle, browser: Any, who: tuple[str, str, str]
) -> None:
    """The pre-join step at 1366x768: a camera whose name is longer than its select shows it
    whole, in the select's title and written out under the select."""
    from tests.browser.test_consult_room import create_room, link, mint

    lang, locale, zone = who
    rid = await create_room(live_server, "Cardiology consult")
    token = mint(live_server, "pt-zhang", "patient", rid, name="Zhang Wei")
    context = await browser.new_context(
        permissions=["camera", "microphone"],
        locale=locale,
        timezone_id=zone,
        viewport={"width": 1366, "height": 768},
    )
    await context.add_init_script(LONG_DEVICE_NAMES)
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        base, _, fragment = link(live_server, rid, token).partition("#")
        await page.goto(f"{base}?lang={lang}#{fragment}")
        select = page.locator("[data-testid=camera-select]")
        await page.wait_for_function(
            "(name) => [...document.querySelectorAll('[data-testid=camera-select] option')]"
            ".some((o) => o.selected && o.textContent.startsWith(name))",
            arg=LONG_CAMERA,
            timeout=TIMEOUT_MS,
        )
        chosen = await select.evaluate("(s) => s.selectedOptions[0].textContent")
        assert await select.get_attribute("title") == chosen
        # the select alone cuts it off at this width; the name is then written out, whole
        # and inside its column
        name = page.locator("[data-testid=camera-name]")
        await name.wait_for(state="visible", timeout=TIMEOUT_MS)
        assert await name.inner_text() == chosen
        fit = await name.evaluate(
            """(el) => ({ scroll: el.scrollWidth, client: el.clientWidth,
              right: el.getBoundingClientRect().right,
              column: el.parentElement.getBoundingClientRect().right })"""
        )
        assert fit["scroll"] <= fit["client"] and fit["right"] <= fit["column"] + 0.5, fit
        await page.locator("#device-choice").screenshot(path=shot(f"long-camera-{lang}"))
        await page.screenshot(path=shot(f"long-camera-page-{lang}"))
        assert await serious_violations(page) == []
        assert errors == []
    finally:
        await context.close()


@pytest.mark.parametrize("who", [BEIJING_ZH, NEW_YORK_EN], ids=["zh", "en"])
async def test_a_lecture_starts_in_the_future_by_default_and_never_in_the_past(
    app_server: ServerHandle, reader: Reader, who: tuple[str, str, str]
) -> None:
    """The lecture form offers the next full half hour at least 15 minutes ahead (in the
    centre's time, the form's zone), whatever the hour; a start already gone is refused in
    words, and nothing is booked."""
    await seed(app_server)
    lang = who[0]
    before = datetime.now(UTC)
    dash = await reader(app_server, who, "#lectures")
    page = dash.page
    form = page.locator("[data-testid=lecture-form]")
    await form.wait_for(timeout=TIMEOUT_MS)
    day = await form.locator("[data-testid=lecture-day]").input_value()
    time = await form.locator("[data-testid=lecture-time]").input_value()
    after = datetime.now(UTC)
    start = datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=BEIJING)
    assert start.minute in (0, 30), (day, time)
    assert before + timedelta(minutes=15) <= start, (day, time, before)
    assert start < after + timedelta(minutes=15 + 30), (day, time, after)
    await page.screenshot(path=shot(f"lecture-default-{lang}"))

    # a start already gone: yesterday at this hour, in the centre's time
    gone = (after - timedelta(days=1)).astimezone(BEIJING)
    await form.locator("[data-testid=lecture-title]").fill("ECG for village doctors")
    await form.locator("[data-testid=lecture-unit]").first.check()
    await form.locator("[data-testid=lecture-day]").fill(gone.strftime("%Y-%m-%d"))
    await form.locator("[data-testid=lecture-time]").fill(gone.strftime("%H:%M"))
    await form.locator("[data-testid=schedule-lecture]").click()
    error = form.locator("[data-testid=lecture-error]")
    await error.locator("[data-testid=error-text]").wait_for(timeout=TIMEOUT_MS)
    text = await error.inner_text()
    assert {"zh": "该开始时间已过", "en": "This start has already passed"}[lang] in text, text
    assert (await ok(app_server, "GET", "/api/v1/lectures"))["lectures"] == []
    await page.screenshot(path=shot(f"lecture-past-{lang}"))
    await axe_clean(page, f"lecture refused {lang}")


async def test_new_case_form_names_languages_in_the_page_language(
    app_server: ServerHandle, reader: Reader
) -> None:
    """The new-case form offers the languages a case may ask for by their names in the page's
    language ("中文", "英语" / "Chinese", "English"), never with their codes ("中文 (zh)")."""
    await seed(app_server)
    expected = {"zh": ["中文", "英语"], "en": ["Chinese", "English"]}
    for who in (BEIJING_ZH, NEW_YORK_EN):
        lang = who[0]
        dash = await reader(app_server, who, "#cases")
        page = dash.page
        choice = page.locator("[data-testid=new-case-form] [data-testid=case-language]")
        await choice.wait_for(timeout=TIMEOUT_MS)
        named = await choice.locator("option:not([value=''])").all_inner_texts()
        assert named == expected[lang], named
        await choice.screenshot(path=shot(f"languages-new-case-{lang}"))
        await axe_clean(page, f"new case form {lang}")


async def test_an_emergencys_rooms_are_told_in_words(
    app_server: ServerHandle, reader: Reader
) -> None:
    """An emergency case's page shows its room as what it is ("急诊会诊室 · 心内科"), its state
    and why it ended in the page's language (withdrawn by the centre), never the room's id, its
    raw status ("open", "ended") or its end code; the id stays in the hover text for support."""
    from tests.browser.test_emergency_withdrawn import emergency_on_duty
    from tests.workflow.helpers import case_body

    withdrawn = await emergency_on_duty(app_server)
    case_id = withdrawn["case"]["id"]
    await ok(
        app_server,
        "POST",
        f"/api/v1/emergencies/{case_id}/withdraw",
        {"reason": "patient stable"},
    )
    running = await ok(app_server, "POST", "/api/v1/emergencies", case_body(), 201)
    words = {
        "zh": ("急诊会诊室 · 心内科", "进行中", "已结束", "已由会诊中心撤回"),
        "en": (
            "Emergency room · Cardiology",
            "open",
            "ended",
            "withdrawn by the consultation centre",
        ),
    }
    for who in (BEIJING_ZH, NEW_YORK_EN):
        lang = who[0]
        label, open_word, ended_word, why = words[lang]
        dash = await reader(app_server, who, f"#cases/{case_id}")
        page = dash.page
        for opened, status, end in (
            (withdrawn, ended_word, why),
            (running, open_word, None),
        ):
            room_id = opened["room"]["id"]
            await page.goto(f"{app_server.url}/dashboard?lang={lang}#cases/{opened['case']['id']}")
            # the case's one room (a case has one emergency room)
            room = page.locator("[data-testid=case-rooms] li")
            await room.wait_for(timeout=TIMEOUT_MS)
            card = await page.locator("[data-testid=case-rooms]").inner_text()
            assert room_id not in card and "emergency_" not in card, card
            assert "EMERGENCY" not in card, card
            assert await room.get_attribute("data-room-id") == room_id
            assert await room.locator("strong").inner_text() == label
            assert room_id in (await room.locator("strong").get_attribute("title") or "")
            assert await room.locator("[data-testid=case-room-status]").inner_text() == status
            ends = room.locator("[data-testid=case-room-end]")
            assert (await ends.all_inner_texts()) == ([end] if end else [])
            await page.locator("[data-testid=case-rooms]").screenshot(
                path=shot(f"emergency-rooms-{lang}-{'ended' if end else 'open'}")
            )
        await axe_clean(page, f"emergency case rooms {lang}")
