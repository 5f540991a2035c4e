// The link check (GET /api/v1/join/check): before the camera starts, the page asks the server
// what its token will meet. A link that cannot be used (yet) gets its reason in words, its
// times in the viewer's zone and the centre's, a live countdown when it opens later, and whom
// to call. No raw error code or UTC instant reaches the page.

import { t, lang, locale } from "./i18n.js";
import { room, $, errorText } from "./room-context.js";
import { bothZones, viewerZone, secondsUntil, countdownText } from "./timefmt.js";

// refusals that end at a known time: the page counts down and checks again then
const NOT_YET = new Set(["too_early", "token_not_yet_valid", "room_not_open", "room_not_scheduled"]);
const RETRY_MS = [1000, 2000, 4000, 8000, 15000];

let countdownTimer = null;

/** Ask the server about the token; resolves with the check when the link may be used now,
 * or null when the page shows why not (and, for a link that opens later, calls `onOpen`
 * with the new check once it has opened). */
export async function checkLink(onOpen) {
  room.setState("checking");
  room.view.setStatus(t("checking"));
  const check = await fetchCheck();
  room.check = check;
  if (check.ok) {
    room.view.setStatus("");
    $("blocked").hidden = true; // the card of an unreachable server, if it was shown
    return check;
  }
  showBlocked(check, onOpen);
  return null;
}

async function fetchCheck() {
  for (let attempt = 0; ; attempt += 1) {
    try {
      // no token at all: no header, and the server answers token_missing
      const headers = room.token ? { Authorization: `Bearer ${room.token}` } : {};
      const response = await fetch("/api/v1/join/check", { headers, cache: "no-store" });
      const body = await response.json();
      if (response.ok) return body;
      if (response.status !== 429 && response.status < 500) {
        return { ok: false, code: body.error?.code ?? "error", centre: {}, meet: [] };
      }
    } catch {
      // offline, or the server restarting: say so and try again
    }
    room.view.setStatus(t("checkUnreachable"), "warn");
    showUnreachable();
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]));
  }
}

/** While the server does not answer: a card, not only a line in the bar, that says the link
 * itself may be fine, that the page keeps trying, and when to call (the centre's number comes
 * from the server, so none can be shown here). */
function showUnreachable() {
  document.body.dataset.code = "unreachable";
  $("prejoin").hidden = true;
  $("blocked").hidden = false;
  $("blocked-heading").textContent = t("unreachableHeading");
  $("blocked-reason").textContent = t("checkUnreachable");
  $("blocked-reason").hidden = false;
  $("blocked-times").replaceChildren();
  $("blocked-call").textContent = t("unreachableHelp");
}

/** Rows of a <dl>: a label, then the time in the viewer's zone and the centre's. */
export function timeRows(label, iso, check) {
  if (!iso) return [];
  const lines = bothZones(new Date(iso), {
    viewer: viewerZone(), centre: check.centre?.time_zone || viewerZone(), locale, t,
  });
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dds = lines.map((line) => {
    const dd = document.createElement("dd");
    const text = document.createElement("time");
    text.dateTime = iso;
    text.textContent = line.text;
    const zone = document.createElement("span");
    zone.className = "zone";
    zone.textContent = ` — ${line.label} (${line.zone})`;
    dd.append(text, zone);
    return dd;
  });
  return [dt, ...dds];
}

export function timesList(check, { opens = false } = {}) {
  const dl = document.createElement("dl");
  dl.className = "times";
  dl.append(...(opens ? timeRows(t("opensAtLabel"), check.opens_at, check) : []),
    ...timeRows(t("scheduledLabel"), check.starts_at, check));
  return dl.children.length ? dl : null;
}

/** A sentence without its closing stop, to compare it with a heading. */
function bare(text) {
  return text.trim().replace(/[.。]$/, "");
}

function showBlocked(check, onOpen) {
  const notYet = NOT_YET.has(check.code) && !!check.opens_at;
  room.setState(notYet ? "early" : "blocked");
  document.body.dataset.code = check.code || "";
  room.hooks.reason = check.code;
  $("prejoin").hidden = true;
  $("blocked").hidden = false;
  const heading = t(notYet ? "notOpenHeading" : "blockedHeading");
  const reason = errorText(check.code);
  $("blocked-heading").textContent = heading;
  // "not open yet" under the heading "not open yet": said once (a link that opens later,
  // or its room: the heading, the times and the countdown say which and when)
  const repeats = notYet || bare(reason) === bare(heading);
  $("blocked-reason").textContent = repeats ? "" : reason;
  $("blocked-reason").hidden = repeats;
  $("blocked-times").replaceChildren(...[timesList(check, { opens: notYet })].filter(Boolean));
  const phone = check.centre?.phone;
  // a link that only needs waiting is not a link to replace: say to keep the page open even
  // when there is a number to call, or a patient closes it and calls instead
  const ask = notYet ? "keepOpen" : "askCentre";
  const call = phone ? t("callCentre", { phone }) : "";
  // two sentences: a space between them in English, none after a Chinese full stop
  const sentences = [t(ask), call].filter(Boolean).join(lang === "zh" ? "" : " ");
  $("blocked-call").textContent = notYet ? sentences : call || t(ask);
  room.view.setStatus("");
  $("blocked-heading").focus();
  if (notYet) startCountdown(check, onOpen);
}

function startCountdown(check, onOpen) {
  const el = $("countdown");
  el.hidden = false;
  // the server's clock, not the PC's: a consult-room PC's clock may be off
  const offset = new Date(check.now).getTime() - Date.now();
  const opens = new Date(check.opens_at);
  const earliestRecheck = Date.now() + 3000; // a check that disagrees is not asked again at once
  const tick = async () => {
    const left = secondsUntil(opens, new Date(Date.now() + offset));
    if (left > 0 || Date.now() < earliestRecheck) {
      el.textContent = left > 0 ? t("opensIn", { time: countdownText(left, t) }) : t("opensNow");
      return;
    }
    clearInterval(countdownTimer);
    el.textContent = t("opensNow");
    const again = await fetchCheck();
    room.check = again;
    if (again.ok) {
      $("blocked").hidden = true;
      el.hidden = true;
      onOpen(again);
    } else {
      showBlocked(again, onOpen);
    }
  };
  clearInterval(countdownTimer);
  tick();
  countdownTimer = setInterval(tick, 1000);
}
