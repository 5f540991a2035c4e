"""Event-loop probe (issue 15): one Chromium publisher and one Chromium viewer through the
benchmark's server (``sfu_forwarding``'s engine + HTTP shim), and over a fixed window the
server's user-space instructions and syscalls (``perf stat``, load-independent), the packets
its intakes took from the socket callback, and (``--count``) the callbacks that ran on its
loop by function, the timers scheduled, and the loop's iterations. Prints JSON.

    python benchmarks/loop_probe.py --loop uvloop --window 20    # the product's loop
    python benchmarks/loop_probe.py --loop asyncio --window 20
    python benchmarks/loop_probe.py --loop asyncio --count   # which callbacks wake the loop
    python benchmarks/loop_probe.py --stages   # the loop thread's CPU by stage (cpu_stages.py)

``instructions:u`` needs hardware counters: in a VM without them perf reports it unsupported
and the JSON has no ``instructions_per_packet_in``; ``task-clock`` (the process's CPU time)
and the syscall counts are there either way.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EVENTS = (
    "task-clock",
    "instructions:u",
    "syscalls:sys_enter_epoll_wait",
    "syscalls:sys_enter_recvfrom",
    "syscalls:sys_enter_sendto",
    "syscalls:sys_enter_epoll_pwait",  # libuv's (uvloop)
    "syscalls:sys_enter_recvmsg",
    "syscalls:sys_enter_recvmmsg",
    "syscalls:sys_enter_sendmsg",
)


def _name(fn: Any) -> str:
    self = getattr(fn, "__self__", None)
    if isinstance(self, asyncio.Task):
        coro = self.get_coro()
        return "task:" + getattr(coro, "__qualname__", repr(coro))
    if isinstance(fn, __import__("functools").partial):
        return "partial:" + _name(fn.func)
    return getattr(fn, "__qualname__", None) or repr(type(fn))


class Counts:
    def __init__(self) -> None:
        self.callbacks: collections.Counter[str] = collections.Counter()
        self.timers: collections.Counter[str] = collections.Counter()
        self.iterations = 0

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        from asyncio import events

        counts = self
        run = events.Handle._run

        def _run(handle: Any) -> None:
            counts.callbacks[_name(handle._callback)] += 1
            run(handle)

        events.Handle._run = _run  # type: ignore[method-assign]
        call_at = loop.call_at

        def counted_call_at(when: float, callback: Any, *args: Any, **kw: Any) -> Any:
            counts.timers[_name(callback)] += 1
            return call_at(when, callback, *args, **kw)

        loop.call_at = counted_call_at  # type: ignore[method-assign, assignment]
        run_once = loop._run_once  # type: ignore[attr-defined]

        def counted_run_once() -> None:
            counts.iterations += 1
            run_once()

        loop._run_once = counted_run_once  # type: ignore[attr-defined]

    def snapshot(self) -> dict[str, Any]:
        return {
            "iterations": self.iterations,
            "callbacks": dict(self.callbacks),
            "timers": dict(self.timers),
        }


def server_main(loop_name: Any, count: bool, port_q: Any, stages: bool = False) -> None:
    from vidconsult import event_loop

    logging.basicConfig(level=logging.WARNING)
    event_loop.run(_server(count, port_q, stages), loop_name)


async def _server(count: bool, port_q: Any, stages: bool = False) -> None:
    from aiohttp import web

    from benchmarks.cpu_stages import StageMeter
    from benchmarks.harness import serve
    from benchmarks.sfu_forwarding import signaling_routes
    from media import AiortcMediaEngine, MediaConfig
    from media import intake as media_intake

    counts = Counts()
    if count:
        counts.install(asyncio.get_running_loop())
    meter = StageMeter()
    if stages:
        meter.install()
    engine = AiortcMediaEngine(MediaConfig(ice_servers=[], forward_mode="passthrough"))

    async def probe(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "loop": type(asyncio.get_running_loop()).__module__,
                "intake_packets": sum(i.packets for i in media_intake._INTAKES.values()),
                **counts.snapshot(),
                "stages": meter.snapshot() if stages else None,
            }
        )

    app = web.Application()
    app.add_routes([*signaling_routes(engine, "bench"), web.get("/probe", probe)])
    await serve(app, port_q)


def _perf(pid: int, window: float) -> dict[str, float]:
    out = subprocess.run(
        ["perf", "stat", "-x,", "-e", ",".join(EVENTS), "-p", str(pid), "--", "sleep", str(window)],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    found: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split(",")
        if len(parts) > 2 and parts[2] in EVENTS:
            try:
                found[parts[2]] = float(parts[0])
            except ValueError:  # <not supported>: no hardware counters (a VM)
                continue
    return found


async def drive(url: str, pid: int, window: float, settle: float) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from benchmarks.harness import blank_page_server
    from benchmarks.sfu_browser import publisher_page, viewer_page
    from benchmarks.sfu_forwarding import _get
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    signal = ("vidconsult", url)
    origin, blank = await blank_page_server()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            publisher = await publisher_page(browser, origin, signal)
            viewer = await viewer_page(browser, origin, signal, "viewer0")
            await asyncio.sleep(settle)
            loop = asyncio.get_running_loop()
            before = await loop.run_in_executor(None, _get, f"{url}/probe")
            stats0 = [await p.evaluate("window.bench.stats()") for p in (publisher, viewer)]
            t0 = time.monotonic()
            perf = await loop.run_in_executor(None, _perf, pid, window)
            elapsed = time.monotonic() - t0
            stats1 = [await p.evaluate("window.bench.stats()") for p in (publisher, viewer)]
            after = await loop.run_in_executor(None, _get, f"{url}/probe")
        finally:
            await browser.close()
            await blank.cleanup()
    packets = after["intake_packets"] - before["intake_packets"]
    sent = stats1[0]["packetsSent"] - stats0[0]["packetsSent"]
    result: dict[str, Any] = {
        "loop": after["loop"],
        "window_s": round(elapsed, 2),
        "publisher_packets": sent,
        "intake_packets": packets,
        "viewer_packets": stats1[1]["packetsReceived"] - stats0[1]["packetsReceived"],
        "viewer_fps": round((stats1[1]["framesDecoded"] - stats0[1]["framesDecoded"]) / elapsed, 1),
        "perf": perf,
        "instructions_per_packet_in": round(perf["instructions:u"] / sent)
        if sent and "instructions:u" in perf
        else None,
        "cpu_ms_per_s": round(perf.get("task-clock", 0) / elapsed, 2),
        "cpu_us_per_packet_in": round(perf.get("task-clock", 0) * 1000 / sent, 1) if sent else None,
        "epoll_waits_per_s": round(
            (
                perf.get("syscalls:sys_enter_epoll_wait", 0)
                + perf.get("syscalls:sys_enter_epoll_pwait", 0)
            )
            / elapsed,
            1,
        ),
    }
    if after["stages"] and sent:
        from benchmarks.cpu_stages import breakdown

        result["stages"] = breakdown(before["stages"], after["stages"], sent)
    if after["iterations"]:
        result["iterations_per_s"] = round(
            (after["iterations"] - before["iterations"]) / elapsed, 1
        )
        for key in ("callbacks", "timers"):
            delta = {
                k: v - before[key].get(k, 0)
                for k, v in after[key].items()
                if v - before[key].get(k, 0)
            }
            result[key] = dict(sorted(delta.items(), key=lambda kv: -kv[1]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    parser.add_argument(
        "--count", action="store_true", help="count callbacks (asyncio's loop: Python handles)"
    )
    parser.add_argument(
        "--stages", action="store_true", help="the loop thread's CPU by stage (cpu_stages.py)"
    )
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=4.0)
    args = parser.parse_args()
    if args.count and args.loop != "asyncio":
        parser.error("--count needs --loop asyncio (uvloop's handles are not Python objects)")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    server = ctx.Process(
        target=server_main, args=(args.loop, args.count, q, args.stages), daemon=True
    )
    server.start()
    try:
        url = f"http://127.0.0.1:{q.get(timeout=30)}"
        assert server.pid is not None
        print(json.dumps(asyncio.run(drive(url, server.pid, args.window, args.settle)), indent=2))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
