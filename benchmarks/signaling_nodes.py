"""Signaling on one node vs two (issue 12): joins and presence fan-out of 1,000 participants in
250 rooms of 4, side by side in one run. Prints JSON.

    python benchmarks/signaling_nodes.py                                  # 1,000 in 250 rooms
    python benchmarks/signaling_nodes.py --participants 8 --rooms 2       # a quick run

Both layouts are the multi-node harness of the tests (tests/multinode/cluster.py): real
``vidconsult serve`` processes with ``--store postgres --live redis`` on one real PostgreSQL
(tests/postgres.py) and one real ``redis-server`` (tests/redis_server.py, a fresh database per
layout), behind the TCP front (round robin per connection, no affinity), which runs in a
process of its own so that its CPU is neither the clients' nor a node's:

* ``one_node``: one node behind the front. The same stores and live state as two nodes (not
  the embedded SQLite + in-process default): the only difference between the layouts is the
  second node, and with it the relay of signaling to the room's node over Redis.
* ``two_nodes``: two nodes behind the front; a room is placed on one node (least loaded, on
  its first join) and the front spreads connections over both, so about half of the
  participants reach their room through the other node (signaling relayed over the bus).

Clients: python-socketio ``AsyncClient`` (WebSocket transport, one shared aiohttp session, no
media) in this process. Each participant gets its join token from REST (``POST
/api/v1/rooms/{id}/tokens`` through the front, as a portal would), connects, and sends
``join``. Joins go in waves of ``--wave-rooms`` rooms; in a wave, the k-th member of every room
of the wave connects and joins at once (step k, k = 1..4), and the next step starts when every
reply and every expected ``participant.joined`` of this step has arrived (or after
``--step-timeout``). So a step of 25 rooms is 25 joins at once, and the k-th member's join is
seen by k-1 members: 6 deliveries per room of 4.

* ``join_ms``: from ``connect()`` being called to the ``join`` reply (WebSocket open,
  Socket.IO connect with the token, join, the reply with the room);
* ``presence_ms``: from the ``join`` being sent to a member already in the room receiving that
  newcomer's ``participant.joined`` event;
* ``token_ms``: the REST token request, before the connect (not part of ``join_ms``);
* ``cpu_ms``: user+sys CPU of each node, of the front and of this (client) process, from
  before the first wave to after the last (/proc);
* ``load_average``: the machine's 1-minute load average before and after each layout: the
  machine is shared, so wall-clock figures move with it; the CPU figures less so.

Janus (the peer of the other benchmarks) has no multi-node signaling to compare with, so none
runs here. Rate limits (join, token) are off on the nodes: all participants come from one
address. Figures of a run: signaling_nodes.results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import cpu_seconds  # noqa: E402
from tests.helpers import SECRET  # noqa: E402
from tests.multinode.cluster import TTL, Front, Node, free_port  # noqa: E402
from tests.postgres import PostgresServer, postgres_server  # noqa: E402
from tests.redis_server import RedisServer, redis_server  # noqa: E402

NO_LIMITS = {
    "VIDCONSULT_JOIN_RATE_IP": "0",
    "VIDCONSULT_JOIN_RATE_ACCOUNT": "0",
    "VIDCONSULT_TOKEN_RATE_IP": "0",
    "VIDCONSULT_TOKEN_RATE_ACCOUNT": "0",
    "VIDCONSULT_LOG_LEVEL": "WARNING",
}
MEMBERS = ("doctor", "patient", "expert", "observer")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ms = [v * 1000 for v in values]
    return {
        "n": len(ms),
        "p50": round(statistics.median(ms), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1),
    }


def front_main(ports: list[tuple[str, int]], port: int, pipe: Any) -> None:
    """The front of tests/multinode/cluster.py in a process of its own; answers "stop" with
    the number of connections it sent to each node."""

    async def run() -> None:
        nodes = [
            Node(name, p, Path("."), database_url="", redis_url="", public_url="")
            for name, p in ports
        ]
        front = Front(nodes, port=port)
        await front.start()
        pipe.send("ready")
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        pipe.send(dict(Counter(front.chosen)))
        await front.close()

    asyncio.run(run())


class Run:
    """One layout's clients and figures."""

    def __init__(self, url: str, http: Any, signer: Any) -> None:
        self.url = url
        self.http = http
        self.signer = signer
        self.clients: list[Any] = []
        self.sent_at: dict[str, float] = {}
        self.join: list[float] = []
        self.token: list[float] = []
        self.presence: list[float] = []
        self.failures: Counter[str] = Counter()
        self.expected = 0
        self.arrived = asyncio.Event()

    def coordinator(self) -> str:
        from datetime import UTC, datetime, timedelta

        from vidconsult.domain.roles import Role

        return self.signer.mint(
            identity="coordinator",
            role=Role.COORDINATOR,
            room=None,
            now=datetime.now(UTC),
            ttl=timedelta(hours=2),
        )

    async def rest(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.coordinator()}"}
        async with self.http.post(self.url + path, json=body, headers=headers) as resp:
            data: dict[str, Any] = await resp.json()
            if resp.status != 201:
                raise RuntimeError(f"{path}: {resp.status} {data}")
            return data

    async def participant(self, room: str, identity: str, role: str) -> None:
        import socketio

        started = time.perf_counter()
        try:
            token = (
                await self.rest(
                    f"/api/v1/rooms/{room}/tokens", {"identity": identity, "role": role}
                )
            )["token"]
        except Exception as exc:  # noqa: BLE001 - counted, the run goes on
            self.failures[f"token: {type(exc).__name__}"] += 1
            return
        self.token.append(time.perf_counter() - started)
        client = socketio.AsyncClient(reconnection=False, http_session=self.http)
        self.clients.append(client)

        @client.on("participant.joined")
        def joined(data: dict[str, Any]) -> None:
            other = data.get("participant", {}).get("identity")
            start = self.sent_at.get(other) if other != identity else None
            if start is not None:
                self.presence.append(time.perf_counter() - start)
                self.expected -= 1
                if self.expected <= 0:
                    self.arrived.set()

        started = time.perf_counter()
        try:
            await client.connect(
                self.url, auth={"token": token}, transports=["websocket"], wait_timeout=60
            )
            self.sent_at[identity] = time.perf_counter()
            reply = await client.call("join", {}, timeout=60)
        except Exception as exc:  # noqa: BLE001 - counted, the run goes on
            self.failures[f"join: {type(exc).__name__}"] += 1
            return
        if not isinstance(reply, dict) or "error" in reply:
            self.failures[f"join: {reply!r:.80}"] += 1
            return
        self.join.append(time.perf_counter() - started)

    async def step(self, rooms: list[str], k: int, wave: int, timeout: float) -> None:
        """The k-th member (0-based) of each room joins, all at once; their joins are seen by
        the k members already in."""
        self.expected = k * len(rooms)
        self.arrived.clear()
        if self.expected == 0:
            self.arrived.set()
        await asyncio.gather(
            *(
                self.participant(room, f"w{wave}r{i}m{k}", MEMBERS[k % len(MEMBERS)])
                for i, room in enumerate(rooms)
            )
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.arrived.wait(), timeout)
        if self.expected > 0:
            self.failures["presence: not delivered"] += self.expected

    async def close(self) -> None:
        await asyncio.gather(
            *(c.disconnect() for c in self.clients if c.connected), return_exceptions=True
        )


async def layout(
    count: int,
    postgres: PostgresServer,
    redis: RedisServer,
    tmp: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    from aiohttp import ClientSession, TCPConnector

    from vidconsult.cluster.redis_state import RedisLiveState
    from vidconsult.tokens import TokenSigner

    database_url = postgres.new_database()
    redis_url = redis.new_url()
    front_port = free_port()
    nodes = [
        Node(
            name=f"n{i + 1}",
            port=free_port(),
            data_dir=tmp / f"{count}-n{i + 1}",
            database_url=database_url,
            redis_url=redis_url,
            public_url=f"http://127.0.0.1:{front_port}",
            extra_env=NO_LIMITS,
        )
        for i in range(count)
    ]
    here, there = mp.Pipe()
    front = mp.get_context("spawn").Process(
        target=front_main, args=([(n.name, n.port) for n in nodes], front_port, there)
    )
    out: dict[str, Any] = {"nodes": count, "load_average_before": round(os.getloadavg()[0], 1)}
    # no limit on the session's connections: each WebSocket holds one (the default is 100)
    async with ClientSession(connector=TCPConnector(limit=0)) as http:
        for node in nodes:
            node.start()
        try:
            await asyncio.gather(*(node.ready(http) for node in nodes))
            front.start()
            await asyncio.get_running_loop().run_in_executor(None, here.recv)
            run = Run(f"http://127.0.0.1:{front_port}", http, TokenSigner(SECRET.encode()))
            per_room = args.participants // args.rooms
            rooms = [
                (await run.rest("/api/v1/rooms", {"name": f"bench {i}"}))["id"]
                for i in range(args.rooms)
            ]
            assert front.pid is not None
            pids = {n.name: n.process.pid for n in nodes if n.process is not None}
            pids["front"] = front.pid
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            client_before = time.process_time()
            started = time.perf_counter()
            for wave, first in enumerate(range(0, len(rooms), args.wave_rooms)):
                batch = rooms[first : first + args.wave_rooms]
                for k in range(per_room):
                    await run.step(batch, k, wave, args.step_timeout)
            elapsed = time.perf_counter() - started
            cpu = {
                name: round((cpu_seconds(pid) - before[name]) * 1000) for name, pid in pids.items()
            }
            cpu["clients"] = round((time.process_time() - client_before) * 1000)
            state = RedisLiveState(redis_url, "bench-probe", ttl=TTL)
            try:
                placed = Counter([str(await state.placement.where(r)) for r in rooms])
            finally:
                await state.close()
            here.send("stop")
            connections = await asyncio.get_running_loop().run_in_executor(None, here.recv)
            out.update(
                {
                    "participants": len(run.join),
                    "rooms": len(rooms),
                    "wall_s": round(elapsed, 1),
                    "join_ms": summary(run.join),
                    "presence_ms": summary(run.presence),
                    "presence_expected": len(rooms) * per_room * (per_room - 1) // 2,
                    "token_ms": summary(run.token),
                    "cpu_ms": cpu,
                    "rooms_per_node": dict(placed),
                    "tcp_connections_per_node": connections,
                    "failures": dict(run.failures),
                }
            )
            await run.close()
        finally:
            if front.is_alive():
                front.terminate()
            front.join(10)
            for node in nodes:
                node.kill()  # nothing to keep
    out["load_average_after"] = round(os.getloadavg()[0], 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=250)
    parser.add_argument("--wave-rooms", type=int, default=25, help="rooms per wave")
    parser.add_argument("--step-timeout", type=float, default=60.0)
    parser.add_argument("--layouts", default="1,2", help="node counts, in this order")
    args = parser.parse_args()
    if args.participants % args.rooms:
        parser.error("--participants must be a multiple of --rooms")
    logging.basicConfig(level=logging.CRITICAL)
    out: dict[str, Any] = {
        "participants": args.participants,
        "rooms": args.rooms,
        "wave_rooms": args.wave_rooms,
        "cpus": os.cpu_count(),
    }
    with (
        postgres_server() as postgres,
        redis_server() as redis,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for count in (int(c) for c in args.layouts.split(",")):
            name = "one_node" if count == 1 else f"{count}_nodes".replace("2_", "two_")
            out[name] = asyncio.run(layout(count, postgres, redis, Path(tmp), args))
    one, two = out.get("one_node"), out.get("two_nodes")
    if one and two and one["join_ms"].get("n") and two["join_ms"].get("n"):
        out["ratio_two_over_one"] = {
            f"{what}_{q}": round(two[what][q] / one[what][q], 2)
            for what in ("join_ms", "presence_ms")
            for q in ("p50", "p99")
            if two[what].get(q) and one[what].get(q)
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
