"""Who is speaking, in headless Chromium against the real server: the pre-join microphone
check ("we can hear you" with Chromium's fake microphone, which beeps every half second; what
to check after ~5 s of a microphone that gives only silence), the ring and the word on the tile
of a participant who speaks, never on the tile of one who muted, no flicker between the beeps,
our own level on our tile, and the active speaker of a grid of four people. In English and in
Chinese (no English phrase of the page's table left), axe-core and a screenshot at each state.
With real speech and a real room's noise (tests/audio_scenes.py): a soft voice is heard by the
microphone check and lights the tile from each sentence's start to its end, over the room's
noise too; the noise alone and a cough never light it.

The indicator is computed in each page from its own getStats (web/static/speaking.js): these
tests read the page's tiles and its hooks (window.vidconsult.speaking), never the server."""

from __future__ import annotations

import math
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests import audio_scenes
from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.room_scene import EVENT_TIMEOUT_MS, MEDIA_TIMEOUT_MS, untranslated
from tests.browser.test_room_in_room import (  # noqa: F401 (open_page is a fixture)
    Open,
    check_state,
    join,
    link,
    open_page,
)
from tests.helpers import ServerHandle, require_module

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

SPEAKING = {"en": "Speaking", "zh": "正在说话"}
HEARD = {"en": "we can hear you", "zh": "能听到您的声音"}
SILENT = {"en": "No sound has come from your microphone", "zh": "没有收到麦克风的声音"}


async def not_translated(page: Any) -> list[str]:
    """English phrases of the page's table left on a zh-CN page; a device's name is the
    browser's (Chromium calls its default speaker "Default"), not a string of the page."""
    labels = await page.evaluate(
        "async () => (await navigator.mediaDevices.enumerateDevices()).map((d) => d.label)"
    )
    return [p for p in await untranslated(page) if not any(p in label for label in labels)]


def entry(identity: str) -> str:
    """The participants list's entry of ``identity``."""
    return f"#participants li[data-participant='{identity}']"


def tile(identity: str) -> str:
    return f"#tiles .tile[data-participant='{identity}']"


# what a page's indicator knows, for a failure's report
JS_DIAGNOSIS = """() => {
  const h = window.vidconsult, s = h.speaking;
  return { state: h.state, samples: s.samples, speaking: s.speaking, active: s.active,
           changes: s.changes.slice(-12), self: s.self,
           levels: s.levels.slice(-80).map((l) =>
             [l.identity, Math.round(l.at), +l.level.toFixed(4)]),
           tiles: [...document.querySelectorAll('#tiles .tile')].map((t) =>
             [t.dataset.participant, t.dataset.speaking]) };
}"""


async def speaking_is(page: Any, identity: str, on: bool, timeout: int = MEDIA_TIMEOUT_MS) -> None:
    try:
        await page.wait_for_selector(
            f"{tile(identity)}[data-speaking='{'true' if on else 'false'}']",
            state="attached",
            timeout=timeout,
        )
    except Exception:
        seen = await page.evaluate(JS_DIAGNOSIS)
        raise AssertionError(f"{identity} not speaking={on}: {seen}") from None


async def samples_pass(page: Any, n: int) -> None:
    """The page's speaking indicator takes ``n`` more samples (5 a second): time passes on the
    page's own clock, not a sleep of the test's."""
    start = await page.evaluate("window.vidconsult.speaking.samples")
    await page.wait_for_function(
        "(n) => window.vidconsult.speaking.samples >= n", arg=start + n, timeout=EVENT_TIMEOUT_MS
    )


async def changes(page: Any, identity: str) -> list[dict[str, Any]]:
    return list(
        await page.evaluate(
            "(id) => window.vidconsult.speaking.changes.filter((c) => c.identity === id)", identity
        )
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_who_is_speaking(
    live_server: ServerHandle,
    open_page: Open,  # noqa: F811 (the fixture imported above)
    lang: str,
) -> None:
    room = await live_server.create_room("Cardiology consult")
    rid = room["id"]
    shots: dict[str, Any] = {}

    async def shot(page: Any, name: str) -> None:
        await check_state(page, f"speaking-{lang}-{name}", shots)
        if lang == "zh":
            assert await not_translated(page) == [], name

    expert = await open_page(
        "expert", await link(live_server, rid, "dr-wang", "expert", "Dr Wang"), lang
    )
    patient = await open_page(
        "patient", await link(live_server, rid, "pt-zhang", "patient", "Zhang San"), lang
    )
    doctor = await open_page(
        "doctor", await link(live_server, rid, "dr-zhao", "doctor", "Dr Zhao"), lang
    )

    # the pre-join microphone check: the fake microphone's beeps are heard
    await patient.wait_for_selector("[data-testid=mic-check][data-state=heard]", timeout=20_000)
    assert HEARD[lang] in await patient.inner_text("[data-testid=mic-check]")
    assert await patient.is_hidden("[data-testid=mic-check-start]")
    await shot(patient, "1-prejoin-mic-heard")

    for page in (expert, patient, doctor):
        await join(page)

    # both beeping participants show as speaking on the expert's page, with the word
    for identity in ("pt-zhang", "dr-zhao"):
        await speaking_is(expert, identity, True)
    cue = f"{tile('pt-zhang')} [data-testid=speaking-cue]"
    assert await expert.is_visible(cue), str(await expert.evaluate(JS_DIAGNOSIS))
    assert (await expert.inner_text(cue)).strip() == SPEAKING[lang]
    # the participants list says it too, by the name (never on our own entry)
    for identity in ("pt-zhang", "dr-zhao"):
        await expert.wait_for_selector(
            f"{entry(identity)}[data-speaking=true] [data-testid=speaking-mark]",
            state="visible",
            timeout=EVENT_TIMEOUT_MS,
        )
    mark = f"{entry('pt-zhang')} [data-testid=speaking-mark]"
    assert (await expert.inner_text(mark)).strip() == SPEAKING[lang]
    assert await expert.is_hidden(f"{entry('dr-wang')} [data-testid=speaking-mark]")
    # our own level on our own tile while the microphone beeps
    await patient.wait_for_function(
        "() => window.vidconsult.speaking.self.speaking &&"
        " document.querySelector('[data-testid=local-level]').value > 0.02",
        timeout=MEDIA_TIMEOUT_MS,
    )
    await shot(expert, "2-both-speaking")
    await shot(patient, "2-own-level")

    # the doctor mutes: off on the expert's page, and it stays off while the patient beeps on
    await doctor.click("[data-testid=mute-button]")
    await expert.wait_for_selector(
        "#participants li[data-participant='dr-zhao'][data-audio=muted]", timeout=EVENT_TIMEOUT_MS
    )
    await speaking_is(expert, "dr-zhao", False, timeout=5_000)
    assert await expert.is_hidden(f"{tile('dr-zhao')} [data-testid=speaking-cue]")
    assert await expert.is_hidden(f"{entry('dr-zhao')} [data-testid=speaking-mark]")
    # the list was drawn again for the mute: the patient, still speaking, keeps the word there
    assert await expert.get_attribute(entry("pt-zhang"), "data-speaking") == "true", str(
        await expert.evaluate(JS_DIAGNOSIS)
    )
    assert await expert.is_visible(f"{entry('pt-zhang')} [data-testid=speaking-mark]")
    muted_at = await expert.evaluate("performance.now()")
    await samples_pass(expert, 20)  # 4 s of the page's samples
    assert await expert.get_attribute(tile("dr-zhao"), "data-speaking") == "false"
    assert [c for c in await changes(expert, "dr-zhao") if c["at"] > muted_at] == []
    # the patient beeps every 500 ms: one "on", then no "off" in between (no flicker)
    patient_changes = await changes(expert, "pt-zhang")
    assert patient_changes[0]["speaking"] is True, patient_changes
    assert [c for c in patient_changes if not c["speaking"]] == [], str(
        (patient_changes, await expert.evaluate(JS_DIAGNOSIS))
    )
    assert await expert.get_attribute(tile("pt-zhang"), "data-speaking") == "true"
    # the doctor's own tile: no level, not speaking, while muted
    await doctor.wait_for_function(
        "() => !window.vidconsult.speaking.self.speaking &&"
        " document.querySelector('[data-testid=local-level]').value === 0",
        timeout=EVENT_TIMEOUT_MS,
    )
    await shot(expert, "3-muted-not-speaking")

    # the doctor unmutes: speaking again (the indicator follows the microphone both ways)
    await doctor.click("[data-testid=mute-button]")
    await speaking_is(expert, "dr-zhao", True)
    assert shots == {}, shots


def silent_wav(path: Path, seconds: float = 2.0, rate: int = 48_000) -> Path:
    """A microphone that gives only silence: 16-bit mono zeros (Chromium loops the file)."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return path


Launch = Callable[[list[str]], Awaitable[Any]]


@pytest.fixture
async def launch(chromium_path: Path) -> AsyncIterator[Launch]:
    """Chromium with more switches than the shared fixture's (closed at teardown)."""
    playwright_api = require_module("playwright.async_api")
    async with playwright_api.async_playwright() as pw:
        browsers: list[Any] = []

        async def launcher(extra: list[str]) -> Any:
            instance = await pw.chromium.launch(
                executable_path=str(chromium_path), headless=True, args=[*CHROMIUM_ARGS, *extra]
            )
            browsers.append(instance)
            return instance

        try:
            yield launcher
        finally:
            for instance in browsers:
                await instance.close()


@pytest.fixture
async def silent_browser(launch: Launch, tmp_path: Path) -> Any:
    """Chromium whose fake microphone plays a silent file instead of its beeps."""
    wav = silent_wav(tmp_path / "silence.wav")
    return await launch([f"--use-file-for-fake-audio-capture={wav}"])


async def prejoin_page(browser: Any, url: str, lang: str, log: list[str]) -> Any:
    context = await browser.new_context(
        permissions=["camera", "microphone"],
        viewport={"width": 1366, "height": 768},
        locale="zh-CN" if lang == "zh" else "en-GB",
    )
    page = await context.new_page()
    page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
    base, _, fragment = url.partition("#")
    await page.goto(f"{base}?lang={lang}#{fragment}")
    return page


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_silent_microphone_says_what_to_check(
    live_server: ServerHandle, silent_browser: Any, lang: str
) -> None:
    room = await live_server.create_room("Cardiology consult")
    url = await link(live_server, room["id"], "pt-zhang", "patient", "Zhang San")
    log: list[str] = []
    page = await prejoin_page(silent_browser, url, lang, log)
    try:
        # the meter is measuring (a state the page sets only then)
        await page.wait_for_function("() => window.vidconsult.micCheck === 'listening'")
        listening_at = time.monotonic()
        hint = await page.inner_text("#mic-check-hint")
        assert hint == {"en": "Speak to test your microphone", "zh": "请说话，测试您的麦克风"}[lang]
        await page.wait_for_selector("[data-testid=mic-check][data-state=silent]", timeout=20_000)
        # not before ~5 s of silence (the meter's first ticks are not a verdict)
        assert time.monotonic() - listening_at > 4.0
        text = await page.inner_text("[data-testid=mic-check]")
        assert SILENT[lang] in text
        assert await page.evaluate("window.vidconsult.micLevel || 0") < 0.05
        # the Join button stays usable: a silent microphone does not keep anyone out
        assert await page.is_enabled("[data-testid=join-button]")
        shots: dict[str, Any] = {}
        await check_state(page, f"speaking-{lang}-prejoin-mic-silent", shots)
        assert shots == {}, shots
        if lang == "zh":
            assert await not_translated(page) == []
    finally:
        print("\n".join(log[-40:]))
        await page.context.close()


async def box(page: Any, identity: str) -> dict[str, float]:
    found = await page.locator(tile(identity)).bounding_box()
    assert found is not None, identity
    return dict(found)


async def test_the_active_speaker_leads_a_grid_of_four_and_does_not_jump(
    live_server: ServerHandle,
    open_page: Open,  # noqa: F811 (the fixture imported above)
) -> None:
    room = await live_server.create_room("Cardiology consult")
    rid = room["id"]
    people = [
        ("expert", "dr-wang", "expert", "Dr Wang"),
        ("patient", "pt-zhang", "patient", "Zhang San"),
        ("doctor", "dr-zhao", "doctor", "Dr Zhao"),
        ("village", "dr-li", "doctor", "Dr Li (village)"),
    ]
    pages = {}
    for who, identity, role, name in people:
        pages[who] = await open_page(who, await link(live_server, rid, identity, role, name), "en")
    for page in pages.values():
        await join(page)
    expert = pages["expert"]
    shots: dict[str, Any] = {}
    # everyone but the patient mutes: the patient, whose microphone beeps on, leads the grid
    for who in ("doctor", "village"):
        await pages[who].click("[data-testid=mute-button]")
    await expert.wait_for_selector(
        "#tiles.speaker-layout .tile.active-speaker[data-participant='pt-zhang']",
        state="attached",
        timeout=MEDIA_TIMEOUT_MS,
    )
    assert await expert.locator("#tiles .tile.active-speaker").count() == 1
    lead, other = await box(expert, "pt-zhang"), await box(expert, "dr-zhao")
    assert lead["y"] < other["y"] and lead["width"] > 1.5 * other["width"], (lead, other)
    await check_state(expert, "speaking-en-4-active-speaker", shots)

    # the village doctor speaks too while the patient goes on: the layout stays as it is
    await pages["village"].click("[data-testid=mute-button]")
    await speaking_is(expert, "dr-li", True)
    await samples_pass(expert, 15)  # 3 s: past the hold and the switch time
    assert await expert.evaluate("window.vidconsult.speaking.active") == "pt-zhang", str(
        await expert.evaluate(JS_DIAGNOSIS)
    )
    assert await expert.locator(f"{tile('dr-li')}.active-speaker").count() == 0

    # the patient mutes: the village doctor, who speaks on, leads the grid
    await pages["patient"].click("[data-testid=mute-button]")
    await expert.wait_for_selector(
        "#tiles.speaker-layout .tile.active-speaker[data-participant='dr-li']",
        state="attached",
        timeout=EVENT_TIMEOUT_MS,
    )
    lead, other = await box(expert, "dr-li"), await box(expert, "pt-zhang")
    assert lead["y"] < other["y"] and lead["width"] > 1.5 * other["width"], (lead, other)
    await check_state(expert, "speaking-en-5-active-speaker-changed", shots)
    assert shots == {}, shots


# The autoplay policy of a browser that starts page audio only after a click (Firefox, Safari;
# Chromium lets a page that captures the microphone start it, and Playwright's evaluate() would
# count as a click anyway): an AudioContext stays suspended until a real click on the page.
AUDIO_AFTER_CLICK = """(() => {
  const Native = window.AudioContext;
  let clicked = false;
  addEventListener("click", (e) => { if (e.isTrusted) clicked = true; }, true);
  window.AudioContext = class extends Native {
    get state() { return clicked ? super.state : "suspended"; }
    resume() { return clicked ? super.resume() : new Promise(() => {}); }
  };
})();"""


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_a_browser_that_waits_for_a_click_gets_a_button_for_the_microphone_check(
    live_server: ServerHandle, browser: Any, lang: str
) -> None:
    """The meter measures nothing until the click: a button asks for it, and the silence of a
    meter that did not run is no "no sound" verdict."""
    room = await live_server.create_room("Cardiology consult")
    url = await link(live_server, room["id"], "pt-zhang", "patient", "Zhang San")
    context = await browser.new_context(
        permissions=["camera", "microphone"],
        viewport={"width": 1366, "height": 768},
        locale="zh-CN" if lang == "zh" else "en-GB",
    )
    await context.add_init_script(AUDIO_AFTER_CLICK)
    page = await context.new_page()
    log: list[str] = []
    page.on("console", lambda m: log.append(f"{m.type}: {m.text}"))
    try:
        async with page.expect_console_message(
            lambda m: "microphone check waits for a click" in m.text, timeout=EVENT_TIMEOUT_MS
        ):
            base, _, fragment = url.partition("#")
            await page.goto(f"{base}?lang={lang}#{fragment}")
        start = page.locator("[data-testid=mic-check-start]")
        await start.wait_for(state="visible")
        label = {"en": "Start the microphone check", "zh": "开始测试麦克风"}[lang]
        assert (await start.inner_text()).strip() == label
        shots: dict[str, Any] = {}
        await check_state(page, f"speaking-{lang}-prejoin-mic-click", shots)
        if lang == "zh":
            assert await not_translated(page) == []
        # over 5 s (60 ticks of the page's meter) that cannot measure: still no verdict
        ticks = await page.evaluate("window.vidconsult.micTicks")
        await page.wait_for_function(
            "(n) => window.vidconsult.micTicks >= n", arg=ticks + 60, timeout=EVENT_TIMEOUT_MS
        )
        assert await page.evaluate("window.vidconsult.micCheck") != "silent"
        assert await page.inner_text("[data-testid=mic-check]") == ""
        await start.click()
        await page.wait_for_selector("[data-testid=mic-check][data-state=heard]", timeout=20_000)
        assert await start.is_hidden()
        await check_state(page, f"speaking-{lang}-prejoin-mic-click-heard", shots)
        assert shots == {}, shots
    finally:
        print("\n".join(log[-40:]))
        await context.close()


# Real speech and a real room's noise (tests/audio_scenes.py: espeak-ng and sox, made at test
# time): the indicator judged against where the speech is in the patient's microphone file.

# the levels the expert's page measured of the patient: (stream clock ms, level) since `since`
JS_LEVELS = """([id, since]) => window.vidconsult.speaking.levels
  .filter((l) => l.identity === id && l.at > since).map((l) => [l.at, l.level])"""
# the stream clock (ms) of the last level measured of the patient, null before the first
JS_CLOCK = """(id) => {
  const l = window.vidconsult.speaking.levels.filter((x) => x.identity === id);
  return l.length ? l[l.length - 1].at : null; }"""
JS_CLOCK_PAST = """([id, end]) => {
  const l = window.vidconsult.speaking.levels.filter((x) => x.identity === id);
  return l.length > 0 && l[l.length - 1].at >= end; }"""


async def scene_room(
    live_server: ServerHandle,
    open_page: Open,  # noqa: F811 (the fixture imported above)
    launch: Launch,
    scene: audio_scenes.Scene,
) -> tuple[Any, Any]:
    """The expert's page (Chromium's beeping fake microphone: its own sound is not watched)
    and a patient's page whose microphone plays ``scene``, both joined."""
    room = await live_server.create_room("Cardiology consult")
    rid = room["id"]
    expert = await open_page(
        "expert", await link(live_server, rid, "dr-wang", "expert", "Dr Wang"), "en"
    )
    mic = await launch([f"--use-file-for-fake-audio-capture={scene.path}"])
    patient = await prejoin_page(
        mic, await link(live_server, rid, "pt-zhang", "patient", "Zhang San"), "en", []
    )
    for page in (expert, patient):
        await join(page)
    return expert, patient


async def listen(expert: Any, seconds: float) -> tuple[float, list[tuple[float, float]]]:
    """``seconds`` of the patient's audio as the expert's page played it (the stream's own
    clock, not a sleep): the clock where listening began (s) and (end of interval s, level)."""
    await expert.wait_for_function(JS_CLOCK_PAST, arg=["pt-zhang", 0], timeout=MEDIA_TIMEOUT_MS)
    since = await expert.evaluate(JS_CLOCK, "pt-zhang")
    await expert.wait_for_function(
        JS_CLOCK_PAST,
        arg=["pt-zhang", since + seconds * 1000],
        timeout=int(seconds * 1000) + EVENT_TIMEOUT_MS,
    )
    levels = await expert.evaluate(JS_LEVELS, ["pt-zhang", since])
    return since / 1000, [(at / 1000, level) for at, level in levels]


def speech_fraction(scene: audio_scenes.Scene, start: float, end: float) -> float:
    """How much of the file's span [start, end) (seconds, the file looping) is speech."""
    total = 0.0
    base = math.floor(start / scene.seconds) * scene.seconds
    while base < end:
        for a, b in scene.speech:
            total += max(0.0, min(end, base + b) - max(start, base + a))
        base += scene.seconds
    return total / (end - start)


def fit_offset(scene: audio_scenes.Scene, since: float, levels: list[tuple[float, float]]) -> float:
    """Where the file stood when the stream's clock was 0 (mod its length): the offset at which
    the measured levels, loud or quiet, best follow the speech of the file. From the sound
    itself, not from the indicator being judged; loopback adds tens of ms, the 200 ms samples
    a little. Loud or quiet, not dB: a second of silence on a loaded machine (no packets, the
    receiver plays zeros) must weigh no more than the room's noise, or it drags the fit."""
    ranked = sorted(level for _, level in levels)
    low, high = ranked[len(ranked) // 10], ranked[len(ranked) * 9 // 10]
    middle = math.sqrt(max(low, 1e-4) * high)
    best, best_score = 0.0, -math.inf
    steps = int(scene.seconds / 0.02)
    for i in range(steps):
        offset = i * 0.02
        score, prev = 0.0, since
        for at, level in levels:
            if at <= prev:
                continue  # nothing played since the last sample
            fraction = speech_fraction(scene, prev + offset, at + offset)
            score += (fraction - 0.5) * (1 if level >= middle else -1)
            prev = at
        if score > best_score:
            best, best_score = offset, score
    return best


def percentiles(levels: list[float]) -> str:
    """The 5th, 50th and 95th percentile of some levels, as RMS and dBFS (for the report)."""
    ranked = sorted(levels)
    picks = [ranked[min(len(ranked) - 1, int(q * len(ranked)))] for q in (0.05, 0.5, 0.95)]
    return ", ".join(f"{v:.4f} ({audio_scenes.dbfs(v):.1f} dBFS)" for v in picks)


# When the indicator may change around a sentence of the file [start, end] (s). The stream's
# clock follows the file's with some jitter (the fake microphone's timer and the receiver's
# time stretching on a loaded machine: about +-0.3 s over a loop, measured): on no sooner than
# 0.3 s after the sentence starts (the 700 ms onset less the jitter and the meter's ~0.1 s
# lead) and within 1.4 s (the onset, one 200 ms sample, the jitter, a soft first syllable);
# off no sooner than 0.3 s after it ends (the 800 ms release less the meter's tail and the
# jitter) and within 1.6 s, about 1.5 s as asked of it: the release, the meter's ~0.3 s
# tail, one sample, the jitter. Measured: on 0.55-1.07 s, off 0.85-1.40 s.
ON_AFTER_START = (0.3, 1.4)
OFF_AFTER_END = (0.3, 1.6)
# an edge belongs to the sentence whose window (start - WINDOW[0], end + WINDOW[1]) holds it;
# the next sentence starts 2 s after: the windows do not overlap
WINDOW = (0.3, 1.7)


async def follows_the_speech(expert: Any, scene: audio_scenes.Scene) -> None:
    """Over one loop of the file and more, the patient's tile on the expert's page lights once
    for each sentence, from its start to its end, held against the file's known speech."""
    since, levels = await listen(expert, scene.seconds + 8)
    seen = await changes(expert, "pt-zhang")
    until = levels[-1][0]
    offset = fit_offset(scene, since, levels)
    at = [(at + offset, lv) for at, lv in levels]
    speech = [lv for t, lv in at if speech_fraction(scene, t - 0.4, t + 0.2) == 1]
    pause = [lv for t, lv in at if speech_fraction(scene, t - 0.6, t + 0.4) == 0]
    print(f"page levels of {scene.path.name}: speech {percentiles(speech)}; "
          f"pauses {percentiles(pause)}")  # fmt: skip
    edges = [
        (c["clock"] / 1000 + offset, c["speaking"])
        for c in seen
        if c["clock"] is not None and since + 1 < c["clock"] / 1000 <= until
    ]
    # each sentence heard whole in the window: one "on" as it starts, one "off" after it ends
    start_of_loop = math.floor((since + 1 + offset) / scene.seconds) * scene.seconds
    expected: list[tuple[float, float]] = []
    base = start_of_loop
    while base < until + offset:
        expected += [(base + a, base + b) for a, b in scene.speech]
        base += scene.seconds
    whole = [
        (a, b) for a, b in expected if a > since + 1 + offset and b + WINDOW[1] < until + offset
    ]
    assert len(whole) >= len(scene.speech), (whole, since, until)
    report = (offset, [(round(t, 2), on) for t, on in edges], whole)
    lags = []
    for a, b in whole:
        around = [(t, on) for t, on in edges if a - WINDOW[0] < t < b + WINDOW[1]]
        assert [on for _, on in around] == [True, False], report
        (on_at, _), (off_at, _) = around
        lags.append((round(on_at - a, 2), round(off_at - b, 2)))
        assert ON_AFTER_START[0] <= on_at - a <= ON_AFTER_START[1], (a, b, report)
        assert OFF_AFTER_END[0] <= off_at - b <= OFF_AFTER_END[1], (a, b, report)
    print(f"{scene.path.name}: (on after the start, off after the end) in s: {lags}")
    # and nothing else: no flicker in a sentence, no light in the pauses' noise
    inside = [
        (t, on) for t, on in edges if any(a - WINDOW[0] < t < b + WINDOW[1] for a, b in whole)
    ]
    first, last = whole[0][0] - WINDOW[0], whole[-1][1] + WINDOW[1]
    assert [e for e in edges if first < e[0] < last and e not in inside] == [], report


async def test_soft_real_speech_is_heard_by_the_microphone_check_and_lights_the_indicator(
    live_server: ServerHandle,
    open_page: Open,  # noqa: F811 (the fixture imported above)
    launch: Launch,
    tmp_path: Path,
) -> None:
    """(a) a patient who speaks softly (-33 dBFS active speech level), English and Mandarin."""
    scene = audio_scenes.soft_speech(tmp_path)
    room = await live_server.create_room("Cardiology consult")
    rid = room["id"]
    mic = await launch([f"--use-file-for-fake-audio-capture={scene.path}"])
    log: list[str] = []
    patient = await prejoin_page(
        mic, await link(live_server, rid, "pt-zhang", "patient", "Zhang San"), "en", log
    )
    # the pre-join check hears the soft voice
    await patient.wait_for_selector("[data-testid=mic-check][data-state=heard]", timeout=30_000)
    assert HEARD["en"] in await patient.inner_text("[data-testid=mic-check]")
    print("microphone check, loudest meter reading:", await patient.evaluate(
        "window.vidconsult.micLevel"))  # fmt: skip
    expert = await open_page(
        "expert", await link(live_server, rid, "dr-wang", "expert", "Dr Wang"), "en"
    )
    for page in (expert, patient):
        await join(page)
    await follows_the_speech(expert, scene)


async def test_real_speech_over_room_noise_lights_the_indicator_while_it_lasts(
    live_server: ServerHandle,
    open_page: Open,  # noqa: F811 (the fixture imported above)
    launch: Launch,
    tmp_path: Path,
) -> None:
    """(d) the soft speech over a fan's hum and a corridor's noise."""
    scene = audio_scenes.speech_in_noise(tmp_path)
    expert, _ = await scene_room(live_server, open_page, launch, scene)
    await follows_the_speech(expert, scene)


@pytest.mark.parametrize("scene", ["room_noise", "noise_with_click"])
async def test_room_noise_and_a_cough_never_light_the_indicator(
    live_server: ServerHandle,
    open_page: Open,  # noqa: F811 (the fixture imported above)
    launch: Launch,
    tmp_path: Path,
    scene: str,
) -> None:
    """(b) a fan and a corridor; (c) the same and a cough (150 ms) every 8 s: over 15 s of the
    patient's sound, the expert's page never shows the patient speaking."""
    made = getattr(audio_scenes, scene)(tmp_path)
    expert, _ = await scene_room(live_server, open_page, launch, made)
    since, levels = await listen(expert, 15)
    heard = [lv for _, lv in levels]
    print(f"page levels of {made.path.name}: {percentiles(heard)}, loudest {max(heard):.4f} "
          f"({audio_scenes.dbfs(max(heard)):.1f} dBFS)")  # fmt: skip
    loud = [(round(t - since, 2), round(lv, 3)) for t, lv in levels if lv >= 0.015]
    assert await changes(expert, "pt-zhang") == [], (loud, await expert.evaluate(JS_DIAGNOSIS))
    assert await expert.get_attribute(tile("pt-zhang"), "data-speaking") == "false"
