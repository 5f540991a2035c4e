"""Signaling under abuse: how long one participant's offer stalls the shared event loop, and how
fast presence fans out to 1,000 signaling participants when 50 join at once. Prints JSON.

    python benchmarks/signaling_abuse.py [--root TREE] [--sections 250,16] [--skip-fanout]

``--root``: the source tree to measure (default: this one), e.g. an old commit checked out with
``git worktree add /tmp/old <commit>``, so both sides run the same benchmark code.

stall: the real server (aiortc media) in this process, a timer task that wakes every 1 ms on the
same loop, and one participant sending a publish offer of N media sections (built by aiortc,
sendonly, bundled: as a browser builds it). The figure is the longest the timer was kept
waiting while that one request was handled, i.e. what every other room on the node feels.

fanout: the server in its own process (``vidconsult serve``, real media engine), 1,000 lean
WebSocket clients (Engine.IO / Socket.IO by hand, observers) in this one, in 10 rooms of 100; then
50 more join at once (5 per room). The latency of each ``participant.joined`` event is from the
newcomer's ``join`` being sent to the event arriving at an earlier participant (5,000
deliveries); p50/p99/max are given, and the CPU time each process spent during the wave (on a
loaded machine the wall-clock figures mostly measure the load; the server's CPU is the floor).

Figures of a run before and after issue 14: signaling_abuse.results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SECRET = "benchmark-secret-" + "x" * 40


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def make_offer(sections: int) -> str:
    from aiortc import RTCPeerConnection
    from aiortc.rtcrtpsender import RTCRtpSender

    pc = RTCPeerConnection()
    for i in range(sections):
        kind = "video" if i % 2 else "audio"
        transceiver = pc.addTransceiver(kind, direction="sendonly")
        # one codec per section (VP8, Opus), as a lean client would: the most sections that
        # fit in the size cap
        first = RTCRtpSender.getCapabilities(kind).codecs[0]
        transceiver.setCodecPreferences([first])
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return lean(sdp)


LEAN_DROPS = (
    "a=extmap:",
    "a=rtcp:",
    "a=rtcp-fb:",
    "a=fingerprint:sha-384",
    "a=fingerprint:sha-512",
)


def lean(sdp: str) -> str:
    """The offer without the lines a bundled section can do without (extensions, feedback,
    extra fingerprints, candidates after the first section): most sections per byte."""
    out, section = [], -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            section += 1
        if line.startswith(LEAN_DROPS):
            continue
        if section > 0 and line.startswith(("a=candidate:", "a=end-of-candidates")):
            continue
        out.append(line)
    return "\r\n".join(out) + "\r\n"


class LoopWatch:
    """The longest lateness of a 1 ms timer on this loop, over a window."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, time.perf_counter() - before - 0.001)

    def __enter__(self) -> LoopWatch:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def stall(sections_list: list[int], repeat: int) -> list[dict[str, Any]]:
    import socketio
    from aiohttp import ClientSession

    from vidconsult.app import run_server
    from vidconsult.config import Settings

    results = []
    runs: dict[int, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(
            {}, host="127.0.0.1", port=0, data_dir=Path(tmp), secret=SECRET, log_level="WARNING"
        )
        async with run_server(settings) as server, ClientSession() as http:
            from vidconsult.tokens import TokenSigner

            signer = TokenSigner(SECRET.encode())
            for sections, attempt in [(n, a) for n in sections_list for a in range(repeat)]:
                sdp = await make_offer(sections)
                room = await _create_room(http, server.url, signer, f"stall {sections}")
                client = socketio.AsyncClient(reconnection=False)
                token = _mint(signer, f"pub{sections}-{attempt}", "doctor", room)
                await client.connect(
                    server.url, auth={"token": token}, transports=["websocket"], wait_timeout=10
                )
                await client.call("join", {}, timeout=30)
                started = time.perf_counter()
                with LoopWatch() as watch:
                    reply = await client.call(
                        "publish.offer", {"sdp": sdp, "type": "offer"}, timeout=60
                    )
                    await asyncio.sleep(0.2)  # work the request left behind (ICE, DTLS start)
                elapsed = time.perf_counter() - started - 0.2
                await client.disconnect()
                error = reply.get("error") if isinstance(reply, dict) else None
                runs.setdefault(sections, []).append(
                    {
                        "sdp_bytes": len(sdp.encode()),
                        "refusal": error["code"] if isinstance(error, dict) else None,
                        "request_ms": elapsed * 1000,
                        "stall_ms": watch.worst * 1000,
                    }
                )
    for sections, rs in runs.items():
        stalls = [r["stall_ms"] for r in rs]
        results.append(
            {
                "sections": sections,
                "sdp_bytes": rs[0]["sdp_bytes"],
                "accepted": sum(r["refusal"] is None for r in rs),
                "refusals": sorted({r["refusal"] for r in rs if r["refusal"]}),
                "runs": len(rs),
                "request_ms_median": round(statistics.median(r["request_ms"] for r in rs), 1),
                "loop_stall_ms_median": round(statistics.median(stalls), 1),
                "loop_stall_ms_max": round(max(stalls), 1),
                "loop_stall_ms_each": [round(x, 1) for x in stalls],
            }
        )
    return results


def _mint(signer: Any, identity: str, role: str, room: str | None) -> str:
    from datetime import UTC, datetime, timedelta

    from vidconsult.domain.roles import Role

    return signer.mint(
        identity=identity,
        role=Role(role),
        room=room,
        now=datetime.now(UTC),
        ttl=timedelta(hours=1),
    )


async def _create_room(http: Any, url: str, signer: Any, name: str, **kw: Any) -> str:
    token = _mint(signer, "coordinator", "coordinator", None)
    async with http.post(
        f"{url}/api/v1/rooms",
        json={"name": name, **kw},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        data = await resp.json()
        assert resp.status == 201, data
        return str(data["id"])


def start_server(root: Path, data_dir: str) -> tuple[subprocess.Popen[str], str]:
    """``vidconsult serve`` of the tree at ``root`` on a free port; returns it and its URL."""
    env = {
        **os.environ,
        "PYTHONPATH": str(root),
        "VIDCONSULT_SECRET": SECRET,
        "VIDCONSULT_LOG_LEVEL": "WARNING",
        # 1,000 participants from one address: no join limit (a centre's come from many)
        "VIDCONSULT_JOIN_RATE_IP": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "vidconsult", "serve", "--port", "0", "--data-dir", data_dir],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    url = line.strip().rsplit(" ", 1)[-1]
    assert url.startswith("http"), line
    return proc, url


async def fanout(url: str, pid: int, participants: int, rooms: int, joiners: int) -> dict[str, Any]:
    """The receivers are lean: Engine.IO / Socket.IO by hand over aiohttp's WebSocket client,
    one reader task each, so that the figure is the server's fan-out more than 1,000
    python-socketio clients' own overhead in this one process."""
    from aiohttp import ClientSession, ClientWebSocketResponse, TCPConnector

    from vidconsult.tokens import TokenSigner

    ws_url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"

    async def open_socket(http: ClientSession, token: str) -> ClientWebSocketResponse:
        ws = await http.ws_connect(ws_url)
        assert (await ws.receive_str()).startswith("0")  # Engine.IO open
        await ws.send_str("40" + json.dumps({"token": token}))
        assert (await ws.receive_str()).startswith("40")  # Socket.IO connected
        return ws

    async def join_now(ws: ClientWebSocketResponse) -> None:
        await ws.send_str('421["join",{}]')
        while not (await ws.receive_str()).startswith("431["):
            pass

    signer = TokenSigner(SECRET.encode())
    per_room = participants // rooms
    sent_at: dict[str, float] = {}
    latencies: list[float] = []
    all_in = asyncio.Event()
    readers: list[asyncio.Task[None]] = []

    async def read(ws: ClientWebSocketResponse) -> None:
        async for msg in ws:
            data = msg.data
            if data == "2":
                await ws.send_str("3")
            elif isinstance(data, str) and data.startswith('42["participant.joined"'):
                identity = json.loads(data[2:])[1]["participant"]["identity"]
                start = sent_at.get(identity)
                if start is not None:
                    latencies.append(time.perf_counter() - start)
                    if len(latencies) >= joiners * per_room:
                        all_in.set()

    # no limit on the session's connections: each WebSocket holds one (the default is 100)
    async with ClientSession(connector=TCPConnector(limit=0)) as http:
        room_ids = [
            await _create_room(
                http, url, signer, f"fanout {i}", max_participants=per_room + joiners
            )
            for i in range(rooms)
        ]
        sem = asyncio.Semaphore(50)

        async def settle(identity: str, room: str) -> None:
            async with sem:
                ws = await open_socket(http, _mint(signer, identity, "observer", room))
                await join_now(ws)
                readers.append(asyncio.get_running_loop().create_task(read(ws)))

        await asyncio.gather(
            *(settle(f"p{r}-{i}", room_ids[r]) for r in range(rooms) for i in range(per_room))
        )
        newcomers = []
        for i in range(joiners):
            ws = await open_socket(http, _mint(signer, f"n{i}", "observer", room_ids[i % rooms]))
            readers.append(asyncio.get_running_loop().create_task(read(ws)))
            newcomers.append((f"n{i}", ws))
        await asyncio.sleep(2)
        server_cpu, client_cpu = _cpu_seconds(pid), time.process_time()
        for identity, ws in newcomers:  # all sent at once: the server takes them as they come
            sent_at[identity] = time.perf_counter()
            await ws.send_str('421["join",{}]')
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), 30)
        server_cpu = _cpu_seconds(pid) - server_cpu
        client_cpu = time.process_time() - client_cpu
        for task in readers:
            task.cancel()
    ms = [x * 1000 for x in latencies]
    return {
        "participants": participants,
        "rooms": rooms,
        "joins_at_once": joiners,
        "deliveries": len(ms),
        "to_earlier_participants": joiners * per_room,
        "p50_ms": round(statistics.median(ms), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
        # CPU time of the wave (the 50 joins and their deliveries), each side
        "server_cpu_ms": round(server_cpu * 1000),
        "clients_cpu_ms": round(client_cpu * 1000),
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--sections", default="250,64,32,16,8,2")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-fanout", action="store_true")
    parser.add_argument("--skip-stall", action="store_true")
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=10)
    parser.add_argument("--joiners", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    root = Path(args.root).resolve()
    sys.path.insert(0, str(root))
    out: dict[str, Any] = {"root": str(root)}
    if not args.skip_stall:
        sections = [int(s) for s in args.sections.split(",") if s]
        out["stall"] = asyncio.run(stall(sections, args.repeat))
    if not args.skip_fanout:
        with tempfile.TemporaryDirectory() as tmp:
            proc, url = start_server(root, tmp)
            try:
                out["fanout"] = asyncio.run(
                    fanout(url, proc.pid, args.participants, args.rooms, args.joiners)
                )
            finally:
                proc.terminate()
                proc.wait(10)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
