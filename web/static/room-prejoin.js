// The pre-join step: who you are, the camera and microphone check, the Join button.

import { t, roleName, htmlLang } from "./i18n.js";
import { room, $ } from "./room-context.js";
import { tokenFromHash, decodeTokenPayload, describeToken } from "./token.js";

export function roomIdFromPath(pathname = location.pathname) {
  const match = pathname.match(/\/room\/([^/]+)\/?$/);
  return match ? decodeURIComponent(match[1]) : null;
}

let previewReady = Promise.resolve();

/** Read the token; false (and the page in "error") when there is none to read. */
export function readToken() {
  document.documentElement.lang = htmlLang;
  room.token = tokenFromHash();
  if (!room.token) {
    room.finish("error", t("noToken"), "token_missing");
    return false;
  }
  try {
    room.claims = describeToken(decodeTokenPayload(room.token));
  } catch {
    room.finish("error", t("badToken"), "token_malformed");
    return false;
  }
  room.hooks.identity = room.claims.identity;
  room.hooks.room = room.claims.room ?? roomIdFromPath();
  room.grants = room.claims.grants;
  return true;
}

/** Show the pre-join step; `onJoin` runs once on the Join click, after the preview is ready. */
export function showPrejoin(onJoin) {
  const { claims } = room;
  $("me-name").textContent = claims.name;
  $("me-role").textContent = roleName(claims.role);
  $("me-room").textContent = room.hooks.room ?? "—";
  $("room-title").textContent = t("roomLabel", { room: room.hooks.room ?? "" });
  if (room.grants.publish) {
    previewReady = startPreview();
  } else {
    // observers and recorders never touch the camera or microphone
    $("preview").hidden = true;
    $("observer-note").textContent = t("observerNote", { role: roleName(claims.role) });
  }
  const button = $("join-button");
  button.disabled = false;
  button.addEventListener("click", async () => {
    room.joinTimer.click();
    button.disabled = true;
    await previewReady;
    $("preview-video").srcObject = null;
    onJoin();
  }, { once: true });
  room.setState("prejoin");
  room.view.setStatus("");
  room.emit("prejoin", { claims, check: room.check });
  // a workspace that answered an emergency page (or a unit's "join the room") goes straight
  // in: #token=...&join=now
  if (new URLSearchParams(location.hash.replace(/^#/, "")).get("join") === "now") button.click();
}

async function startPreview() {
  const previewStatus = $("preview-status");
  if (!window.isSecureContext) {
    // browsers give the camera only to secure pages: https://, or localhost on this machine
    previewStatus.textContent = t("previewInsecure");
    return;
  }
  previewStatus.textContent = t("previewStarting");
  // 960x540 is the smallest size browsers send three simulcast layers of (session.js); a
  // weak uplink drops the upper layers, a weak subscriber gets a lower one (docs/media.md)
  const video = {
    width: { ideal: 960 },
    height: { ideal: 540 },
    frameRate: { ideal: 30, max: 30 },
  };
  try {
    room.localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
    previewStatus.textContent = t("previewReady");
  } catch {
    try {
      room.localStream = await navigator.mediaDevices.getUserMedia({ audio: true });
      previewStatus.textContent = t("previewAudioOnly");
    } catch {
      room.localStream = null;
      previewStatus.textContent = t("previewFailed");
    }
  }
  if (room.localStream) {
    const preview = $("preview-video");
    preview.muted = true;
    preview.srcObject = room.localStream;
    preview.play().catch(() => {});
  }
}
