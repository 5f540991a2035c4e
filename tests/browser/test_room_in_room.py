"""In the room (issue 10, item 4), in headless Chromium against the real server: chat, raise
hand, a screen share shown as its own tile and recorded as its own file, the case panel with
the PDF (pdf.js) and DICOM (dwv) attachments viewed inline, the referring doctor's upload from
the room, the leave notice, the network indicator and the audio-only switch, the localized
REC badge; axe-core on each state, screenshots kept; the same in zh-CN with no English left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.browser.conftest import csp_violations
from tests.browser.room_scene import (
    EVENT_TIMEOUT_MS,
    MEDIA_TIMEOUT_MS,
    PNG_1PX,
    artifact,
    case_with_files,
    nonblank_canvas,
    run_axe,
    untranslated,
)
from tests.helpers import ServerHandle
from vidconsult.account_admin import create_account
from vidconsult.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

Open = Callable[..., Awaitable[Any]]
PASSWORD = "correct horse battery"
# dr-wang's shared screen plays in a tile of its own, apart from dr-wang's camera
JS_SCREEN_SHOWN = """() => {
  const v = document.querySelector('[data-testid=screen-tile][data-screen=dr-wang] video');
  const cam = document.querySelector('video[data-identity=dr-wang]');
  return v && v.videoWidth > 0 && v.currentTime > 0.3 && cam && cam !== v
    && v.srcObject !== cam.srcObject;
}"""
# what dr-wang publishes, as a page's participant list has it
JS_SOURCES = """() =>
  (window.vidconsult.page.roster.get('dr-wang') || {tracks: []}).tracks.map(t => t.source).sort()"""
JS_ALL_SOURCES_BACK = f"() => ({JS_SOURCES})().join() === 'camera,microphone,screen'"
# what a page knows of dr-wang's shared screen, for a failure's report
SCREEN_DIAGNOSIS = """() => {
  const page = window.vidconsult.page;
  const s = page.session;
  const v = document.querySelector('[data-testid=screen-tile] video');
  return {
    state: page.state,
    tracks: (page.roster.get('dr-wang') || {tracks: []}).tracks,
    offerMap: s && s.lastTracks,
    screens: s && [...s.remoteScreens.keys()],
    sharing: s && !!s.screenStream,
    sub: s && s.subscribePc && s.subscribePc.connectionState,
    pub: s && s.publishPc && s.publishPc.connectionState,
    video: v && {w: v.videoWidth, t: v.currentTime, ready: v.readyState},
  };
}"""


@pytest.fixture
async def open_page(browser: Any) -> AsyncIterator[Open]:
    """A participant's page in a browser context of its own; the consoles are printed at
    teardown (shown when the test failed) and must hold no CSP violation."""
    logs: list[str] = []
    contexts: list[Any] = []

    async def opener(who: str, url: str, lang: str, clock: bool = False) -> Any:
        context = await browser.new_context(
            permissions=["camera", "microphone"],
            viewport={"width": 1366, "height": 768},
            locale="zh-CN" if lang == "zh" else "en-GB",
        )
        contexts.append(context)
        page = await context.new_page()
        if clock:  # the page's clock seam: the test moves its time forward
            await page.clock.install()
        page.on("console", lambda m: logs.append(f"[{who}] {m.type}: {m.text}"))
        page.on("pageerror", lambda e: logs.append(f"[{who}] pageerror: {e}"))
        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        base, _, fragment = url.partition("#")
        await page.goto(f"{base}?lang={lang}#{fragment}")
        return page

    yield opener
    print("\n".join(logs[-150:]))
    for context in contexts:
        await context.close()
    assert csp_violations(logs) == []


async def join(page: Any) -> None:
    await page.wait_for_selector("[data-testid=join-button]:enabled", timeout=EVENT_TIMEOUT_MS)
    await page.click("[data-testid=join-button]")
    try:
        await page.wait_for_function(
            "() => window.vidconsult && window.vidconsult.state === 'joined'",
            timeout=MEDIA_TIMEOUT_MS,
        )
    except Exception:
        state = await page.evaluate("[window.vidconsult.state, window.vidconsult.reason]")
        status = await page.inner_text("[data-testid=status]")
        raise AssertionError(f"not joined: state, reason {state}, status {status!r}") from None


async def link(server: ServerHandle, room_id: str, identity: str, role: str, name: str) -> str:
    data = await server.join_token(room_id, identity, role, name)
    return str(data["join_url"])


async def wait_badge(page: Any, identity: str, text: str, present: bool = True) -> None:
    """Until ``identity``'s entry in the participant list has (or, ``present=False``, no
    longer has) a badge reading ``text``. Not just any badge: a participant may wear another
    meanwhile ("no media yet" while its camera is published, "reconnecting" after a rejoin on a
    loaded machine)."""
    await page.wait_for_function(
        """([who, text, present]) => [...document.querySelectorAll(
             `#participants li[data-participant="${who}"] .badge`)]
             .some((b) => b.textContent === text) === present""",
        arg=[identity, text, present],
        timeout=EVENT_TIMEOUT_MS,
    )


async def check_state(
    page: Any, name: str, axe_failures: dict[str, Any], within: str | None = None
) -> None:
    await page.screenshot(path=artifact(name), full_page=True)
    bad = await run_axe(page, name, within)
    if bad:
        axe_failures[name] = bad


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_in_the_room(
    live_server: ServerHandle, settings: Settings, browser: Any, open_page: Open, lang: str
) -> None:
    case = await case_with_files(live_server, browser)
    room = await live_server.create_room("Cardiology consult", case_id=case["id"])
    rid = room["id"]
    expert = await open_page(
        "expert", await link(live_server, rid, "dr-wang", "expert", "Dr Wang"), lang
    )
    patient_url = await link(live_server, rid, "pt-zhang", "patient", "Zhang San")
    patient = await open_page("patient", patient_url, lang)
    doctor_url = await link(live_server, rid, "dr-zhao", "doctor", "Dr Zhao")
    doctor = await open_page("doctor", doctor_url, lang)
    axe_failures: dict[str, Any] = {}
    for page in (expert, patient, doctor):
        await join(page)

    # the case panel: summary and both files, for every participant
    for page in (expert, patient):
        await page.wait_for_selector("[data-testid=case-panel]:not([hidden])")
        await page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=attachment]').length === 2"
        )
    assert "Chest pain on exertion" in await patient.inner_text("[data-testid=case-summary]")
    # the REC badge (consultations record by default), in the page's language
    await expert.wait_for_selector("[data-testid=recording-indicator]:not([hidden])")
    badge = await expert.inner_text("[data-testid=recording-indicator]")
    assert badge == ("● 录制中" if lang == "zh" else "● REC")
    await check_state(expert, f"room-{lang}-1-joined", axe_failures)

    # chat both ways
    await expert.fill("[data-testid=chat-input]", "Please show the ECG.")
    await expert.click("[data-testid=chat-send]")
    await patient.wait_for_selector("[data-testid=chat-message]:has-text('Please show the ECG.')")
    await patient.fill("[data-testid=chat-input]", "我胸口痛")
    await patient.press("[data-testid=chat-input]", "Enter")
    await expert.wait_for_selector("[data-testid=chat-message]:has-text('我胸口痛')")

    # the patient raises a hand, then the doctor: the expert sees each badge with its place in
    # the queue (the order they went up), and a notice
    first, second = (
        ("已举手（第1位）", "已举手（第2位）")
        if lang == "zh"
        else ("hand raised (#1)", "hand raised (#2)")
    )
    await patient.click("[data-testid=hand-button]")
    await wait_badge(expert, "pt-zhang", first)
    # the patient's own button says so once the server answered it (which may come after the
    # expert heard of the hand)
    await patient.wait_for_selector(
        "[data-testid=hand-button][aria-pressed=true]", timeout=EVENT_TIMEOUT_MS
    )
    await doctor.click("[data-testid=hand-button]")
    await wait_badge(expert, "dr-zhao", second)
    queued = expert.locator("#participants li[data-participant=pt-zhang] .badge")
    assert first in await queued.all_inner_texts()  # still first, with the second up
    await check_state(expert, f"room-{lang}-2-hands-queued", axe_failures)
    # the doctor lowers it again; the patient's hand is still first
    await doctor.click("[data-testid=hand-button]")
    await wait_badge(expert, "dr-zhao", second, present=False)
    assert first in await queued.all_inner_texts()
    await check_state(patient, f"room-{lang}-2-chat-hand", axe_failures)

    # the expert shares a screen: the patient's page shows it as a tile of its own
    await expert.click("[data-testid=screen-button]")
    try:
        await patient.wait_for_function(JS_SCREEN_SHOWN, timeout=MEDIA_TIMEOUT_MS)
    except Exception:
        seen = await patient.evaluate(SCREEN_DIAGNOSIS)
        shared = await expert.evaluate(SCREEN_DIAGNOSIS)
        raise AssertionError(f"no screen tile: patient {seen}, expert {shared}") from None
    # the expert's connection drops: the page joins again and shares the same screen again
    await patient.evaluate(
        "document.querySelector('[data-testid=screen-tile] video').dataset.before = 'drop'"
    )
    await expert.evaluate("window.vidconsult.dropConnection()")
    await patient.wait_for_function(
        "() => !document.querySelector('[data-testid=screen-tile] video[data-before]')",
        timeout=MEDIA_TIMEOUT_MS,
    )
    await patient.wait_for_function(JS_SCREEN_SHOWN, timeout=MEDIA_TIMEOUT_MS)
    # the rejoined page shares its screen again before it publishes its camera and microphone
    # (room-screen.js on "joined", then the publish): each is announced as it comes
    try:
        await patient.wait_for_function(JS_ALL_SOURCES_BACK, timeout=MEDIA_TIMEOUT_MS)
    except Exception:
        sources = await patient.evaluate(JS_SOURCES)
        raise AssertionError(f"dr-wang's tracks after the rejoin: {sources}") from None
    await check_state(patient, f"room-{lang}-3-screen-share", axe_failures)

    # both open the PDF and the DICOM file in the panel
    for who, page in (("patient", patient), ("expert", expert)):
        await page.click("[data-testid=view-attachment][data-kind=pdf]")
        await page.wait_for_selector("[data-testid=viewer][data-state=shown] canvas[data-rendered]")
        assert await nonblank_canvas(page, "[data-testid=viewer-pdf] canvas")
        await check_state(page, f"room-{lang}-4-pdf-{who}", axe_failures)
        await page.click("[data-testid=viewer-close]")
        await page.click("[data-testid=view-attachment][data-kind=dicom]")
        await page.wait_for_selector(
            "[data-testid=viewer][data-state=shown] [data-testid=viewer-dicom][data-rendered]"
        )
        await page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=viewer-dicom] canvas').length > 0"
        )
        assert await nonblank_canvas(page, "[data-testid=viewer-dicom] canvas")
        await check_state(page, f"room-{lang}-5-dicom-{who}", axe_failures)
        await page.click("[data-testid=viewer-close]")

    # the referring doctor adds a file from the room; the others' panels list it
    assert await patient.is_hidden("form.case-upload")
    await doctor.set_input_files(
        "[data-testid=case-upload-input]",
        files=[{"name": "lab.png", "mimeType": "image/png", "buffer": PNG_1PX}],
    )
    await doctor.click("[data-testid=case-upload-button]")
    await expert.wait_for_selector("[data-testid=attachment]:has-text('lab.png')")
    await check_state(doctor, f"room-{lang}-6-upload", axe_failures)

    # the network indicator measures; a poor link suggests audio only
    await patient.wait_for_selector("[data-testid=net-indicator]:not([hidden])")
    poor = {"rttMs": 900, "lossPct": 15, "kbps": 60, "receiving": True}
    for _ in range(3):
        await patient.evaluate("(s) => window.vidconsult.feedNetworkSample(s)", poor)
    await patient.wait_for_selector("[data-testid=audio-only-suggestion]:not([hidden])")
    await check_state(patient, f"room-{lang}-7-poor-link", axe_failures)
    await patient.click("[data-testid=suggest-audio-only]")
    await patient.wait_for_selector("[data-testid=audio-only-toggle][aria-pressed=true]")
    assert await patient.get_attribute("[data-testid=camera-button]", "aria-pressed") == "true"

    if lang == "zh":
        for name, page in (("expert", expert), ("patient", patient), ("doctor", doctor)):
            assert await untranslated(page) == [], name

    # a room admin (the expert, once the grants table makes experts admins; the referring
    # doctor until then) removes the patient: the others are told; the same link stays shut
    remover = expert if await expert.evaluate("window.vidconsult.page.grants.admin") else doctor
    await remover.click("#participants li[data-participant=pt-zhang] [data-testid=remove-button]")
    await patient.wait_for_function("() => window.vidconsult.state === 'removed'")
    await expert.wait_for_selector("[data-testid=notice]")
    await check_state(expert, f"room-{lang}-8-removed-notice", axe_failures)
    again = await open_page("patient-again", patient_url, lang)
    await again.wait_for_function(
        "() => window.vidconsult && ['blocked', 'error'].includes(window.vidconsult.state) ||"
        " !!document.querySelector('[data-testid=join-button]:enabled')",
        timeout=EVENT_TIMEOUT_MS,
    )
    if await again.evaluate("window.vidconsult.state === 'prejoin'"):
        await again.click("[data-testid=join-button]")
    await again.wait_for_function(
        "() => ['blocked', 'error'].includes(window.vidconsult.state)", timeout=EVENT_TIMEOUT_MS
    )
    assert await again.evaluate("window.vidconsult.reason") == "token_revoked"
    await check_state(again, f"room-{lang}-9-revoked-link", axe_failures)
    if lang == "zh":
        assert await untranslated(again) == []
    # stop the recording: the index lists the screen share as a file of its own
    await expert.click("[data-testid=screen-button]")  # stop sharing
    status, _ = await live_server.api("POST", f"/api/v1/rooms/{rid}/recording/stop")
    assert status == 200
    _, listing = await live_server.api("GET", f"/api/v1/recordings?room_id={rid}")
    files = {(r["identity"], r["source"]) for r in listing["recordings"]}
    assert ("dr-wang", "screen") in files and ("dr-wang", "camera") in files, files
    # the chat is kept with the case
    _, chat = await live_server.api("GET", f"/api/v1/cases/{case['id']}/chat")
    assert [m["text"] for m in chat["messages"]] == ["Please show the ECG.", "我胸口痛"]

    # the dashboard's case view shows that transcript, and the case panel's reads in the trail
    await asyncio.to_thread(
        create_account, settings.data_dir, "li.coord", "coordinator", PASSWORD, "Li"
    )
    board = await open_page("dashboard", f"{live_server.url}/dashboard#", lang)
    await board.fill("[data-testid=username]", "li.coord")
    await board.fill("[data-testid=password]", PASSWORD)
    await board.click("[data-testid=sign-in-button]")
    await board.wait_for_selector("[data-testid=signed-in-as]", timeout=EVENT_TIMEOUT_MS)
    await board.goto(f"{live_server.url}/dashboard?lang={lang}#cases/{case['id']}")
    await board.wait_for_selector("[data-testid=case-chat] [data-testid=chat-entry]")
    entries = await board.locator("[data-testid=chat-entry]").all_inner_texts()
    assert "Please show the ECG." in entries[0] and "我胸口痛" in entries[1], entries
    # two screen files: before and after the expert's connection dropped
    screen_row = board.locator("[data-testid=recording-row][data-source=screen]").first
    await screen_row.wait_for(timeout=EVENT_TIMEOUT_MS)
    assert await screen_row.get_attribute("data-identity") == "dr-wang"
    assert await screen_row.locator("[data-testid=recording-screen]").count() == 1
    views = board.locator("[data-testid=audit-row][data-action='case.view']")
    # every participant's case panel read the summary (once a join: the pages may join again
    # on a loaded machine, an added file does not re-read it)
    readers = await views.locator("td:nth-child(2)").all_inner_texts()
    assert len(set(readers)) == 3, readers
    # axe on the transcript card: the dashboard's other cards are another part of issue 10
    # (item 6: the recordings card's badges still fail colour contrast)
    await check_state(
        board, f"room-{lang}-10-dashboard-transcript", axe_failures, "[data-testid=case-chat]"
    )
    if lang == "zh":
        assert "在会诊室中查看病例摘要" in await views.first.inner_text()
    assert axe_failures == {}
