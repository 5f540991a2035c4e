// The room page's shared state and its extension points. Every room module imports this one;
// none imports another module's internals. A feature (chat, screen share, lobby, ...) is a
// module that calls registerFeature() and then reacts to the page's events:
//
//   import { registerFeature } from "./room-context.js";
//   registerFeature({ name: "chat", mount(room) { room.on("joined", ...); room.onSignal("chat.message", ...); } });
//
// and is listed once in room-features.js. Page events (room.on(name, handler), detail in
// event.detail):
//   "state"    {state, previous}        every change of room.state (see STATES)
//   "prejoin"  {claims, check}          the link check passed; the pre-join step is shown
//   "joined"   {reply, session}         the join reply arrived (again after a reconnect)
//   "finished" {state, reason}          left, removed, ended or error: the page is done
//   "lobby"    {reply}                  held in the waiting room (room-lobby.js)
//   "remote-media" {identity}           a remote stream was attached to its tile
// Signaling events: room.onSignal(name, handler) works before and after the socket exists.
// UI slots: room.addControl(button) puts a button in the call toolbar, room.addPanel(element)
// a panel beside the tiles, room.addPrejoin(element) a block in the pre-join step.

import { errorText as sharedErrorText } from "./i18n.js";

export const STATES = [
  "checking", "early", "blocked", "prejoin", "lobby", "connecting", "joined", "reconnecting",
  "left", "removed", "declined", "ended", "error",
];
export const FINISHED = new Set(["blocked", "left", "removed", "declined", "ended", "error"]);

export const $ = (id) => document.getElementById(id);

/** A person's sentence for a server error ({code, message} or a SignalingError): the code's
 * text from the i18n table's `errors` group (the room page's `roomErrors` first); never the raw
 * code or the server's English. */
export function errorText(err) {
  return sharedErrorText(err, "roomErrors");
}

/** The one room of this page: its state, its parts, and the hooks features use. */
class RoomPage extends EventTarget {
  constructor() {
    super();
    this.state = "checking";
    this.token = null;
    this.claims = null; // display facts from the token (token.js describeToken)
    this.check = null; // the server's answer to GET /api/v1/join/check
    this.grants = { publish: false, subscribe: false, admin: false };
    this.localStream = null;
    this.signaling = null;
    this.session = null;
    this.view = null;
    this.roster = null;
    this.muted = { audio: false, video: false };
    this.features = [];
    this.reason = null;
    this.joinPayload = {}; // extra fields of the `join` request (display name, consent, ...)
    // hooks for tests and for support staff looking at a console on a consult-room PC
    this.hooks = null;
    // join click -> first remote video frame, and the join's stages (join-timing.js)
    this.joinTimer = null;
    this._signalHandlers = []; // [name, handler] attached to every Signaling
  }

  /** Subscribe to a page event; returns the unsubscribe function. */
  on(name, handler) {
    const listener = (event) => handler(event.detail ?? {});
    this.addEventListener(name, listener);
    return () => this.removeEventListener(name, listener);
  }

  emit(name, detail = {}) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  setState(next) {
    const previous = this.state;
    this.state = next;
    if (this.hooks) this.hooks.state = next;
    if (typeof document !== "undefined") document.body.dataset.state = next;
    if (previous !== next) this.emit("state", { state: next, previous });
  }

  /** The payload of the `join` request. */
  joinOptions() {
    return { ...this.joinPayload };
  }

  errorText(err) {
    return errorText(err);
  }

  /** End the page in `state` (left, removed, declined, ended, error, blocked) with `text`. */
  finish(state, text, reason = null) {
    if (this.finished) return;
    this.reason = reason;
    if (this.hooks) this.hooks.reason = reason;
    this.setState(state);
    this.emit("finished", { state, reason });
    if (this.view) this.view.setStatus(text, state === "left" ? "info" : "error");
  }

  get finished() {
    return FINISHED.has(this.state);
  }

  /** Handle a signaling event, on the current socket and on any later one. */
  onSignal(name, handler) {
    this._signalHandlers.push([name, handler]);
    if (this.signaling) this.signaling.on(name, handler);
  }

  /** Attach the registered signaling handlers to a new Signaling instance. */
  attachSignaling(signaling) {
    this.signaling = signaling;
    for (const [name, handler] of this._signalHandlers) signaling.on(name, handler);
  }

  addControl(button) {
    const bar = $("controls");
    bar.insertBefore(button, $("leave-button"));
  }

  addPanel(element) {
    $("panels").append(element);
  }

  addPrejoin(element) {
    $("prejoin-extra").append(element);
  }
}

export const room = new RoomPage();

/** Register a feature module; mounted once the page's parts exist (room.js). */
export function registerFeature(feature) {
  if (!feature || typeof feature.mount !== "function") throw new TypeError("a feature needs mount(room)");
  room.features.push(feature);
}

export function mountFeatures() {
  for (const feature of room.features) {
    try {
      feature.mount(room);
    } catch (err) {
      console.error(`vidconsult: feature ${feature.name} failed to mount`, err);
    }
  }
}
