"""Recording cost vs forwarding cost, and the composite export's speed. Prints JSON.

    python benchmarks/recording.py [--seconds 8]

The server runs in a child process (passthrough mode, recording installed); this process hosts
the SDK clients. The server's CPU (utime+stime from /proc) is measured over three phases of
equal length, side by side in one run:
  1. one publisher (VP8 + Opus sent as is), no subscriber, not recording: receiving
  2. + one subscriber: the difference is the cost of forwarding the tracks
  3. + recording on: the difference is the cost of recording the same tracks
then the room's recording is exported as a composite MP4 and its speed reported as a multiple
of real time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402

from tests.recording import synth  # noqa: E402
from vidconsult.client import RoomClient  # noqa: E402
from vidconsult.domain.roles import Role  # noqa: E402
from vidconsult.tokens import TokenSigner  # noqa: E402

SECRET = "bench-secret-" + "x" * 40
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def token(identity: str, role: Role, room: str | None = None) -> str:
    return TokenSigner(SECRET.encode()).mint(identity=identity, role=role, room=room,
                                             now=datetime.now(UTC), ttl=timedelta(hours=1))


async def phase(pid: int, seconds: float) -> float:
    start = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return cpu_seconds(pid) - start


async def run(seconds: float) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="vidconsult-bench-"))
    media = synth.write_file(work / "a.webm", synth.encode(20, [1.0, 5.0, 9.0],
                                                           size=(640, 360), texture=True))
    proc = subprocess.Popen([sys.executable, "-m", "tests.recording.serve_proc",  # noqa: ASYNC220
                             str(work / "var"), SECRET], stdout=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parents[1])  # noqa: ASYNC240
    clients: list[RoomClient] = []
    try:
        assert proc.stdout is not None
        url = (await asyncio.to_thread(proc.stdout.readline)).decode().strip()
        auth = {"Authorization": f"Bearer {token('coord', Role.COORDINATOR)}"}
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.post(url + "/api/v1/rooms", json={"name": "bench"}) as r:
                rid = (await r.json())["id"]
            async with http.put(url + f"/api/v1/rooms/{rid}/recording/policy",
                                json={"enabled": False}):
                pass
            pub = RoomClient(url, token("pub", Role.DOCTOR, rid))
            clients.append(pub)
            await pub.connect()
            await pub.publish_file(str(media), loop=True)
            await asyncio.sleep(2)
            receive = await phase(proc.pid, seconds)
            sub = RoomClient(url, token("sub", Role.OBSERVER, rid))
            clients.append(sub)
            await sub.connect()
            await sub.wait_for_track("pub", "video")
            await asyncio.sleep(1)
            forward = await phase(proc.pid, seconds)
            async with http.put(url + f"/api/v1/rooms/{rid}/recording/policy",
                                json={"enabled": True}):
                pass
            async with http.post(url + f"/api/v1/rooms/{rid}/recording/start") as r:
                assert r.status == 200, await r.text()
            await asyncio.sleep(1)
            record = await phase(proc.pid, seconds)
            async with http.post(url + f"/api/v1/rooms/{rid}/recording/stop") as r:
                assert r.status == 200
            async with http.post(url + f"/api/v1/rooms/{rid}/exports") as r:
                job = await r.json()
            while job["status"] == "running":
                await asyncio.sleep(0.2)
                async with http.get(url + f"/api/v1/exports/{job['id']}") as r:
                    job = await r.json()
    finally:
        for c in clients:
            await asyncio.wait_for(c.close(), 5)
        proc.terminate()
        proc.wait()
    forwarding = forward - receive
    recording = record - forward
    return {
        "seconds_per_phase": seconds,
        "server_cpu_s": {"receive": round(receive, 3), "receive+forward": round(forward, 3),
                         "receive+forward+record": round(record, 3)},
        "forwarding_cpu_s": round(forwarding, 3),
        "recording_cpu_s": round(recording, 3),
        "recording_over_forwarding": round(recording / forwarding, 3) if forwarding > 0
        else None,
        "export": {"status": job["status"], "media_seconds": job.get("duration_s"),
                   "speed_x_realtime": job.get("speed")},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.seconds)), indent=2))


if __name__ == "__main__":
    main()
