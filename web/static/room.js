// The room page: a pre-join step (who you are, camera check), then the live room.
// Protocol: docs/protocol.md. Token: URL fragment, #token=JWT.

import { t, roleName, lang } from "./i18n.js";
import { tokenFromHash, decodeTokenPayload, describeToken } from "./token.js";
import { Signaling } from "./signaling.js";
import { MediaSession } from "./session.js";
import { Roster } from "./roster.js";
import { RoomView } from "./view.js";

const $ = (id) => document.getElementById(id);

function showRecording(on) {
  const badge = $("recording-indicator");
  if (!badge) return;
  badge.hidden = !on;
  badge.title = on ? t("recording") : "";
}

// Hooks for tests and for support staff looking at a console on a consult-room PC.
const hooks = {
  state: "prejoin", // prejoin | connecting | joined | reconnecting | left | removed | ended | error
  identity: null,
  room: null,
  joinClickAt: null, // performance.now() at the join click
  firstFrameAt: {}, // identity -> performance.now() of the first decoded remote frame
  frameSource: {}, // identity -> which signal reported it
  joinTimes: {}, // identity -> ms from join click to first remote frame
  reason: null,
  // simulate a network blip (tests, support): the socket drops and the page joins again
  dropConnection: () => signaling && signaling.socket.io.engine && signaling.socket.io.engine.close(),
};
window.vidconsult = hooks;

const view = new RoomView({
  tiles: $("tiles"),
  participants: $("participants"),
  status: $("status"),
  onRemove: (p) => removeParticipant(p),
  onFirstRemoteFrame: (identity, source) => {
    if (identity in hooks.firstFrameAt) return;
    const now = performance.now();
    hooks.firstFrameAt[identity] = now;
    hooks.frameSource[identity] = source;
    if (hooks.joinClickAt != null) {
      hooks.joinTimes[identity] = Math.round(now - hooks.joinClickAt);
      console.info(`vidconsult: first frame from ${identity} ${hooks.joinTimes[identity]} ms after join`);
    }
  },
});

const roster = new Roster();
let claims = null;
let token = null;
let localStream = null;
let previewReady = Promise.resolve();
let signaling = null;
let session = null;
let pendingOffers = [];
// Room events that arrive while the join request is in flight. The join reply is a snapshot,
// and the server may send events newer than it (someone joining at the same moment) before
// the reply itself: they are replayed on top of the snapshot instead of being wiped by it.
let joining = false;
let earlyEvents = [];
let grants = { publish: false, subscribe: false, admin: false };
const muted = { audio: false, video: false };

function setState(next, statusText = null, tone = "info") {
  hooks.state = next;
  document.body.dataset.state = next;
  if (statusText != null) view.setStatus(statusText, tone);
}

// ---- pre-join ---------------------------------------------------------------------------

function roomIdFromPath() {
  const match = location.pathname.match(/\/room\/([^/]+)\/?$/);
  return match ? decodeURIComponent(match[1]) : null;
}

function initPrejoin() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  $("join-button").textContent = t("joinButton");
  token = tokenFromHash();
  const pathRoom = roomIdFromPath();
  if (!token) {
    setState("error", t("noToken"), "error");
    return;
  }
  try {
    claims = describeToken(decodeTokenPayload(token));
  } catch {
    setState("error", t("badToken"), "error");
    return;
  }
  hooks.identity = claims.identity;
  hooks.room = claims.room ?? pathRoom;
  grants = claims.grants;
  $("me-name").textContent = claims.name;
  $("me-role").textContent = roleName(claims.role);
  $("me-room").textContent = hooks.room ?? "—";
  $("room-title").textContent = t("roomLabel", { room: hooks.room ?? "" });
  if (claims.room && pathRoom && claims.room !== pathRoom) {
    $("prejoin-note").textContent = t("wrongRoom", { room: claims.room });
  } else if (claims.expiresAt && claims.expiresAt.getTime() < Date.now()) {
    // only a hint: a consult-room PC's clock may be wrong; the server decides
    $("prejoin-note").textContent = t("tokenExpired");
  }
  if (grants.publish) {
    previewReady = startPreview();
  } else {
    // observers and recorders never touch the camera or microphone
    $("preview").hidden = true;
    $("observer-note").textContent = t("observerNote", { role: roleName(claims.role) });
  }
  $("join-button").disabled = false;
  $("join-button").addEventListener("click", onJoinClick, { once: true });
  setState("prejoin", "");
}

async function startPreview() {
  const previewStatus = $("preview-status");
  if (!window.isSecureContext) {
    // browsers give the camera only to secure pages: https://, or localhost on this machine
    previewStatus.textContent = t("previewInsecure");
    return;
  }
  previewStatus.textContent = t("previewStarting");
  const video = {
    width: { ideal: 640 },
    height: { ideal: 480 },
    frameRate: { ideal: 15, max: 30 }, // weak uplinks: small and steady beats large and choppy
  };
  try {
    localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    previewStatus.textContent = t("previewReady");
  } catch (first) {
    try {
      localStream = await navigator.mediaDevices.getUserMedia({ audio: true });
      previewStatus.textContent = t("previewAudioOnly");
    } catch {
      localStream = null;
      previewStatus.textContent = t("previewFailed", { error: first.name || String(first) });
    }
  }
  if (localStream) {
    const preview = $("preview-video");
    preview.muted = true;
    preview.srcObject = localStream;
    preview.play().catch(() => {});
  }
}

async function onJoinClick() {
  hooks.joinClickAt = performance.now();
  $("join-button").disabled = true;
  await previewReady;
  $("preview-video").srcObject = null;
  $("prejoin").hidden = true;
  $("room").hidden = false;
  if (localStream) {
    // our own image right away: on a slow link joining can take a while
    view.showLocal({ identity: claims.identity, name: claims.name, role: claims.role, grants, tracks: [] },
      localStream);
  }
  setupControls();
  await enterRoom();
}

// ---- the room ---------------------------------------------------------------------------

async function enterRoom() {
  if (typeof window.io !== "function") {
    setState("error", t("connectError", { message: "socket.io client not loaded" }), "error");
    return;
  }
  setState("connecting", t("connecting"));
  signaling = new Signaling(window.io, location.origin, token, roomIdFromPath());
  wireEvents(signaling);
  try {
    await signaling.connect();
  } catch (err) {
    finish("error", t("connectError", { message: err.message }), err.code);
    return;
  }
  await join();
}

function wireEvents(sig) {
  sig.on("subscribe.offer", (offer) => {
    if (session) session.handleSubscribeOffer(offer);
    else pendingOffers.push(offer);
  });
  onRoomEvent(sig, "participant.joined", ({ participant }) => {
    if (!participant || participant.identity === roster.self) return;
    roster.joined(participant);
    const known = roster.get(participant.identity);
    if (mayPublish(known)) view.ensureTile(known.identity, known);
    // tracks that arrived before the participant.joined event
    const early = session && session.remote.get(known.identity);
    if (early) view.setRemoteStream(known.identity, known, early.stream);
  });
  onRoomEvent(sig, "participant.left", ({ identity }) => {
    roster.left(identity);
    view.removeTile(identity);
  });
  onRoomEvent(sig, "track.published", ({ identity, track, mid }) => {
    roster.trackPublished(identity, track);
    if (identity === roster.self && session) session.onOwnTrackPublished({ track, mid });
  });
  onRoomEvent(sig, "track.unpublished", ({ identity, track_sid: sid }) => roster.trackUnpublished(identity, sid));
  onRoomEvent(sig, "track.muted", ({ identity, track_sid: sid, muted: m }) => roster.trackMuted(identity, sid, m));
  sig.on("removed", ({ reason }) => finish("removed", t("removed", { reason }), reason));
  sig.on("room.ended", ({ reason }) => finish("ended", t("ended", { reason }), reason));
  // a recording in progress is always visible (docs/protocol.md: recording.*)
  sig.on("recording.started", () => showRecording(true));
  sig.on("recording.stopped", () => showRecording(false));
  sig.on("error", (err) => console.warn("vidconsult: server error event", err));
  sig.on("disconnect", (reason) => {
    if (isFinished()) return;
    if (reason === "io server disconnect") {
      finish("error", t("disconnected"), reason);
      return;
    }
    // a lost link: socket.io reconnects by itself; rebuild the session when it does
    dropSession();
    setState("reconnecting", t("reconnecting"), "warn");
  });
  sig.on("connect", () => {
    if (hooks.state === "reconnecting") join();
  });
  sig.on("connect_error", (err) => {
    if (hooks.state === "reconnecting" && err && err.data) {
      signaling.close();
      finish("error", t("connectError", { message: err.data.message || err.message }), err.data.code);
    }
  });
  roster.addEventListener("change", () => view.renderRoster(roster, { canAdmin: grants.admin }));
}

/** Handle a room event now, or after the join reply when a join is in flight. */
function onRoomEvent(sig, name, handler) {
  sig.on(name, (data) => {
    if (joining) earlyEvents.push(() => handler(data));
    else handler(data);
  });
}

async function join() {
  setState("connecting", t("joining"));
  pendingOffers = [];
  joining = true;
  earlyEvents = [];
  let reply;
  try {
    reply = await signaling.request("join", {});
  } catch (err) {
    joining = false;
    if (hooks.state === "connecting") finish("error", t("joinError", { message: err.message }), err.code);
    return;
  }
  if (isFinished()) return;
  grants = { ...grants, ...reply.participant.grants };
  hooks.identity = reply.participant.identity;
  if (reply.room && reply.room.name) $("room-title").textContent = reply.room.name;
  roster.reset(reply.participant, reply.participants || []);
  for (const p of roster.list()) {
    if (p.identity !== roster.self && mayPublish(p)) view.ensureTile(p.identity, p);
  }
  session = new MediaSession(signaling, { iceServers: reply.ice_servers || [], localStream });
  session.addEventListener("remote-stream", ({ detail }) => {
    // only for those in the room: an offer sent before a participant.left may still list them
    const participant = roster.get(detail.identity);
    if (participant) view.setRemoteStream(detail.identity, participant, detail.stream);
  });
  session.addEventListener("connection", ({ detail }) => onMediaConnection(detail));
  session.addEventListener("error", ({ detail }) => {
    // the server waits for our answer before it offers again: without one we would see nobody
    if (detail.stage === "subscribe") restartSession(`subscribe negotiation failed: ${detail.error.message}`);
  });
  for (const offer of pendingOffers) session.handleSubscribeOffer(offer);
  pendingOffers = [];
  joining = false;
  for (const replay of earlyEvents.splice(0)) replay();
  if (localStream && !view.localTile) view.showLocal(reply.participant, localStream);
  $("end-button").hidden = !grants.admin;
  updateControls();
  setState("joined", t("inRoom"));
  if (grants.publish && localStream) {
    const current = session;
    try {
      await current.publish();
      // a mute chosen while (re)connecting applies to the new connection
      for (const kind of ["audio", "video"]) if (muted[kind]) await current.setMuted(kind, true);
    } catch (err) {
      if (!current.closed) {
        console.error("vidconsult: publish failed", err);
        view.setStatus(t("publishError", { message: err.message }), "warn");
      }
    }
  }
}

let lastRestartAt = -Infinity;
const RESTART_INTERVAL_MS = 15000;

/** A media connection that failed is rebuilt by joining again (a new socket, new peers). */
function onMediaConnection({ direction, state }) {
  if (hooks.state !== "joined") return;
  if (state === "disconnected") view.setStatus(t("mediaUnstable"), "warn");
  else if (state === "connected") view.setStatus(t("inRoom"));
  else if (state === "failed") restartSession(`${direction} connection failed`);
}

/** Leave and join again on a fresh socket (at most every RESTART_INTERVAL_MS). */
function restartSession(why) {
  if (hooks.state !== "joined" || performance.now() - lastRestartAt < RESTART_INTERVAL_MS) return;
  console.warn(`vidconsult: ${why}; joining again`);
  lastRestartAt = performance.now();
  dropSession();
  setState("reconnecting", t("reconnecting"), "warn");
  signaling.socket.disconnect(); // the disconnect handler keeps us in "reconnecting"
  signaling.socket.connect(); // and the connect handler joins again
}

/** A tile waits for media only from those who may send it (not observers). */
function mayPublish(participant) {
  return !!(participant.grants && participant.grants.publish) || participant.tracks.length > 0;
}

function dropSession() {
  if (session) session.close();
  session = null;
  for (const identity of [...view.tiles.keys()]) view.removeTile(identity);
}

function isFinished() {
  return ["left", "removed", "ended", "error"].includes(hooks.state);
}

function finish(state, text, reason = null) {
  if (isFinished()) return;
  hooks.reason = reason;
  dropSession();
  if (localStream) for (const track of localStream.getTracks()) track.stop();
  view.clear();
  setState(state, text, state === "left" ? "info" : "error");
  for (const id of ["mute-button", "camera-button", "leave-button", "end-button"]) $(id).disabled = true;
  $("rejoin-button").hidden = !(state === "left" || reason === "io server disconnect");
}

// ---- controls ---------------------------------------------------------------------------

function setupControls() {
  $("mute-button").addEventListener("click", () => toggle("audio"));
  $("camera-button").addEventListener("click", () => toggle("video"));
  $("leave-button").addEventListener("click", leave);
  $("end-button").addEventListener("click", endRoom);
  $("rejoin-button").addEventListener("click", () => location.reload());
  $("leave-button").textContent = t("leave");
  $("end-button").textContent = t("endRoom");
  $("rejoin-button").textContent = t("rejoin");
  $("participants-heading").textContent = t("participants");
  updateControls();
}

function updateControls() {
  const has = (kind) => !!localStream && localStream.getTracks().some((tr) => tr.kind === kind);
  const mute = $("mute-button");
  // observers (and publishers without devices) have nothing to mute
  mute.hidden = !has("audio");
  mute.disabled = !has("audio");
  mute.setAttribute("aria-pressed", String(muted.audio));
  mute.textContent = muted.audio ? t("unmute") : t("mute");
  const camera = $("camera-button");
  camera.hidden = !has("video");
  camera.disabled = !has("video");
  camera.setAttribute("aria-pressed", String(muted.video));
  camera.textContent = muted.video ? t("cameraOn") : t("cameraOff");
  view.setLocalCameraOff(muted.video);
}

async function toggle(kind) {
  muted[kind] = !muted[kind];
  if (localStream) for (const track of localStream.getTracks()) if (track.kind === kind) track.enabled = !muted[kind];
  updateControls();
  if (!session) return;
  const sid = session.sidForKind(kind);
  if (sid) roster.trackMuted(roster.self, sid, muted[kind]);
  try {
    await session.setMuted(kind, muted[kind]);
  } catch (err) {
    console.warn(`vidconsult: track.mute failed`, err);
  }
}

async function leave() {
  if (isFinished()) return;
  $("leave-button").disabled = true;
  try {
    if (signaling && signaling.connected) await signaling.request("leave", {}, 3000);
  } catch (err) {
    console.warn("vidconsult: leave failed", err);
  }
  finish("left", t("left"), "left");
  if (signaling) signaling.close();
}

async function endRoom() {
  if (!window.confirm(t("endRoomConfirm"))) return;
  try {
    await signaling.request("admin.end_room", {});
  } catch (err) {
    view.setStatus(err.message, "error");
  }
}

async function removeParticipant(p) {
  if (!window.confirm(t("removeConfirm", { name: p.name }))) return;
  try {
    await signaling.request("admin.remove", { identity: p.identity });
  } catch (err) {
    view.setStatus(err.message, "error");
  }
}

initPrejoin();
