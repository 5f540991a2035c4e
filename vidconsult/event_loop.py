"""The event loop the server runs on: uvloop (default) or the standard library's asyncio loop.

uvloop (MagicStack; libuv under a Cython loop) does a loop iteration, a socket's readiness
callback and a ``call_later`` in C, where asyncio's loop runs ``_run_once``, the selector and
each ``Handle`` in Python: with one Chromium publisher and one viewer, ~96 RTP packets/s in and
~116 loop iterations/s, the server spends ~9 % less CPU on it (docs/media.md, "Per-packet
cost"). ``asyncio`` stays for operators who need the standard loop (a debugger or profiler
that hooks it, a platform without a uvloop wheel). The tests run on the same loop as the
product (tests/conftest.py) and so does the forwarding benchmark's server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

EventLoopName = Literal["uvloop", "asyncio"]
DEFAULT: EventLoopName = "uvloop"

T = TypeVar("T")


def loop_factory(name: EventLoopName = DEFAULT) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], name: EventLoopName = DEFAULT) -> T:
    """``asyncio.run(main)`` on the named loop."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        return runner.run(main)
