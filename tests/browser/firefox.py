"""Debian's firefox-esr for the browser tests, driven over WebDriver BiDi by puppeteer-core
(web/tools/firefox-driver.js: Playwright's Python package cannot drive a stock Firefox). One
node process per browser; requests are JSON lines. Locally a missing Firefox or Node skips the
test; in CI (CI=true) it fails."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.helpers import require_binary

REPO = Path(__file__).resolve().parents[2]
DRIVER = REPO / "web" / "tools" / "firefox-driver.js"
FIREFOX = os.environ.get("VIDCONSULT_FIREFOX", "/usr/bin/firefox-esr")
START_TIMEOUT = 60.0


class FirefoxError(Exception):
    pass


class Firefox:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._next = 0
        self._lock = asyncio.Lock()

    async def _reply(self, timeout: float) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), timeout)
        if not line:
            raise FirefoxError(f"the Firefox driver exited ({await self._stderr()})")
        return dict(json.loads(line))

    async def _stderr(self) -> str:
        if self._proc.stderr is None or self._proc.returncode is None:
            return "still running"
        return (await self._proc.stderr.read()).decode(errors="replace")[-2000:]

    async def call(self, op: str, timeout: float = 60.0, **args: Any) -> Any:
        async with self._lock:  # one request at a time: replies come in order
            self._next += 1
            assert self._proc.stdin is not None
            self._proc.stdin.write(
                (json.dumps({"id": self._next, "op": op, **args}) + "\n").encode()
            )
            await self._proc.stdin.drain()
            reply = await self._reply(timeout)
        if not reply.get("ok"):
            raise FirefoxError(f"{op}: {reply.get('error')}")
        return reply.get("value")

    async def open(self, url: str, init: list[str] | None = None) -> FirefoxPage:
        index = await self.call("open", url=url, init=init or [])
        return FirefoxPage(self, int(index))


class FirefoxPage:
    """The few page operations the tests need, shaped like Playwright's."""

    def __init__(self, browser: Firefox, index: int) -> None:
        self.browser = browser
        self.index = index

    async def evaluate(self, fn: str, arg: Any = None) -> Any:
        """``fn`` is a JS function source, called with ``arg`` (awaited if it is async)."""
        return await self.browser.call("eval", page=self.index, expr=_call(fn, arg))

    async def wait_for_function(self, fn: str, arg: Any = None, timeout: float = 30_000) -> None:
        """Poll ``fn(arg)`` in the page until it is truthy (``timeout`` in ms, as Playwright)."""
        await self.browser.call(
            "wait",
            timeout=timeout / 1000 + 10,
            page=self.index,
            expr=_call(fn, arg),
            timeout_ms=timeout,
        )

    async def click(self, selector: str) -> None:
        await self.browser.call("click", page=self.index, selector=selector)

    async def screenshot(self, path: str) -> None:
        await self.browser.call("screenshot", page=self.index, path=path)

    async def console(self) -> list[str]:
        return list(await self.browser.call("console", page=self.index))


def _call(fn: str, arg: Any) -> str:
    return f"({fn})({json.dumps(arg)})"


@asynccontextmanager
async def firefox() -> AsyncIterator[Firefox]:
    binary = require_binary(FIREFOX)
    node = require_binary("node")
    if not (REPO / "web" / "node_modules" / "puppeteer-core").is_dir():
        require_binary(str(REPO / "web" / "node_modules" / "puppeteer-core"))  # skip / fail
    proc = await asyncio.create_subprocess_exec(
        node,
        str(DRIVER),
        binary,
        cwd=str(REPO / "web"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=16 * 1024 * 1024,
    )
    browser = Firefox(proc)
    try:
        ready = await browser._reply(START_TIMEOUT)
        if ready.get("value") != "ready":
            raise FirefoxError(f"the Firefox driver did not start: {ready}")
        yield browser
    finally:
        try:
            if proc.returncode is None:
                await browser.call("close", timeout=15)
        except Exception:
            pass
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
