"""The consult room page as doctors, experts and patients meet it (issue 10, first half), in
headless Chromium against the real server: the link check before the camera (too early with a
countdown, then open; expired, withdrawn, forged, ended: in English and Chinese, with whom to
call), the pre-join step with the recording consent, the waiting room (admit, decline), the
removed patient whose reload is refused, a blocked camera, the three screen sizes, and the
dashboard's live-room view admitting and removing. Every state is screenshotted (artifacts
under $VIDCONSULT_ARTIFACTS/consult-room, default /tmp/vidconsult-artifacts) and checked with
axe-core (no serious or critical violation)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.browser.axe import serious_violations as axe_violations
from tests.browser.conftest import csp_violations
from tests.helpers import SECRET, ServerHandle, require_binary
from vidconsult.client import ClientError, RoomClient
from vidconsult.config import Settings
from vidconsult.domain.roles import Role
from vidconsult.tokens import TokenSigner

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

ARTIFACTS = (
    Path(os.environ.get("VIDCONSULT_ARTIFACTS", "/tmp/vidconsult-artifacts")) / "consult-room"
)
PHONE = "+86 10 8888 6666"
TIMEOUT_MS = 20_000
WEB = Path(__file__).resolve().parents[2] / "web"
ISO_INSTANT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
VIEWPORTS = {"1366x768": (1366, 768), "1024x600": (1024, 600), "390x844": (390, 844)}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {},
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "var",
        secret=SECRET,
        centre_phone=PHONE,
        recording_consent="ask",  # the pre-join step asks the patient side
    )


def strings() -> dict[str, Any]:
    node = require_binary("node")
    script = 'import("./static/i18n.js").then((m) => console.log(JSON.stringify(m.STRINGS)))'
    done = subprocess.run(
        [node, "--input-type=module", "-e", script],
        cwd=WEB,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout)


STRINGS: dict[str, Any] = {}


def table(lang: str) -> dict[str, Any]:
    if not STRINGS:
        STRINGS.update(strings())
    return STRINGS[lang]


def english_sentences() -> set[str]:
    """The English table's sentences (for "no untranslated string" on a Chinese page)."""
    out: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, str) and len(value) > 12 and " " in value and "{" not in value:
            out.add(value)

    walk(table("en"))
    return out


class Room:
    """One person's room page in a browser context of its own."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name
        self.log: list[str] = []
        page.on("console", lambda m: self.log.append(f"[{name}] {m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.log.append(f"[{name}] pageerror: {e}"))
        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))

    async def wait_state(self, *states: str) -> str:
        await self.page.wait_for_function(
            "(s) => window.vidconsult && s.includes(window.vidconsult.state)",
            arg=list(states),
            timeout=TIMEOUT_MS,
        )
        return str(await self.page.evaluate("window.vidconsult.state"))

    async def text(self, testid: str) -> str:
        return str(await self.page.locator(f"[data-testid={testid}]").inner_text())

    async def shot(self, state: str, lang: str = "en") -> None:
        """Screenshot (kept), axe-core, and no raw code or instant in what a person reads."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{state}.png"), full_page=True)
        violations = await axe_violations(self.page)
        assert violations == [], f"{state}: {json.dumps(violations, indent=1)}"
        body = str(await self.page.locator("body").inner_text())
        assert not ISO_INSTANT.search(body), f"{state}: a raw instant: {body}"
        assert not re.search(r"\b(token|room|lobby)_[a-z_]+\b", body), (
            f"{state}: a raw code: {body}"
        )
        if lang == "zh":
            left = [s for s in english_sentences() if s in body]
            assert left == [], f"{state}: untranslated: {left}"

    async def layout_ok(self, state: str) -> None:
        """Usable at 1366x768, 1024x600 and 390x844: no sideways overflow, sane buttons."""
        for label, (width, height) in VIEWPORTS.items():
            await self.page.set_viewport_size({"width": width, "height": height})
            sizes = await self.page.evaluate(
                """() => ({ overflow: document.documentElement.scrollWidth - window.innerWidth,
                  buttons: [...document.querySelectorAll("button")]
                    .filter((b) => b.offsetParent !== null)
                    .map((b) => [b.textContent.trim(), b.getBoundingClientRect().height,
                                 b.getBoundingClientRect().width]) })"""
            )
            assert sizes["overflow"] <= 0, f"{state} at {label}: {sizes}"
            for text, h, w in sizes["buttons"]:
                assert 32 <= h <= 72, f"{state} at {label}: button {text!r} is {h}px tall"
                assert w <= width, f"{state} at {label}: button {text!r} is {w}px wide"
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await self.page.screenshot(path=str(ARTIFACTS / f"{state}-{label}.png"))
        await self.page.set_viewport_size({"width": 1366, "height": 768})


Opener = Callable[..., Awaitable[Room]]


@pytest.fixture
async def open_room(browser: Any, count_get_user_media: str) -> AsyncIterator[Opener]:
    rooms: list[Room] = []

    async def opener(
        name: str,
        url: str,
        *,
        lang: str = "en",
        tz: str = "Europe/London",
        init: str | None = None,
    ) -> Room:
        context = await browser.new_context(
            permissions=["camera", "microphone"],
            timezone_id=tz,
            locale="zh-CN" if lang == "zh" else "en-GB",
            viewport={"width": 1366, "height": 768},
        )
        await context.add_init_script(count_get_user_media)
        if init:
            await context.add_init_script(init)
        room = Room(await context.new_page(), name)
        rooms.append(room)
        base, _, fragment = url.partition("#")
        await room.page.goto(f"{base}?lang={lang}#{fragment}")
        return room

    yield opener
    for room in rooms:
        print("\n".join(room.log[-60:]))
        await room.page.context.close()
    logs = [line for room in rooms for line in room.log]
    assert csp_violations(logs) == []
    assert [line for line in logs if "pageerror" in line] == []


async def create_room(server: ServerHandle, name: str, **kw: Any) -> str:
    status, room = await server.api("POST", "/api/v1/rooms", json={"name": name, **kw})
    assert status == 201, room
    return str(room["id"])


def link(server: ServerHandle, room_id: str, token: str) -> str:
    return f"{server.url}/room/{room_id}#token={token}"


def mint(server: ServerHandle, identity: str, role: str, room_id: str, **kw: Any) -> str:
    return server.signer.mint(
        identity=identity,
        role=Role(role),
        room=room_id,
        now=datetime.now(UTC),
        ttl=kw.pop("ttl", timedelta(hours=2)),
        **kw,
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_links_that_cannot_be_used_say_why_and_whom_to_call(
    live_server: ServerHandle, open_room: Opener, lang: str
) -> None:
    words = table(lang)
    rid = await create_room(live_server, "Cardiology consult")
    now = datetime.now(UTC)
    expired = TokenSigner(SECRET.encode()).mint(
        identity="pt-old",
        role=Role.PATIENT,
        room=rid,
        now=now - timedelta(hours=3),
        ttl=timedelta(hours=1),
    )
    forged = TokenSigner(b"not-the-server-secret-" + b"y" * 20).mint(
        identity="mallory", role=Role.PATIENT, room=rid, now=now, ttl=timedelta(hours=1)
    )
    # withdrawn: removed from the room (its token revoked)
    revoked = mint(live_server, "pt-gone", "patient", rid)
    async with RoomClient(live_server.url, revoked) as gone:
        status, body = await live_server.api("DELETE", f"/api/v1/rooms/{rid}/participants/pt-gone")
        assert status == 200, body
        await asyncio.wait_for(gone.disconnected.wait(), 10)
    ended_room = await create_room(live_server, "Yesterday's consult")
    ended = mint(live_server, "pt-late", "patient", ended_room)
    await live_server.api("DELETE", f"/api/v1/rooms/{ended_room}")

    cases = [
        ("expired", rid, expired, "token_expired"),
        ("forged", rid, forged, "token_invalid"),
        ("revoked", rid, revoked, "token_revoked"),
        ("ended", ended_room, ended, "room_ended"),
    ]
    for label, room_id, token, code in cases:
        page = await open_room(label, link(live_server, room_id, token), lang=lang)
        assert await page.wait_state("blocked") == "blocked"
        assert await page.text("blocked-reason") == words["errors"][code]
        assert PHONE in await page.text("blocked-call")
        assert await page.page.evaluate("window.__gumCalls") == 0  # the camera never started
        assert await page.page.locator("[data-testid=join-button]").is_visible() is False
        await page.shot(f"link-{label}-{lang}", lang)

    # a link that opens later: "not open yet" said once (the heading), and what to do now,
    # the sentences spaced as the language spaces them
    early = mint(live_server, "pt-early", "patient", rid, not_before=now + timedelta(hours=2))
    page = await open_room("early", link(live_server, rid, early), lang=lang)
    assert await page.wait_state("early") == "early"
    assert await page.page.locator("[data-testid=blocked-reason]").is_hidden()
    gap = "" if lang == "zh" else " "
    call = words["callCentre"].replace("{phone}", PHONE)
    assert await page.text("blocked-call") == f"{words['keepOpen']}{gap}{call}"

    # a link cut off when copied, or without its token: the same card, not a line in the bar
    # over an empty page (the server's check names the centre's number when it can)
    cut = f"{live_server.url}/room/{rid}#token={revoked[: len(revoked) // 3]}"
    page = await open_room("cut", cut, lang=lang)
    assert await page.wait_state("blocked") == "blocked"
    assert await page.text("blocked-reason") == words["errors"]["token_malformed"]
    assert PHONE in await page.text("blocked-call")
    await page.shot(f"link-cut-{lang}", lang)
    page = await open_room("bare", f"{live_server.url}/room/{rid}#", lang=lang)
    assert await page.wait_state("blocked") == "blocked"
    assert await page.text("blocked-reason") == words["errors"]["token_missing"]
    assert await page.text("blocked-call") == words["askCentre"]
    assert "token" not in (await page.page.locator("body").inner_text()).lower()

    # the server unreachable: a card that says the link may be fine and the page keeps trying
    unreachable = await open_room(
        "unreachable",
        link(live_server, rid, mint(live_server, "pt-offline", "patient", rid)),
        lang=lang,
        init="window.fetch = () => Promise.reject(new TypeError('Failed to fetch'));",
    )
    await unreachable.page.wait_for_selector("[data-testid=blocked]", state="visible")
    assert await unreachable.text("blocked-reason") == words["checkUnreachable"]
    assert await unreachable.text("blocked-call") == words["unreachableHelp"]
    assert await unreachable.page.evaluate("window.__gumCalls") == 0
    await unreachable.shot(f"link-unreachable-{lang}", lang)


async def test_too_early_countdown_then_consent_lobby_admit_decline_remove(
    live_server: ServerHandle, open_room: Opener
) -> None:
    """A patient's too-early link counts down, opens by itself, asks for consent, waits in the
    lobby; the expert admits, declines another, and removes the patient, whose reload is
    refused."""
    en = table("en")
    rid = await create_room(live_server, "Cardiology consult", lobby=True)
    now = datetime.now(UTC)
    early = mint(
        live_server,
        "pt-zhang",
        "patient",
        rid,
        name="Zhang Wei",
        not_before=now + timedelta(seconds=20),
    )
    patient = await open_room("patient", link(live_server, rid, early), tz="Europe/London")
    assert await patient.wait_state("early") == "early"
    first = await patient.text("countdown")
    assert first.startswith("Opens in") and " s" in first, first
    times = await patient.text("blocked-times")
    # each zone by its name, never its IANA id
    assert "United Kingdom Time" in times and "China Standard Time, GMT+8" in times, times
    assert "Europe/London" not in times and "Asia/Shanghai" not in times, times
    # what to do now: keep the page open (it opens by itself), and whom to call
    call = await patient.text("blocked-call")
    assert call.startswith(en["keepOpen"]) and PHONE in call, call
    await patient.page.wait_for_function(
        "(t) => document.querySelector('[data-testid=countdown]').textContent !== t",
        arg=first,
        timeout=5000,
    )
    assert await patient.page.evaluate("window.__gumCalls") == 0
    await patient.shot("too-early-countdown")

    # at the opening time the page checks again and shows the pre-join step by itself
    await patient.page.wait_for_function(
        "() => window.vidconsult.state === 'prejoin'", timeout=40_000
    )
    await patient.page.wait_for_selector("[data-testid=preview-video]")
    assert await patient.page.evaluate("window.__gumCalls") >= 1
    consent = patient.page.locator("[data-testid=consent]")
    assert await consent.is_visible(), "a recorded consultation asks the patient for consent"
    assert await patient.page.locator("[data-testid=join-button]").is_disabled()
    await patient.page.wait_for_selector("[data-testid=camera-select] option", state="attached")
    await patient.page.fill("[data-testid=display-name]", "Zhang Wei (patient)")
    await patient.page.check("[data-testid=consent-yes]")
    assert await patient.page.locator("[data-testid=join-button]").is_enabled()
    await patient.page.click("[data-testid=speaker-test]")
    await patient.page.wait_for_function("() => window.vidconsult.speakerTests >= 1", timeout=5000)
    await patient.page.wait_for_function("() => window.vidconsult.micLevel > 0.01", timeout=10000)
    await patient.shot("prejoin-consent")
    await patient.layout_ok("prejoin")

    await patient.page.click("[data-testid=join-button]")
    assert await patient.wait_state("lobby") == "lobby"
    assert "the doctor or expert will let you in" in await patient.text("lobby-text")
    # while waiting: the page moves on by itself, and whom to call
    lobby_call = await patient.text("lobby-call")
    assert lobby_call.startswith(en["lobbyKeepOpen"]) and PHONE in lobby_call, lobby_call
    await patient.shot("lobby-waiting")

    expert = await open_room(
        "expert",
        link(live_server, rid, mint(live_server, "dr-wu", "expert", rid, name="Dr Wu")),
        lang="zh",
        tz="Asia/Shanghai",
    )
    # nobody booked by name: the expert is not told they will meet "the centre's expert"
    await expert.page.wait_for_selector("[data-testid=meet] li")
    meet = await expert.page.locator("[data-testid=meet] li").all_inner_texts()
    assert meet == [table("zh")["meetInvited"]], meet
    await expert.page.click("[data-testid=join-button]:enabled")
    assert await expert.wait_state("joined") == "joined"
    # the keyboard focus moved into the room
    assert await expert.page.evaluate("document.activeElement.closest('#room') !== null")
    await expert.page.wait_for_selector("[data-testid=waiting-person][data-identity=pt-zhang]")
    await expert.shot("expert-sees-waiting-zh", "zh")

    await expert.page.click(
        "[data-testid=waiting-person][data-identity=pt-zhang] [data-testid=admit-button]"
    )
    assert await patient.wait_state("joined") == "joined"
    assert await patient.page.evaluate("document.activeElement.closest('#room') !== null")
    await expert.page.wait_for_selector("[data-testid=participants] li[data-participant=pt-zhang]")
    name = await expert.page.locator(
        "[data-testid=participants] li[data-participant=pt-zhang]"
    ).inner_text()
    assert "Zhang Wei (patient)" in name
    # nobody waits any more: the expert's status line no longer says someone is waiting
    await expert.page.wait_for_selector("[data-testid=waiting-list] li.muted")
    assert await expert.text("status") == table("zh")["inRoom"]
    await patient.page.wait_for_selector("[data-testid=participants] li[data-participant=dr-wu]")
    await patient.shot("patient-in-room")
    await patient.layout_ok("room")
    # a county clinic PC: the live room fits the window, the controls in view without scrolling
    await patient.page.wait_for_selector("#tiles .tile:not(.local).has-video")
    for width, height in ((1366, 768), (1280, 720), (1024, 600)):
        await patient.page.set_viewport_size({"width": width, "height": height})
        fit = await patient.page.evaluate(
            """() => ({ scroll: document.scrollingElement.scrollHeight, inner: innerHeight,
              controls: document.getElementById("controls").getBoundingClientRect().bottom })"""
        )
        assert fit["scroll"] <= fit["inner"] and fit["controls"] <= fit["inner"], (width, fit)
    await patient.page.set_viewport_size({"width": 1366, "height": 768})

    # a second patient is declined
    other = await open_room(
        "other", link(live_server, rid, mint(live_server, "pt-li", "patient", rid))
    )
    await other.page.check("[data-testid=consent-yes]")
    await other.page.click("[data-testid=join-button]")
    assert await other.wait_state("lobby") == "lobby"
    await expert.page.click(
        "[data-testid=waiting-person][data-identity=pt-li] [data-testid=decline-button]"
    )
    assert await other.wait_state("declined") == "declined"
    assert await other.text("status") == en["declined"]
    await other.shot("declined")

    # removed: the patient's reload does not bring them back
    await expert.page.click(
        "[data-testid=participants] li[data-participant=pt-zhang] [data-testid=remove-button]"
    )
    assert await patient.wait_state("removed") == "removed"
    await patient.shot("removed")
    await patient.page.reload()
    assert await patient.wait_state("blocked") == "blocked"
    assert await patient.text("blocked-reason") == en["errors"]["token_revoked"]
    await patient.shot("removed-reload-refused")

    # the consent is kept with the room's recording policy and on the audit trail
    status, rec = await live_server.api("GET", f"/api/v1/rooms/{rid}/recording")
    assert status == 200 and rec["policy"]["consent"] is True, rec
    assert rec["policy"]["consent_by"] == "pt-zhang"
    status, log = await live_server.api("GET", f"/api/v1/rooms/{rid}/access-log")
    actions = {(e["action"], e["subject"]) for e in log["entries"]}
    assert {
        ("recording.consent", "pt-zhang"),
        ("lobby.admit", "pt-zhang"),
        ("lobby.decline", "pt-li"),
        ("participant.remove", "pt-zhang"),
    } <= actions, actions


DENY_CAMERA = """
(() => {
  const md = navigator.mediaDevices;
  const original = md.getUserMedia.bind(md);
  window.__denied = 0;
  md.getUserMedia = (c) => {
    if (!c || !c.video) return original(c);
    window.__denied += 1;
    return Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
  };
})();
"""


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_blocked_camera_explains_retries_and_joins_with_audio(
    live_server: ServerHandle, open_room: Opener, lang: str
) -> None:
    words = table(lang)
    rid = await create_room(live_server, "Consult")
    page = await open_room(
        "patient",
        link(live_server, rid, mint(live_server, "pt", "patient", rid)),
        lang=lang,
        init=DENY_CAMERA,
    )
    await page.page.wait_for_selector("[data-testid=camera-help]", state="visible")
    assert words["cameraDenied"] in await page.text("camera-help")
    await page.shot(f"camera-denied-{lang}", lang)
    denied = await page.page.evaluate("window.__denied")
    await page.page.click("[data-testid=camera-retry]")
    await page.page.wait_for_function("(n) => window.__denied > n", arg=denied)
    await page.page.wait_for_selector("[data-testid=camera-help]", state="visible")
    await page.page.click("[data-testid=audio-only-button]")
    await page.page.wait_for_function(
        "(t) => document.querySelector('[data-testid=preview-status]').textContent === t",
        arg=words["audioOnlyChosen"],
    )
    await page.page.check("[data-testid=consent-yes]")
    await page.page.click("[data-testid=join-button]")
    assert await page.wait_state("joined") == "joined"
    kinds = await page.page.evaluate(
        "window.vidconsult.page.localStream.getTracks().map((t) => t.kind)"
    )
    assert kinds == ["audio"]
    # the room ends: the card says so once, then what comes next (not the same sentence twice)
    status, body = await live_server.api("DELETE", f"/api/v1/rooms/{rid}")
    assert status == 200, body
    assert await page.wait_state("ended") == "ended"
    assert await page.text("blocked-reason") == words["endedNext"]
    assert PHONE in await page.text("blocked-call")
    await page.shot(f"ended-{lang}", lang)


JS_TILE = """(id) => {
  const tile = document.querySelector(`#tiles [data-participant="${id}"]`);
  if (!tile) return null;
  const video = tile.querySelector("video");
  return { media: tile.dataset.media, hasVideo: tile.classList.contains("has-video"),
    text: tile.querySelector(".placeholder").textContent,
    width: video ? video.videoWidth : 0, playing: !!video && !video.paused,
    kinds: video && video.srcObject ? video.srcObject.getTracks().map((t) => t.kind).sort() : [] };
}"""


async def tile_becomes(room: Room, identity: str, condition: str) -> dict[str, Any]:
    """The tile of ``identity`` once ``condition`` (JS over the tile's state ``s``) holds."""
    await room.page.wait_for_function(
        f"(id) => {{ const s = ({JS_TILE})(id); return !!s && ({condition}); }}",
        arg=identity,
        timeout=TIMEOUT_MS * 3,
    )
    state: dict[str, Any] = await room.page.evaluate(JS_TILE, identity)
    return state


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_audio_only_participant_camera_on_later_and_camera_off_as_the_doctor_sees_them(
    live_server: ServerHandle, open_room: Opener, lang: str
) -> None:
    """The doctor's page tells from the tracks the server lists (not a timeout) what each tile
    lacks: a patient who joined with audio only (camera refused, "Join with audio only") is
    shown as audio only, with sound and no "Waiting for video"; a kiosk that joins with its
    microphone is audio only, then shows its picture when it turns a camera on, then says its
    camera is turned off (picture hidden, sound still playing) and shows it again; when the
    doctor chooses audio only, the kiosk's tile says its video is paused by that choice."""
    words = table(lang)
    rid = await create_room(live_server, "Audio-only consult")
    # the remote expert (the patient side, the patient and their doctor, is asked to consent)
    doctor = await open_room(
        "expert", link(live_server, rid, mint(live_server, "dr", "expert", rid)), lang=lang
    )
    await doctor.page.click("[data-testid=join-button]:enabled")
    assert await doctor.wait_state("joined") == "joined"

    patient = await open_room(
        "patient",
        link(live_server, rid, mint(live_server, "pt", "patient", rid)),
        init=DENY_CAMERA,
    )
    await patient.page.wait_for_selector("[data-testid=camera-help]", state="visible")
    await patient.page.click("[data-testid=audio-only-button]")
    await patient.page.wait_for_function(
        "() => window.vidconsult.page.localStream"
        " && window.vidconsult.page.localStream.getTracks().length === 1"
    )
    await patient.page.check("[data-testid=consent-yes]")
    await patient.page.click("[data-testid=join-button]")
    assert await patient.wait_state("joined") == "joined"

    # the patient's sound reaches the doctor's tile, which says audio only, not "waiting"
    seen = await tile_becomes(doctor, "pt", "s.kinds.join() === 'audio' && s.playing")
    assert seen["media"] == "audio-only" and not seen["hasVideo"], seen
    assert seen["text"] == words["audioOnlyTile"] != words["waitingVideo"], seen
    placeholder = doctor.page.locator('[data-participant="pt"] [data-testid=tile-placeholder]')
    assert await placeholder.is_visible()
    listed = doctor.page.locator('[data-testid=participants] li[data-participant="pt"]')
    assert words["audioOnlyBadge"] in await listed.inner_text()
    await doctor.shot(f"audio-only-tile-{lang}", lang)

    # a kiosk joins with its microphone, turns a camera on later, then off and on again
    kiosk = RoomClient(live_server.url, mint(live_server, "kiosk", "interpreter", rid))
    try:
        await kiosk.connect()
        await kiosk.publish(AudioStreamTrack())
        seen = await tile_becomes(doctor, "kiosk", "s.media === 'audio-only' && s.playing")
        assert seen["text"] == words["audioOnlyTile"], seen
        video_sid = next(iter((await kiosk.publish(VideoStreamTrack())).values()))
        seen = await tile_becomes(doctor, "kiosk", "s.hasVideo && s.width > 0")
        assert seen["media"] == "waiting" and seen["kinds"] == ["audio", "video"], seen
        kiosk_tile = doctor.page.locator('[data-participant="kiosk"]')
        assert await kiosk_tile.locator("video").is_visible()
        assert not await kiosk_tile.locator("[data-testid=tile-placeholder]").is_visible()

        await kiosk.set_muted(video_sid, True)
        seen = await tile_becomes(doctor, "kiosk", "s.media === 'camera-off'")
        assert seen["text"] == words["cameraOffTile"] and seen["playing"], seen
        assert await kiosk_tile.locator("[data-testid=tile-placeholder]").is_visible()
        assert not await kiosk_tile.locator("video").is_visible()  # hidden, its sound plays
        await doctor.shot(f"camera-off-tile-{lang}", lang)

        await kiosk.set_muted(video_sid, False)
        await tile_becomes(doctor, "kiosk", "s.media === 'waiting' && s.hasVideo")
        assert await kiosk_tile.locator("video").is_visible()
        assert not await kiosk_tile.locator("[data-testid=tile-placeholder]").is_visible()

        # the doctor chooses audio only (no video sent to them): the tile says why, no frozen
        # picture; the patient's tile is still audio only; video back on shows the picture
        await doctor.page.click("[data-testid=audio-only-toggle]:visible")
        seen = await tile_becomes(doctor, "kiosk", "s.media === 'paused'")
        assert seen["text"] == words["videoPausedTile"] and seen["playing"], seen
        assert await kiosk_tile.locator("[data-testid=tile-placeholder]").is_visible()
        assert not await kiosk_tile.locator("video").is_visible()
        assert (await doctor.page.evaluate(JS_TILE, "pt"))["media"] == "audio-only"
        await doctor.shot(f"video-paused-tile-{lang}", lang)
        await doctor.page.click("[data-testid=audio-only-toggle][aria-pressed=true]")
        await tile_becomes(doctor, "kiosk", "s.media === 'waiting' && s.hasVideo")
        assert await kiosk_tile.locator("video").is_visible()
    finally:
        await kiosk.close()


async def test_dashboard_live_room_admits_mutes_and_removes(
    live_server: ServerHandle, browser: Any
) -> None:
    rid = await create_room(live_server, "Dermatology consult", lobby=True)
    token = mint(live_server, "pt-wang", "patient", rid, name="Wang Fang")
    patient = RoomClient(live_server.url, token, consent=True)
    waiting = asyncio.create_task(patient.connect())
    try:
        await patient.wait_until(lambda: patient.lobby is not None)
        context = await browser.new_context(viewport={"width": 1366, "height": 768})
        page = await context.new_page()
        log: list[str] = []
        page.on("console", lambda m: log.append(m.text))
        page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
        await page.goto(f"{live_server.url}/dashboard#rooms")
        await page.click("[data-testid=token-toggle]")
        await page.fill("[data-testid=token-input]", live_server.coordinator_token)
        await page.click("[data-testid=use-token-button]")
        row = page.locator(f"[data-testid=room-row][data-room-id={rid}]")
        await row.locator("[data-testid=waiting-person][data-identity=pt-wang]").wait_for()
        dash = Room(page, "dashboard")
        await dash.shot("dashboard-waiting")
        await row.locator("[data-testid=admit-button]").click()
        await asyncio.wait_for(waiting, 15)
        await row.locator("[data-testid=participant][data-identity=pt-wang]").wait_for()
        await dash.shot("dashboard-admitted")
        await row.locator("[data-testid=remove-participant-button]").click()
        await page.click("[data-testid=confirm-ok]")
        await asyncio.wait_for(patient.disconnected.wait(), 15)
        with pytest.raises(ClientError) as refused:
            await RoomClient(live_server.url, token).connect()
        assert refused.value.code == "token_revoked"
        assert csp_violations(log) == [] and not [x for x in log if "pageerror" in x]
        await context.close()
    finally:
        waiting.cancel()
        await patient.close()
