"""Watching a room page's video as a person would, in a browser on a netlab link: the page
scripts and the scene set-up that tests/browser/test_weak_links.py and benchmarks/weak_links.py
share.

Frames are counted as the page presents them (``requestVideoFrameCallback``); a watcher is a
headless Chromium inside a participant's network namespace (tests/netlab.py), opening the room
page on this machine's end of its link.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from tests.browser.conftest import CHROMIUM_ARGS
from tests.browser.waits import goto_settled
from tests.netlab import Participant

JOINED_TIMEOUT_MS = 30_000

# an init script: every RTCPeerConnection in window.__pcs; window.__watch(identity) records
# every frame that identity's video element presents: [page time ms, width, height]
WATCH_FRAMES = """
(() => {
  window.__pcs = window.__pcs || [];
  const Original = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Original {
    constructor(...args) { super(...args); window.__pcs.push(this); }
  };
  window.__frames = {};
  window.__watch = (identity) => {
    const frames = (window.__frames[identity] = []);
    const step = () => {
      const v = document.querySelector(`video[data-identity="${identity}"]`);
      if (!v || !v.requestVideoFrameCallback) return setTimeout(step, 50);
      v.requestVideoFrameCallback((now, meta) => {
        frames.push([now, meta.width, meta.height]);
        step();
      });
    };
    step();
  };
})();
"""
JS_FRAMES_SINCE = """([identity, since]) =>
  (window.__frames[identity] || []).filter((f) => f[0] >= since)"""
JS_NOW = "() => performance.now()"
#: an init script: the page's camera goes out as one stream, without simulcast layers (as
#: from a browser or codec that does not simulcast: Firefox in some setups, H.264 publishers)
NO_SIMULCAST = """(() => {
  const add = RTCPeerConnection.prototype.addTransceiver;
  RTCPeerConnection.prototype.addTransceiver = function (track, init) {
    if (init && init.sendEncodings) {
      init = { ...init };
      delete init.sendEncodings;
    }
    return add.call(this, track, init);
  };
})();"""
# what a page receives: one entry per inbound video stream
JS_INBOUND = """async () => {
  const out = [];
  for (const pc of window.__pcs || []) {
    for (const s of (await pc.getStats()).values()) {
      if (s.type === "inbound-rtp" && s.kind === "video")
        out.push({w: s.frameWidth, fps: s.framesPerSecond, decoded: s.framesDecoded,
                  dropped: s.framesDropped, lost: s.packetsLost || 0, nacks: s.nackCount || 0,
                  freezes: s.freezeCount || 0, frozen_s: s.totalFreezesDuration || 0,
                  bytes: s.bytesReceived || 0});
    }
  }
  return out;
}"""
# what a publishing page sends, per simulcast layer
JS_OUTBOUND = """async () => {
  const out = [];
  for (const pc of window.__pcs || []) {
    for (const s of (await pc.getStats()).values()) {
      if (s.type === "outbound-rtp" && s.kind === "video")
        out.push({rid: s.rid, w: s.frameWidth, fps: s.framesPerSecond, bytes: s.bytesSent,
                  active: s.active, limit: s.qualityLimitationReason,
                  target: s.targetBitrate});
    }
  }
  return out;
}"""


def inbound_totals(streams: list[dict[str, Any]]) -> dict[str, float]:
    """JS_INBOUND summed over a page's streams."""
    keys = ("freezes", "frozen_s", "lost", "nacks", "bytes")
    return {k: sum(s.get(k) or 0 for s in streams) for k in keys}


def playback(frames: list[list[float]]) -> dict[str, Any]:
    """What a person saw in ``frames`` (JS_FRAMES_SINCE): fps, freezes (a gap longer than
    max(3 x the mean frame interval, mean + 150 ms), Chromium's definition) and their total,
    the longest gap (s), the most shown resolution and width."""
    if len(frames) < 3:
        return {
            "fps": 0.0,
            "frames": len(frames),
            "freezes": None,
            "frozen_s": None,
            "longest_gap_s": None,
            "resolution": None,
            "width": 0,
        }
    times = [f[0] / 1000 for f in frames]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    mean = statistics.fmean(gaps)
    freeze = [g for g in gaps if g > max(3 * mean, mean + 0.150)]
    sizes = [f"{int(f[1])}x{int(f[2])}" for f in frames]
    widths = [int(f[1]) for f in frames]
    return {
        "fps": round((len(frames) - 1) / (times[-1] - times[0]), 1),
        "frames": len(frames),
        "freezes": len(freeze),
        "frozen_s": round(sum(freeze), 2),
        "longest_gap_s": round(max(gaps), 2),
        "resolution": max(set(sizes), key=sizes.count),
        "width": max(set(widths), key=widths.count),
    }


async def launch(pw: Any, executable: str | Path, extra: list[str]) -> Any:
    return await pw.chromium.launch(
        executable_path=str(executable), headless=True, args=[*CHROMIUM_ARGS, *extra]
    )


async def launch_in(pw: Any, part: Participant, chromium: str | Path, tmp: Path, port: int) -> Any:
    """A Chromium inside ``part``'s namespace. The page needs a secure context; on another
    machine that is HTTPS, here the origin on the link is declared one
    (tests/browser/test_remote_machine.py does it with HTTPS)."""
    origin = f"http://{part.host_ip}:{port}"
    return await launch(
        pw,
        part.wrapper(tmp, str(chromium)),
        [f"--unsafely-treat-insecure-origin-as-secure={origin}"],
    )


def page_url(join_url: str, port: int, part: Participant | None) -> str:
    """A join link as opened from this machine (None) or from ``part``'s end of its link."""
    base = f"http://127.0.0.1:{port}" if part is None else f"http://{part.host_ip}:{port}"
    return base + join_url[join_url.index("/room/") :]


async def watching_page(
    browser: Any, url: str, log: list[str] | None = None, who: str = "", script: str = ""
) -> Any:
    """A page at ``url`` with WATCH_FRAMES (camera and microphone allowed), and ``script``
    run before the page's own, if given."""
    context = await browser.new_context(permissions=["camera", "microphone"])
    await context.add_init_script(WATCH_FRAMES)
    if script:
        await context.add_init_script(script)
    page = await context.new_page()
    if log is not None:
        page.on("console", lambda m: log.append(f"[{who}] {m.type}: {m.text}"))
        page.on("pageerror", lambda e: log.append(f"[{who}] pageerror: {e}"))
    await goto_settled(page, url)
    return page


async def join_room(
    browser: Any, url: str, log: list[str] | None = None, who: str = "", script: str = ""
) -> Any:
    """Open the room page at ``url`` (frames watched, peer connections kept, ``script`` run
    first) and join."""
    page = await watching_page(browser, url, log, who, script)
    await page.wait_for_selector("[data-testid=join-button]:enabled")
    await page.click("[data-testid=join-button]")
    await page.wait_for_function(
        "() => window.vidconsult.state === 'joined'", timeout=JOINED_TIMEOUT_MS
    )
    return page
