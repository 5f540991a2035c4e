// The waiting room (lobby), both sides. Someone who must wait sees whom they wait for and when
// the consultation is booked; once admitted (`lobby.admitted`) the page joins. Those with the
// admin grant get a panel listing who waits, with Admit and Decline (`admin.admit`,
// `admin.decline`), and the roster's Mute asks a participant to mute (`mute.requested`).

import { t, lang, roleName } from "./i18n.js";
import { room, $, registerFeature } from "./room-context.js";
import { join } from "./room-live.js";
import { toggle } from "./room-controls.js";
import { timesList } from "./room-check.js";
import { formatIn, viewerZone, zoneOffset } from "./timefmt.js";

let panel = null;
let list = null;
let known = new Set();
let announced = ""; // the status line's "… is waiting" while nobody else has changed it since

function showWaiting({ reply }) {
  const lobby = reply.lobby || {};
  room.setState("lobby");
  $("room").hidden = true;
  $("lobby").hidden = false;
  $("lobby-heading").textContent = t("lobbyHeading");
  const hosts = (lobby.hosts || []).map((p) => t("meetPerson", { name: p.name, role: roleName(p.role) }));
  const booked = (room.check?.meet || []).filter((p) => p.role === "expert" || p.role === "doctor")
    .map((p) => t("meetPerson", { name: p.name, role: roleName(p.role) }));
  const names = hosts.length ? hosts : booked;
  $("lobby-text").textContent = [
    names.length ? t("lobbyWaitingFor", { names: names.join(", ") }) : t("lobbyWaitingHost"),
    lobby.position > 1 ? t("lobbyPosition", { n: lobby.position }) : "",
  ].filter(Boolean).join(" ");
  $("lobby-times").replaceChildren(...[room.check ? timesList(room.check) : null].filter(Boolean));
  // a wait with no end in sight: whom to call, and that the page moves on by itself
  const phone = room.check?.centre?.phone;
  $("lobby-call").textContent = [t("lobbyKeepOpen"), phone ? t("callCentre", { phone }) : ""]
    .filter(Boolean).join(lang === "zh" ? "" : " ");
  room.view.setStatus(t("lobbyHeading"));
  $("lobby-heading").focus();
}

function admitted() {
  $("lobby").hidden = true;
  $("room").hidden = false;
  $("room-heading").focus();
  join();
}

// ---- the admin's panel -------------------------------------------------------------------

function buildPanel() {
  panel = document.createElement("section");
  panel.className = "panel waiting-panel";
  panel.dataset.testid = "waiting-panel";
  panel.setAttribute("aria-labelledby", "waiting-heading");
  const heading = document.createElement("h2");
  heading.id = "waiting-heading";
  heading.textContent = t("waitingHeading");
  list = document.createElement("ul");
  list.className = "waiting";
  list.dataset.testid = "waiting-list";
  panel.append(heading, list);
  panel.hidden = true;
  room.addPanel(panel);
}

function renderWaiting(waiting) {
  if (!panel) return;
  const ids = new Set(waiting.map((w) => w.identity));
  for (const w of waiting) {
    if (known.has(w.identity)) continue;
    announced = t("waitingArrived", { name: w.name });
    room.view.setStatus(announced, "warn");
  }
  // nobody waits any more (admitted, declined, gone): a host must not be left reading that
  // someone is waiting; any other status set since is left alone
  if (!waiting.length && announced && room.view.statusEl.textContent === announced) {
    room.view.setStatus(room.state === "joined" ? t("inRoom") : "");
  }
  if (!waiting.length) announced = "";
  known = ids;
  panel.hidden = !room.check?.room || (!waiting.length && !room.hooks.lobbyRoom);
  const items = waiting.map((w) => {
    const li = document.createElement("li");
    li.dataset.identity = w.identity;
    li.dataset.testid = "waiting-person";
    const who = document.createElement("span");
    who.className = "info";
    const at = new Date(w.since);
    const since = `${formatIn(at, viewerZone()).split(", ").pop()} (${zoneOffset(at, viewerZone())})`;
    who.textContent = `${w.name} · ${roleName(w.role)} · ${t("waitingSince", { time: since })}`;
    const admit = button(t("admit"), t("admitLabel", { name: w.name }), "admit-button", "primary",
      () => act("admin.admit", w));
    const decline = button(t("decline"), t("declineLabel", { name: w.name }), "decline-button", "danger",
      () => window.confirm(t("declineConfirm", { name: w.name })) && act("admin.decline", w));
    li.append(who, admit, decline);
    return li;
  });
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = t("waitingNone");
    items.push(li);
  }
  list.replaceChildren(...items);
}

function button(text, label, testid, kind, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `small ${kind}`;
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.dataset.testid = testid;
  b.addEventListener("click", onClick);
  return b;
}

async function act(event, person) {
  try {
    await room.signaling.request(event, { identity: person.identity });
  } catch (err) {
    room.view.setStatus(room.errorText(err), "error");
  }
}

registerFeature({
  name: "lobby",
  mount(page) {
    page.on("lobby", showWaiting);
    page.onSignal("lobby.admitted", () => {
      if (page.state === "lobby") admitted();
    });
    page.onSignal("lobby.declined", () => page.finish("declined", t("declined"), "lobby_declined"));
    page.on("finished", () => {
      $("lobby").hidden = true;
    });
    $("lobby-leave").addEventListener("click", () => {
      if (page.signaling) page.signaling.close();
      page.finish("left", t("left"), "left");
    });
    page.on("joined", ({ reply }) => {
      if (!page.grants.admin) return;
      if (!panel) buildPanel();
      page.hooks.lobbyRoom = !!page.check?.lobby || (reply.waiting || []).length > 0 || !!reply.room?.lobby;
      renderWaiting(reply.waiting || []);
    });
    page.onSignal("lobby.waiting", ({ waiting }) => renderWaiting(waiting || []));
    // someone with the admin grant asked us to mute
    page.onSignal("mute.requested", ({ name }) => {
      if (!page.muted.audio && page.localStream && page.localStream.getAudioTracks().length) toggle("audio");
      page.view.setStatus(t("muteRequested", { name: name || "" }), "warn");
    });
  },
});
