// The call toolbar: mute, camera, leave, end, join again; and the admin's remove.

import { t } from "./i18n.js";
import { room, $ } from "./room-context.js";

export function setupControls() {
  $("mute-button").addEventListener("click", () => toggle("audio"));
  $("camera-button").addEventListener("click", () => toggle("video"));
  $("leave-button").addEventListener("click", leave);
  $("end-button").addEventListener("click", endConsult);
  $("rejoin-button").addEventListener("click", () => location.reload());
  room.on("joined", () => {
    $("end-button").hidden = !room.grants.admin;
    updateControls();
  });
  room.on("finished", ({ state, reason }) => {
    for (const id of ["mute-button", "camera-button", "leave-button", "end-button"]) $(id).disabled = true;
    $("rejoin-button").hidden = !(state === "left" || reason === "io server disconnect");
  });
}

export function updateControls() {
  const stream = room.localStream;
  const has = (kind) => !!stream && stream.getTracks().some((tr) => tr.kind === kind);
  const mute = $("mute-button");
  // observers (and publishers without devices) have nothing to mute
  mute.hidden = !has("audio");
  mute.disabled = !has("audio");
  mute.setAttribute("aria-pressed", String(room.muted.audio));
  mute.textContent = room.muted.audio ? t("unmute") : t("mute");
  const camera = $("camera-button");
  camera.hidden = !has("video");
  camera.disabled = !has("video");
  camera.setAttribute("aria-pressed", String(room.muted.video));
  camera.textContent = room.muted.video ? t("cameraOn") : t("cameraOff");
  room.view.setLocalCameraOff(room.muted.video);
}

export async function toggle(kind) {
  room.muted[kind] = !room.muted[kind];
  if (room.localStream) {
    for (const track of room.localStream.getTracks()) if (track.kind === kind) track.enabled = !room.muted[kind];
  }
  updateControls();
  const session = room.session;
  if (!session) return;
  const sid = session.sidForKind(kind);
  if (sid) room.roster.trackMuted(room.roster.self, sid, room.muted[kind]);
  try {
    await session.setMuted(kind, room.muted[kind]);
  } catch (err) {
    console.warn(`vidconsult: track.mute failed`, err);
  }
}

async function leave() {
  if (room.finished) return;
  $("leave-button").disabled = true;
  try {
    if (room.signaling && room.signaling.connected) await room.signaling.request("leave", {}, 3000);
  } catch (err) {
    console.warn("vidconsult: leave failed", err);
  }
  room.finish("left", t("left"), "left");
  if (room.signaling) room.signaling.close();
}

async function endConsult() {
  if (!window.confirm(t("endConsultConfirm"))) return;
  try {
    await room.signaling.request("admin.end_room", {});
  } catch (err) {
    room.view.setStatus(room.errorText(err), "error");
  }
}

export async function requestMute(p) {
  try {
    await room.signaling.request("admin.mute", { identity: p.identity });
  } catch (err) {
    room.view.setStatus(room.errorText(err), "error");
  }
}

export async function removeParticipant(p) {
  if (!window.confirm(t("removeConfirm", { name: p.name }))) return;
  try {
    await room.signaling.request("admin.remove", { identity: p.identity });
  } catch (err) {
    room.view.setStatus(room.errorText(err), "error");
  }
}
