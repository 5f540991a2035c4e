"""A bounded pool for password hashing, apart from the default thread pool.

Argon2id takes ~64 MiB and tens of milliseconds of a core per check. In the default executor an
unauthenticated login flood queued without bound there, starving everything else that shares it
(attachment uploads write through it) and growing the server's memory. Here at most ``workers``
checks run at once, at most ``queue`` more wait, and any beyond that are refused at once with
:class:`~vidconsult.errors.Unavailable` (``code="busy"``, ``retry_after``)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from vidconsult.errors import Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
DEFAULT_WORKERS = 2
DEFAULT_QUEUE = 8


class PasswordPool:
    def __init__(self, workers: int = DEFAULT_WORKERS, queue: int = DEFAULT_QUEUE) -> None:
        if workers <= 0 or queue < 0:
            raise ValueError("a password pool needs workers > 0 and queue >= 0")
        self.workers = workers
        self.limit = workers + queue
        # threads start on first use; close() stops them (the app's cleanup_ctx calls it)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="passwords")
        self._lock = threading.Lock()
        self._admitted = 0  # running or waiting, until their thread work has really ended
        self.refused = 0
        self._closed = False

    @property
    def busy(self) -> int:
        """Checks running or waiting now."""
        return self._admitted

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on one of the pool's threads, or Unavailable if the pool is full.
        A caller that gives up (cancelled) keeps its slot until its thread work ends, so
        abandoned requests cannot stack up more work than the bound."""
        with self._lock:
            if self._closed:
                raise Unavailable("the server is shutting down", code="shutting_down")
            if self._admitted >= self.limit:
                self.refused += 1
                refused = self.refused
                full = True
            else:
                self._admitted += 1
                full = False
        if full:
            if refused == 1 or refused % 100 == 0:
                log.warning("password checks refused busy=%s refused=%s", self.limit, refused)
            raise Unavailable(
                "too many sign-ins are being checked; retry shortly", code="busy", retry_after=1
            )
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _release(self, _: object = None) -> None:
        with self._lock:
            self._admitted -= 1

    async def close(self) -> None:
        """Refuse new work, let running checks finish (never a half-written hash)."""
        with self._lock:
            self._closed = True
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
