// The pre-join step, once the link check passed: who you will meet and when, your name, the
// camera / microphone / speaker choice with a level meter and a test sound, what to do when the
// camera is blocked, the recording notice and consent, and the Join button.

import { t, roleName, htmlLang } from "./i18n.js";
import { room, $ } from "./room-context.js";
import { tokenFromHash, decodeTokenPayload, describeToken } from "./token.js";
import { timesList } from "./room-check.js";
import { MicCheck } from "./speaking.js";
import { followChosenName } from "./device-names.js";

export function roomIdFromPath(pathname = location.pathname) {
  const match = pathname.match(/\/room\/([^/]+)\/?$/);
  return match ? decodeURIComponent(match[1]) : null;
}

let previewReady = Promise.resolve();
const devices = { video: null, audio: null, speaker: null }; // chosen deviceIds
let meter = null; // {context, timer}
let audioOnly = false;
let consent = null; // true, false, or null (not asked / not answered)

/** Read the token; false when there is none, or none that can be read (the link check
 * then shows why on the card). */
export function readToken() {
  document.documentElement.lang = htmlLang;
  room.token = tokenFromHash();
  // a link without a token, or with one cut off: the link check says so on the card, with
  // the centre's number (room-check.js), not a line in the bar over an empty page
  if (!room.token) return false;
  try {
    room.claims = describeToken(decodeTokenPayload(room.token));
  } catch {
    return false;
  }
  room.hooks.identity = room.claims.identity;
  room.hooks.room = room.claims.room ?? roomIdFromPath();
  room.grants = room.claims.grants;
  return true;
}

/** Show the pre-join step for a passed link check; `onJoin` runs once on the Join click. */
export function showPrejoin(check, onJoin) {
  const { claims } = room;
  const you = check.you || { name: claims.name, role: claims.role };
  $("prejoin").hidden = false;
  $("me-name").textContent = you.name;
  $("me-role").textContent = roleName(you.role);
  $("me-room").textContent = check.room?.name ?? room.hooks.room ?? "—";
  $("room-title").textContent = check.room?.name ?? t("roomLabel", { room: room.hooks.room ?? "" });
  showMeet(check);
  $("display-name").value = you.name;
  setupConsent(check);
  if (room.grants.publish) {
    setupDevices();
    previewReady = startPreview();
  } else {
    // observers and recorders never touch the camera or microphone
    $("devices").hidden = true;
    $("observer-note").textContent = t("observerNote", { role: roleName(claims.role) });
  }
  const button = $("join-button");
  updateJoinButton();
  button.addEventListener("click", async () => {
    room.joinTimer.click();
    button.disabled = true;
    await previewReady;
    stopMeter();
    $("preview-video").srcObject = null;
    const name = $("display-name").value.trim();
    if (name && name !== you.name) room.joinPayload.name = name;
    if (consent !== null) room.joinPayload.consent = consent;
    onJoin();
  }, { once: true });
  room.setState("prejoin");
  room.emit("prejoin", { claims, check });
  // a workspace that answered an emergency page (or a unit's "join the room") goes straight
  // in: #token=...&join=now (unless a consent question waits for its answer)
  if (new URLSearchParams(location.hash.replace(/^#/, "")).get("join") === "now" && !button.disabled) {
    button.click();
  }
}

function showMeet(check) {
  const box = $("meet");
  const heading = document.createElement("h3");
  heading.textContent = t("meetHeading");
  const list = document.createElement("ul");
  for (const person of check.meet || []) {
    const li = document.createElement("li");
    li.textContent = t("meetPerson", { name: person.name, role: roleName(person.role) });
    list.append(li);
  }
  if (!list.children.length) {
    // nobody booked by name: a patient meets the centre's doctor or expert; the expert (or
    // anyone else) meets whoever the centre invited, not "the centre's expert", themselves
    const li = document.createElement("li");
    const role = check.you?.role ?? room.claims?.role;
    li.textContent = t(role === "patient" ? "meetCentre" : "meetInvited");
    list.append(li);
  }
  box.replaceChildren(heading, list, ...[timesList(check)].filter(Boolean));
}

// ---- recording notice and consent --------------------------------------------------------

function setupConsent(check) {
  const rec = check.recording || {};
  if (rec.ask_consent) {
    $("consent").hidden = false;
    $("consent-text").textContent = t("consentText");
    for (const id of ["consent-yes", "consent-no"]) {
      $(id).addEventListener("change", () => {
        consent = $("consent-yes").checked;
        const stayOut = consent === false && rec.on_refusal === "stay_out";
        $("consent-outcome").textContent = consent ? "" : t(stayOut ? "consentRefusedStay" : "consentRefusedJoin");
        updateJoinButton();
      });
    }
  } else if (rec.records) {
    $("record-notice").hidden = false;
    $("record-notice").textContent = t("recordNotice");
  }
}

function updateJoinButton() {
  const rec = room.check?.recording || {};
  const button = $("join-button");
  let blocked = false;
  if (rec.ask_consent && consent === null) {
    blocked = true;
    $("consent-outcome").textContent = t("consentFirst");
  } else if (rec.ask_consent && consent === false && rec.on_refusal === "stay_out") {
    blocked = true;
  }
  button.disabled = blocked;
}

// ---- camera, microphone, speaker ---------------------------------------------------------

function setupDevices() {
  $("camera-retry").addEventListener("click", () => {
    audioOnly = false;
    previewReady = startPreview();
  });
  $("audio-only-join").addEventListener("click", () => {
    audioOnly = true;
    previewReady = startPreview();
  });
  $("camera-select").addEventListener("change", (ev) => {
    devices.video = ev.target.value || null;
    previewReady = startPreview();
  });
  $("mic-select").addEventListener("change", (ev) => {
    devices.audio = ev.target.value || null;
    previewReady = startPreview();
  });
  $("speaker-select").addEventListener("change", (ev) => {
    devices.speaker = ev.target.value || null;
    applySpeaker();
  });
  $("speaker-test").addEventListener("click", playTestSound);
  // a long device name, cut off in its select, is written out under it
  for (const kind of ["camera", "mic", "speaker"]) {
    followChosenName($(`${kind}-select`), $(`${kind}-name`));
  }
  // the chosen speaker for every remote tile, as tiles come and go
  room.on("remote-media", () => applySpeaker());
}

function stopStream() {
  stopMeter();
  if (room.localStream) for (const track of room.localStream.getTracks()) track.stop();
  room.localStream = null;
}

async function startPreview() {
  const status = $("preview-status");
  $("camera-help").hidden = true;
  if (!window.isSecureContext) {
    // browsers give the camera only to secure pages: https://, or localhost on this machine
    status.textContent = t("previewInsecure");
    return;
  }
  stopStream();
  status.textContent = t("previewStarting");
  const audio = devices.audio ? { deviceId: { exact: devices.audio } } : true;
  // 960x540 is the smallest size browsers send three simulcast layers of (session.js); a
  // weak uplink drops the upper layers, a weak subscriber gets a lower one (docs/media.md)
  const video = audioOnly ? false : {
    width: { ideal: 960 },
    height: { ideal: 540 },
    frameRate: { ideal: 30, max: 30 },
    ...(devices.video ? { deviceId: { exact: devices.video } } : {}),
  };
  try {
    room.localStream = await navigator.mediaDevices.getUserMedia({ audio, video });
    status.textContent = audioOnly ? t("audioOnlyChosen") : t("previewReady");
  } catch (first) {
    if (first.name === "NotAllowedError" || first.name === "SecurityError") {
      // blocked by the person or the browser: say how to allow it, offer the ways on
      status.textContent = "";
      $("camera-help-text").textContent = audioOnly ? t("micDenied") : t("cameraDenied");
      $("camera-help").hidden = false;
      $("preview").hidden = true;
      $("audio-only-join").hidden = audioOnly;
      room.hooks.cameraDenied = true;
      return;
    }
    try {
      room.localStream = await navigator.mediaDevices.getUserMedia({ audio });
      status.textContent = t("previewAudioOnly");
    } catch {
      room.localStream = null;
      status.textContent = t("previewFailed");
    }
  }
  if (room.localStream) room.emit("local-stream", { stream: room.localStream });
  const preview = $("preview-video");
  preview.muted = true;
  preview.srcObject = room.localStream;
  preview.play().catch(() => {});
  $("preview").hidden = !room.localStream || !room.localStream.getVideoTracks().length;
  await listDevices();
  startMeter(room.localStream);
}

async function listDevices() {
  if (!navigator.mediaDevices.enumerateDevices) return;
  const all = await navigator.mediaDevices.enumerateDevices();
  const current = (kind) => room.localStream?.getTracks().find((tr) => tr.kind === kind)?.getSettings().deviceId;
  fillSelect($("camera-select"), all.filter((d) => d.kind === "videoinput"), current("video"), t("cameraLabel"));
  fillSelect($("mic-select"), all.filter((d) => d.kind === "audioinput"), current("audio"), t("micLabel"));
  const speakers = all.filter((d) => d.kind === "audiooutput");
  const canChoose = typeof HTMLMediaElement.prototype.setSinkId === "function";
  fillSelect($("speaker-select"), speakers, devices.speaker, t("speakerLabel"), !canChoose);
  $("device-choice").hidden = false;
}

function fillSelect(select, list, chosen, kindLabel, disabled = false) {
  const options = list.map((device, i) => {
    const option = document.createElement("option");
    option.value = device.deviceId;
    option.textContent = device.label || t("deviceUnnamed", { kind: kindLabel, n: i + 1 });
    option.selected = device.deviceId === chosen;
    return option;
  });
  if (!options.length) {
    const option = document.createElement("option");
    option.value = "";
    option.textContent = t("deviceDefault");
    options.push(option);
  }
  select.replaceChildren(...options);
  select.disabled = disabled || options.length < 2;
}

function applySpeaker() {
  if (!devices.speaker) return;
  for (const el of document.querySelectorAll("#tiles video, #tiles audio")) {
    if (typeof el.setSinkId === "function") el.setSinkId(devices.speaker).catch(() => {});
  }
}

async function playTestSound() {
  const button = $("speaker-test");
  button.disabled = true;
  button.textContent = t("speakerTestPlaying");
  try {
    const context = new AudioContext();
    const destination = context.createMediaStreamDestination();
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = 660;
    gain.gain.value = 0.2;
    tone.connect(gain).connect(destination);
    const audio = new Audio();
    audio.srcObject = destination.stream;
    if (devices.speaker && typeof audio.setSinkId === "function") await audio.setSinkId(devices.speaker);
    tone.start();
    await audio.play();
    room.hooks.speakerTests = (room.hooks.speakerTests || 0) + 1;
    await new Promise((resolve) => setTimeout(resolve, 800));
    tone.stop();
    audio.pause();
    await context.close();
  } catch (err) {
    console.warn("vidconsult: speaker test failed", err);
  } finally {
    button.disabled = false;
    button.textContent = t("speakerTest");
  }
}

// The microphone check: the level meter, then "we can hear you" once sound came in, or after
// ~5 s of measured silence what to check (speaking.js MicCheck). A browser that starts audio
// only after a click (autoplay policy) measures nothing until then: a button asks for the click,
// and the silence is not counted meanwhile.
function startMeter(stream) {
  stopMeter();
  if (!stream || !stream.getAudioTracks().length || typeof AudioContext !== "function") return;
  const context = new AudioContext();
  const analyser = context.createAnalyser();
  // ~85 ms of sound per 100 ms tick: short sounds between two ticks still show
  analyser.fftSize = 4096;
  context.createMediaStreamSource(stream).connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const el = $("mic-level");
  const start = $("mic-check-start");
  const check = new MicCheck();
  start.onclick = () => context.resume().catch(() => {});
  const timer = setInterval(() => {
    room.hooks.micTicks = (room.hooks.micTicks || 0) + 1; // tests: the meter's clock
    const running = context.state === "running";
    start.hidden = running;
    if (!running) {
      if (!room.hooks.micCheckWaited) {
        room.hooks.micCheckWaited = true; // tests, support
        console.info("vidconsult: the microphone check waits for a click (the browser's autoplay policy)");
      }
      context.resume().catch(() => {});
      return;
    }
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const v of samples) sum += v * v;
    const level = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    el.value = level;
    room.hooks.micLevel = Math.max(room.hooks.micLevel || 0, level);
    showMicCheck(check.update(level, performance.now()));
  }, 100);
  meter = { context, timer };
  showMicCheck("listening");
}

function showMicCheck(state) {
  const box = $("mic-check");
  if (box.dataset.state === state && room.hooks.micCheck === state) return;
  box.dataset.state = state;
  room.hooks.micCheck = state; // tests, support
  box.textContent = state === "heard" ? t("micCheckHeard") : state === "silent" ? t("micCheckSilent") : "";
}

function stopMeter() {
  if (!meter) return;
  clearInterval(meter.timer);
  meter.context.close().catch(() => {});
  meter = null;
  $("mic-check-start").hidden = true;
}
