"""A login flood's effect on attachment uploads and server memory, before and after issue 14's
bounded password pool. Prints JSON.

Each server is a subprocess on loopback with the real Argon2id parameters (64 MiB per check):
"before" runs the tree given by --old (e.g. ``git worktree add /tmp/old-login c86a3a8``),
"after" this tree with its defaults (pool and login rate limits), and "after_pool_only" this
tree with the login rate limits off, so the pool's own effect shows (the upload loop is never
rate-limited: it measures, it does not attack). For each: upload latency alone
(baseline), then while N unauthenticated logins (wrong passwords, known and unknown user
names) run at concurrency C; RSS before, and peak (VmHWM).

    python benchmarks/login_flood.py --old /tmp/old-login [--logins 60 --concurrency 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vidconsult.domain.roles import Role  # noqa: E402
from vidconsult.tokens import TokenSigner  # noqa: E402

SECRET = "benchmark-secret-" + "x" * 40
PDF = b"%PDF-1.7\n" + os.urandom(100 * 1024) + b"\n%%EOF\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Server:
    def __init__(self, tree: Path, data_dir: Path, env: dict[str, str]) -> None:
        self.tree = tree
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            "PYTHONPATH": str(tree),
            "VIDCONSULT_SECRET": SECRET,
            "VIDCONSULT_LOG_LEVEL": "WARNING",
            **env,
        }
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def run(self, *args: str, stdin: str | None = None) -> None:
        subprocess.run(
            [sys.executable, "-m", "vidconsult", *args],
            cwd=self.tree,
            env=self.env,
            input=stdin,
            text=True,
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        self.run(
            "account", "create", "--username", "bench-user", "--role", "coordinator",
            "--password-stdin", "--data-dir", str(self.data_dir),
            stdin="correct horse battery\n",
        )  # fmt: skip
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vidconsult", "serve", "--host", "127.0.0.1", "--port", "0",
             "--data-dir", str(self.data_dir)],
            cwd=self.tree, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if "listening on" in line:
                self.url = line.rsplit(" ", 1)[1].strip()
                return
        raise RuntimeError(f"server in {self.tree} did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


async def upload_loop(
    session: aiohttp.ClientSession, url: str, token: str, stop: asyncio.Event
) -> list[float]:
    times = []
    while not stop.is_set():
        started = time.perf_counter()
        async with session.post(
            url + "/api/v1/cases/case-bench/attachments",
            params={"filename": "report.pdf"},
            data=PDF,
            headers={"Content-Type": "application/pdf", "Authorization": f"Bearer {token}"},
        ) as resp:
            await resp.read()
            assert resp.status == 201, resp.status
        times.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.02)
    return times


async def flood(
    session: aiohttp.ClientSession, url: str, logins: int, concurrency: int
) -> tuple[Counter[int], float]:
    statuses: Counter[int] = Counter()
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        name = "bench-user" if i % 2 else f"nobody-{i}"
        async with (
            gate,
            session.post(
                url + "/api/v1/auth/login", json={"username": name, "password": f"wrong-{i}-pass"}
            ) as resp,
        ):
            await resp.read()
            statuses[resp.status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(logins)))
    return statuses, time.perf_counter() - started


def summary(times: list[float]) -> dict[str, Any]:
    return {
        "n": len(times),
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 95), 1),
    }


async def measure(tree: Path, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(tree, Path(tmp), env)
        server.start()
        try:
            assert server.proc is not None
            pid = server.proc.pid
            token = TokenSigner(SECRET.encode()).mint(
                identity="bench-coordinator",
                role=Role.COORDINATOR,
                now=datetime.now(UTC),
                ttl=timedelta(hours=1),
            )
            async with aiohttp.ClientSession() as session:
                stop = asyncio.Event()
                baseline_task = asyncio.ensure_future(upload_loop(session, server.url, token, stop))
                await asyncio.sleep(args.baseline_seconds)
                stop.set()
                baseline = await baseline_task
                rss_before = rss_mib(pid)
                stop = asyncio.Event()
                during_task = asyncio.ensure_future(upload_loop(session, server.url, token, stop))
                statuses, took = await flood(session, server.url, args.logins, args.concurrency)
                stop.set()
                during = await during_task
                return {
                    "tree": str(tree),
                    "uploads_alone": summary(baseline),
                    "uploads_during_flood": summary(during),
                    "rss_mib_before": round(rss_before, 1),
                    "rss_mib_peak": round(rss_mib(pid, "VmHWM"), 1),
                    "logins": dict(sorted(statuses.items())),
                    "flood_seconds": round(took, 2),
                }
        finally:
            server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="tree of the code before")
    parser.add_argument("--logins", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--baseline-seconds", type=float, default=3.0)
    args = parser.parse_args()
    # the upload loop measures, it does not attack: never rate-limited (the old tree ignores
    # the variables); "after_pool_only" turns the login limits off too
    uploads_free = {f"VIDCONSULT_UPLOAD_RATE_{who}": "0" for who in ("IP", "ACCOUNT")}
    no_limits = {
        **uploads_free,
        **{f"VIDCONSULT_LOGIN_RATE_{who}": "0" for who in ("IP", "ACCOUNT")},
    }
    results = {
        "logins": args.logins,
        "concurrency": args.concurrency,
        "cpus": os.cpu_count(),
        "before": await measure(args.old.resolve(), uploads_free, args),
        "after": await measure(ROOT, uploads_free, args),
        "after_pool_only": await measure(ROOT, no_limits, args),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
