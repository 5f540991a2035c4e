// The live room: connect, join, follow the room's events, rebuild the media session when it
// fails, and finish. Protocol: docs/protocol.md.

import { io } from "/static/vendor/socket.io.esm.min.js";
import { t, endedText } from "./i18n.js";
import { room } from "./room-context.js";
import { Signaling, retryDelay } from "./signaling.js";
import { checkLink } from "./room-check.js";
import { MediaSession, warmPeerConnections } from "./session.js";

let pendingOffers = [];
// Room events that arrive while the join request is in flight. The join reply is a snapshot,
// and the server may send events newer than it (someone joining at the same moment) before
// the reply itself: they are replayed on top of the snapshot instead of being wiped by it.
let joining = false;
let earlyEvents = [];
// Joining again is held back for RESTART_INTERVAL_MS after the last time, so that a page whose
// rejoins keep failing does not hammer the server; once a media connection of the new session
// is up, RESTART_AFTER_UP_MS is enough (a rejoin that worked, then a new loss of the path: seen
// at load 33 when a needless rejoin just before an address change held the real one back 10 s).
let nextRestartAt = -Infinity;
const RESTART_INTERVAL_MS = 15000;
const RESTART_AFTER_UP_MS = 2000;
// A media connection "disconnected" this long is taken as a changed network (the browser's
// address went away, as on hotel Wi-Fi): the page joins again at once on a new socket and new
// connections, instead of waiting ~30 s for "failed" (aiortc cannot restart ICE in place).
const DISCONNECTED_GRACE_MS = 500;
let disconnectedTimer = null;
// A connected media connection on which nothing at all arrived for this long has lost its
// path: browsers take 5-7 s more to call it "disconnected" after an address change. The
// publish connection is the one watched when there is one: the server's receiver reports come
// every second while we send. A subscribe connection also falls silent when the others' media
// stops (a publisher whose own network changed): a page that publishes does not take that for
// its own path gone (it did, and joined again needlessly, when the other side lost its path).
const SILENCE_MS = 3000;
const LIVENESS_INTERVAL_MS = 1000;
let livenessTimer = null;
// After the browser's network changed (a new local address), the signaling socket may be a TCP
// connection from an address that is gone: nothing tells Socket.IO until its ping times out,
// up to 20 s later, while ICE may already carry the media over to the new address. A request
// that gets no answer within this long shows the socket dead: the page joins again at once
// (a live server on a machine loaded to 10x its cores took over 2 s once: a needless rejoin).
const PROBE_TIMEOUT_MS = 3000;
let probing = null;

/** Ask the server something small; no answer in time means the socket is gone. */
function probeSignaling(why) {
  const session = room.session;
  if (probing || room.state !== "joined" || !session) return;
  probing = room.signaling.request("ping", {}, PROBE_TIMEOUT_MS).then(
    () => {},
    (err) => {
      if (room.session === session) restartSession(`${why}, and the server did not answer (${err.code})`);
    },
  ).finally(() => {
    probing = null;
  });
}

/** Check every second that packets still arrive on each connected media connection. */
function watchLiveness() {
  clearInterval(livenessTimer);
  livenessTimer = setInterval(async () => {
    const session = room.session;
    if (room.state !== "joined" || !session) return;
    const publishing = session.publishPc && session.publishPc.connectionState === "connected";
    const watched = publishing ? [["publish", session.publishPc]] : [["subscribe", session.subscribePc]];
    for (const [direction, pc] of watched) {
      if (!pc || pc.connectionState !== "connected") continue;
      const silent = await silenceMs(pc);
      if (silent > SILENCE_MS && room.session === session) {
        restartSession(`${direction} connection silent for ${Math.round(silent)} ms`);
        return;
      }
    }
  }, LIVENESS_INTERVAL_MS);
}

/** Milliseconds since the last packet arrived on `pc`'s selected candidate pair (0: unknown). */
async function silenceMs(pc) {
  let stats;
  try {
    stats = await pc.getStats();
  } catch {
    return 0;
  }
  let selected = null;
  for (const s of stats.values()) {
    if (s.type === "transport" && s.selectedCandidatePairId) selected = stats.get(s.selectedCandidatePairId);
  }
  if (!selected || !selected.lastPacketReceivedTimestamp) return 0;
  return selected.timestamp - selected.lastPacketReceivedTimestamp;
}

/** Status line and state together. */
export function setState(next, statusText = null, tone = "info") {
  room.setState(next);
  if (statusText != null) room.view.setStatus(statusText, tone);
}

let early = null; // {signaling, connected}: the socket opened on the pre-join step
let warm = null; // peer connections gathering candidates since the pre-join step (session.js)

/**
 * Open the socket while the person is still on the pre-join step: the token is checked and the
 * connection is up before the click, which then only has to join (~50 ms of the join time,
 * issue 15), and the page's two peer connections gather their host candidates meanwhile
 * (session.js warmPeerConnections). A refusal is shown at the click, as before. Nothing is
 * joined or published yet, no track is attached and no candidate leaves the page.
 */
export function preconnect(roomId) {
  if (early || room.signaling) return;
  const signaling = new Signaling(io, location.origin, room.token, roomId);
  early = { signaling, connected: signaling.connect() };
  early.connected.catch(() => {}); // handled in connect()
  warm = warmPeerConnections();
  // the join benchmark's comparison turns the step off (benchmarks/join_time.py)
  if (window.__vidconsultNoPrepare) return;
  room.hooks.prepared = "preparing"; // then "ready" or "no" (tests, support)
  early.prepared = early.connected.then(() => prepareMedia(signaling)).catch((err) => {
    // not prepared (a waiting room, an older server, a refusal): the click joins as before
    if (err && err.code !== "lobby_required") console.warn("vidconsult: media not prepared", err);
    return null;
  }).then(async (session) => {
    // the click's publish offer, made while the person is still reading the screen
    if (session) await offerEarly(session);
    room.hooks.prepared = session ? "ready" : "no";
    return session;
  });
  // a camera opened (or chosen) after the prepare: the early offer is made then
  room.on("local-stream", () => {
    if (early && early.prepared) early.prepared.then((session) => session && offerEarly(session));
  });
}

/** The prepared session makes the click's publish offer now (session.js offerEarly). */
function offerEarly(session) {
  if (!room.localStream || session.closed || room.session) return Promise.resolve();
  return session.offerEarly(room.localStream).catch((err) => {
    console.warn("vidconsult: early publish offer failed", err); // the click makes it
  });
}

/**
 * The media connections negotiated while the person is on the pre-join step (docs/protocol.md,
 * "Prepare"): the server authenticates the token and answers both connections, ICE and DTLS
 * come up, and nothing is sent or received; the participant is not in the room. The click then
 * only joins and puts the camera in (issue 15: ~100-200 ms of ICE and DTLS off the join).
 */
async function prepareMedia(signaling) {
  const reply = await signaling.request("prepare", {});
  const session = new MediaSession(signaling, {
    iceServers: reply.ice_servers || [],
    warm,
    mark: (stage) => room.joinTimer.mark(stage),
  });
  warm = null;
  try {
    // a person who may not publish (a lecture's audience, an observer) offers no publish connection:
    // the server would refuse it (permission_denied), and the page would log that refusal
    await session.prepare(reply.subscribe, { publish: !!room.grants.publish });
  } catch (err) {
    session.close();
    throw err;
  }
  return session;
}

let prepared = null; // the MediaSession prepareMedia made, until the join takes it (or not)
let busyTries = 0; // the join's refusals in a row with a code that says to ask again

/** Open the socket (once per page) and join; the lobby module may hold the join back. */
export async function connect(roomId) {
  setState("connecting", t("connecting"));
  const opened = early;
  early = null;
  const signaling = opened ? opened.signaling : new Signaling(io, location.origin, room.token, roomId);
  room.attachSignaling(signaling);
  wireEvents(signaling);
  try {
    await (opened ? opened.connected : signaling.connect());
    room.joinTimer.mark("socket");
  } catch (err) {
    room.finish("error", room.errorText(err), err.code);
    return;
  }
  // a prepare still on its way is awaited: the server must not get the join before it
  prepared = (opened && (await opened.prepared)) || null;
  if (prepared) room.joinTimer.mark("prepared");
  await join();
}

function wireEvents(sig) {
  const { roster, view } = room;
  sig.on("subscribe.offer", (offer) => {
    if (room.session) room.session.handleSubscribeOffer(offer);
    else pendingOffers.push(offer);
  });
  const onJoined = (participant) => {
    if (!participant || participant.identity === roster.self) return;
    roster.joined(participant);
    const known = roster.get(participant.identity);
    if (mayPublish(known)) view.ensureTile(known.identity, known);
    // tracks that arrived before the participant.joined event
    const early = room.session && room.session.remote.get(known.identity);
    if (early) view.setRemoteStream(known.identity, known, early.stream);
  };
  onRoomEvent(sig, "participant.joined", ({ participant }) => onJoined(participant));
  // a seat held while its connection is down, then resumed by its rejoin: new tracks follow
  onRoomEvent(sig, "participant.reconnecting", ({ identity }) => roster.reconnecting(identity));
  onRoomEvent(sig, "participant.reconnected", ({ participant }) => onJoined(participant));
  onRoomEvent(sig, "participant.left", ({ identity }) => {
    roster.left(identity);
    view.removeTile(identity);
  });
  onRoomEvent(sig, "track.published", ({ identity, track, mid }) => {
    roster.trackPublished(identity, track);
    if (identity === roster.self && room.session) room.session.onOwnTrackPublished({ track, mid });
  });
  onRoomEvent(sig, "track.unpublished", ({ identity, track_sid: sid }) => roster.trackUnpublished(identity, sid));
  onRoomEvent(sig, "track.muted", ({ identity, track_sid: sid, muted: m }) => roster.trackMuted(identity, sid, m));
  sig.on("removed", ({ reason }) => room.finish("removed", t("removed"), reason));
  sig.on("room.ended", ({ reason }) => room.finish("ended", endedText(reason), reason));
  sig.on("error", (err) => console.warn("vidconsult: server error event", err));
  sig.on("disconnect", (reason) => {
    if (room.finished) return;
    if (reason === "io server disconnect") {
      room.finish("error", t("disconnected"), reason);
      return;
    }
    // a lost link: socket.io reconnects by itself; rebuild the session when it does
    dropSession();
    setState("reconnecting", t("reconnecting"), "warn");
  });
  sig.on("connect", () => {
    if (room.state === "reconnecting") join();
  });
  sig.on("connect_error", (err) => {
    if (room.state === "reconnecting" && err && err.data) {
      sig.close();
      room.finish("error", room.errorText(err.data), err.data.code);
    }
  });
}

/** Handle a room event now, or after the join reply when a join is in flight. */
function onRoomEvent(sig, name, handler) {
  sig.on(name, (data) => {
    if (joining) earlyEvents.push(() => handler(data));
    else handler(data);
  });
}

/** A join refused: asked again by itself when the room is busy (an emergency's withdrawal is
 * deciding whether it closes, docs/protocol.md); a room found ended after that is explained by
 * the link check (who withdrew it), which the join's own `room_ended` does not say. */
async function joinRefused(err) {
  const wait = retryDelay(err.code, busyTries);
  if (wait !== null) {
    busyTries += 1;
    setState("connecting", t("roomBusyRetrying"), "warn");
    setTimeout(() => {
      if (room.state === "connecting") join();
    }, wait);
    return;
  }
  const waited = busyTries > 0;
  busyTries = 0;
  if (waited && err.code === "room_ended") {
    room.signaling.close();
    if (!(await checkLink(null))) return; // the blocked card says why
  }
  room.finish("error", room.errorText(err), err.code);
}

/** Send `join` and build the media session from the reply. */
export async function join() {
  const { roster, view } = room;
  setState("connecting", t("joining"));
  pendingOffers = [];
  joining = true;
  earlyEvents = [];
  // the connections prepared on the pre-join step, for the first join only
  const ready = prepared;
  prepared = null;
  let reply;
  let offered = null; // the publish offer that goes with the join (prepared connections)
  try {
    const options = room.joinOptions();
    if (ready) {
      ready.localStream = room.localStream; // the camera as chosen at the click
      offered = await ready.offerForJoin();
    }
    const payload = ready ? { ...options, prepared: true } : options;
    if (offered) payload.publish = offered;
    reply = await room.signaling.request("join", payload);
  } catch (err) {
    joining = false;
    if (ready) ready.close();
    if (room.state === "connecting") await joinRefused(err);
    return;
  }
  busyTries = 0;
  if (ready && (room.finished || !reply.prepared)) ready.close(); // not taken over: new ones
  if (room.finished) return;
  room.joinTimer.mark(reply.lobby ? "lobby" : "joinReply");
  if (reply.lobby) {
    // held in the waiting room (room-lobby.js): join() runs again once admitted
    joining = false;
    earlyEvents = [];
    room.emit("lobby", { reply });
    return;
  }
  // prepared: the join carried the publish offer, its reply the answer (none: offer again);
  // applied first, so the camera's encoder starts while the rest of the room is set up
  const published = ready && reply.prepared && offered ? ready.answerFromJoin(reply.publish || null) : null;
  if (published) published.catch(() => {}); // reported below
  room.grants = { ...room.grants, ...reply.participant.grants };
  room.hooks.identity = reply.participant.identity;
  if (reply.room && reply.room.name) document.getElementById("room-title").textContent = reply.room.name;
  roster.reset(reply.participant, reply.participants || []);
  for (const p of roster.list()) {
    if (p.identity !== roster.self && mayPublish(p)) view.ensureTile(p.identity, p);
  }
  let session = ready && reply.prepared ? ready : null;
  if (!session) {
    session = new MediaSession(room.signaling, {
      iceServers: reply.ice_servers || [],
      localStream: room.localStream,
      warm, // the first session only: a session after a reconnect makes its own
      mark: (stage) => room.joinTimer.mark(stage),
    });
  }
  warm = null;
  room.session = session;
  session.addEventListener("remote-stream", ({ detail }) => {
    // only for those in the room: an offer sent before a participant.left may still list them
    const participant = roster.get(detail.identity);
    if (participant) {
      if (detail.stream) room.joinTimer.mark("remoteStream");
      view.setRemoteStream(detail.identity, participant, detail.stream);
      room.emit("remote-media", { identity: detail.identity });
    }
  });
  session.addEventListener("connection", ({ detail }) => onMediaConnection(detail));
  session.addEventListener("network-change", ({ detail }) => {
    probeSignaling(`new network address ${detail.address} on the ${detail.direction} connection`);
  });
  session.addEventListener("error", ({ detail }) => {
    // the server waits for our answer before it offers again: without one we would see nobody
    if (detail.stage === "subscribe") restartSession(`subscribe negotiation failed: ${detail.error.message}`);
  });
  for (const offer of pendingOffers) session.handleSubscribeOffer(offer);
  pendingOffers = [];
  joining = false;
  for (const replay of earlyEvents.splice(0)) replay();
  if (room.localStream && !view.localTile) view.showLocal(reply.participant, room.localStream);
  setState("joined", t("inRoom"));
  watchLiveness();
  room.emit("joined", { reply, session });
  if (room.grants.publish && room.localStream) {
    try {
      await (published || session.publish());
      // a mute chosen while (re)connecting applies to the new connection
      for (const kind of ["audio", "video"]) if (room.muted[kind]) await session.setMuted(kind, true);
    } catch (err) {
      if (!session.closed) {
        console.error("vidconsult: publish failed", err);
        view.setStatus(t("publishError"), "warn");
      }
    }
  }
}

/** A media connection that failed is rebuilt by joining again (a new socket, new peers). */
function onMediaConnection({ direction, state }) {
  if (room.state !== "joined") return;
  clearTimeout(disconnectedTimer);
  if (state === "disconnected") {
    room.view.setStatus(t("mediaUnstable"), "warn");
    disconnectedTimer = setTimeout(() => {
      const session = room.session;
      const pcs = session ? [session.publishPc, session.subscribePc].filter(Boolean) : [];
      if (pcs.some((pc) => pc.connectionState === "disconnected")) {
        restartSession(`${direction} connection disconnected for ${DISCONNECTED_GRACE_MS} ms`);
      }
    }, DISCONNECTED_GRACE_MS);
  } else if (state === "connected") {
    room.view.setStatus(t("inRoom"));
    nextRestartAt = Math.min(nextRestartAt, performance.now() + RESTART_AFTER_UP_MS);
  } else if (state === "failed") restartSession(`${direction} connection failed`);
}

/** Leave and join again on a fresh socket (see nextRestartAt). */
function restartSession(why) {
  if (room.state !== "joined" || performance.now() < nextRestartAt) return;
  console.warn(`vidconsult: ${why}; joining again`);
  nextRestartAt = performance.now() + RESTART_INTERVAL_MS;
  dropSession();
  setState("reconnecting", t("reconnecting"), "warn");
  room.signaling.socket.disconnect(); // the disconnect handler keeps us in "reconnecting"
  room.signaling.socket.connect(); // and the connect handler joins again
}

/** A tile waits for media only from those who may send it (not observers). */
export function mayPublish(participant) {
  return !!(participant.grants && participant.grants.publish) || participant.tracks.length > 0;
}

export function dropSession() {
  clearTimeout(disconnectedTimer);
  clearInterval(livenessTimer);
  if (room.session) room.session.close();
  room.session = null;
  for (const identity of [...room.view.tiles.keys()]) room.view.removeTile(identity);
}

/** When the page is done: no session, no camera, no tiles. */
export function setupFinish() {
  room.on("finished", () => {
    dropSession();
    for (const pc of Object.values(warm || {})) pc.close();
    warm = null;
    if (prepared) prepared.close();
    prepared = null;
    if (early && early.prepared) early.prepared.then((session) => session && session.close());
    if (room.localStream) for (const track of room.localStream.getTracks()) track.stop();
    room.view.clear();
  });
}
