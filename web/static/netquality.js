// How good the link is, from WebRTC statistics (RTCPeerConnection.getStats): round-trip time,
// packet loss and bitrate. Pure functions: the room's network indicator (room-network.js)
// samples the reports; web/test/netquality.test.js checks the rules.

// thresholds of a link fit for video (ITU-T G.114 puts one-way delay past 150 ms as noticeable;
// video conferencing degrades visibly past a few per cent of loss)
export const FAIR = { rttMs: 250, lossPct: 3, kbps: 300 };
export const POOR = { rttMs: 500, lossPct: 8, kbps: 100 };

/** Sum one peer connection's report (an iterable of stats objects) into counters. */
export function totals(report, at) {
  const out = { at, rttMs: null, received: 0, lost: 0, bytesIn: 0, bytesOut: 0, inbound: 0 };
  let selected = null;
  const pairs = new Map();
  for (const s of report) {
    if (s.type === "transport" && s.selectedCandidatePairId) selected = s.selectedCandidatePairId;
    if (s.type === "candidate-pair") pairs.set(s.id, s);
    if (s.type === "inbound-rtp") {
      out.inbound += 1;
      out.received += s.packetsReceived || 0;
      out.lost += Math.max(0, s.packetsLost || 0);
      out.bytesIn += s.bytesReceived || 0;
    }
    if (s.type === "outbound-rtp") out.bytesOut += s.bytesSent || 0;
  }
  const pair = (selected && pairs.get(selected)) ||
    [...pairs.values()].find((p) => p.nominated && p.state === "succeeded");
  if (pair && typeof pair.currentRoundTripTime === "number") out.rttMs = pair.currentRoundTripTime * 1000;
  return out;
}

/** Add several connections' totals (publish + subscribe) taken at the same time. */
export function combine(list, at) {
  const out = { at, rttMs: null, received: 0, lost: 0, bytesIn: 0, bytesOut: 0, inbound: 0 };
  for (const one of list) {
    for (const key of ["received", "lost", "bytesIn", "bytesOut", "inbound"]) out[key] += one[key];
    if (one.rttMs != null) out.rttMs = Math.max(out.rttMs ?? 0, one.rttMs);
  }
  return out;
}

/** What changed between two totals: {rttMs, lossPct, kbps} (kbps: received + sent). */
export function rates(previous, current) {
  const seconds = (current.at - previous.at) / 1000;
  if (!(seconds > 0)) return null;
  const received = current.received - previous.received;
  const lost = current.lost - previous.lost;
  const expected = Math.max(0, received) + Math.max(0, lost);
  const bytes = Math.max(0, current.bytesIn - previous.bytesIn) +
    Math.max(0, current.bytesOut - previous.bytesOut);
  return {
    rttMs: current.rttMs == null ? null : Math.round(current.rttMs),
    lossPct: expected > 0 ? Math.round((1000 * Math.max(0, lost)) / expected) / 10 : 0,
    kbps: Math.round((bytes * 8) / 1000 / seconds),
    receiving: current.inbound > 0,
  };
}

/** "good", "fair" or "poor" for one sample of rates; "unknown" without one. */
export function quality(sample) {
  if (!sample) return "unknown";
  const { rttMs, lossPct, kbps, receiving } = sample;
  const slow = receiving && kbps < POOR.kbps;
  if ((rttMs != null && rttMs >= POOR.rttMs) || lossPct >= POOR.lossPct || slow) return "poor";
  if ((rttMs != null && rttMs >= FAIR.rttMs) || lossPct >= FAIR.lossPct) return "fair";
  return "good";
}

/** Suggest audio only after `needed` poor samples in a row (one bad second is not a link). */
export class PoorLinkWatch {
  constructor(needed = 3) {
    this.needed = needed;
    this.run = 0;
  }

  /** Feed one quality; true when the suggestion should be shown now. */
  feed(q) {
    this.run = q === "poor" ? this.run + 1 : 0;
    return this.run === this.needed;
  }
}
