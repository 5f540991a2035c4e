// The media side of one room session: the publish and subscribe peer connections of
// docs/protocol.md, and the mapping of received tracks to the participants who publish them.
//
// Events (dispatched on the session, an EventTarget):
//   "remote-stream"  detail {identity, stream}  stream is a MediaStream with that publisher's
//                    camera+microphone, or null when it no longer sends anything to us
//   "remote-screen"  detail {identity, stream}  the screen that publisher shares (its own
//                    MediaStream, shown as its own tile), or null when it stopped sharing
//   "local-sid"      detail {kind, sid}          the server's sid of one of our own tracks
//   "error"          detail {stage, error}       a publish/subscribe negotiation failed
//   "connection"     detail {direction, state}   a peer connection's connectionState changed
//   "network-change" detail {direction, address} a connection that was up gathered a candidate
//                    on a new address: the browser's network changed under the call

const ICE_GATHERING_TIMEOUT_MS = 5000;

// Camera video is sent as three simulcast layers, lowest first (docs/media.md, "Simulcast"):
// the server forwards each subscriber the best layer its link carries, without re-encoding.
// A shared screen is sent as one layer.
export const SIMULCAST_ENCODINGS = [
  { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 120_000 },
  { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 350_000 },
  { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_000_000 },
];

/**
 * Resolve once the local description carries a first ICE candidate, or gathering is complete
 * (or after `timeoutMs`: send what there is). The offer/answer goes out with the candidates
 * gathered so far, without end-of-candidates: the server's ICE pairs with the address our
 * checks come from (docs/media.md, "ICE and SDP"), and we keep checking from every candidate
 * gathered later. Waiting for "complete" cost ~120 ms per connection in Chromium (its TCP
 * candidates come in a later gathering phase, and the server does not use them).
 */
export function waitForIceCandidate(pc, timeoutMs = ICE_GATHERING_TIMEOUT_MS) {
  const ready = () => pc.iceGatheringState === "complete" ||
    (pc.localDescription != null && pc.localDescription.sdp.includes("\r\na=candidate:"));
  if (ready()) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      pc.removeEventListener("icecandidate", check);
      resolve();
    };
    const check = () => {
      if (ready()) done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", check);
  });
}

const BASE_CONFIG = { bundlePolicy: "max-bundle", iceCandidatePoolSize: 1 };

/**
 * The page's two peer connections, made on the pre-join step so the browser gathers their ICE
 * candidates before the click (`iceCandidatePoolSize`): at the click the offer/answer carries a
 * candidate at once. Chromium took ~100 ms to its first host candidate after
 * setLocalDescription, on each connection, on the join path (issue 15). No ICE servers yet (the
 * join reply brings them, with this person's TURN credentials): only local host candidates,
 * nothing is sent anywhere, no track is attached. MediaSession takes them over (`warm`).
 */
export function warmPeerConnections() {
  if (typeof RTCPeerConnection !== "function") return null;
  return {
    publish: new RTCPeerConnection({ ...BASE_CONFIG, iceServers: [] }),
    subscribe: new RTCPeerConnection({ ...BASE_CONFIG, iceServers: [] }),
  };
}

/** A track source (docs/protocol.md) that is a shared screen, shown apart from the camera. */
export function isScreenSource(source) {
  return source === "screen" || source === "screen_audio";
}

export class MediaSession extends EventTarget {
  constructor(signaling, { iceServers = [], localStream = null, warm = null, mark = null } = {}) {
    super();
    this.mark = mark || (() => {}); // join stages for the page's timer (join-timing.js)
    this.signaling = signaling;
    this.config = { ...BASE_CONFIG, iceServers };
    this._warm = warm || {}; // direction -> an unused RTCPeerConnection (warmPeerConnections)
    this.localStream = localStream;
    this.publishPc = null;
    this.subscribePc = null;
    this.lastTracks = {}; // mid -> {publisher, track_sid, kind}, from the last subscribe.offer
    this.remote = new Map(); // identity -> {stream, key}: camera and microphone
    this.remoteScreens = new Map(); // identity -> {stream, key}: the screen it shares
    this.screenStream = null; // our own shared screen (getDisplayMedia), while we share
    this._screenMids = new Set(); // mids of our publish transceivers that carry a screen
    this._publishing = Promise.resolve(); // publish offers go one at a time
    this._early = null; // the click's publish offer, made before it (offerEarly)
    this.sidByMid = new Map(); // our publish mids -> server track sids
    this.muted = { audio: false, video: false };
    this.closed = false;
    this._offers = Promise.resolve();
    this._answering = 0; // subscribe offers queued or being answered
  }

  // ---- prepared before the click (docs/protocol.md, "Prepare") -----------------------------

  /**
   * On the pre-join step, after the server's `prepare` reply: answer its subscribe offer (no
   * track in it) and offer the publish connection with one inactive audio section and no
   * track, so that ICE and DTLS of both connections are done before the click. Nothing is
   * sent or received: at the click, `publish()` puts the microphone into that section, adds
   * the camera's, and offers again on the same transport. `subscribeOffer` null: this person may not subscribe;
   * `publish` false: nor publish. Resolves once both negotiations are answered.
   */
  async prepare(subscribeOffer, { publish = true } = {}) {
    if (subscribeOffer) this.handleSubscribeOffer({ ...subscribeOffer, tracks: {} });
    if (publish) {
      try {
        await this._queue(async () => {
          // one audio section carries the transport; the camera's section is added at the
          // click with its simulcast layers (Firefox keeps no layers a section was first
          // negotiated without: an inactive video section lost them)
          this._publishConnection().addTransceiver("audio", { direction: "inactive" }).prepared = true;
          await this._offer();
        });
      } catch (error) {
        // e.g. an observer, who may not publish: the subscribe side is prepared all the same
        if (this.publishPc) this.publishPc.close();
        this.publishPc = null;
        if (this.closed) throw error;
      }
    }
    await this._offers;
  }

  // ---- publishing -------------------------------------------------------------------------

  /**
   * At the click, on a prepared session: put the local tracks into the publish connection and
   * make its offer, to go with `join` (docs/protocol.md, "Prepare"); `answerFromJoin` applies
   * the answer the join reply carries. Null when there is nothing to publish.
   */
  async offerForJoin() {
    const tracks = this.localStream ? this.localStream.getTracks() : [];
    if (!this.publishPc || tracks.length === 0) return null;
    let offer = null;
    await this._queue(async () => {
      const early = this._early;
      this._early = null;
      if (early && (await this._fitEarly(tracks))) {
        offer = early;
        this.mark("publishOfferSent");
        return;
      }
      if (this.publishPc.signalingState === "have-local-offer") {
        await this.publishPc.setLocalDescription({ type: "rollback" });
      }
      await this._attach(tracks);
      offer = await this._localOffer();
    });
    return offer;
  }

  /**
   * Still on the pre-join step, once prepared and the camera is open: the click's publish
   * offer made now (tracks attached, offer applied locally, its candidate in), kept until the
   * click sends it with `join` (~40 ms at the click, more on a loaded machine). Nothing is
   * sent before the click: the sections send only once the server's answer is applied, and
   * the server sees the offer only with the join. A camera or microphone changed meanwhile is
   * put into its sender at the click (`_fitEarly`); a change of kinds makes a new offer.
   */
  async offerEarly(stream) {
    if (!this.publishPc || !stream || stream.getTracks().length === 0 || this._early !== null) return;
    await this._queue(async () => {
      if (this.closed || this._early !== null) return;
      this.localStream = stream;
      await this._attach(stream.getTracks());
      this._early = await this._localOffer();
    });
  }

  /** Whether the offer made early still fits the click's `tracks`: the same kinds, one
   * sender each; a track replaced since (another device) goes into its sender. */
  async _fitEarly(tracks) {
    const pc = this.publishPc;
    const sending = pc.getTransceivers().filter((tr) => tr.direction === "sendonly" && tr.sender.track);
    const kinds = (list) => list.map((x) => x.kind).sort().join(",");
    if (pc.signalingState !== "have-local-offer" ||
      kinds(tracks) !== kinds(sending.map((tr) => tr.sender.track))) {
      // not the same kinds (the camera turned off, or on): those senders stop, a new offer
      for (const tr of sending) {
        if (!tracks.includes(tr.sender.track)) {
          await tr.sender.replaceTrack(null);
          tr.direction = "inactive";
          tr.prepared = true; // its section takes a track of its kind again (_attach)
        }
      }
      return false;
    }
    for (const track of tracks) {
      const tr = sending.find((x) => x.sender.track.kind === track.kind);
      if (tr.sender.track !== track) {
        await tr.sender.replaceTrack(track);
        if (tr.sender.setStreams) tr.sender.setStreams(this.localStream);
      }
    }
    return true;
  }

  /** The publish answer from the join reply (null: none came, publish() offers again). */
  async answerFromJoin(answer) {
    if (answer) {
      await this._queue(async () => {
        if (!this.closed) await this.publishPc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
      });
      for (const kind of ["audio", "video"]) this._announceSid(kind);
    } else {
      await this.publish();
    }
  }

  async publish() {
    const tracks = this.localStream ? this.localStream.getTracks() : [];
    if (tracks.length === 0) return;
    await this._queue(async () => {
      await this._attach(tracks);
      await this._offer();
    });
    // sids may have arrived before our mids were known
    for (const kind of ["audio", "video"]) this._announceSid(kind);
  }

  /** Each local track onto the publish connection (once). */
  async _attach(tracks) {
    const pc = this._publishConnection();
    for (const track of tracks) {
      if (pc.getSenders().some((sender) => sender.track === track)) continue;
      // a section prepared before the click (prepare) takes the track: same transport
      const idle = pc.getTransceivers().find((tr) => tr.prepared && !tr.sender.track &&
        tr.direction === "inactive" && tr.receiver.track && tr.receiver.track.kind === track.kind);
      if (idle) {
        await idle.sender.replaceTrack(track);
        if (idle.sender.setStreams) idle.sender.setStreams(this.localStream);
        idle.direction = "sendonly";
        continue;
      }
      const init = { direction: "sendonly", streams: [this.localStream] };
      if (track.kind === "video") init.sendEncodings = SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
      pc.addTransceiver(track, init);
    }
  }

  /** Share a screen: its tracks (from getDisplayMedia) go out as tracks of their own, which
   * the server shows and records apart from the camera (docs/protocol.md: screen share). */
  async shareScreen(stream) {
    await this._queue(async () => {
      const pc = this._publishConnection();
      this.screenStream = stream;
      for (const track of stream.getTracks()) {
        // a transceiver left by an earlier share is used again (no new m-section each time)
        const idle = pc.getTransceivers().find((tr) => this._screenMids.has(tr.mid) &&
          tr.direction === "inactive" && tr.receiver.track && tr.receiver.track.kind === track.kind);
        if (idle) {
          await idle.sender.replaceTrack(track);
          if (idle.sender.setStreams) idle.sender.setStreams(stream);
          idle.direction = "sendonly";
        } else {
          const tr = pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
          tr.isScreen = true;
        }
      }
      await this._offer();
    });
  }

  /** Stop sharing the screen: its transceivers go inactive and the server unpublishes them. */
  async stopScreen() {
    this.screenStream = null;
    if (!this.publishPc) return;
    await this._queue(async () => {
      for (const tr of this.publishPc.getTransceivers()) {
        if (!this._screenMids.has(tr.mid) || tr.direction === "inactive") continue;
        await tr.sender.replaceTrack(null);
        tr.direction = "inactive";
      }
      await this._offer();
    });
  }

  _queue(operation) {
    const run = this._publishing.then(operation);
    this._publishing = run.catch(() => {});
    return run;
  }

  _publishConnection() {
    if (!this.publishPc) this.publishPc = this._newPeerConnection("publish");
    return this.publishPc;
  }

  /** Offer the publish connection as it stands, with what each sending track shows. */
  async _offer() {
    const payload = await this._localOffer();
    if (!payload) return;
    const answer = await this.signaling.request("publish.offer", payload);
    if (this.closed) return;
    await this.publishPc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  /** The publish connection's offer, applied locally, with its candidates and what each
   * sending track shows: the `publish.offer` payload (null once closed). */
  async _localOffer() {
    const pc = this.publishPc;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const sources = {};
    for (const tr of pc.getTransceivers()) {
      if (tr.mid == null) continue;
      if (tr.isScreen) this._screenMids.add(tr.mid);
      const kind = tr.receiver.track ? tr.receiver.track.kind : "video";
      if (this._screenMids.has(tr.mid)) sources[tr.mid] = kind === "audio" ? "screen_audio" : "screen";
      else sources[tr.mid] = kind === "audio" ? "microphone" : "camera";
    }
    await waitForIceCandidate(pc);
    if (this.closed) return null;
    this.mark("publishOfferSent");
    return { sdp: pc.localDescription.sdp, type: "offer", sources };
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
        if (tr.mid && !this._screenMids.has(tr.mid) && tr.sender.track &&
        tr.sender.track.kind === kind && this.sidByMid.has(tr.mid)) {
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
    if (this._answering === 0) this._mapAhead(offer);
    this._answering += 1;
    this._offers = this._offers
      .then(() => this._answer(offer))
      .catch((error) => {
        if (!this.closed) this._fail("subscribe", error);
      })
      .finally(() => {
        this._answering -= 1;
      });
    return this._offers;
  }

  /**
   * A track the server put into a slot negotiated ahead (a prepared connection's spare slot,
   * docs/protocol.md "Prepare") arrives from now on, before this offer is even applied: its
   * publisher's stream is shown at once, the offer is answered after. Only when no earlier
   * offer is still being answered (its map must not be overtaken).
   */
  _mapAhead(offer) {
    const pc = this.subscribePc;
    const tracks = offer.tracks && typeof offer.tracks === "object" ? offer.tracks : null;
    if (!pc || this.closed || !tracks) return;
    const ahead = pc.getTransceivers().some((tr) => tr.mid != null && tracks[tr.mid] &&
      tr.currentDirection === "recvonly" && !this.lastTracks[tr.mid]);
    if (!ahead) return;
    this.lastTracks = tracks;
    this._reconcile();
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
    await waitForIceCandidate(pc);
    if (this.closed) return;
    this.mark("subscribeAnswerSent");
    await this.signaling.request("subscribe.answer", { sdp: pc.localDescription.sdp, type: "answer" });
  }

  /** Rebuild each publisher's MediaStreams (camera+microphone, and a shared screen apart)
   * from the transceivers and the last offer's map. */
  _reconcile() {
    const pc = this.subscribePc;
    if (!pc || this.closed) return;
    const cameras = new Map();
    const screens = new Map();
    for (const tr of pc.getTransceivers()) {
      const info = tr.mid != null ? this.lastTracks[tr.mid] : undefined;
      if (!info || !info.publisher || !tr.receiver.track) continue;
      const dir = tr.currentDirection ?? tr.direction;
      if (dir === "inactive" || dir === "sendonly" || dir === "stopped") continue;
      const into = isScreenSource(info.source) ? screens : cameras;
      if (!into.has(info.publisher)) into.set(info.publisher, []);
      into.get(info.publisher).push(tr.receiver.track);
    }
    this._apply(this.remote, cameras, "remote-stream");
    this._apply(this.remoteScreens, screens, "remote-screen");
  }

  _apply(known, byPublisher, event) {
    for (const [identity, tracks] of byPublisher) {
      const key = tracks.map((t) => t.id).sort().join(",");
      const before = known.get(identity);
      if (before && before.key === key) continue;
      // a new MediaStream only when the set of tracks changed, so playing elements are not reset
      const stream = new MediaStream(tracks);
      known.set(identity, { stream, key });
      this._emit(event, identity, stream);
    }
    for (const identity of [...known.keys()]) {
      if (!byPublisher.has(identity)) {
        known.delete(identity);
        this._emit(event, identity, null);
      }
    }
  }

  _newPeerConnection(direction) {
    let pc = this._warm[direction];
    delete this._warm[direction];
    if (pc && this.config.iceServers.length) {
      // the join reply's ICE servers (STUN/TURN, this person's credentials): the pool gathers
      // again with them. Only the servers change: the rest of the connection's configuration
      // stays as it was made (setConfiguration would otherwise reset what the call leaves out,
      // e.g. an iceTransportPolicy "relay" the browser was made with, to its default "all").
      // One that refuses the change is replaced by a new connection made as the join's.
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers: this.config.iceServers });
      } catch {
        pc.close();
        pc = null;
      }
    }
    if (!pc || pc.signalingState === "closed") pc = new RTCPeerConnection(this.config);
    // up, or done gathering once: a candidate from then on is from a network found later
    let settled = false;
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") settled = true;
    });
    pc.addEventListener("connectionstatechange", () => {
      if (this.closed) return;
      if (pc.connectionState === "connected") settled = true;
      const detail = { direction, state: pc.connectionState };
      this.dispatchEvent(new CustomEvent("connection", { detail }));
    });
    // A candidate gathered on a connection that was up (or had gathered) means the browser
    // found a new network address (Chromium gathers continually): ICE may carry the media over
    // to it, but the signaling socket stays on the old address, dead, until its ping times out.
    const seen = new Set();
    pc.addEventListener("icecandidate", ({ candidate }) => {
      if (!candidate || !candidate.address || seen.has(candidate.address)) return;
      seen.add(candidate.address);
      if (this.closed || !settled) return;
      const detail = { direction, address: candidate.address };
      this.dispatchEvent(new CustomEvent("network-change", { detail }));
    });
    return pc;
  }

  _emit(event, identity, stream) {
    this.dispatchEvent(new CustomEvent(event, { detail: { identity, stream } }));
  }

  _fail(stage, error) {
    console.error(`vidconsult: ${stage} negotiation failed`, error);
    this.dispatchEvent(new CustomEvent("error", { detail: { stage, error } }));
  }

  /** Close both connections. The local stream is left alone (the page owns it). */
  close() {
    this.closed = true;
    for (const pc of [this.publishPc, this.subscribePc, ...Object.values(this._warm)]) {
      if (pc) pc.close();
    }
    this._warm = {};
    this.publishPc = null;
    this.subscribePc = null;
    for (const identity of this.remote.keys()) this._emit("remote-stream", identity, null);
    for (const identity of this.remoteScreens.keys()) this._emit("remote-screen", identity, null);
    this.remote.clear();
    this.remoteScreens.clear();
    this.screenStream = null; // the page owns it (a new session after a reconnect shares it again)
  }
}
