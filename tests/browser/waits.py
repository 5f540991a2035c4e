"""Waiting on an async page predicate.

Playwright's ``wait_for_function`` does not await what the function returns: an ``async``
predicate (one that reads ``getStats()``) returns a Promise, which is truthy, so the wait ends at
once whatever the page's state (Playwright 1.65). :func:`wait_true` polls with ``evaluate``,
which does await, for Playwright pages and the Firefox pages of tests/browser/firefox.py alike.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


async def wait_true(
    page: Any, fn: str, arg: Any = None, *, timeout_ms: float, interval_s: float = 0.1
) -> Any:
    """Evaluate ``fn(arg)`` in ``page`` until it is truthy, and return that value; after
    ``timeout_ms`` raise :class:`TimeoutError` with the last value seen."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        value = await page.evaluate(fn, arg)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"still {value!r} after {timeout_ms:.0f} ms: {fn[:80]!r}")
        await asyncio.sleep(interval_s)


async def mark_when(page: Any, name: str, predicate: str, arg: Any = None) -> None:
    """Have the page itself check ``predicate(arg)`` (a JS function, async or not) every
    100 ms and keep, under ``name``, its own clock (``Date.now()``) when it first held: a time
    taken in the page, not late by this process's polling (slow on a loaded machine). Read it
    with :func:`marked`."""
    await page.evaluate(
        f"""([name, arg]) => {{
  const predicate = {predicate.strip()};
  window.__marks = window.__marks || {{}};
  const timer = setInterval(async () => {{
    if (window.__marks[name]) return clearInterval(timer);
    if (await predicate(arg)) {{
      window.__marks[name] = window.__marks[name] || Date.now();
      clearInterval(timer);
    }}
  }}, 100);
}}""",
        [name, arg],
    )


async def marked(page: Any, name: str, *, timeout_ms: float) -> float:
    """The page's ``Date.now()`` (ms) when the predicate of :func:`mark_when` first held."""
    return float(
        await wait_true(page, "(n) => (window.__marks || {})[n] || 0", name, timeout_ms=timeout_ms)
    )


NETWORK_CHANGED = "ERR_NETWORK_CHANGED"


async def goto_settled(page: Any, url: str, attempts: int = 3) -> None:
    """``page.goto(url)``, again when Chromium aborted the page or one of its scripts because
    an address of this machine changed meanwhile (net::ERR_NETWORK_CHANGED: other tests'
    network namespaces come and go). A page whose script failed to load would never start, and
    a person would reload it; so does this."""
    aborted: list[str] = []

    def on_failed(request: Any) -> None:
        if NETWORK_CHANGED in (request.failure or ""):
            aborted.append(request.url)

    page.on("requestfailed", on_failed)
    try:
        for attempt in range(1, attempts + 1):
            aborted.clear()
            try:
                await page.goto(url)
            except Exception as exc:
                if NETWORK_CHANGED not in str(exc) or attempt == attempts:
                    raise
                continue
            if not aborted:
                return
            if attempt == attempts:
                raise AssertionError(f"{NETWORK_CHANGED} {attempts} times, last for {aborted}")
    finally:
        page.remove_listener("requestfailed", on_failed)
