"""Recording cost vs forwarding cost, and the composite export's speed. Prints JSON.

    python benchmarks/recording.py [--seconds 6] [--publishers 4] [--rounds 5]

The server runs in a child process (passthrough mode, recording installed) pinned to the last
CPU core; this process, pinned to the others, hosts the SDK clients, each publisher sending a
textured 640x360 VP8 + Opus clip as is (looped with continuous timestamps by
:mod:`vidconsult.file_player`). The server's CPU (utime+stime from
/proc) is measured over phases of equal length, side by side in one run:
  receive   the publishers, no subscriber, not recording
  forward   + one subscriber to every track: forward - receive = the cost of forwarding them
  record    + recording every publisher: record - forward = the cost of recording them
Each round runs the three phases in turn (the subscriber joins after ``receive`` and leaves
after ``record``; recording starts before ``record`` and stops after it), so a drift of the
machine's load hits all three alike; the medians of the rounds' differences are reported.
Then every client leaves, the room's recordings are
exported as one composite MP4, and its speed is reported as a multiple of real time (the
export job's own figure: media seconds / wall seconds).
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402

from benchmarks.harness import cpu_seconds  # noqa: E402
from tests.recording import synth  # noqa: E402
from vidconsult.client import RoomClient  # noqa: E402
from vidconsult.domain.roles import Role  # noqa: E402
from vidconsult.tokens import TokenSigner  # noqa: E402

SECRET = "bench-secret-" + "x" * 40


def token(identity: str, role: Role, room: str | None = None) -> str:
    return TokenSigner(SECRET.encode()).mint(
        identity=identity, role=role, room=room, now=datetime.now(UTC), ttl=timedelta(hours=1)
    )


async def phase(pid: int, seconds: float) -> float:
    start = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return cpu_seconds(pid) - start


async def run(seconds: float, publishers: int, rounds: int) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="vidconsult-bench-"))
    media = synth.write_file(
        work / "a.webm",
        synth.encode(20, [1.0, 5.0, 9.0], size=(640, 360), texture=True),
        size=(640, 360),
    )
    cores = sorted(os.sched_getaffinity(0))
    server_cores, client_cores = (
        ({cores[-1]}, set(cores[:-1])) if len(cores) > 1 else (set(cores), set(cores))
    )
    os.sched_setaffinity(0, client_cores)  # the clients do not compete with the server
    proc = subprocess.Popen(  # noqa: ASYNC220
        [
            sys.executable,
            "-m",
            "tests.recording.serve_proc",
            str(work / "var"),
            SECRET,
        ],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[1],  # noqa: ASYNC240
        preexec_fn=lambda: os.sched_setaffinity(0, server_cores),
    )
    clients: list[RoomClient] = []
    receive: list[float] = []
    forward: list[float] = []
    record: list[float] = []
    try:
        assert proc.stdout is not None
        url = (await asyncio.to_thread(proc.stdout.readline)).decode().strip()
        auth = {"Authorization": f"Bearer {token('coord', Role.COORDINATOR)}"}
        async with aiohttp.ClientSession(headers=auth) as http:

            async def call(method: str, path: str, **kw: Any) -> dict[str, Any]:
                async with http.request(method, url + path, **kw) as r:
                    assert r.status < 300, await r.text()
                    return await r.json()  # type: ignore[no-any-return]

            rid = (await call("POST", "/api/v1/rooms", json={"name": "bench"}))["id"]
            for k in range(publishers):
                pub = RoomClient(url, token(f"pub{k}", Role.DOCTOR, rid))
                clients.append(pub)
                await pub.connect()
                await pub.publish_file(str(media), loop=True)
            await call("PUT", f"/api/v1/rooms/{rid}/recording/policy", json={"enabled": True})
            await asyncio.sleep(2)
            for n in range(rounds):
                receive.append(await phase(proc.pid, seconds))
                # encoded: the subscriber decodes nothing, so this process leaves the CPU alone
                sub = RoomClient(url, token(f"sub{n}", Role.OBSERVER, rid), encoded=True)
                await sub.connect()
                for k in range(publishers):
                    await sub.wait_for_track(f"pub{k}", "video")
                await asyncio.sleep(1)
                forward.append(await phase(proc.pid, seconds))
                await call("POST", f"/api/v1/rooms/{rid}/recording/start")
                await asyncio.sleep(1)
                record.append(await phase(proc.pid, seconds))
                await call("POST", f"/api/v1/rooms/{rid}/recording/stop")
                await asyncio.wait_for(sub.close(), 5)
                await asyncio.sleep(1)
            for c in clients:
                await asyncio.wait_for(c.close(), 5)
            clients.clear()
            idle_start = cpu_seconds(proc.pid)
            job = await call("POST", f"/api/v1/rooms/{rid}/exports")
            while job["status"] == "running":
                await asyncio.sleep(0.2)
                job = await call("GET", f"/api/v1/exports/{job['id']}")
            export_cpu = cpu_seconds(proc.pid) - idle_start
    finally:
        for c in clients:
            await asyncio.wait_for(c.close(), 5)
        proc.terminate()
        proc.wait()
    forwarding = statistics.median(f - r for r, f in zip(receive, forward, strict=True))
    recording = statistics.median(r - f for f, r in zip(forward, record, strict=True))

    def per_s(values: list[float]) -> list[float]:
        return [round(v / seconds * 1000, 1) for v in values]

    return {
        "seconds_per_phase": seconds,
        "publishers": publishers,
        "rounds": rounds,
        "server_cpu_ms_per_s": {
            "receive": per_s(receive),
            "receive+forward": per_s(forward),
            "receive+forward+record": per_s(record),
        },
        "forwarding_ms_per_s": round(forwarding / seconds * 1000, 1),
        "recording_ms_per_s": round(recording / seconds * 1000, 1),
        "recording_over_forwarding": round(recording / forwarding, 2) if forwarding > 0 else None,
        # the spread of the rounds: how much the machine's noise moves the two differences
        "rounds_ms_per_s": {
            "forwarding": per_s([f - r for r, f in zip(receive, forward, strict=True)]),
            "recording": per_s([r - f for f, r in zip(forward, record, strict=True)]),
        },
        "export": {
            "status": job["status"],
            "error": job.get("error"),
            "files": len(job.get("files") or []),
            "media_seconds": job.get("duration_s"),
            "speed_x_realtime": job.get("speed"),
            "server_cpu_s": round(export_cpu, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--publishers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.seconds, args.publishers, args.rounds)), indent=2))


if __name__ == "__main__":
    main()
