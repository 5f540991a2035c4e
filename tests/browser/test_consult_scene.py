"""Issue 10's whole scene in headless Chromium against the real server: a patient opens a
too-early link (the countdown), at the opening time waits in the lobby; the expert joins and
admits the patient; they chat; the expert shares a screen that the patient's page shows as a
tile of its own; both open the case's PDF and DICOM file in the case panel; the referring
doctor adds a file from the room; the expert removes the patient, whose link no longer works;
the recording index lists the screen share as a file of its own. In English and in Chinese
(no English phrase of the page's table left), axe-core and a screenshot at every state.

"Too early -> the right time" goes through clock seams, not waiting: the server runs on a
clock the test can move forward (real time plus a shift), and the patient's page on
Playwright's installed clock; both jump 10 minutes, and the page's own countdown re-checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.browser.room_scene import (
    EVENT_TIMEOUT_MS,
    MEDIA_TIMEOUT_MS,
    PNG_1PX,
    case_with_files,
    nonblank_canvas,
    untranslated,
)
from tests.browser.test_room_in_room import (  # noqa: F401 (open_page is a fixture)
    JS_SCREEN_SHOWN,
    Open,
    check_state,
    join,
    link,
    open_page,
)
from tests.helpers import ServerHandle, served
from vidconsult.config import Settings
from vidconsult.domain.roles import Role

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(420)]

OPENS_AFTER = timedelta(minutes=10)


class ShiftedClock:
    """The real time plus a shift the test moves forward (the server's clock seam)."""

    def __init__(self) -> None:
        self.shift = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def advance(self, by: timedelta) -> None:
        self.shift += by


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def clocked_server(settings: Settings, clock: ShiftedClock) -> AsyncIterator[ServerHandle]:
    """The real server (REST, signaling, aiortc media, recording) on the test's clock."""
    async with served(settings, clock=clock) as handle:
        yield handle


async def state_is(page: Any, *states: str, timeout: int = EVENT_TIMEOUT_MS) -> str:
    await page.wait_for_function(
        "(s) => window.vidconsult && s.includes(window.vidconsult.state)",
        arg=list(states),
        timeout=timeout,
    )
    return str(await page.evaluate("window.vidconsult.state"))


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_the_whole_consult(
    clocked_server: ServerHandle,
    clock: ShiftedClock,
    browser: Any,
    open_page: Open,  # noqa: F811 (the fixture imported above)
    lang: str,
) -> None:
    live_server = clocked_server
    shots: dict[str, Any] = {}

    async def shot(page: Any, name: str) -> None:
        await check_state(page, f"scene-{lang}-{name}", shots)
        if lang == "zh":
            assert await untranslated(page) == [], name

    case = await case_with_files(live_server, browser)
    status, room = await live_server.api(
        "POST",
        "/api/v1/rooms",
        {"name": "Cardiology consult", "case_id": case["id"], "lobby": True},
    )
    assert status == 201, room
    rid = room["id"]
    early = live_server.signer.mint(
        identity="pt-zhang",
        role=Role.PATIENT,
        name="Zhang San",
        room=rid,
        case=case["id"],
        now=clock.now(),
        ttl=timedelta(hours=2),
        not_before=clock.now() + OPENS_AFTER,
    )
    patient_url = f"{live_server.url}/room/{rid}#token={early}"

    # too early: the page counts down to the opening time, the camera untouched
    patient = await open_page("patient", patient_url, lang, clock=True)
    await state_is(patient, "early", "blocked")
    await patient.wait_for_selector("[data-testid=countdown]:not([hidden])")
    await shot(patient, "1-too-early-countdown")

    # the expert and the referring doctor join meanwhile (both run the consult: no lobby)
    expert = await open_page(
        "expert", await link(live_server, rid, "dr-wang", "expert", "Dr Wang"), lang
    )
    doctor = await open_page(
        "doctor", await link(live_server, rid, "dr-zhao", "doctor", "Dr Zhao"), lang
    )
    await join(expert)
    await join(doctor)

    # at the opening time (both clocks 10 minutes on) the page checks again by itself
    assert await state_is(patient, "early", "blocked") == "early"
    clock.advance(OPENS_AFTER)
    await patient.clock.fast_forward(int(OPENS_AFTER.total_seconds() * 1000))
    await state_is(patient, "prejoin")
    if await patient.locator("[data-testid=consent-yes]").is_visible():
        await patient.check("[data-testid=consent-yes]")
    await patient.click("[data-testid=join-button]:enabled")
    await state_is(patient, "lobby")
    await shot(patient, "2-lobby")

    # the expert admits the patient
    person = "[data-testid=waiting-person][data-identity=pt-zhang]"
    await expert.wait_for_selector(person)
    await shot(expert, "3-expert-sees-waiting")
    await expert.click(f"{person} [data-testid=admit-button]")
    await state_is(patient, "joined", timeout=MEDIA_TIMEOUT_MS)

    # they chat
    await expert.fill("[data-testid=chat-input]", "Please show the ECG.")
    await expert.click("[data-testid=chat-send]")
    await patient.wait_for_selector("[data-testid=chat-message]:has-text('Please show the ECG.')")
    await patient.fill("[data-testid=chat-input]", "好的，医生")
    await patient.press("[data-testid=chat-input]", "Enter")
    await expert.wait_for_selector("[data-testid=chat-message]:has-text('好的，医生')")
    await shot(patient, "4-chat")

    # the referring doctor's page reloads (its PC restarted): the room's chat so far is back
    await doctor.reload()
    await join(doctor)
    lines = doctor.locator("[data-testid=chat-message] .chat-text")
    await lines.nth(1).wait_for()
    assert await lines.all_inner_texts() == ["Please show the ECG.", "好的，医生"]

    # the expert shares a screen: the patient's page shows it as a tile of its own
    await expert.click("[data-testid=screen-button]")
    await patient.wait_for_function(JS_SCREEN_SHOWN, timeout=MEDIA_TIMEOUT_MS)
    await shot(patient, "5-screen-share")

    # both open the case's PDF and DICOM file in the panel
    for who, page in (("patient", patient), ("expert", expert)):
        await page.click("[data-testid=view-attachment][data-kind=pdf]")
        await page.wait_for_selector("[data-testid=viewer][data-state=shown] canvas[data-rendered]")
        assert await nonblank_canvas(page, "[data-testid=viewer-pdf] canvas")
        await shot(page, f"6-pdf-{who}")
        await page.click("[data-testid=viewer-close]")
        await page.click("[data-testid=view-attachment][data-kind=dicom]")
        await page.wait_for_selector(
            "[data-testid=viewer][data-state=shown] [data-testid=viewer-dicom][data-rendered]"
        )
        assert await nonblank_canvas(page, "[data-testid=viewer-dicom] canvas")
        await shot(page, f"7-dicom-{who}")
        await page.click("[data-testid=viewer-close]")

    # the referring doctor adds a file from the room; the expert's panel lists it
    await doctor.set_input_files(
        "[data-testid=case-upload-input]",
        files=[{"name": "lab.png", "mimeType": "image/png", "buffer": PNG_1PX}],
    )
    await doctor.click("[data-testid=case-upload-button]")
    await expert.wait_for_selector("[data-testid=attachment]:has-text('lab.png')")
    await shot(doctor, "8-upload")

    # the expert removes the patient, who cannot come back with the same link
    await expert.click("#participants li[data-participant=pt-zhang] [data-testid=remove-button]")
    await state_is(patient, "removed")
    await shot(patient, "9-removed")
    await patient.reload()
    await state_is(patient, "blocked", "error")
    assert await patient.evaluate("window.vidconsult.reason") == "token_revoked"
    await shot(patient, "10-link-refused")

    # the recording index lists the screen share as a file of its own
    await expert.click("[data-testid=screen-button]")
    status, _ = await live_server.api("POST", f"/api/v1/rooms/{rid}/recording/stop")
    assert status == 200
    _, listing = await live_server.api("GET", f"/api/v1/recordings?room_id={rid}")
    files = {(r["identity"], r["source"]) for r in listing["recordings"]}
    assert ("dr-wang", "screen") in files and ("dr-wang", "camera") in files, files
    assert shots == {}
