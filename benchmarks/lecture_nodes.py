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
cost, receiving the presenter or the leg, included). Janus (the peer of the other benchmarks)
has no node-to-node relay of its videoroom in Debian's package, so no peer runs here.

    python benchmarks/lecture_nodes.py                 # N = 4, 8
    python benchmarks/lecture_nodes.py --counts 4,8,16 --window 10

``fit``: per layout and node, the slope of CPU over its subscribers (the marginal cost of one
more) and the intercept (what the node costs with none: receiving the presenter or the leg).
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

from benchmarks.sfu_forwarding import (  # noqa: E402
    cpu_seconds,
    fit_slope,
    make_clip,
    publisher_main,
    signaling_routes,
    subscribers_main,
)

ROOM = "lecture"
SECRET = "lecture-bench-cluster-secret-0123456789"


def node_main(name: str, port_q: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_node(name, port_q))


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
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port_q.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await asyncio.Event().wait()


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


def measure(
    nodes: dict[str, tuple[Node, Audience, int]], window: float
) -> dict[str, dict[str, Any]]:
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
        out[key] = {
            "subscribers": subs,
            "cpu_ms_per_s": round(cpu, 1),
            "cpu_ms_per_s_per_subscriber": round(cpu / subs, 2),
            "worst_fps": round(min(fps), 2),
            "worst_loss_pct": round(max(loss) * 100, 3),
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


def main() -> None:
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", default="4,8")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=4.0)
    args = parser.parse_args()
    clip = str(make_clip())
    out: dict[str, Any] = {
        "clip": {"codec": "VP8", "size": "640x480", "fps": 30, "kbps": 1000},
        "window_s": args.window,
        "cpus": os.cpu_count(),
        "peer": None,
        "peer_note": "Janus (Debian) has no node-to-node videoroom relay: no peer in this run",
        "results": [],
    }
    for n in [int(x) for x in args.counts.split(",")]:
        row = {
            "n": n,
            "one_node": one_node(n, clip, args.window, args.settle),
            "two_nodes": two_nodes(n, clip, args.window, args.settle),
        }
        print(f"# {row}", file=sys.stderr, flush=True)
        out["results"].append(row)
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
