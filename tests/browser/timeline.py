"""A timeline of one page's reconnection, for tests that time it: the page records, with its
own wall clock, each peer connection's state changes, each Socket.IO event and, every 100 ms,
its room state and the frames it decoded; the server's log lines are taken with their times.
Printed merged, relative to one instant, it shows which stage of a slow rejoin took the time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

# an init script (before the page's own): every RTCPeerConnection's state changes and
# candidates, into window.__timeline as [Date.now(), what]
RECORD_PEER_CONNECTIONS = """
(() => {
  window.__timeline = [];
  const note = (what) => window.__timeline.push([Date.now(), what]);
  window.__note = note;
  const Original = window.RTCPeerConnection;
  if (!Original) return;
  let made = 0;
  window.RTCPeerConnection = class extends Original {
    constructor(...args) {
      super(...args);
      const n = made++;
      note(`pc${n} created`);
      const props = {connectionstatechange: "connectionState",
                     iceconnectionstatechange: "iceConnectionState",
                     icegatheringstatechange: "iceGatheringState"};
      for (const [kind, prop] of Object.entries(props)) {
        this.addEventListener(kind, () => note(`pc${n} ${prop}=${this[prop]}`));
      }
      this.addEventListener("icecandidate", (e) => {
        const c = e.candidate;
        note(`pc${n} candidate ${c ? c.address + " " + c.protocol : "end"}`);
      });
    }
  };
})();
"""

# after the page joined: its socket's events, and every 100 ms its state and frames from
# `identity` (the running total over every connection, old ones included)
JS_WATCH = """(identity) => {
  const note = window.__note;
  const socket = window.vidconsult.page.signaling.socket;
  for (const ev of ["connect", "disconnect", "connect_error"]) {
    socket.on(ev, (x) => note(`socket ${ev} ${x && x.message ? x.message : (x || "")}`));
  }
  const managerEvents = ["reconnect_attempt", "reconnect", "reconnect_error", "open", "close"];
  for (const ev of [...managerEvents, "error"]) {
    socket.io.on(ev, (x) => note(`manager ${ev} ${x && x.message ? x.message : (x ?? "")}`));
  }
  socket.onAnyOutgoing((ev) => note(`sent ${ev}`));
  socket.onAny((ev) => note(`got ${ev}`));
  let last = "";
  let frames = 0;
  setInterval(async () => {
    const v = document.querySelector(`video[data-identity="${identity}"]`);
    let total = 0;
    for (const pc of window.__pcs) {
      if (pc.connectionState === "closed") continue;
      for (const s of (await pc.getStats()).values()) {
        if (s.type === "inbound-rtp" && s.kind === "video") total += s.framesDecoded || 0;
      }
    }
    const decoding = total > frames;
    frames = total;
    const now = `state=${window.vidconsult.state} width=${v ? v.videoWidth : "-"} ` +
      `decoding=${decoding}`;
    if (now !== last) note(now);
    last = now;
  }, 100);
}"""


class ServerLog(logging.Handler):
    """The server's log lines (this process's loggers) with their wall-clock times."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.created, f"server {record.name}: {record.getMessage()}"))


@contextlib.asynccontextmanager
async def server_log(*names: str) -> AsyncIterator[ServerLog]:
    handler = ServerLog()
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


def merged(
    since: float, *sources: tuple[str, list[tuple[float, str]]], until: float | None = None
) -> str:
    """The events of every source after ``since`` (wall-clock seconds), as lines of seconds
    relative to it."""
    rows = [
        (at, f"{who}: {what}")
        for who, events in sources
        for at, what in events
        if at >= since - 30 and (until is None or at <= until)
    ]
    rows.sort()
    return "\n".join(f"{at - since:+7.3f} {what}" for at, what in rows)
