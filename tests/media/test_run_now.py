"""media.intake.run_now: aiortc's RTCP handlers run to their end in the socket callback; one
that waits goes on in a task, as a task would have run it."""

from __future__ import annotations

import asyncio

import pytest

from media.intake import run_now


async def test_a_coroutine_that_never_waits_has_run_when_run_now_returns() -> None:
    done: list[str] = []

    async def inner() -> str:
        return "sr"

    async def handler() -> None:
        done.append(await inner())

    run_now(handler())
    assert done == ["sr"]  # no turn of the loop in between


async def test_a_coroutine_that_waits_goes_on_in_a_task() -> None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()
    finished = asyncio.Event()
    seen: list[str] = []

    async def handler() -> None:
        seen.append("before")
        await asyncio.sleep(0)
        seen.append(await future)
        finished.set()

    run_now(handler())
    assert seen == ["before"]
    future.set_result("after")
    await asyncio.wait_for(finished.wait(), 5)
    assert seen == ["before", "after"]


async def test_an_error_raised_before_waiting_reaches_the_caller() -> None:
    async def handler() -> None:
        raise ValueError("bad packet")

    with pytest.raises(ValueError, match="bad packet"):
        run_now(handler())
