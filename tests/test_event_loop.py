"""The event loop: the product's default (uvloop) is the one tests run on, and ``serve``'s
setting picks either loop."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from vidconsult import event_loop
from vidconsult.config import Settings, SettingsError


async def test_tests_run_on_the_products_loop() -> None:
    assert event_loop.DEFAULT == "uvloop"
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)


@pytest.mark.parametrize(
    ("name", "loop_type"),
    [("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)],
)
def test_run_on_the_named_loop(name: event_loop.EventLoopName, loop_type: type) -> None:
    async def which() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    loop = event_loop.run(which(), name)
    assert isinstance(loop, loop_type)
    assert isinstance(loop, uvloop.Loop) == (name == "uvloop")


def test_the_setting_defaults_to_uvloop_and_refuses_others() -> None:
    assert Settings.from_env({}).event_loop == "uvloop"
    assert Settings.from_env({"VIDCONSULT_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"
    with pytest.raises(SettingsError, match="event-loop"):
        Settings.from_env({"VIDCONSULT_EVENT_LOOP": "trio"})
