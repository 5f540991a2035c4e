"""What the media benchmarks share: a process's CPU read from /proc (``cpu_seconds`` in clock
ticks, ``CpuMeter`` to the nanosecond where it can be), the start-up of a server process's
HTTP side (``serve``: a free port on 127.0.0.1, told to the parent through a queue) and the
empty page the benchmark pages run on (``blank_page_server``)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User+system CPU of process ``pid`` so far (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class CpuMeter:
    """A process's CPU between two reads, to the nanosecond where it can be: the run time of
    its threads (/proc/PID/task/*/schedstat, ns), which /proc/PID/stat gives in clock ticks
    (10 ms: over a 10 s window, 1 ms/s, ~10 % of one viewer's cost in the browser mode).
    A thread that ends inside the window takes its time with it from the thread sum: then
    the tick figure is used (it keeps the time of ended threads)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._ticks = cpu_seconds(pid)
        self._threads = self._thread_seconds()

    def _thread_seconds(self) -> float | None:
        total = 0
        try:
            for task in Path(f"/proc/{self.pid}/task").iterdir():
                try:
                    total += int((task / "schedstat").read_text().split()[0])
                except (FileNotFoundError, ProcessLookupError):
                    continue  # the thread ended while being read
        except OSError:
            return None
        return total / 1e9

    def read(self) -> tuple[float, str]:
        """(seconds of CPU since the meter was made, "threads" or "ticks": how measured)."""
        ticks = cpu_seconds(self.pid) - self._ticks
        threads = self._thread_seconds()
        if threads is None or self._threads is None:
            return ticks, "ticks"
        precise = threads - self._threads
        if precise < ticks - 2 / CLK_TCK:  # a thread ended: its time left the thread sum
            return ticks, "ticks"
        return precise, "threads"


async def serve(app: Any, port_q: Any) -> None:
    """Serve the aiohttp ``app`` on a free port of 127.0.0.1, put the port on ``port_q`` (the
    parent waits for it) and serve until the process is ended."""
    from aiohttp import web

    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port_q.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await asyncio.Event().wait()


async def blank_page_server(host: str = "127.0.0.1") -> tuple[str, Any]:
    """An empty page on a free port of ``host``, the origin the benchmarks' pages run their
    WebRTC from (no CSP in the way of their fetches to Janus): (its URL on 127.0.0.1, the
    runner, to ``cleanup()``)."""
    from aiohttp import web

    async def blank(_: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>janus</title>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", blank)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = runner.addresses[0][1]
    return f"http://127.0.0.1:{port}/", runner
