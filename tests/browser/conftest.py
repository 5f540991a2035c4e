"""Headless Chromium for the browser tests, and a summary of the join times they measure."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import require_binary, require_module
from vidconsult.client import RoomClient

CHROMIUM = Path(os.environ.get("VIDCONSULT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-gpu",
]

# Counts getUserMedia calls on a page, so a test can prove an observer never asked for them.
COUNT_GET_USER_MEDIA = """
(() => {
  window.__gumCalls = 0;
  const md = navigator.mediaDevices;
  if (md && md.getUserMedia) {
    const original = md.getUserMedia.bind(md);
    md.getUserMedia = (constraints) => { window.__gumCalls += 1; return original(constraints); };
  }
  for (const name of ["getUserMedia", "webkitGetUserMedia"]) {
    const legacy = navigator[name];
    if (typeof legacy === "function") {
      navigator[name] = function (...args) {
        window.__gumCalls += 1;
        return legacy.apply(this, args);
      };
    }
  }
})();
"""


def csp_violations(console: list[str]) -> list[str]:
    """Console lines where Chromium reports a Content-Security-Policy violation (the pages are
    served with one that allows no inline script or style: web/pages.py)."""
    return [line for line in console if "Content Security Policy" in line]


@pytest.fixture
async def sdk_clients() -> AsyncIterator[list[RoomClient]]:
    """Python SDK participants a test adds to a room, closed at teardown."""
    clients: list[RoomClient] = []
    yield clients
    for client in clients:
        await client.close()


@pytest.fixture
def chromium_path() -> Path:
    # skipped locally without Chromium, a failure in CI
    return Path(require_binary(str(CHROMIUM)))


@pytest.fixture
def count_get_user_media() -> str:
    """An init script that counts getUserMedia calls in ``window.__gumCalls``."""
    return COUNT_GET_USER_MEDIA


@pytest.fixture
async def browser(chromium_path: Path) -> AsyncIterator[object]:
    playwright_api = require_module("playwright.async_api")  # skipped locally, fails in CI
    async with playwright_api.async_playwright() as pw:
        instance = await pw.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
async def open_dashboard(browser: Any) -> AsyncIterator[Any]:
    """Opens the coordinators' dashboard of a server, signed out, in a context of its own
    (``tests.browser.test_dashboard.Opener``); its console is printed at teardown, and the
    pages must have run under their Content-Security-Policy with nothing refused."""
    from tests.browser.test_dashboard import Dashboard  # the page object lives with its tests

    pages: list[Dashboard] = []

    async def opener(server: Any) -> Dashboard:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        dash = Dashboard(await context.new_page(), server)
        pages.append(dash)
        return dash

    yield opener
    for dash in pages:
        print("\n".join(dash.log[-60:]))
        await dash.page.context.close()
    # the dashboard works under its Content-Security-Policy: nothing was refused
    assert csp_violations([line for dash in pages for line in dash.log]) == []


@pytest.fixture(scope="module")
def media_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A participant's media (VP8 + Opus, 320x240, 12 s), sent as is by the SDK's file player."""
    from tests.recording import synth

    base = tmp_path_factory.mktemp("participant-media")
    return synth.write_file(base / "consult.webm", synth.encode(12, [1.0, 3.0, 5.0]))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Show measured join times even when the test passes and output is captured."""
    lines = []
    for report in terminalreporter.getreports("passed") + terminalreporter.getreports("failed"):
        for name, value in getattr(report, "user_properties", []):
            if name.startswith("join_time_ms"):
                lines.append(f"{report.nodeid}: {name} = {value}")
    if lines:
        terminalreporter.section("browser join times (join click -> first remote frame)")
        for line in lines:
            terminalreporter.write_line(line)
