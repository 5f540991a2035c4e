// The room page's entry: builds the parts, mounts the feature modules, then runs the steps
// (link check -> pre-join -> [lobby] -> live room). Protocol: docs/protocol.md. Token: URL
// fragment, #token=JWT. Extension points for new features: room-context.js.

import { t, endedText } from "./i18n.js";
import { room, $, mountFeatures } from "./room-context.js";
import { Roster } from "./roster.js";
import { RoomView } from "./view.js";
import { JoinTimer } from "./join-timing.js";
import { readToken, showPrejoin, roomIdFromPath } from "./room-prejoin.js";
import { checkLink } from "./room-check.js";
import { connect, preconnect, setupFinish } from "./room-live.js";
import { setupControls, removeParticipant, requestMute } from "./room-controls.js";
import "./room-features.js";

function showRecording(on) {
  const badge = $("recording-indicator");
  if (!badge) return;
  badge.hidden = !on;
  badge.textContent = t("recBadge");
  badge.title = on ? t("recording") : "";
  badge.setAttribute("aria-label", t("recording"));
}

const hooks = {
  state: room.state,
  identity: null,
  room: null,
  // joinClickAt, joinTimes (join click -> first decoded remote VIDEO frame), firstFrameAt,
  // frameSource, joinStages: see join-timing.js
  reason: null,
  page: room, // the page object itself (room-context.js), for tests
  // simulate a network blip (tests, support): the socket drops and the page joins again
  dropConnection: () => room.signaling && room.signaling.socket.io.engine && room.signaling.socket.io.engine.close(),
};
room.hooks = hooks;
window.vidconsult = hooks;
room.joinTimer = new JoinTimer(hooks);

room.view = new RoomView({
  tiles: $("tiles"),
  participants: $("participants"),
  status: $("status"),
  onRemove: (p) => removeParticipant(p),
  onMute: (p) => requestMute(p),
  onFirstRemoteFrame: (identity, source) => room.joinTimer.firstVideoFrame(identity, source),
});
room.roster = new Roster();
room.roster.addEventListener("change", () => room.view.renderRoster(room.roster, { canAdmin: room.grants.admin }));

/** Every static text of room.html from the one string table (data-i18n, data-i18n-label). */
function translatePage() {
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
  document.title = `vidconsult — ${t("title")}`;
}

/** Into the room: the pre-join step gives way to the tiles, and the keyboard focus follows. */
function enter() {
  $("prejoin").hidden = true;
  $("room").hidden = false;
  $("room-heading").focus();
  if (room.localStream) {
    // our own image right away: on a slow link joining can take a while
    const { claims } = room;
    room.view.showLocal({ identity: claims.identity, name: claims.name, role: claims.role,
      grants: room.grants, tracks: [] }, room.localStream);
  }
  connect(roomIdFromPath());
}

// a recording in progress is always visible (docs/protocol.md: recording.*)
room.onSignal("recording.started", () => showRecording(true));
room.onSignal("recording.stopped", () => showRecording(false));

// removed, declined, ended: the room gives way to a card that says so and whom to call
room.on("finished", ({ state, reason }) => {
  showRecording(false);
  if (!["removed", "declined", "ended"].includes(state)) return;
  $("room").hidden = true;
  $("prejoin").hidden = true;
  $("blocked").hidden = false;
  $("blocked-heading").textContent = t(state === "ended" ? "consultEnded" : "blockedHeading");
  // ended: why (a withdrawn emergency says by whom), else what comes next: the heading
  // already says "the consultation has ended", a second copy of it tells nobody anything
  const why = state === "ended" ? endedText(reason) : t(state);
  $("blocked-reason").textContent = why === t("consultEnded") ? t("endedNext") : why;
  $("blocked-reason").hidden = false;
  $("blocked-times").replaceChildren();
  const phone = room.check?.centre?.phone;
  $("blocked-call").textContent = phone ? t("callCentre", { phone }) : t("askCentre");
  $("blocked-heading").focus();
});

/** The steps: the link check first (no camera before it passes), then the pre-join step. */
async function start() {
  if (!readToken()) {
    await checkLink(() => {}); // refused by the server: the card says why and whom to call
    return;
  }
  const prejoin = (check) => {
    showPrejoin(check, enter);
    // the socket opens while the person is on the pre-join step (room-live.js preconnect)
    preconnect(roomIdFromPath());
  };
  const check = await checkLink(prejoin);
  if (check) prejoin(check);
}

translatePage();
setupFinish();
setupControls();
mountFeatures();
start();
