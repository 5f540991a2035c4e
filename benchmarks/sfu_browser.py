"""Browser mode of benchmarks/sfu_forwarding.py: a Chromium publisher (fake camera and
microphone, audio+video) and N Chromium viewers that decode and render, real RTCP both ways
(receiver reports, REMB/transport-cc, NACK, PLI as Chromium sends them). The server under test
is the same as in the other modes (vidconsult's engine behind the HTTP shim, or Janus's
VideoRoom); only the pages are new. Signaling goes through ``sfu_forwarding._signal`` from
Python, the pages only run WebRTC (offers/answers with gathered candidates).

Both servers get the same publisher: 640x480 camera, video capped at ``VIDEO_KBPS`` by the page
(``RTCRtpSender.setParameters``), so the packet rates are comparable; CPU is also given per
1000 packets the publisher sent (``ms_per_1000_packets_in``). The server's CPU is its threads'
run time (ns, ``harness.CpuMeter``; ``cpu_from`` says when a thread ended and the
10 ms clock ticks were used instead). Where ``perf`` is installed and may count the server's
user-space instructions (``perf stat -e instructions:u -p PID`` over the same window, all its
threads), each row also gives ``instructions_per_packet_in``: user-space instructions per packet
the publisher sent, a measure the machine's load does not change; absent (None) otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import subprocess
import time
from typing import Any

VIDEO_KBPS = 1000

PAGE_JS = """
(() => {
  const config = { iceServers: [], bundlePolicy: "max-bundle" };
  const gathered = (pc) => pc.iceGatheringState === "complete" ? Promise.resolve() :
    new Promise((resolve) => pc.addEventListener("icegatheringstatechange",
      () => pc.iceGatheringState === "complete" && resolve()));
  window.bench = {
    async publishOffer(kbps) {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15, max: 30 } },
      });
      const pc = (window.bench.pc = new RTCPeerConnection(config));
      for (const track of stream.getTracks()) {
        const tr = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
        if (track.kind === "video") window.bench.videoSender = tr.sender;
      }
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      window.bench.kbps = kbps;
      return pc.localDescription.sdp;
    },
    async publishAnswer(sdp) {
      await window.bench.pc.setRemoteDescription({ type: "answer", sdp });
      const sender = window.bench.videoSender;
      const params = sender.getParameters();
      if (!params.encodings || !params.encodings.length) params.encodings = [{}];
      params.encodings[0].maxBitrate = window.bench.kbps * 1000;
      await sender.setParameters(params);
    },
    async view(sdp) {
      const pc = (window.bench.pc = new RTCPeerConnection(config));
      const video = document.createElement("video");
      video.autoplay = true; video.playsInline = true; video.muted = true;
      document.body.append(video);
      pc.addEventListener("track", () => {
        video.srcObject = new MediaStream(pc.getReceivers().map((r) => r.track));
        video.play().catch(() => {});
      });
      await pc.setRemoteDescription({ type: "offer", sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      return pc.localDescription.sdp;
    },
    async stats() {
      const out = { packetsSent: 0, packetsReceived: 0, framesDecoded: 0, bytes: 0 };
      if (!window.bench.pc) return out;
      (await window.bench.pc.getStats()).forEach((s) => {
        if (s.type === "outbound-rtp") {
          out.packetsSent += s.packetsSent;
          out.bytes += s.bytesSent;
        }
        if (s.type === "inbound-rtp") {
          out.packetsReceived += s.packetsReceived;
          out.bytes += s.bytesReceived;
          if (s.kind === "video") out.framesDecoded += s.framesDecoded || 0;
        }
      });
      return out;
    },
  };
})();
"""


class InstructionMeter:
    """User-space instructions a process (all its threads) runs between start and ``read``,
    by ``perf stat``; None when perf is missing or may not count (CI has no perf: optional)."""

    def __init__(self, pid: int) -> None:
        self._proc: subprocess.Popen[str] | None = None
        perf = shutil.which("perf")
        if perf is None:
            return
        with contextlib.suppress(OSError):
            self._proc = subprocess.Popen(
                [perf, "stat", "-x", ",", "-e", "instructions:u", "-p", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )

    def read(self) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return None
        for line in err.splitlines():
            fields = line.split(",")
            if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
                return int(fields[0])
        return None  # "<not counted>" / "<not supported>", or perf refused


async def bench_page(browser: Any, origin: str) -> Any:
    """A page of its own (a browser context each: its own fake devices) with ``PAGE_JS``."""
    context = await browser.new_context()
    await context.add_init_script(PAGE_JS)
    page = await context.new_page()
    await page.goto(origin)
    return page


async def publisher_page(browser: Any, origin: str, signal: Any) -> Any:
    """The publisher: camera and microphone offered through ``signal``, answer applied."""
    from benchmarks.sfu_forwarding import _signal

    page = await bench_page(browser, origin)
    offer = await page.evaluate("(k) => window.bench.publishOffer(k)", VIDEO_KBPS)
    answer = await _signal(signal, "publish", offer)
    await page.evaluate("(sdp) => window.bench.publishAnswer(sdp)", answer)
    return page


async def viewer_page(browser: Any, origin: str, signal: Any, identity: str) -> Any:
    """A viewer subscribed as ``identity`` through ``signal``, once it has decoded a frame."""
    from benchmarks.sfu_forwarding import _signal
    from tests.browser.waits import wait_true

    page = await bench_page(browser, origin)
    offer = await _signal(signal, "subscribe", identity)
    answer = await page.evaluate("(sdp) => window.bench.view(sdp)", offer)
    await _signal(signal, "answer", answer, identity)
    # polled with evaluate, which awaits: wait_for_function would take the async predicate's
    # Promise as true at once (tests/browser/waits.py)
    await wait_true(
        page, "async () => (await window.bench.stats()).framesDecoded > 0", timeout_ms=20_000
    )
    return page


async def browser_sweep(
    label: str,
    signal: Any,
    server_pid: int,
    counts: list[int],
    window: float,
    settle: float,
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from benchmarks.harness import CpuMeter, blank_page_server
    from benchmarks.sfu_forwarding import fit_slope
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    origin, blank = await blank_page_server()
    rows: list[dict[str, Any]] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            publisher = await publisher_page(browser, origin, signal)
            viewers: list[Any] = []
            for n in counts:
                while len(viewers) < n:
                    identity = f"viewer{len(viewers)}"
                    viewers.append(await viewer_page(browser, origin, signal, identity))
                await asyncio.sleep(settle)
                pages = [publisher, *viewers]
                before = [await p.evaluate("window.bench.stats()") for p in pages]
                perf_from, instructions = time.monotonic(), InstructionMeter(server_pid)
                await asyncio.sleep(0.2)  # perf attaches to the process's threads
                meter, t0 = CpuMeter(server_pid), time.monotonic()
                await asyncio.sleep(window)
                (cpu, measured_by), t1 = meter.read(), time.monotonic()
                counted = instructions.read()
                counted_for = time.monotonic() - perf_from  # perf's window, about
                after = [await p.evaluate("window.bench.stats()") for p in pages]
                elapsed = t1 - t0
                cpu_ms_per_s = cpu / elapsed * 1000
                sent = (after[0]["packetsSent"] - before[0]["packetsSent"]) / elapsed
                fps = [
                    (a["framesDecoded"] - b["framesDecoded"]) / elapsed
                    for a, b in zip(after[1:], before[1:], strict=True)
                ]
                received = [
                    (a["packetsReceived"] - b["packetsReceived"]) / elapsed
                    for a, b in zip(after[1:], before[1:], strict=True)
                ]
                row = {
                    "n": n,
                    "server_cpu_ms_per_s": round(cpu_ms_per_s, 2),
                    "cpu_from": measured_by,
                    "publisher_packets_per_s": round(sent, 1),
                    "publisher_kbps": round(
                        (after[0]["bytes"] - before[0]["bytes"]) * 8 / elapsed / 1000, 1
                    ),
                    "ms_per_1000_packets_in": round(cpu_ms_per_s / sent * 1000, 2)
                    if sent
                    else None,
                    "viewer_packets_per_s": round(sum(received) / len(received), 1),
                    "instructions_per_packet_in": round(counted / (sent * counted_for))
                    if counted and sent
                    else None,
                    "worst_fps": round(min(fps), 2),
                    "mean_fps": round(sum(fps) / len(fps), 2),
                }
                rows.append(row)
                import sys

                print(f"# browser {label} {row}", file=sys.stderr, flush=True)
        finally:
            await browser.close()
            await blank.cleanup()
    xs = [float(r["n"]) for r in rows]
    slope = fit_slope(xs, [float(r["server_cpu_ms_per_s"]) for r in rows])
    per_packet = fit_slope(xs, [float(r["ms_per_1000_packets_in"] or 0) for r in rows])
    return {
        "rows": rows,
        "one_viewer_cpu_ms_per_s": rows[0]["server_cpu_ms_per_s"] if rows else None,
        "one_viewer_ms_per_1000_packets_in": rows[0]["ms_per_1000_packets_in"] if rows else None,
        "one_viewer_instructions_per_packet_in": rows[0]["instructions_per_packet_in"]
        if rows
        else None,
        "slope_ms_per_s_per_viewer": None if slope is None else round(slope, 2),
        "slope_ms_per_1000_packets_in_per_viewer": None
        if per_packet is None
        else round(per_packet, 2),
    }
