// DOM rendering of the room: one tile per remote participant, our own preview, the
// participants list and the status line. No signaling or WebRTC logic lives here.

import { t, roleName } from "./i18n.js";
import { mediaState } from "./roster.js";
import { onFirstVideoFrame } from "./join-timing.js";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("data-") || name.startsWith("aria-") || name === "role") {
      node.setAttribute(name, value === true ? "" : value);
    } else node[name] = value;
  }
  node.append(...children);
  return node;
}

/** `state`: what the participant's tile shows (tileState), for a remote one with a tile. */
function badgesFor(participant, state = null) {
  const media = mediaState(participant);
  const badges = [];
  // its connection dropped: the server holds its seat for a rejoin (docs/protocol.md)
  if (participant.reconnecting) badges.push(t("reconnectingBadge"));
  // its place in the queue of hands (the order they went up: docs/protocol.md, hand.raised)
  if (participant.hand_raised) badges.push(t("handRaisedBadge", { n: participant.hand_position ?? 1 }));
  if (media.audio === "muted") badges.push(t("micOff"));
  if (media.video === "muted") badges.push(t("camOff"));
  if (state === "audio-only") badges.push(t("audioOnlyBadge"));
  if (media.audio === "none" && media.video === "none" && participant.grants.publish &&
    !participant.reconnecting) {
    badges.push(t("noMedia"));
  }
  return badges;
}

// What a remote tile shows while it has no picture, from the tracks the server lists for the
// participant (join reply, track.published / unpublished / muted; docs/protocol.md), never
// from a timeout: a camera published but not yet decoded ("waiting"); no camera published but
// a microphone, and its media received ("audio-only": joined with audio only, camera refused
// or absent; `received`: the server announces a publisher's tracks one by one, audio first,
// then offers them together, so a camera participant is not "audio only" in between); a
// camera turned off ("camera-off": the picture is hidden, the sound plays on); a camera we do
// not receive because we chose audio only (`videoPaused`, subscribe.audio_only: "paused").
const TILE_TEXT = { waiting: "waitingVideo", "audio-only": "audioOnlyTile", "camera-off": "cameraOffTile",
  paused: "videoPausedTile" };

export function tileState(participant, { received = true, videoPaused = false } = {}) {
  // a shared screen has a tile of its own: this one is about the camera and the microphone
  const tracks = participant.tracks.filter((tr) => tr.source !== "screen" && tr.source !== "screen_audio");
  const media = mediaState({ ...participant, tracks });
  if (media.video === "muted") return "camera-off";
  if (media.video === "none" && media.audio !== "none") return received ? "audio-only" : "waiting";
  if (media.video === "on" && videoPaused) return "paused";
  return "waiting";
}

export class RoomView {
  constructor({ tiles, participants, status, onRemove = null, onMute = null, onFirstRemoteFrame = null }) {
    this.tilesEl = tiles;
    this.participantsEl = participants;
    this.statusEl = status;
    this.onRemove = onRemove;
    this.onMute = onMute;
    this.onFirstRemoteFrame = onFirstRemoteFrame;
    this.tiles = new Map(); // identity -> {tile, media, label, video}
    this.speaking = new Set(); // who speaks now (room-speaking.js): their tile and list entry say so
    this.screens = new Map(); // identity -> {tile, video}: shared screens, each its own tile
    this.localTile = null;
    this.videoPaused = false; // we receive no video (subscribe.audio_only): room-network.js
    this.lastRoster = null; // [roster, options] of the last renderRoster, to badge it again
  }

  /** We chose audio only (no video is sent to us): the tiles say so instead of "waiting". */
  setVideoPaused(paused) {
    this.videoPaused = paused;
    this._refresh();
  }

  _stateOf(identity, participant) {
    const entry = this.tiles.get(identity);
    return tileState(participant, { received: !!(entry && entry.stream), videoPaused: this.videoPaused });
  }

  _refresh() {
    if (this.lastRoster) this.renderRoster(...this.lastRoster);
  }

  setStatus(text, tone = "info") {
    this.statusEl.textContent = text;
    this.statusEl.dataset.tone = tone;
  }

  // ---- our own preview --------------------------------------------------------------------

  showLocal(participant, stream) {
    if (this.localTile) this.localTile.remove();
    const video = el("video", {
      "data-testid": "local-video",
      autoplay: true,
      playsInline: true,
      muted: true,
      "aria-label": `${participant.name} (${t("you")})`,
    });
    video.muted = true; // the attribute alone only sets defaultMuted
    video.srcObject = stream;
    const label = el("p", { class: "tile-label" });
    // our own level while we speak (room-speaking.js): a meter, read out only when looked at
    const level = el("meter", { class: "local-level", "data-testid": "local-level", min: 0, max: 1,
      low: 0.05, high: 0.8, optimum: 0.3, value: 0, "aria-label": t("yourMicLevel") });
    this.localTile = el("article", { class: "tile local", "data-participant": participant.identity,
      "data-speaking": "false" }, el("div", { class: "tile-media" }, video, level), label);
    this.localTile.label = label;
    this.localTile.level = level;
    this.tilesEl.prepend(this.localTile);
    this._label(label, participant, true);
    video.play().catch(() => {});
  }

  setLocalCameraOff(off) {
    if (this.localTile) this.localTile.classList.toggle("camera-off", off);
  }

  /** Our own microphone's level (0..1; 0 while muted) and whether we are speaking. */
  setLocalLevel(level, speaking) {
    if (!this.localTile) return;
    this.localTile.level.value = level;
    this.localTile.dataset.speaking = String(!!speaking);
  }

  // ---- who is speaking (room-speaking.js) -------------------------------------------------

  /** A remote participant speaks (or stopped): a ring around the tile and a word on it. The
   * word is in the tile, not a live region: a screen reader finds it on the tile without
   * hearing every pause of a conversation read out. */
  setSpeaking(identity, speaking) {
    if (speaking) this.speaking.add(identity);
    else this.speaking.delete(identity);
    // the participants list too: in a long list (or with the tiles scrolled away) the name says it
    const li = [...this.participantsEl.children].find((x) => x.dataset.participant === identity);
    if (li) this._speakingMark(li, !!speaking);
    const entry = this.tiles.get(identity);
    if (!entry) return;
    entry.tile.dataset.speaking = String(!!speaking);
    entry.speakingCue.hidden = !speaking;
  }

  _speakingMark(li, speaking) {
    li.dataset.speaking = String(speaking);
    const mark = li.querySelector(".speaking-mark");
    if (mark) mark.hidden = !speaking;
  }

  /** The active speaker of a grid of 4+ (null: none): its tile first and larger. */
  setActiveSpeaker(identity) {
    this.tilesEl.classList.toggle("speaker-layout", identity != null);
    for (const [id, entry] of this.tiles) entry.tile.classList.toggle("active-speaker", id === identity);
  }

  // ---- remote tiles -----------------------------------------------------------------------

  ensureTile(identity, participant) {
    let entry = this.tiles.get(identity);
    if (!entry) {
      const placeholder = el("p", { class: "placeholder", "data-testid": "tile-placeholder",
        text: t("waitingVideo") });
      const media = el("div", { class: "tile-media" }, placeholder);
      const label = el("p", { class: "tile-label" });
      const speakingCue = el("p", { class: "speaking-cue", "data-testid": "speaking-cue", hidden: true,
        text: t("speaking") });
      const tile = el("article", { class: "tile", "data-participant": identity,
        "data-media": "waiting", "data-speaking": "false" }, media, speakingCue, label);
      entry = { identity, tile, media, label, placeholder, speakingCue, video: null, stream: null };
      this.tiles.set(identity, entry);
      this.tilesEl.append(tile);
    }
    if (participant) this._remoteLabel(entry, participant);
    return entry;
  }

  _remoteLabel(entry, participant) {
    const state = this._stateOf(entry.identity, participant);
    entry.tile.dataset.media = state;
    // no picture to show (or only a frozen one): hide it, say why; its sound plays on
    entry.tile.classList.toggle("no-picture", state === "camera-off" || state === "paused");
    entry.placeholder.textContent = t(TILE_TEXT[state]);
    this._label(entry.label, participant, false, state);
    if (state !== "waiting") {
      // a screen reader hears it with the name, as a sighted person sees it on the tile
      entry.tile.setAttribute("aria-label",
        `${participant.name}, ${roleName(participant.role)}, ${t(TILE_TEXT[state])}`);
    }
  }

  /** Show `stream` (a publisher's audio+video) in its tile; null removes the media. */
  setRemoteStream(identity, participant, stream) {
    if (!stream && !this.tiles.has(identity)) return;
    const entry = this.ensureTile(identity, participant);
    const received = !!entry.stream;
    entry.stream = stream;
    if (received !== !!stream) this._refresh(); // its tile's state and its badge in the list
    if (!stream) {
      if (entry.video) {
        entry.video.srcObject = null;
        entry.video.remove();
        entry.video = null;
      }
      entry.tile.classList.remove("has-video");
      return;
    }
    if (!entry.video) {
      const video = el("video", { "data-identity": identity, autoplay: true, playsInline: true,
        "aria-label": participant ? participant.name : identity });
      entry.video = video;
      entry.media.prepend(video);
      // the join time ends at the first decoded video frame (join-timing.js)
      onFirstVideoFrame(video, (source) => {
        if (this.onFirstRemoteFrame) this.onFirstRemoteFrame(identity, source);
      });
    }
    entry.tile.classList.toggle("has-video", stream.getVideoTracks().length > 0);
    entry.video.srcObject = stream;
    this._play(entry);
  }

  _play(entry) {
    const video = entry.video;
    video.play().catch((error) => {
      if (error.name !== "NotAllowedError" || entry.media.querySelector(".play-blocked")) return;
      // autoplay with sound refused: keep the sound on, ask for one click
      const button = el("button", { type: "button", class: "play-blocked", text: t("playBlocked") });
      button.addEventListener("click", () => {
        button.remove();
        for (const other of this.tiles.values()) {
          if (other.video) other.video.play().catch(() => {});
        }
      });
      entry.media.append(button);
    });
  }

  // ---- shared screens: each its own large tile (presenter layout, room.css) -------------

  /** Show the screen `identity` shares (null: it stopped); `isSelf` for our own share. */
  setScreenStream(identity, participant, stream, { isSelf = false } = {}) {
    const known = this.screens.get(identity);
    if (!stream) {
      if (known) {
        known.video.srcObject = null;
        known.tile.remove();
        this.screens.delete(identity);
      }
      return;
    }
    const name = participant ? participant.name : identity;
    const label = isSelf ? t("yourScreen") : t("screenOf", { name });
    if (!known) {
      const video = el("video", { autoplay: true, playsInline: true, muted: true, "aria-label": label,
        "data-screen-video": identity });
      video.muted = true; // its sound, if any, plays in the camera tile's element
      const tile = el("article", { class: isSelf ? "tile screen local-screen" : "tile screen",
        "data-screen": identity, "data-testid": "screen-tile", "aria-label": label },
      el("div", { class: "tile-media" }, video),
      el("p", { class: "tile-label" }, el("span", { class: "name", text: label })));
      this.screens.set(identity, { tile, video });
      this.tilesEl.prepend(tile);
    }
    const entry = this.screens.get(identity);
    entry.video.srcObject = stream;
    entry.video.play().catch(() => {});
  }

  removeTile(identity) {
    this.setScreenStream(identity, null, null);
    const entry = this.tiles.get(identity);
    if (!entry) return;
    if (entry.video) entry.video.srcObject = null;
    entry.tile.remove();
    this.tiles.delete(identity);
  }

  clear() {
    for (const identity of [...this.tiles.keys()]) this.removeTile(identity);
    for (const identity of [...this.screens.keys()]) this.setScreenStream(identity, null, null);
    if (this.localTile) {
      const video = this.localTile.querySelector("video");
      if (video) video.srcObject = null;
      this.localTile.remove();
      this.localTile = null;
    }
    this.participantsEl.replaceChildren();
    this.lastRoster = null;
  }

  _label(label, participant, isSelf, state = null) {
    const name = isSelf ? `${participant.name} (${t("you")})` : participant.name;
    const badges = badgesFor(participant, state);
    label.replaceChildren(
      el("span", { class: "name", text: name }),
      el("span", { class: "role", text: roleName(participant.role) }),
      ...badges.map((b) => el("span", { class: "badge", text: b })),
    );
    label.closest(".tile")?.setAttribute("aria-label", `${participant.name}, ${roleName(participant.role)}`);
  }

  // ---- participants list ------------------------------------------------------------------

  renderRoster(roster, { canAdmin = false } = {}) {
    this.lastRoster = [roster, { canAdmin }];
    const items = roster.list().map((p) => {
      const isSelf = p.identity === roster.self;
      const media = mediaState(p);
      const state = isSelf || !this.tiles.has(p.identity) ? null : this._stateOf(p.identity, p);
      const speaking = !isSelf && this.speaking.has(p.identity);
      const info = el("span", { class: "info" },
        el("span", { class: "name", text: isSelf ? `${p.name} (${t("you")})` : p.name }),
        el("span", { class: "role", text: roleName(p.role) }),
        ...badgesFor(p, state).map((b) => el("span", { class: "badge", text: b })),
        el("span", { class: "speaking-mark", "data-testid": "speaking-mark", hidden: !speaking,
          text: t("speaking") }));
      const li = el("li", {
        "data-participant": p.identity,
        "data-audio": media.audio,
        "data-video": media.video,
        "data-reconnecting": !!p.reconnecting,
        "data-speaking": String(speaking),
      }, info);
      if (canAdmin && !isSelf && this.onMute && media.audio === "on") {
        const mute = el("button", { type: "button", class: "remove", text: t("muteAsk"),
          "aria-label": t("muteAskLabel", { name: p.name }), "data-testid": "mute-request" });
        mute.addEventListener("click", () => this.onMute(p));
        li.append(mute);
      }
      if (canAdmin && !isSelf && this.onRemove) {
        const button = el("button", { type: "button", class: "remove", text: t("remove"),
          "aria-label": t("removeLabel", { name: p.name }), "data-testid": "remove-button" });
        button.addEventListener("click", () => this.onRemove(p));
        li.append(button);
      }
      return li;
    });
    this.participantsEl.replaceChildren(...items);
    // labels of tiles follow the roster (mute badges, late participant.joined)
    for (const [identity, entry] of this.tiles) {
      const p = roster.get(identity);
      if (p) this._remoteLabel(entry, p);
    }
    const self = roster.get(roster.self);
    if (this.localTile && self) this._label(this.localTile.label, self, true);
  }
}
