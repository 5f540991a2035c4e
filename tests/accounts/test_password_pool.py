"""The password pool: bounded threads, a bounded wait, refusal beyond (issue 14: a login flood
used to queue Argon2 checks without bound in the default executor that uploads share)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from vidconsult.errors import Unavailable
from vidconsult.services.password_pool import PasswordPool


class Work:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0

    def __call__(self, value: int) -> int:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            assert self.release.wait(10)
            return value
        finally:
            with self.lock:
                self.running -= 1


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll state that the pool's threads change (no event of theirs reaches the loop)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_beyond_workers_and_queue_requests_are_refused_at_once() -> None:
    pool = PasswordPool(workers=2, queue=3)
    work = Work()
    admitted = [asyncio.ensure_future(pool.run(work, i)) for i in range(5)]
    await until(lambda: pool.busy == 5 and work.running == 2)  # two run, three wait
    started = time.monotonic()
    with pytest.raises(Unavailable) as err:
        await pool.run(work, 99)
    assert time.monotonic() - started < 0.5  # answered, not queued
    assert err.value.code == "busy" and err.value.retry_after == 1
    assert pool.busy == 5 and pool.refused == 1
    work.release.set()
    assert await asyncio.gather(*admitted) == [0, 1, 2, 3, 4]
    assert work.peak == 2  # never more threads than workers
    assert pool.busy == 0
    assert await pool.run(work, 7) == 7  # room again
    await pool.close()


async def test_a_caller_that_gives_up_keeps_its_slot_until_the_work_ends() -> None:
    pool = PasswordPool(workers=1, queue=0)
    work = Work()
    first = asyncio.ensure_future(pool.run(work, 1))
    await until(lambda: work.running == 1)
    first.cancel()  # the client went away; its hash still runs on the thread
    await asyncio.wait([first])
    assert first.cancelled() and work.running == 1
    with pytest.raises(Unavailable):
        await pool.run(work, 2)
    work.release.set()
    for _ in range(100):
        if pool.busy == 0:
            break
        await asyncio.sleep(0.01)
    assert await pool.run(work, 3) == 3
    await pool.close()


async def test_closed_pool_refuses() -> None:
    pool = PasswordPool(workers=1, queue=1)
    await pool.close()
    with pytest.raises(Unavailable) as err:
        await pool.run(lambda: 1)
    assert err.value.code == "shutting_down"


def test_bad_sizes() -> None:
    with pytest.raises(ValueError):
        PasswordPool(workers=0)
