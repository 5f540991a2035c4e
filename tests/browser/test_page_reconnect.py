"""The room page survives an address change mid-call.

The page runs in Chromium on another machine (a network namespace joined to this one by a veth
pair, as tests/browser/test_remote_machine.py), over HTTPS. Mid-call its address is taken away
and a new one given (hotel Wi-Fi handing out a new address); the server's stays. Its media
connections go "disconnected"; the page joins again on a new socket and new connections, and
both it and the participant on this machine decode each other's video again within 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from tests.browser.rtc_js import JS_RECEIVING_FROM
from tests.browser.test_remote_machine import (  # noqa: F401 - fixtures
    artifacts,
    https_api,
    https_server,
    launch,
    machine,
    open_page,
)
from tests.browser.timeline import JS_WATCH, RECORD_PEER_CONNECTIONS, merged, server_log
from tests.browser.waits import mark_when, marked, wait_true
from tests.helpers import ServerHandle, require_module
from tests.netns import OtherMachine, ip, new_block
from vidconsult.app import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

MEDIA_TIMEOUT_MS = 30_000
# Issue 13: media back within 10 s. Runs that took 17-20 s (b42b94f) had two causes: the waits
# for media before the change used Playwright's wait_for_function with an async predicate, which
# it does not await (truthy at once), so the address changed while the page was still joining;
# and when it did so, ICE completed on the new address, media flowed, and only the signaling
# socket, left on the old address, was dead until its ping timed out (~18 s). The page now asks
# the server when it sees a new local address, and joins again when it gets no answer.
BACK_WITHIN_MS = 10_000
JS_MARK_OLD = """() => {
  window.__pcs.forEach((pc) => { pc.__old = true; });
  return window.__pcs.length;
}"""
# a connection made after the mark is connected
JS_NEW_PC_CONNECTED = """(since) => window.__pcs.slice(since).some(
  (pc) => pc.connectionState === "connected")"""
# {"<connection>/<ssrc>": frames decoded} of each video stream received from `identity`
JS_VIDEO_FRAMES_FROM = """async (identity) => {
  const v = document.querySelector(`video[data-identity="${identity}"]`);
  const out = {};
  if (!v || !v.srcObject || !v.videoWidth) return out;
  for (const track of v.srcObject.getVideoTracks()) {
    for (const [i, pc] of window.__pcs.entries()) {
      if (pc.connectionState === "closed") continue;
      if (!pc.getReceivers().some((r) => r.track === track)) continue;
      for (const s of (await pc.getStats(track)).values()) {
        if (s.type === "inbound-rtp") out[`${i}/${s.ssrc}`] = s.framesDecoded || 0;
      }
    }
  }
  return out;
}"""
# [identity, base, frames]: more than `frames` video frames from `identity` were decoded since
# `base` (from JS_VIDEO_FRAMES_FROM), on any stream, new ones too
JS_FRAMES_SINCE = f"""async ([identity, base, frames]) => {{
  const now = await ({JS_VIDEO_FRAMES_FROM.strip()})(identity);
  let more = 0;
  for (const [key, n] of Object.entries(now)) more += Math.max(0, n - (base[key] || 0));
  return more > frames;
}}"""


async def test_page_survives_an_address_change(
    machine: OtherMachine,  # noqa: F811
    https_server: RunningServer,  # noqa: F811
    https_api: ServerHandle,  # noqa: F811
    chromium_path: Path,
    tmp_path: Path,
    artifacts: Path,  # noqa: F811
) -> None:
    playwright_api = require_module("playwright.async_api")
    tls = https_server.tls
    assert tls is not None
    log: list[str] = []
    # when each stage of the way back happened, on both pages and on the server
    consoles: dict[str, list[tuple[float, str]]] = {"remote": [], "local": []}
    changed_at: float | None = None
    async with (
        playwright_api.async_playwright() as pw,
        server_log("signaling", "vidconsult", "media") as server,
    ):
        api = https_api
        room = await api.create_room("Expert on hotel Wi-Fi")
        remote_link = (await api.join_token(room["id"], "dr-hotel", "expert", "Dr Hotel"))[
            "join_url"
        ]
        local_link = (await api.join_token(room["id"], "dr-clinic", "doctor", "Dr Clinic"))[
            "join_url"
        ]
        remote_browser = await launch(
            pw, machine.wrapper(tmp_path, str(chromium_path)), tls.spki_sha256
        )
        local_browser = await launch(pw, chromium_path, tls.spki_sha256)
        try:
            remote = await open_page(
                remote_browser, remote_link, log, "remote", RECORD_PEER_CONNECTIONS
            )
            local = await open_page(
                local_browser, local_link, log, "local", RECORD_PEER_CONNECTIONS
            )
            for who, page in (("remote", remote), ("local", local)):
                page.on(
                    "console",
                    lambda m, who=who: consoles[who].append((time.time(), f"console {m.text}")),
                )
            for page in (remote, local):
                await page.wait_for_selector("[data-testid=join-button]:enabled")
                await page.click("[data-testid=join-button]")
            # (getStats is async: wait_true, as Playwright's wait_for_function would not wait)
            await wait_true(
                remote, JS_RECEIVING_FROM, ["dr-clinic", 10], timeout_ms=MEDIA_TIMEOUT_MS
            )
            await wait_true(local, JS_RECEIVING_FROM, ["dr-hotel", 10], timeout_ms=MEDIA_TIMEOUT_MS)

            await remote.evaluate(JS_WATCH, "dr-clinic")
            await local.evaluate(JS_WATCH, "dr-hotel")

            # the address changes: a new /30 on the link, the old address gone, the way out
            # through the new one
            # what the remote page decodes from now on must come over new connections
            pcs_before = await remote.evaluate(JS_MARK_OLD)
            new_host, new_ip = new_block()
            ip("addr", "add", f"{new_host}/30", "dev", machine.host_link)
            ip("-n", machine.name, "addr", "add", f"{new_ip}/30", "dev", machine.link)
            changed_at = time.time()
            ip("-n", machine.name, "addr", "del", f"{machine.ip}/30", "dev", machine.link)
            ip("-n", machine.name, "route", "add", "default", "via", new_host)
            # frames already on their way when the path went may still be decoded: count on
            # from what each of the local page's video streams had decoded by now
            local_base = await local.evaluate(JS_VIDEO_FRAMES_FROM, "dr-hotel")

            # the page is back: new connections, and both decode each other's video again;
            # each when the page saw it (its clock, not this loaded test process's)
            await mark_when(remote, "connected", JS_NEW_PC_CONNECTED, pcs_before)
            await mark_when(remote, "remote decodes", JS_RECEIVING_FROM, ["dr-clinic", 5])
            # both ways "back" is the same: more than 5 new frames decoded (15 before: on a
            # machine loaded to 17x its cores the pages decode 2-3 fps, and 15 frames took 5 s
            # more after the first; tests/browser/test_weak_links.py measures frame rates)
            await mark_when(local, "local decodes", JS_FRAMES_SINCE, ["dr-hotel", local_base, 5])
            pages = {"connected": remote, "remote decodes": remote, "local decodes": local}
            # waited for longer than the bound, so that a slow run still says how slow
            at = await asyncio.gather(
                *(marked(page, name, timeout_ms=3 * BACK_WITHIN_MS) for name, page in pages.items())
            )
            steps = {k: round(v / 1000 - changed_at, 2) for k, v in zip(pages, at, strict=True)}
            back = max(steps.values())
            print(f"\nthe page is back with media {back:.1f} s after its address changed {steps}")
            assert back < BACK_WITHIN_MS / 1000, steps
            # the participant on this machine saw the other come back to its seat: no leave
            seen = [what for _, what in await local.evaluate("window.__timeline")]
            assert "got participant.reconnected" in seen, seen
            assert "got participant.left" not in seen, seen
            assert await remote.evaluate("() => window.vidconsult.state") == "joined"
            # either way back is fine: the socket seen closed (Socket.IO reconnects and the
            # page joins again) or the media connections seen silent ("joining again")
            shot = artifacts / "page-after-address-change.png"
            await remote.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
            assert not [line for line in log if "pageerror" in line]
        finally:
            print("\n".join(log[-60:]))
            if changed_at is not None:
                timelines = {}
                for who, page in (("remote", remote), ("local", local)):
                    with contextlib.suppress(Exception):
                        timelines[who] = [
                            (at / 1000, what)
                            for at, what in await page.evaluate("window.__timeline")
                        ]
                print(
                    "timeline (s after the address changed):\n"
                    + merged(
                        changed_at,
                        *((f"{who}", events + consoles[who]) for who, events in timelines.items()),
                        ("", server.lines),
                    )
                )
            await remote_browser.close()
            await local_browser.close()
