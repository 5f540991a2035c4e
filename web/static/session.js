// The media side of one room session: the publish and subscribe peer connections of
// docs/protocol.md, and the mapping of received tracks to the participants who publish them.
//
// Events (dispatched on the session, an EventTarget):
//   "remote-stream"  detail {identity, stream}  stream is a MediaStream with that publisher's
//                    audio+video, or null when it no longer sends anything to us
//   "local-sid"      detail {kind, sid}          the server's sid of one of our own tracks
//   "error"          detail {stage, error}       a publish/subscribe negotiation failed
//   "connection"     detail {direction, state}   a peer connection's connectionState changed

const ICE_GATHERING_TIMEOUT_MS = 5000;

/** Resolve once ICE gathering is complete (or after `timeoutMs`: send what was gathered). */
export function waitForIceGathering(pc, timeoutMs = ICE_GATHERING_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onChange);
      resolve();
    };
    const onChange = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", onChange);
  });
}

export class MediaSession extends EventTarget {
  constructor(signaling, { iceServers = [], localStream = null } = {}) {
    super();
    this.signaling = signaling;
    this.config = { iceServers, bundlePolicy: "max-bundle" };
    this.localStream = localStream;
    this.publishPc = null;
    this.subscribePc = null;
    this.lastTracks = {}; // mid -> {publisher, track_sid, kind}, from the last subscribe.offer
    this.remote = new Map(); // identity -> {stream, key}
    this.sidByMid = new Map(); // our publish mids -> server track sids
    this.muted = { audio: false, video: false };
    this.closed = false;
    this._offers = Promise.resolve();
  }

  // ---- publishing -------------------------------------------------------------------------

  async publish() {
    const tracks = this.localStream ? this.localStream.getTracks() : [];
    if (tracks.length === 0) return;
    const pc = this._newPeerConnection("publish");
    this.publishPc = pc;
    for (const track of tracks) {
      pc.addTransceiver(track, { direction: "sendonly", streams: [this.localStream] });
    }
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await waitForIceGathering(pc);
    if (this.closed) return;
    const answer = await this.signaling.request("publish.offer", {
      sdp: pc.localDescription.sdp,
      type: "offer",
    });
    if (this.closed) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    // sids may have arrived before our mids were known
    for (const kind of ["audio", "video"]) this._announceSid(kind);
  }

  /** A `track.published` event about our own identity: learn the sid of the track at `mid`. */
  onOwnTrackPublished({ track, mid }) {
    if (!track) return;
    const key = mid ?? `kind:${track.kind}`;
    this.sidByMid.set(key, track.sid);
    this._announceSid(track.kind);
  }

  sidForKind(kind) {
    if (this.publishPc) {
      for (const tr of this.publishPc.getTransceivers()) {
        if (tr.mid && tr.sender.track && tr.sender.track.kind === kind && this.sidByMid.has(tr.mid)) {
          return this.sidByMid.get(tr.mid);
        }
      }
    }
    return this.sidByMid.get(`kind:${kind}`) ?? null;
  }

  _announceSid(kind) {
    const sid = this.sidForKind(kind);
    if (!sid) return;
    this.dispatchEvent(new CustomEvent("local-sid", { detail: { kind, sid } }));
    // a mute chosen before the server knew the track: tell it now
    if (this.muted[kind]) this._sendMute(kind).catch(() => {});
  }

  /** Disable (or enable) the local track of `kind` and tell the server once its sid is known. */
  async setMuted(kind, muted) {
    this.muted[kind] = muted;
    for (const track of this.localStream ? this.localStream.getTracks() : []) {
      if (track.kind === kind) track.enabled = !muted;
    }
    await this._sendMute(kind);
  }

  async _sendMute(kind) {
    const sid = this.sidForKind(kind);
    if (!sid || this.closed || !this.signaling.connected) return;
    await this.signaling.request("track.mute", { track_sid: sid, muted: this.muted[kind] });
  }

  // ---- subscribing ------------------------------------------------------------------------

  /** Queue a `subscribe.offer`; offers are answered one at a time, in order. */
  handleSubscribeOffer(offer) {
    this._offers = this._offers
      .then(() => this._answer(offer))
      .catch((error) => {
        if (!this.closed) this._fail("subscribe", error);
      });
    return this._offers;
  }

  async _answer(offer) {
    if (this.closed) return;
    if (!this.subscribePc) {
      this.subscribePc = this._newPeerConnection("subscribe");
      // reconcile again when a track is added outside a negotiation we drive
      this.subscribePc.addEventListener("track", () => this._reconcile());
    }
    const pc = this.subscribePc;
    this.lastTracks = offer.tracks && typeof offer.tracks === "object" ? offer.tracks : {};
    await pc.setRemoteDescription({ type: "offer", sdp: offer.sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this._reconcile();
    await waitForIceGathering(pc);
    if (this.closed) return;
    await this.signaling.request("subscribe.answer", { sdp: pc.localDescription.sdp, type: "answer" });
  }

  /** Rebuild each publisher's MediaStream from the transceivers and the last offer's map. */
  _reconcile() {
    const pc = this.subscribePc;
    if (!pc || this.closed) return;
    const byPublisher = new Map();
    for (const tr of pc.getTransceivers()) {
      const info = tr.mid != null ? this.lastTracks[tr.mid] : undefined;
      if (!info || !info.publisher || !tr.receiver.track) continue;
      const dir = tr.currentDirection ?? tr.direction;
      if (dir === "inactive" || dir === "sendonly" || dir === "stopped") continue;
      if (!byPublisher.has(info.publisher)) byPublisher.set(info.publisher, []);
      byPublisher.get(info.publisher).push(tr.receiver.track);
    }
    for (const [identity, tracks] of byPublisher) {
      const key = tracks.map((t) => t.id).sort().join(",");
      const known = this.remote.get(identity);
      if (known && known.key === key) continue;
      // a new MediaStream only when the set of tracks changed, so playing elements are not reset
      const stream = new MediaStream(tracks);
      this.remote.set(identity, { stream, key });
      this._emitStream(identity, stream);
    }
    for (const identity of [...this.remote.keys()]) {
      if (!byPublisher.has(identity)) {
        this.remote.delete(identity);
        this._emitStream(identity, null);
      }
    }
  }

  _newPeerConnection(direction) {
    const pc = new RTCPeerConnection(this.config);
    pc.addEventListener("connectionstatechange", () => {
      if (this.closed) return;
      const detail = { direction, state: pc.connectionState };
      this.dispatchEvent(new CustomEvent("connection", { detail }));
    });
    return pc;
  }

  _emitStream(identity, stream) {
    this.dispatchEvent(new CustomEvent("remote-stream", { detail: { identity, stream } }));
  }

  _fail(stage, error) {
    console.error(`vidconsult: ${stage} negotiation failed`, error);
    this.dispatchEvent(new CustomEvent("error", { detail: { stage, error } }));
  }

  /** Close both connections. The local stream is left alone (the page owns it). */
  close() {
    this.closed = true;
    for (const pc of [this.publishPc, this.subscribePc]) {
      if (pc) pc.close();
    }
    this.publishPc = null;
    this.subscribePc = null;
    for (const identity of this.remote.keys()) this._emitStream(identity, null);
    this.remote.clear();
  }
}
