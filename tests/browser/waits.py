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
