"""Benchmark: what one paging tick costs (``PagingService.tick``, run every
``--paging-interval``, 1 s by default, on the node holding the scheduler's lease).

Since the outbox, every tick re-derives from the store what an outage may have left undone
(``_reconcile``: the open rooms listed, and for each paging still paging its case and its room
read). Its peer, side by side in the same run on the same store, is the tick without that step
(the tick before the outbox: only the pagings whose ringing step ran out are touched); and
between them the tick whose reconcile reads every paging's case and room (how every tick did
until the reconcile was kept to the open rooms' listing; now once a minute, and after a
cancellation the store did not take: ``FULL_CHECK_EVERY`` in vidconsult/services/paging.py).
The three alternate tick by tick, so drift of the machine falls on each alike.

The real app in-process (SQLite, and PostgreSQL on a throwaway loopback cluster when Debian's
server binaries are installed: tests/postgres.py) on a fake clock that never moves (nothing
escalates: the cost measured is the tick's own), no media. Each configuration opens ``rooms``
rooms of which ``emergencies`` are emergencies (each with its paging open, ringing), then
times ``--ticks`` ticks of each kind: wall (``perf_counter``) and CPU of this process
(``process_time``: every thread, the SQLite one included; PostgreSQL's own CPU is not in it).

    python benchmarks/paging_tick.py [--ticks 200] [--configs 0:0,50:10,200:50] [--no-postgres]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fakes import FakeClock  # noqa: E402
from tests.helpers import SECRET  # noqa: E402
from tests.workflow.helpers import (  # noqa: E402
    MONDAY_9AM,
    WorkflowServer,
    cardiology_on_duty,
    case_body,
    workflow_server,
)
from vidconsult.config import Settings  # noqa: E402
from web.workflow_keys import PAGING  # noqa: E402

QUIET = {"scheduler_interval": 0, "paging_interval": 0, "password_workers": 1}


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 3),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 3),
    }


async def _seed(wf: WorkflowServer, rooms: int, emergencies: int) -> None:
    await cardiology_on_duty(wf)
    for _ in range(emergencies):
        await wf.ok("POST", "/api/v1/emergencies", case_body(), status=201)
    for i in range(rooms - emergencies):
        await wf.ok("POST", "/api/v1/rooms", {"name": f"Consultation {i}"}, status=201)


async def _time(tick: Callable[[], Awaitable[int]]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    sent = await tick()
    assert sent == 0, f"a tick sent {sent} pages: the benchmark's clock moved"
    return time.perf_counter() - wall, time.process_time() - cpu


async def measure(wf: WorkflowServer, ticks: int) -> dict[str, Any]:
    pager = wf.app[PAGING]
    with_reconcile = pager.tick

    async def no_reconcile(now: object) -> int:
        return 0

    async def bare_tick() -> int:
        pager._reconcile = no_reconcile  # type: ignore[method-assign]
        try:
            return await with_reconcile()
        finally:
            del pager._reconcile  # type: ignore[attr-defined]

    async def full_tick() -> int:
        pager._full_check_at = None  # every paging's case and room read, as before
        return await with_reconcile()

    kinds: list[tuple[str, Callable[[], Awaitable[int]]]] = [
        ("tick", with_reconcile),
        ("tick_full_reconcile", full_tick),
        ("tick_without_reconcile", bare_tick),
    ]
    for _ in range(5):  # warm: caches, prepared statements, the pool
        for _, tick in kinds:
            await tick()
    walls: dict[str, list[float]] = {name: [] for name, _ in kinds}
    cpus: dict[str, list[float]] = {name: [] for name, _ in kinds}
    for _ in range(ticks):
        for name, tick in kinds:
            wall, cpu = await _time(tick)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {name: {"wall": _ms(walls[name]), "cpu": _ms(cpus[name])} for name in walls}


@contextlib.asynccontextmanager
async def sqlite_server(tmp: Path) -> AsyncIterator[WorkflowServer]:
    settings = Settings.from_env({}, host="127.0.0.1", port=0, data_dir=tmp, secret=SECRET, **QUIET)
    async with workflow_server(settings, FakeClock(MONDAY_9AM)) as wf:
        yield wf


def postgres_servers() -> contextlib.AbstractContextManager[Any]:
    """The throwaway cluster of tests/postgres.py, or None when it cannot run here."""
    try:
        from tests.postgres import postgres_server

        return postgres_server()
    except Exception:  # noqa: BLE001 (no PostgreSQL here: SQLite only)
        return contextlib.nullcontext(None)


@contextlib.asynccontextmanager
async def postgres_node(cluster: Any, tmp: Path) -> AsyncIterator[WorkflowServer]:
    from tests.postgres import postgres_node_settings

    settings = postgres_node_settings(tmp, cluster.new_database(), **QUIET)
    async with workflow_server(settings, FakeClock(MONDAY_9AM)) as wf:
        yield wf


async def run(args: argparse.Namespace) -> dict[str, Any]:
    configs = [tuple(int(n) for n in c.split(":")) for c in args.configs.split(",")]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vc-paging-tick-") as tmp:
        with contextlib.nullcontext(None) if args.no_postgres else postgres_servers() as cluster:
            stores: list[tuple[str, Callable[[Path], Any]]] = [("sqlite", sqlite_server)]
            if cluster is not None:
                stores.append(("postgres", lambda d: postgres_node(cluster, d)))
            for store, start in stores:
                for rooms, emergencies in configs:
                    where = Path(tmp) / f"{store}-{rooms}-{emergencies}"
                    async with start(where) as wf:
                        await _seed(wf, rooms, emergencies)
                        figures = await measure(wf, args.ticks)
                    results.append(
                        {
                            "store": store,
                            "open_rooms": rooms,
                            "open_pagings": emergencies,
                            **figures,
                        }
                    )
                    print(json.dumps(results[-1]), file=sys.stderr)
    return {
        "benchmark": "paging_tick",
        "ticks": args.ticks,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--configs", default="0:0,50:10,200:10,200:50")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
