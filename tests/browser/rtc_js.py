"""Page scripts the WebRTC browser tests share (Chromium under Playwright, Firefox under
puppeteer-core): keep every RTCPeerConnection a page makes, optionally forced relay-only, and
read the selected candidate pairs and the media each connection decoded from getStats."""

from __future__ import annotations

# an init script: ``window.__pcs`` keeps the page's peer connections; with ``window.__relayOnly``
# set first (RELAY_ONLY), each is made with iceTransportPolicy "relay", as a browser behind a
# firewall that lets nothing but the TURN server through
KEEP_PEER_CONNECTIONS = """
(() => {
  window.__pcs = [];
  const Original = window.RTCPeerConnection;
  if (!Original) return;
  window.RTCPeerConnection = class extends Original {
    constructor(config, ...rest) {
      const c = Object.assign({}, config || {});
      if (window.__relayOnly) c.iceTransportPolicy = "relay";
      super(c, ...rest);
      window.__pcs.push(this);
    }
  };
})();
"""
RELAY_ONLY = "window.__relayOnly = true;"

# [{direction: "send"|"recv", localType, relayProtocol, remoteType, bytesSent, bytesReceived}]
# of every live connection's selected pair
JS_SELECTED_PAIRS = """async () => {
  const out = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed") continue;
    const stats = await pc.getStats();
    const selectedIds = new Set();
    for (const s of stats.values()) {
      if (s.type === "transport" && s.selectedCandidatePairId) {
        selectedIds.add(s.selectedCandidatePairId);
      }
    }
    for (const s of stats.values()) {
      if (s.type !== "candidate-pair") continue;
      // Firefox has no transport stats: its selected pair says so itself
      const chosen = selectedIds.size
        ? selectedIds.has(s.id)
        : (s.selected || (s.nominated && s.state === "succeeded"));
      if (!chosen) continue;
      const local = stats.get(s.localCandidateId), remote = stats.get(s.remoteCandidateId);
      const sends = pc.getTransceivers().some((t) => t.currentDirection === "sendonly");
      out.push({direction: sends ? "send" : "recv", localType: local.candidateType,
                relayProtocol: local.relayProtocol || null, remoteType: remote.candidateType,
                bytesSent: s.bytesSent, bytesReceived: s.bytesReceived});
    }
  }
  return out;
}"""

# per kind: frames decoded (video), samples received (audio) and packets, summed over every
# inbound-rtp of the page; frames encoded / packets sent over every outbound-rtp
JS_MEDIA_COUNTS = """async () => {
  const c = {videoFramesDecoded: 0, audioSamplesReceived: 0, videoPacketsReceived: 0,
             audioPacketsReceived: 0, videoFramesEncoded: 0, audioPacketsSent: 0};
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed") continue;
    const stats = await pc.getStats();
    for (const s of stats.values()) {
      const kind = s.kind || s.mediaType;
      if (s.type === "inbound-rtp" && kind === "video") {
        c.videoFramesDecoded += s.framesDecoded || 0;
        c.videoPacketsReceived += s.packetsReceived || 0;
      } else if (s.type === "inbound-rtp" && kind === "audio") {
        c.audioSamplesReceived += s.totalSamplesReceived || 0;
        c.audioPacketsReceived += s.packetsReceived || 0;
      } else if (s.type === "outbound-rtp" && kind === "video") {
        c.videoFramesEncoded += s.framesEncoded || 0;
      } else if (s.type === "outbound-rtp" && kind === "audio") {
        c.audioPacketsSent += s.packetsSent || 0;
      }
    }
  }
  return c;
}"""

# what the room page received from one participant (its video element's tracks): video frames
# decoded and audio packets/samples received, from the receivers' inbound-rtp stats
JS_RECEIVED_FROM = """async (identity) => {
  const v = document.querySelector(`video[data-identity="${identity}"]`);
  const out = {framesDecoded: 0, audioPackets: 0, audioSamples: 0,
               width: v ? v.videoWidth : 0, tracks: []};
  if (!v || !v.srcObject) return out;
  for (const track of v.srcObject.getTracks()) {
    out.tracks.push(track.kind);
    for (const pc of window.__pcs) {
      // closed connections, and those a test marked as from before an event, do not count
      if (pc.connectionState === "closed" || pc.__old) continue;
      if (!pc.getReceivers().some((r) => r.track === track)) continue;
      const stats = await pc.getStats(track);
      for (const s of stats.values()) {
        if (s.type !== "inbound-rtp") continue;
        if (track.kind === "video") out.framesDecoded += s.framesDecoded || 0;
        else {
          out.audioPackets += s.packetsReceived || 0;
          out.audioSamples += s.totalSamplesReceived || 0;
        }
      }
    }
  }
  out.tracks.sort();
  return out;
}"""
# [identity, frames]: more than ``frames`` video frames decoded from identity, sound received
JS_RECEIVING_FROM = (
    "async ([identity, frames]) => {\n"
    f"  const r = await ({JS_RECEIVED_FROM.strip()})(identity);\n"
    "  return r.framesDecoded > frames && r.audioPackets > 20 && r.width > 0;\n"
    "}"
)

# the page's video sent: one entry per outbound-rtp (per simulcast layer), with its rid
JS_VIDEO_SENT = """async () => {
  const out = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed") continue;
    for (const s of (await pc.getStats()).values()) {
      if (s.type === "outbound-rtp" && (s.kind || s.mediaType) === "video") {
        out.push({rid: s.rid || null, packetsSent: s.packetsSent || 0,
                  framesEncoded: s.framesEncoded || 0, width: s.frameWidth || 0});
      }
    }
  }
  return out.sort((a, b) => String(a.rid).localeCompare(String(b.rid)));
}"""
