"""A lecture on one node vs split across two (issue 12, part 4): 1 presenter -> N subscribers,
CPU per subscriber on each node. Prints JSON.

Processes: node A and node B (each an AiortcMediaEngine in passthrough behind the tiny HTTP
signaling shim of ``benchmarks/sfu_forwarding.py``, plus the internal relay endpoints of
``web/relay_api.py`` with a cluster secret), the presenter (the pre-encoded 640x480 30 fps VP8
~1 Mbit/s clip of sfu_forwarding, on A) and one subscriber process per node (aiortc peers that
count RTP, decode nothing). Layouts, for each N:

* ``one_node``: the presenter and all N subscribers on A;
* ``two_nodes``: the presenter on A, N/2 subscribers on A, B asks A for the room (one relay
  leg) and N/2 subscribers on B.

Each node's CPU is user+sys of its PID from /proc over a fixed window once streams flow;
``cpu_ms_per_s_per_subscriber`` divides it by the subscribers on that node (the node's fixed
cost, receiving the presenter or the leg, included); on a node with no subscribers (B when
N = 1) it, ``worst_fps`` and ``worst_loss_pct`` are null and its CPU is the cost of holding
the relayed room alone. Janus (the peer of the other benchmarks)
has no node-to-node relay of its videoroom in Debian's package, so no peer runs here.

    python benchmarks/lecture_nodes.py                 # N = 4, 8
    python benchmarks/lecture_nodes.py --counts 4,8,16 --window 10

``fit``: per layout and node, the slope of CPU over its subscribers (the marginal cost of one
more) and the intercept (what the node costs with none: receiving the presenter or the leg).

``--path product`` runs the same two layouts through the product instead of the engines
alone: two real ``vidconsult serve`` nodes (tests/multinode/cluster.py) on one real
PostgreSQL and one real ``redis-server``, with a cluster secret; the presenter publishes the
same clip with the Python client (``RoomClient.publish_file``, no re-encoding) in a lecture
room; the listeners are observers joining with the Python client over Socket.IO (one process
per node, their receivers counting RTP, decoding nothing). In ``two_nodes`` the second node's
listeners enter through it, so it serves their media, relayed once from the room's node
(signaling/audience.py). ``node_a`` is the room's node (wherever placement put it),
``node_b`` the other; in ``one_node`` the other node idles, and its CPU is given too.

    python benchmarks/lecture_nodes.py --path product --counts 4,8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import multiprocessing as mp
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import cpu_seconds, serve  # noqa: E402
from benchmarks.sfu_forwarding import (  # noqa: E402
    fit_slope,
    make_clip,
    publisher_main,
    signaling_routes,
    subscribers_main,
)

ROOM = "lecture"
SECRET = "lecture-bench-cluster-secret-0123456789"


def node_main(name: str, port_q: Any) -> None:
    from vidconsult import event_loop

    logging.basicConfig(level=logging.WARNING)
    event_loop.run(_node(name, port_q))  # the product's loop


async def _node(name: str, port_q: Any) -> None:
    from aiohttp import web

    from media import AiortcMediaEngine, MediaConfig
    from web.relay_api import CLUSTER_SECRET, RELAYS, HttpRelayCourier, routes

    engine = AiortcMediaEngine(MediaConfig(ice_servers=[], forward_mode="passthrough"))
    courier = HttpRelayCourier(name, SECRET)
    engine.relays.configure(name, courier)
    shim = signaling_routes(engine, ROOM)

    async def join(request: web.Request) -> web.Response:
        """This node has audience: ask the origin for the room, wait for the relayed track."""
        body = await request.json()
        publishers = await courier.join(body["origin"], ROOM, body["own"])
        for _ in range(200):
            if engine.published_tracks(ROOM):
                break
            await asyncio.sleep(0.05)
        return web.json_response({"publishers": publishers})

    async def stats(request: web.Request) -> web.Response:
        s = engine.stats()
        return web.json_response(
            {
                "packets_forwarded": s.packets_forwarded,
                "tracks": len(engine.published_tracks(ROOM)),
                "relay": engine.relays.state(),
            }
        )

    app = web.Application()
    app[RELAYS] = engine.relays
    app[CLUSTER_SECRET] = SECRET
    app.add_routes(routes)
    app.add_routes(
        [
            *shim,
            web.post("/join", join),
            web.get("/stats", stats),
        ]
    )
    await serve(app, port_q)


def _http(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def wait_published(node: Node) -> None:
    """The presenter's track is published on ``node`` (its connection is up)."""
    deadline = time.monotonic() + 60
    while _http(f"{node.url}/stats")["tracks"] < 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the presenter never published")
        time.sleep(0.2)
    time.sleep(1)  # media flows


class Node:
    def __init__(self, name: str) -> None:
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        self.proc = ctx.Process(target=node_main, args=(name, q), daemon=True)
        self.proc.start()
        self.url = f"http://127.0.0.1:{q.get(timeout=60)}"
        self.pid: int = self.proc.pid or 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.join(5)


class Audience:
    """One subscriber process attached to one node."""

    def __init__(self, node: Node) -> None:
        ctx = mp.get_context("spawn")
        self.here, there = ctx.Pipe()
        self.proc = ctx.Process(
            target=subscribers_main, args=(("vidconsult", node.url), there), daemon=True
        )
        self.proc.start()

    def add(self, n: int) -> None:
        self.here.send(("add", n))
        self.here.recv()

    def stats(self) -> list[dict[str, Any]]:
        self.here.send(("stats", None))
        return list(self.here.recv())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.here.send(("stop", None))
            self.here.poll(10) and self.here.recv()
        self.proc.terminate()
        self.proc.join(5)


def measure(nodes: dict[str, tuple[Any, Any, int]], window: float) -> dict[str, dict[str, Any]]:
    """``nodes``: per key, (something with ``pid``, something with ``stats()``, its
    subscribers): a :class:`Node` and its :class:`Audience`, or their product-path kin."""
    before = {k: aud.stats() for k, (_, aud, _) in nodes.items()}
    cpu0 = {k: cpu_seconds(node.pid) for k, (node, _, _) in nodes.items()}
    t0 = time.monotonic()
    time.sleep(window)
    cpu1 = {k: cpu_seconds(node.pid) for k, (node, _, _) in nodes.items()}
    elapsed = time.monotonic() - t0
    after = {k: aud.stats() for k, (_, aud, _) in nodes.items()}
    out = {}
    for key, (_, _, subs) in nodes.items():
        fps, loss = [], []
        for a, b in zip(before[key], after[key], strict=True):
            fps.append((b["frames"] - a["frames"]) / elapsed)
            expected = b["expected"] - a["expected"]
            got = b["packets"] - a["packets"]
            loss.append(max(0.0, 1 - got / expected) if expected > 0 else 1.0)
        cpu = (cpu1[key] - cpu0[key]) / elapsed * 1000
        # a node with no subscribers (N = 1 puts none on node B): its CPU is still measured
        # (what it costs to hold the room), the per-subscriber figures are null, not 0
        out[key] = {
            "subscribers": subs,
            "cpu_ms_per_s": round(cpu, 1),
            "cpu_ms_per_s_per_subscriber": round(cpu / subs, 2) if subs else None,
            "worst_fps": round(min(fps), 2) if fps else None,
            "worst_loss_pct": round(max(loss) * 100, 3) if loss else None,
        }
    return out


def one_node(n: int, clip: str, window: float, settle: float) -> dict[str, Any]:
    a = Node("node-a")
    ctx = mp.get_context("spawn")
    pub = ctx.Process(target=publisher_main, args=(("vidconsult", a.url), clip), daemon=True)
    aud = None
    try:
        pub.start()
        wait_published(a)
        aud = Audience(a)
        aud.add(n)
        time.sleep(settle)
        result = measure({"node_a": (a, aud, n)}, window)
        per = result["node_a"]["cpu_ms_per_s_per_subscriber"]
        return {"nodes": result, "cpu_ms_per_s_per_subscriber_overall": per}
    finally:
        if aud is not None:
            aud.stop()
        pub.terminate()
        pub.join(5)
        a.stop()


def two_nodes(n: int, clip: str, window: float, settle: float) -> dict[str, Any]:
    a, b = Node("node-a"), Node("node-b")
    ctx = mp.get_context("spawn")
    pub = ctx.Process(target=publisher_main, args=(("vidconsult", a.url), clip), daemon=True)
    auds: list[Audience] = []
    try:
        pub.start()
        wait_published(a)
        joined = _http(f"{b.url}/join", {"origin": a.url, "own": b.url})
        assert joined["publishers"] == ["pub"], joined
        on_a, on_b = n - n // 2, n // 2
        aud_a, aud_b = Audience(a), Audience(b)
        auds = [aud_a, aud_b]
        aud_a.add(on_a)
        aud_b.add(on_b)
        time.sleep(settle)
        result = measure({"node_a": (a, aud_a, on_a), "node_b": (b, aud_b, on_b)}, window)
        legs = _http(f"{a.url}/stats")["relay"]["legs"]
        total = result["node_a"]["cpu_ms_per_s"] + result["node_b"]["cpu_ms_per_s"]
        return {
            "nodes": result,
            "relay_legs_from_a": len(legs),
            "cpu_ms_per_s_per_subscriber_overall": round(total / n, 2),
        }
    finally:
        for aud in auds:
            aud.stop()
        pub.terminate()
        pub.join(5)
        a.stop()
        b.stop()


# --- through the product (--path product) -----------------------------------------------


class Served:
    """A ``vidconsult serve`` node of the product run (what :func:`measure` reads: ``pid``)."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.url: str = node.url
        self.name: str = node.name

    @property
    def pid(self) -> int:
        assert self.node.process is not None
        return int(self.node.process.pid)


class ProductCluster:
    def __init__(self, nodes: list[Served], redis_url: str) -> None:
        self.nodes = nodes
        self.redis_url = redis_url
        from vidconsult.tokens import TokenSigner

        self.signer = TokenSigner(PRODUCT_SECRET.encode())

    def mint(self, room: str | None, identity: str, role: str) -> str:
        from datetime import UTC, datetime, timedelta

        from vidconsult.domain.roles import Role

        return self.signer.mint(
            identity=identity,
            role=Role(role),
            room=room,
            now=datetime.now(UTC),
            ttl=timedelta(hours=2),
        )

    def rest(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.nodes[0].url + path,
            data=data,
            method=method,
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.mint(None, 'coordinator', 'coordinator')}",
            },
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def where(self, room_id: str) -> Served:
        from vidconsult.cluster.redis_state import RedisLiveState

        async def ask() -> str | None:
            state = RedisLiveState(self.redis_url, "bench-probe", ttl=2.0)
            try:
                return await state.placement.where(room_id)
            finally:
                await state.close()

        deadline = time.monotonic() + 30
        while (name := asyncio.run(ask())) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"room {room_id} never placed")
            time.sleep(0.2)
        return next(n for n in self.nodes if n.name == name)

    def relay_legs(self, node: Served, room_id: str) -> int:
        from tests.multinode.cluster import CLUSTER_SECRET
        from web.relay_api import PREFIX, SECRET_HEADER

        req = urllib.request.Request(node.url + PREFIX, headers={SECRET_HEADER: CLUSTER_SECRET})
        with urllib.request.urlopen(req, timeout=30) as resp:
            state = json.loads(resp.read())
        return sum(1 for leg in state["legs"] if leg["room_id"] == room_id)


_CLUSTER: ProductCluster | None = None
PRODUCT_SECRET = "lecture-bench-signing-secret-0123456789abcdef"
NO_LIMITS = {
    "VIDCONSULT_JOIN_RATE_IP": "0",
    "VIDCONSULT_JOIN_RATE_ACCOUNT": "0",
    "VIDCONSULT_TOKEN_RATE_IP": "0",
    "VIDCONSULT_TOKEN_RATE_ACCOUNT": "0",
    "VIDCONSULT_LOG_LEVEL": "WARNING",
    "VIDCONSULT_SECRET": PRODUCT_SECRET,
}


@contextlib.contextmanager
def product_cluster() -> Any:
    """Two ``vidconsult serve`` nodes on a real PostgreSQL and redis-server (the multinode
    tests' harness), for the whole run."""
    import tempfile

    import aiohttp

    from tests.multinode.cluster import Node as ServeNode
    from tests.multinode.cluster import free_port
    from tests.postgres import postgres_server
    from tests.redis_server import redis_server

    with (
        postgres_server() as postgres,
        redis_server() as redis,
        tempfile.TemporaryDirectory() as tmp,
    ):
        database_url, redis_url = postgres.new_database(), redis.new_url()
        nodes = [
            ServeNode(
                name=name,
                port=free_port(),
                data_dir=Path(tmp) / name,
                database_url=database_url,
                redis_url=redis_url,
                public_url="",
                extra_env=NO_LIMITS,
            )
            for name in ("n1", "n2")
        ]
        for node in nodes:
            node.start()

        async def ready() -> None:
            async with aiohttp.ClientSession() as http:
                await asyncio.gather(*(node.ready(http) for node in nodes))

        try:
            asyncio.run(ready())
            yield ProductCluster([Served(n) for n in nodes], redis_url)
        finally:
            for node in nodes:
                node.stop()


def presenter_main(url: str, token: str, clip: str, conn: Any) -> None:
    logging.basicConfig(level=logging.ERROR)

    async def run() -> None:
        from vidconsult.client import RoomClient

        client = RoomClient(url, token, reconnect=False)
        await client.connect()
        await client.publish_file(clip)
        conn.send("published")
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await client.close()

    asyncio.run(run())


def listeners_main(url: str, conn: Any) -> None:
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(_listeners(url, conn))


async def _listeners(url: str, conn: Any) -> None:
    """Observers joining with the Python client; their video receivers count RTP (the
    engine benchmark's Counter) instead of decoding it."""
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    from benchmarks.sfu_forwarding import Counter
    from vidconsult.client import RoomClient

    counters: dict[int, Counter] = {}
    grew = asyncio.Event()  # a receiver got its first packet

    async def counting(receiver: Any, packet: Any, arrival_time_ms: int) -> None:
        if getattr(receiver, "_RTCRtpReceiver__kind", "") != "video":
            return
        counter = counters.get(id(receiver))
        if counter is None:
            counter = counters[id(receiver)] = Counter()
            grew.set()
        await counter.handle(packet, arrival_time_ms)

    RTCRtpReceiver._handle_rtp_packet = counting  # type: ignore[method-assign,assignment]
    clients: list[RoomClient] = []
    loop = asyncio.get_running_loop()
    while True:
        cmd, arg = await loop.run_in_executor(None, conn.recv)
        if cmd == "add":
            for token in arg:
                client = RoomClient(url, token, reconnect=False)
                await client.connect()
                clients.append(client)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(60):
                    while len(counters) < len(clients):
                        grew.clear()
                        await grew.wait()
            conn.send(len(counters))
        elif cmd == "stats":
            conn.send([c.snapshot() for c in counters.values()])
        elif cmd == "stop":
            for client in clients:
                with contextlib.suppress(Exception):
                    await client.close()
            conn.send(None)
            return


class Listeners(Audience):
    """One listener process (observers through the Python client) on one node."""

    def __init__(self, node: Served) -> None:  # noqa: D107 - Audience's pipe protocol
        ctx = mp.get_context("spawn")
        self.here, there = ctx.Pipe()
        self.proc = ctx.Process(target=listeners_main, args=(node.url, there), daemon=True)
        self.proc.start()

    def join(self, tokens: list[str]) -> None:
        self.here.send(("add", tokens))
        receiving = self.here.recv()
        if receiving < len(tokens):
            raise RuntimeError(f"only {receiving} of {len(tokens)} listeners get video")


class Lecture:
    """A lecture room with the presenter publishing (through the first node)."""

    def __init__(self, cluster: ProductCluster, clip: str) -> None:
        self.cluster = cluster
        self.room = cluster.rest("POST", "/api/v1/rooms", {"name": "Bench", "kind": "lecture"})[
            "id"
        ]
        ctx = mp.get_context("spawn")
        self.here, there = ctx.Pipe()
        token = cluster.mint(self.room, "presenter", "expert")
        self.proc = ctx.Process(
            target=presenter_main, args=(cluster.nodes[0].url, token, clip, there), daemon=True
        )
        self.proc.start()
        if not self.here.poll(60):
            raise RuntimeError("the presenter never published")
        self.here.recv()
        self.home = cluster.where(self.room)
        self.other = next(n for n in cluster.nodes if n is not self.home)

    def tokens(self, prefix: str, count: int) -> list[str]:
        return [self.cluster.mint(self.room, f"{prefix}{i}", "observer") for i in range(count)]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.here.send("stop")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
        with contextlib.suppress(Exception):
            self.cluster.rest("DELETE", f"/api/v1/rooms/{self.room}")


def product_one_node(n: int, clip: str, window: float, settle: float) -> dict[str, Any]:
    assert _CLUSTER is not None
    lecture = Lecture(_CLUSTER, clip)
    aud: Listeners | None = None
    try:
        aud = Listeners(lecture.home)
        aud.join(lecture.tokens("a", n))
        time.sleep(settle)
        idle = cpu_seconds(lecture.other.pid), time.monotonic()
        result = measure({"node_a": (lecture.home, aud, n)}, window)
        idle_ms = (cpu_seconds(lecture.other.pid) - idle[0]) / (time.monotonic() - idle[1])
        per = result["node_a"]["cpu_ms_per_s_per_subscriber"]
        return {
            "nodes": result,
            "idle_other_node_cpu_ms_per_s": round(idle_ms * 1000, 1),
            "cpu_ms_per_s_per_subscriber_overall": per,
        }
    finally:
        if aud is not None:
            aud.stop()
        lecture.close()


def product_two_nodes(n: int, clip: str, window: float, settle: float) -> dict[str, Any]:
    assert _CLUSTER is not None
    lecture = Lecture(_CLUSTER, clip)
    auds: list[Listeners] = []
    try:
        on_a, on_b = n - n // 2, n // 2
        aud_a, aud_b = Listeners(lecture.home), Listeners(lecture.other)
        auds = [aud_a, aud_b]
        aud_a.join(lecture.tokens("a", on_a))
        aud_b.join(lecture.tokens("b", on_b))
        time.sleep(settle)
        result = measure(
            {"node_a": (lecture.home, aud_a, on_a), "node_b": (lecture.other, aud_b, on_b)},
            window,
        )
        total = result["node_a"]["cpu_ms_per_s"] + result["node_b"]["cpu_ms_per_s"]
        return {
            "nodes": result,
            "relay_legs_from_a": _CLUSTER.relay_legs(lecture.home, lecture.room),
            "cpu_ms_per_s_per_subscriber_overall": round(total / n, 2),
        }
    finally:
        for aud in auds:
            aud.stop()
        lecture.close()


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="4,8")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=4.0)
    parser.add_argument(
        "--path",
        choices=["engine", "product"],
        default="engine",
        help="engines behind a shim (default), or vidconsult serve nodes end to end",
    )
    args = parser.parse_args()
    clip = str(make_clip())
    if args.path == "product":
        layouts = (product_one_node, product_two_nodes)
    else:
        layouts = (one_node, two_nodes)
    out: dict[str, Any] = {
        "clip": {"codec": "VP8", "size": "640x480", "fps": 30, "kbps": 1000},
        "window_s": args.window,
        "cpus": os.cpu_count(),
        "peer": None,
        "peer_note": "Janus (Debian) has no node-to-node videoroom relay: no peer in this run",
        "path": args.path,
        "load_average_before": round(os.getloadavg()[0], 1),
        "results": [],
    }
    with contextlib.ExitStack() as stack:
        if args.path == "product":
            global _CLUSTER
            _CLUSTER = stack.enter_context(product_cluster())
        for n in [int(x) for x in args.counts.split(",")]:
            row = {
                "n": n,
                "one_node": layouts[0](n, clip, args.window, args.settle),
                "two_nodes": layouts[1](n, clip, args.window, args.settle),
            }
            print(f"# {row}", file=sys.stderr, flush=True)
            out["results"].append(row)
    out["load_average_after"] = round(os.getloadavg()[0], 1)
    rows = out["results"]
    if len(rows) >= 2:
        # marginal cost of one more subscriber (slope over N), and the fixed cost of a node
        # (intercept) that the per-subscriber figures above spread over few subscribers
        def fit(xs: list[float], ys: list[float]) -> dict[str, float | None]:
            slope = fit_slope(xs, ys)
            if slope is None:
                return {"slope_ms_per_s_per_subscriber": None, "fixed_ms_per_s": None}
            fixed = sum(ys) / len(ys) - slope * sum(xs) / len(xs)
            return {
                "slope_ms_per_s_per_subscriber": round(slope, 2),
                "fixed_ms_per_s": round(fixed, 1),
            }

        out["fit"] = {
            "one_node": fit(
                [r["n"] for r in rows],
                [r["one_node"]["nodes"]["node_a"]["cpu_ms_per_s"] for r in rows],
            ),
            "two_nodes_a": fit(
                [r["two_nodes"]["nodes"]["node_a"]["subscribers"] for r in rows],
                [r["two_nodes"]["nodes"]["node_a"]["cpu_ms_per_s"] for r in rows],
            ),
            "two_nodes_b": fit(
                [r["two_nodes"]["nodes"]["node_b"]["subscribers"] for r in rows],
                [r["two_nodes"]["nodes"]["node_b"]["cpu_ms_per_s"] for r in rows],
            ),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
