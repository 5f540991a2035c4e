// The room page's entry: builds the parts, mounts the feature modules, then runs the steps
// (link check -> pre-join -> [lobby] -> live room). Protocol: docs/protocol.md. Token: URL
// fragment, #token=JWT. Extension points for new features: room-context.js.

import { t } from "./i18n.js";
import { room, $, mountFeatures } from "./room-context.js";
import { Roster } from "./roster.js";
import { RoomView } from "./view.js";
import { JoinTimer } from "./join-timing.js";
import { readToken, showPrejoin, roomIdFromPath } from "./room-prejoin.js";
import { connect, preconnect, setupFinish } from "./room-live.js";
import { setupControls, removeParticipant } from "./room-controls.js";
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
  onFirstRemoteFrame: (identity, source) => room.joinTimer.firstVideoFrame(identity, source),
});
room.roster = new Roster();
room.roster.addEventListener("change", () => room.view.renderRoster(room.roster, { canAdmin: room.grants.admin }));

function translatePage() {
  $("join-button").textContent = t("joinButton");
  $("leave-button").textContent = t("leave");
  $("end-button").textContent = t("endConsult");
  $("rejoin-button").textContent = t("rejoin");
  $("participants-heading").textContent = t("participants");
}

/** Into the room: the pre-join step gives way to the tiles, focus follows. */
function enter() {
  $("prejoin").hidden = true;
  $("room").hidden = false;
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

translatePage();
setupFinish();
setupControls();
mountFeatures();
room.setState("prejoin");
if (readToken()) {
  showPrejoin(enter);
  preconnect(roomIdFromPath());
}
