// The network indicator's rules (web/static/netquality.js): counters from getStats reports,
// rates between two samples, the quality they mean, and when audio only is suggested.
import { test } from "node:test";
import assert from "node:assert/strict";
import { totals, combine, rates, quality, PoorLinkWatch } from "../static/netquality.js";

const report = ({ received, lost, bytesIn, bytesOut, rtt }) => [
  { type: "transport", id: "T", selectedCandidatePairId: "P" },
  { type: "candidate-pair", id: "P", currentRoundTripTime: rtt, state: "succeeded", nominated: true },
  { type: "candidate-pair", id: "Q", currentRoundTripTime: 9, state: "failed" },
  { type: "inbound-rtp", kind: "video", packetsReceived: received, packetsLost: lost, bytesReceived: bytesIn },
  { type: "outbound-rtp", kind: "video", bytesSent: bytesOut },
];

test("totals take the selected pair's round trip and sum the RTP counters", () => {
  const out = totals(report({ received: 100, lost: 5, bytesIn: 1000, bytesOut: 500, rtt: 0.08 }), 0);
  assert.equal(out.rttMs, 80);
  assert.deepEqual([out.received, out.lost, out.bytesIn, out.bytesOut, out.inbound], [100, 5, 1000, 500, 1]);
  const both = combine([out, { ...out, rttMs: 120 }], 0);
  assert.equal(both.rttMs, 120);
  assert.equal(both.received, 200);
});

test("rates between two samples: loss in per cent, kbit/s of both directions", () => {
  const a = totals(report({ received: 1000, lost: 0, bytesIn: 0, bytesOut: 0, rtt: 0.05 }), 0);
  const b = totals(report({ received: 1900, lost: 100, bytesIn: 250000, bytesOut: 125000, rtt: 0.05 }), 2000);
  assert.deepEqual(rates(a, b), { rttMs: 50, lossPct: 10, kbps: 1500, receiving: true });
  assert.equal(rates(b, b), null);
});

test("quality: good, fair and poor by delay, loss and a starved receiver", () => {
  assert.equal(quality(null), "unknown");
  assert.equal(quality({ rttMs: 40, lossPct: 0, kbps: 900, receiving: true }), "good");
  assert.equal(quality({ rttMs: 300, lossPct: 0, kbps: 900, receiving: true }), "fair");
  assert.equal(quality({ rttMs: 40, lossPct: 4, kbps: 900, receiving: true }), "fair");
  assert.equal(quality({ rttMs: 600, lossPct: 0, kbps: 900, receiving: true }), "poor");
  assert.equal(quality({ rttMs: 40, lossPct: 12, kbps: 900, receiving: true }), "poor");
  assert.equal(quality({ rttMs: 40, lossPct: 0, kbps: 40, receiving: true }), "poor");
  // nothing to receive (alone in the room) is not a poor link
  assert.equal(quality({ rttMs: 40, lossPct: 0, kbps: 0, receiving: false }), "good");
});

test("audio only is suggested once, after three poor samples in a row", () => {
  const watch = new PoorLinkWatch(3);
  assert.deepEqual(["poor", "poor", "good", "poor", "poor"].map((q) => watch.feed(q)),
    [false, false, false, false, false]);
  assert.equal(watch.feed("poor"), true);
  assert.equal(watch.feed("poor"), false);
});
