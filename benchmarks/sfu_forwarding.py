"""SFU forwarding cost: 1 publisher -> N subscribers, vidconsult passthrough vs re-encode (and
Janus's videoroom when ``janus`` is installed). Prints JSON.

Three processes (plus Janus): the server under test (an AiortcMediaEngine behind a tiny HTTP
signaling shim on 127.0.0.1), the publisher (a pre-encoded 640x480 30 fps VP8 ~1 Mbit/s
clip, its packets looped and paced in real time, never decoded) and the subscribers (N aiortc
peer connections whose receivers only count RTP packets, frames (marker bits) and sequence
gaps: nothing is decoded). The server's CPU is user+sys of its PID from /proc over a fixed
window once streams flow. Per-stream cost = slope of a linear fit of CPU ms/s over N. Latency
(passthrough): inside the server, from the receive hook to each subscriber's sendto, p50/p99.

    python benchmarks/sfu_forwarding.py                 # full sweep
    python benchmarks/sfu_forwarding.py --quick         # CI size
    python benchmarks/sfu_forwarding.py --modes passthrough --counts 1,8,64 --window 10
    python benchmarks/sfu_forwarding.py --browser      # Chromium publisher and viewers

``--browser`` (benchmarks/sfu_browser.py): the publisher and the viewers are Chromium pages
(fake camera and microphone, audio+video, real RTCP feedback, viewers decode), for vidconsult
(passthrough) and Janus: server CPU with 1 viewer and per added viewer, also per 1000 packets
the publisher sends. Viewer counts default to 1,2,3,4 (each one is a decoding Chromium page).
``--pairs N`` runs both servers N times, the order alternating, and gives each pair's ratios
and their median, lowest and highest (``ratio_spread``): one pair's ratio moves by about
+-10 % on this shared machine.

    python benchmarks/sfu_forwarding.py --browser --browser-counts 1,2,3 --pairs 4
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import logging
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# CpuMeter lived here: still importable from this module
from benchmarks.harness import CpuMeter, cpu_seconds, serve  # noqa: E402, F401

CLIP = Path(tempfile.gettempdir()) / "vidconsult-bench" / "vp8-640x480-30fps-1mbit.ivf"


# --- the clip ---------------------------------------------------------------------------------


def make_clip(path: Path = CLIP, seconds: int = 20) -> Path:
    """Synthetic moving frames encoded once with libvpx at 1 Mbit/s (keyframe every 2 s)."""
    if path.exists():
        return path
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.ivf")
    with av.open(str(tmp), "w", format="ivf") as out:
        stream = out.add_stream("libvpx", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.bit_rate = 1_000_000
        stream.codec_context.gop_size = 60
        stream.codec_context.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "minrate": "1000000",
            "maxrate": "1000000",
        }
        y, x = np.mgrid[0:480, 0:640]
        rng = np.random.default_rng(1)
        for i in range(seconds * 30):
            img = np.zeros((480, 640, 3), dtype=np.uint8)
            img[..., 0] = (x + 4 * i) % 256
            img[..., 1] = (y + 2 * i) % 256
            img[..., 2] = ((x // 32 + y // 32 + i // 10) % 2) * 200
            img[rng.integers(0, 480, 3000), rng.integers(0, 640, 3000)] = 255  # detail
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = fractions.Fraction(1, 30)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    tmp.rename(path)
    return path


# --- server process ---------------------------------------------------------------------------


class Probe:
    """Latency samples (ns) in a bounded ring."""

    def __init__(self, size: int = 200_000) -> None:
        self.samples: list[int] = []
        self.size = size

    def add(self, ns: int) -> None:
        if len(self.samples) < self.size:
            self.samples.append(ns)

    def summary(self) -> dict[str, float | None]:
        s = sorted(self.samples)
        self.samples = []
        if not s:
            return {"p50_us": None, "p99_us": None, "samples": 0}
        return {
            "p50_us": round(s[len(s) // 2] / 1000, 1),
            "p99_us": round(s[int(len(s) * 0.99)] / 1000, 1),
            "samples": len(s),
        }


def signaling_routes(engine: Any, room: str) -> list[Any]:
    """The tiny HTTP signaling of a benchmark's media node (no tokens, no room service): POST
    /publish (an offer from "pub", the answer back), /subscribe (a new subscriber of every
    published track: the engine's offer back) and /answer (that subscriber's answer). Sets the
    engine's listener. Shared by this benchmark and benchmarks/lecture_nodes.py."""
    from aiohttp import web

    from vidconsult.ports import SessionDescription

    offers: dict[str, asyncio.Future[Any]] = {}

    class Listener:
        async def on_track_published(self, *a: Any) -> None: ...
        async def on_track_ended(self, *a: Any) -> None: ...
        async def on_connection_state(self, *a: Any) -> None: ...

        async def on_subscriber_offer(
            self, room_id: str, identity: str, offer: Any, tracks: Any
        ) -> None:
            fut = offers.get(identity)
            if fut is not None and not fut.done():
                fut.set_result(offer)

    engine.set_listener(Listener())

    async def publish(request: web.Request) -> web.Response:
        body = await request.json()
        await engine.add_participant(room, "pub", can_publish=True, can_subscribe=False)
        answer = await engine.publish(room, "pub", SessionDescription(body["sdp"], "offer"))
        return web.json_response({"sdp": answer.sdp})

    async def subscribe(request: web.Request) -> web.Response:
        identity = (await request.json())["identity"]
        await engine.add_participant(room, identity, can_publish=False, can_subscribe=True)
        offers[identity] = asyncio.get_running_loop().create_future()
        for pub, track in engine.published_tracks(room):
            await engine.subscribe(room, identity, pub, track.sid)
        offer = await asyncio.wait_for(offers[identity], 10)
        return web.json_response({"sdp": offer.sdp})

    async def answer(request: web.Request) -> web.Response:
        body = await request.json()
        await engine.subscriber_answer(
            room, body["identity"], SessionDescription(body["sdp"], "answer")
        )
        return web.json_response({})

    return [
        web.post("/publish", publish),
        web.post("/subscribe", subscribe),
        web.post("/answer", answer),
    ]


def server_main(mode: str, port_q: Any, loop: str = "") -> None:
    """The server under test, on the product's event loop (``vidconsult serve``'s default,
    vidconsult/event_loop.py) unless ``loop`` names another."""
    from vidconsult import event_loop

    logging.basicConfig(level=logging.WARNING)
    name: Any = loop or event_loop.DEFAULT
    event_loop.run(_server(mode, port_q), name)


async def _server(mode: str, port_q: Any) -> None:
    from aiohttp import web

    from media import AiortcMediaEngine, MediaConfig

    engine = AiortcMediaEngine(MediaConfig(ice_servers=[], forward_mode=mode))
    probe = Probe()
    room = "bench"
    shim = signaling_routes(engine, room)

    async def latency(request: web.Request) -> web.Response:
        fwd = engine._forwarder
        for _, track in engine.published_tracks(room):
            src = fwd.source(track.sid) if hasattr(fwd, "source") else None
            if src is not None:
                src.latency = probe
        return web.json_response(probe.summary())

    app = web.Application()
    app.add_routes([*shim, web.get("/latency", latency)])
    await serve(app, port_q)


# --- publisher process ------------------------------------------------------------------------


def publisher_main(signal: Any, clip: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_publisher(signal, clip))


def looping_clip_track(clip: str) -> Any:
    """The clip's encoded packets, looped with continuous timestamps and paced in real time.

    (MediaPlayer(decode=False, loop=True) restarts pts at every loop, and its pacing then sends
    the whole clip at once: not a steady 1 Mbit/s.)"""
    import av
    from aiortc.mediastreams import MediaStreamTrack

    with av.open(clip) as container:
        stream = container.streams.video[0]
        packets = [bytes(p) for p in container.demux(stream) if p.size]

    class LoopTrack(MediaStreamTrack):
        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.n = 0
            self.start: float | None = None

        async def recv(self) -> Any:
            if self.start is None:
                self.start = time.monotonic()
            await asyncio.sleep(max(0.0, self.start + self.n / 30 - time.monotonic()))
            packet = av.Packet(packets[self.n % len(packets)])
            packet.pts, packet.time_base = self.n * 3000, fractions.Fraction(1, 90000)
            self.n += 1
            return packet

    return LoopTrack()


async def _publisher(signal: Any, clip: str) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(looping_clip_track(clip), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    answer = await _signal(signal, "publish", pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await asyncio.Event().wait()


# --- subscribers process ----------------------------------------------------------------------


class Counter:
    """Replaces a receiver's RTP handling: counts packets, frames, sequence gaps."""

    def __init__(self) -> None:
        self.packets = self.frames = self.bytes = 0
        self.seen: set[int] = set()
        self.base: int | None = None
        self.ext_max = 0
        self.cycles = 0
        self.last_seq: int | None = None
        self.first_at: float | None = None

    async def handle(self, packet: Any, arrival_time_ms: int) -> None:
        if packet.payload_type >= 96 and len(packet.payload) == 0:
            return
        seq = packet.sequence_number
        if self.last_seq is not None and seq < 0x4000 and self.last_seq > 0xC000:
            self.cycles += 1 << 16
        ext = seq + self.cycles
        if self.base is None:
            self.base = ext
            self.first_at = time.monotonic()
        if ext not in self.seen:
            self.seen.add(ext)
            self.packets += 1
            self.bytes += len(packet.payload)
            self.frames += packet.marker
        self.ext_max = max(self.ext_max, ext)
        self.last_seq = seq
        if len(self.seen) > 20000:
            self.seen = {s for s in self.seen if s > self.ext_max - 5000}

    def snapshot(self) -> dict[str, Any]:
        expected = 0 if self.base is None else self.ext_max - self.base + 1
        return {
            "packets": self.packets,
            "frames": self.frames,
            "bytes": self.bytes,
            "expected": expected,
        }


def subscribers_main(signal: Any, conn: Any) -> None:
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(_subscribers(signal, conn))


async def _subscribers(signal: Any, conn: Any) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    counters: list[Counter] = []
    pcs: list[Any] = []
    loop = asyncio.get_running_loop()

    async def add_one(index: int) -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        counter = Counter()

        @pc.on("track")
        def on_track(track: Any) -> None:
            for t in pc.getTransceivers():
                if t.receiver.track is track:
                    t.receiver._handle_rtp_packet = counter.handle

        identity = f"sub{index}"
        offer = await _signal(signal, "subscribe", identity)
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await _signal(signal, "answer", pc.localDescription.sdp, identity)
        pcs.append(pc)
        counters.append(counter)

    while True:
        cmd, arg = await loop.run_in_executor(None, conn.recv)
        if cmd == "add":
            start = len(counters)
            for i in range(start, start + arg):
                await add_one(i)
            conn.send(len(counters))
        elif cmd == "stats":
            conn.send([c.snapshot() for c in counters])
        elif cmd == "stop":
            for pc in pcs:
                with contextlib.suppress(Exception):
                    await pc.close()
            conn.send(None)
            return


async def _signal(signal: Any, what: str, sdp_or_identity: str, identity: str = "") -> str:
    """Talk to the server under test: ``signal`` = ("vidconsult", url) or ("janus", url)."""
    import aiohttp

    kind, url = signal
    if kind == "janus":
        from benchmarks.janus_videoroom import janus_signal

        return await janus_signal(url, what, sdp_or_identity, identity)
    async with aiohttp.ClientSession() as http:
        if what == "publish":
            body = {"sdp": sdp_or_identity}
        elif what == "subscribe":
            body = {"identity": sdp_or_identity}
        else:
            body = {"identity": identity, "sdp": sdp_or_identity}
        async with http.post(f"{url}/{what}", json=body) as resp:
            resp.raise_for_status()
            return (await resp.json()).get("sdp", "")


# --- driver -----------------------------------------------------------------------------------


def fit_slope(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


def run_sweep(
    label: str,
    signal: Any,
    server_pid: int,
    counts: list[int],
    window: float,
    settle: float,
    clip: str,
    latency_url: str | None,
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    pub = ctx.Process(target=publisher_main, args=(signal, clip), daemon=True)
    pub.start()
    time.sleep(3)  # the publish connection comes up and media flows
    here, there = ctx.Pipe()
    subs = ctx.Process(target=subscribers_main, args=(signal, there), daemon=True)
    subs.start()
    rows = []
    have = 0
    try:
        for n in counts:
            here.send(("add", n - have))
            have = here.recv()
            time.sleep(settle)
            if latency_url:
                _get(latency_url)  # installs the probe and resets it
            here.send(("stats", None))
            before = here.recv()
            cpu0, t0 = cpu_seconds(server_pid), time.monotonic()
            time.sleep(window)
            cpu1, t1 = cpu_seconds(server_pid), time.monotonic()
            here.send(("stats", None))
            after = here.recv()
            elapsed = t1 - t0
            per = []
            for a, b in zip(before, after, strict=True):
                packets = b["packets"] - a["packets"]
                expected = b["expected"] - a["expected"]
                per.append(
                    {
                        "fps": (b["frames"] - a["frames"]) / elapsed,
                        "kbps": (b["bytes"] - a["bytes"]) * 8 / elapsed / 1000,
                        "loss": max(0.0, 1 - packets / expected) if expected > 0 else 1.0,
                    }
                )
            row = {
                "n": n,
                "server_cpu_ms_per_s": round((cpu1 - cpu0) / elapsed * 1000, 1),
                "worst_fps": round(min(p["fps"] for p in per), 2),
                "worst_kbps": round(min(p["kbps"] for p in per), 1),
                "worst_loss_pct": round(max(p["loss"] for p in per) * 100, 3),
                "mean_fps": round(sum(p["fps"] for p in per) / len(per), 2),
            }
            if latency_url:
                row["latency"] = _get(latency_url)
            rows.append(row)
            print(f"# {label} {row}", file=sys.stderr, flush=True)
    finally:
        with contextlib.suppress(Exception):
            here.send(("stop", None))
            here.poll(10) and here.recv()
        for p in (subs, pub):
            p.terminate()
            p.join(5)
    xs = [float(r["n"]) for r in rows]
    ys = [float(r["server_cpu_ms_per_s"]) for r in rows]
    slope = fit_slope(xs, ys)
    return {
        "rows": rows,
        "slope_ms_per_s_per_subscriber": None if slope is None else round(slope, 2),
    }


def _get(url: str) -> Any:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def bench_vidconsult(
    mode: str, counts: list[int], window: float, settle: float, clip: str, loop: str = ""
) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    server = ctx.Process(target=server_main, args=(mode, q, loop), daemon=True)
    server.start()
    try:
        port = q.get(timeout=30)
        url = f"http://127.0.0.1:{port}"
        result = run_sweep(
            mode,
            ("vidconsult", url),
            server.pid,
            counts,
            window,
            settle,
            clip,
            f"{url}/latency" if mode == "passthrough" else None,
        )
    finally:
        server.terminate()
        server.join(5)
    return result


RATIO_KEYS = (
    "one_viewer_cpu_ms_per_s",
    "one_viewer_ms_per_1000_packets_in",
    "one_viewer_instructions_per_packet_in",
    "slope_ms_per_s_per_viewer",
    "slope_ms_per_1000_packets_in_per_viewer",
)


def _browser_vidconsult(counts: list[int], window: float, settle: float, loop: str) -> Any:
    from benchmarks.sfu_browser import browser_sweep

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    server = ctx.Process(target=server_main, args=("passthrough", q, loop), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{q.get(timeout=30)}"
        return asyncio.run(
            browser_sweep("passthrough", ("vidconsult", url), server.pid, counts, window, settle)
        )
    finally:
        server.terminate()
        server.join(5)


def _browser_janus(counts: list[int], window: float, settle: float) -> Any:
    from benchmarks.janus_videoroom import JanusUnavailable, janus_running, janus_version
    from benchmarks.sfu_browser import browser_sweep

    try:
        with janus_running() as (janus_url, pid):
            result = asyncio.run(
                browser_sweep("janus", ("janus", janus_url), pid, counts, window, settle)
            )
            result["version"] = janus_version(janus_url)
            return result
    except JanusUnavailable as exc:
        return {"skipped": str(exc)}


def _ratios(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, float]:
    return {
        f"{key}_vidconsult_over_janus": round(ours[key] / theirs[key], 2)
        for key in RATIO_KEYS
        if ours.get(key) and theirs.get(key)
    }


def bench_browser(
    counts: list[int], window: float, settle: float, loop: str = "", pairs: int = 1
) -> dict[str, Any]:
    """Both servers with the same Chromium pages, ``pairs`` times, the order alternating
    (vidconsult first in the first pair, Janus first in the second, ...) so neither always
    runs on the warmer or the quieter machine. ``results`` are the first pair's; with more
    than one pair, ``pairs`` lists each pair's ratios and ``ratio_spread`` gives their
    median, lowest and highest: on a shared machine one pair's ratio moves by +-10 %."""
    from benchmarks.sfu_browser import VIDEO_KBPS
    from vidconsult import event_loop

    out: dict[str, Any] = {
        "mode": "browser",
        "publisher": f"Chromium fake camera 640x480 + microphone, video <= {VIDEO_KBPS} kbps",
        "window_s": window,
        "cpus": os.cpu_count(),
        "event_loop": loop or event_loop.DEFAULT,
        "results": {},
    }
    rounds: list[dict[str, Any]] = []
    for i in range(pairs):
        if i % 2 == 0:
            ours = _browser_vidconsult(counts, window, settle, loop)
            theirs = _browser_janus(counts, window, settle)
        else:
            theirs = _browser_janus(counts, window, settle)
            ours = _browser_vidconsult(counts, window, settle, loop)
        if i == 0:
            out["results"] = {"passthrough": ours, "janus": theirs}
            out.update(_ratios(ours, theirs))
        rounds.append(
            {
                "first": "vidconsult" if i % 2 == 0 else "janus",
                "vidconsult_one_viewer_cpu_ms_per_s": ours.get("one_viewer_cpu_ms_per_s"),
                "janus_one_viewer_cpu_ms_per_s": theirs.get("one_viewer_cpu_ms_per_s"),
                **_ratios(ours, theirs),
            }
        )
    if pairs > 1:
        out["pairs"] = rounds
        spread: dict[str, Any] = {}
        for key in RATIO_KEYS:
            name = f"{key}_vidconsult_over_janus"
            values = sorted(r[name] for r in rounds if name in r)
            if values:
                spread[name] = {
                    "median": round(statistics.median(values), 2),
                    "min": values[0],
                    "max": values[-1],
                }
        out["ratio_spread"] = spread
    return out


def main() -> None:
    import signal

    # children are daemons: a normal exit (also on SIGTERM) terminates them
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=1,4,8; short windows")
    parser.add_argument("--modes", default="passthrough,reencode,janus")
    parser.add_argument("--counts", default="1,4,8,16,32,64")
    parser.add_argument("--reencode-counts", default="1,2,4,8")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=4.0)
    parser.add_argument("--browser", action="store_true", help="Chromium publisher and viewers")
    parser.add_argument("--browser-counts", default="1,2,3,4")
    parser.add_argument(
        "--pairs", type=int, default=1, help="browser mode: runs of both servers, order alternating"
    )
    parser.add_argument(
        "--loop",
        choices=("uvloop", "asyncio"),
        default="",
        help="the server's event loop (default: the product's, vidconsult/event_loop.py)",
    )
    args = parser.parse_args()
    if args.browser:
        counts = [int(x) for x in args.browser_counts.split(",")]
        result = bench_browser(counts, args.window, args.settle, args.loop, args.pairs)
        print(json.dumps(result, indent=2))
        return
    counts = [int(x) for x in args.counts.split(",")]
    re_counts = [int(x) for x in args.reencode_counts.split(",")]
    window, settle = args.window, args.settle
    if args.quick:
        counts, re_counts, window, settle = [1, 4, 8], [1, 2, 4], 4.0, 3.0
    clip = str(make_clip())
    out: dict[str, Any] = {
        "clip": {"codec": "VP8", "size": "640x480", "fps": 30, "kbps": 1000},
        "window_s": window,
        "cpus": os.cpu_count(),
        "results": {},
    }
    modes = args.modes.split(",")
    for mode in modes:
        if mode == "passthrough":
            out["results"]["passthrough"] = bench_vidconsult(
                mode, counts, window, settle, clip, args.loop
            )
        elif mode == "reencode":
            out["results"]["reencode"] = bench_vidconsult(
                mode, re_counts, window, settle, clip, args.loop
            )
        elif mode == "janus":
            from benchmarks.janus_videoroom import bench_janus

            out["results"]["janus"] = bench_janus(counts, window, settle, clip, run_sweep)
    res = out["results"]
    slopes = {k: v.get("slope_ms_per_s_per_subscriber") for k, v in res.items()}
    if slopes.get("passthrough") and slopes.get("reencode"):
        out["reencode_over_passthrough"] = round(slopes["reencode"] / slopes["passthrough"], 1)
    if slopes.get("passthrough") and slopes.get("janus"):
        out["passthrough_over_janus"] = round(slopes["passthrough"] / slopes["janus"], 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
