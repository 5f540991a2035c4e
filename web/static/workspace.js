// The workspace of experts and unit doctors (/workspace): sign in, then the expert's pages,
// consultations, reports and roster, or the unit's requests, cases and reports.
// Emergency pages ring here at once over the Socket.IO namespace /staff (docs/protocol.md):
// an alert with sound and, when allowed, the browser's Notification; Accept joins the room.

import { io } from "/static/vendor/socket.io.esm.min.js";
import { errorText, setSpecialtyNames, t, term } from "./i18n.js";
import { ApiError, api, busy, fill, h, notify, session, signInForm } from "./dashboard-core.js";
import { lang, w } from "./workspace-i18n.js";
import { wallTime, offsetLabel } from "./workspace-common.js";
import { mountExpert } from "./workspace-expert.js";
import { mountUnit } from "./workspace-unit.js";

const $ = (id) => document.getElementById(id);
let me = null; // GET /workspace
let socket = null;
let unmount = null;

/** What tests and the benchmark read: when each page rang (epoch ms, when its alert was
 * drawn), and how often the bell sounded. */
const state = { ringAt: {}, rings: 0, channel: "down", pages: {}, notSaved: {} };
window.vidconsultWorkspace = state;

// ---- shell ---------------------------------------------------------------------------------

function translateShell() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `vidconsult — ${w("appTitle")}`;
  $("app-title").textContent = w("appTitle");
  $("skip-link").textContent = w("skip");
  $("sign-out").textContent = w("signOut");
  const other = lang === "zh" ? "en" : "zh";
  const link = $("lang-link");
  const params = new URLSearchParams(location.search);
  params.set("lang", other);
  link.href = `?${params}${location.hash}`;
  link.textContent = t("otherLanguage");
  link.lang = other === "zh" ? "zh-CN" : "en";
  link.setAttribute("aria-label", t("otherLanguageLabel"));
}

function showSignIn(message = "", tone = "info") {
  if (unmount) unmount();
  unmount = null;
  closeChannel();
  me = null;
  document.body.dataset.state = "signed-out";
  $("view").hidden = true;
  $("pager").hidden = true;
  $("who").hidden = true;
  $("sign-out").hidden = true;
  const section = $("sign-in");
  section.hidden = false;
  // the sign-in click is the gesture that lets the pager's bell sound later
  const { form, error, username } = signInForm({ text: w, message, tone,
    before: unlockAudio, onToken: signedIn });
  fill(section, h("div", { class: "card sign-in-card" },
    h("h2", { id: "sign-in-heading" }, w("signInHeading")),
    h("p", { class: "muted" }, w("signInIntro")), error, form));
  username.focus();
}

async function signedIn(token) {
  session.token = token;
  try {
    const who = await api("GET", "/auth/me");
    if (who.role === "coordinator") {
      // coordinators have the dashboard (with its paging board)
      location.assign(`/dashboard${location.search}#emergencies`);
      return;
    }
    me = await api("GET", "/workspace");
    // the catalogue's names (created and renamed specialties), and what a unit may file for
    const catalogue = await api("GET", "/specialties");
    setSpecialtyNames(catalogue.specialties);
    me.specialties = catalogue.specialties
      .filter((s) => !s.retired && s.slug !== "interpretation").map((s) => s.slug);
  } catch (err) {
    // a server that did not answer has not refused the session: keep it for the next try
    if (err.status !== 0) session.token = null;
    throw err;
  }
  notify("");
  showWorkspace();
}

function showWorkspace() {
  document.body.dataset.state = "signed-in";
  document.body.dataset.kind = me.kind;
  $("sign-in").hidden = true;
  $("view").hidden = false;
  const who = $("who");
  who.hidden = false;
  // an interpreter is a directory entry whose only specialty is interpretation
  const interpreter = me.kind === "expert"
    && me.expert.specialties.every((s) => s === "interpretation");
  const role = me.kind !== "expert" ? w("unitRole", { unit: me.unit.name })
    : (interpreter ? w("interpreterRole") : w("expertRole"));
  who.textContent = `${me.name} · ${role}`;
  who.title = who.textContent;
  $("sign-out").hidden = false;
  if (me.kind === "expert") openChannel();
  const view = $("view");
  fill(view);
  unmount = (me.kind === "expert" ? mountExpert : mountUnit)(view, me) || null;
}

function signOut() {
  session.token = null;
  notify("");
  showSignIn(w("signedOut"));
}

// ---- the pager -----------------------------------------------------------------------------

let audio = null;
let bell = null;

function unlockAudio() {
  // browsers start sound only after a gesture: the sign-in click or any click on the page
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume().catch(() => {});
  } catch {
    audio = null;
  }
}

function chime() {
  state.rings += 1;
  if (!audio) return;
  try {
    if (audio.state === "suspended") audio.resume().catch(() => {});
    const now = audio.currentTime;
    for (const [offset, freq] of [[0, 880], [0.25, 660], [0.5, 880]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.3, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.2);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + offset);
      osc.stop(now + offset + 0.22);
    }
  } catch {
    // no sound device: the alert and the notification still show
  }
}

function ringing() {
  return Object.values(state.pages).some((p) => p.status === "ringing" || p.status === "unanswered");
}

function updateBell() {
  if (ringing() && !bell) {
    chime();
    bell = setInterval(chime, 2000);
  } else if (!ringing() && bell) {
    clearInterval(bell);
    bell = null;
  }
}

function notifyDesktop(page) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const n = new Notification(w("notificationTitle"), {
      body: w("notificationBody", { specialty: term("specialties", page.specialty),
        unit: page.unit_name }),
      tag: page.page_id,
      requireInteraction: true,
    });
    n.onclick = () => window.focus();
  } catch {
    // some browsers allow notifications from a service worker only
  }
}

function elapsed(iso) {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

function renderPager() {
  const pager = $("pager");
  const open = Object.values(state.pages).filter(
    (p) => p.status === "ringing" || p.status === "unanswered");
  pager.hidden = !me || me.kind !== "expert";
  const zone = me?.expert?.time_zone || "UTC";
  const alerts = open.map((p) => {
    const accept = h("button", { type: "button", class: "primary", testid: "page-accept" },
      w("accept"));
    const decline = h("button", { type: "button", class: "danger", testid: "page-decline" },
      w("decline"));
    const error = h("p", { class: "error", role: "alert", testid: "page-error" });
    // an answer the server could not save: said here until the next answer (kept across the
    // alert's redraws), the buttons usable
    if (state.notSaved[p.page_id]) {
      fill(error, h("span", { testid: "error-text" }, w("pageNotSaved")));
      error.dataset.code = "store_unavailable";
    }
    accept.addEventListener("click", () => busy(accept, async () => {
      delete state.notSaved[p.page_id];
      accept.textContent = w("accepting");
      const got = await api("POST", `/pages/${encodeURIComponent(p.page_id)}/accept`)
        .catch((err) => pageOver(p, err));
      if (!got) return;
      delete state.pages[p.page_id];
      updateBell();
      // straight into the room, joined (the room page joins when the fragment says so)
      location.assign(`${got.link.join_url}&join=now`);
    }, error));
    decline.addEventListener("click", () => busy(decline, async () => {
      delete state.notSaved[p.page_id];
      const got = await api("POST", `/pages/${encodeURIComponent(p.page_id)}/decline`)
        .catch((err) => pageOver(p, err));
      if (!got) return;
      delete state.pages[p.page_id];
      updateBell();
      renderPager();
    }, error));
    return h("div", { class: "page-alert ringing", role: "alert", testid: "page-alert",
      dataset: { pageId: p.page_id, caseId: p.case_id } },
    h("h2", {}, w("pageTitle", { specialty: term("specialties", p.specialty), unit: p.unit_name })),
    h("p", {}, w("pageDetail", { step: p.step, ago: elapsed(p.sent_at) })),
    h("p", { class: "small-text" }, p.escalates_at
      ? w("pageEscalates", { time: `${wallTime(p.escalates_at, zone)} ${offsetLabel(zone)}` })
      : w("pageLast")),
    h("div", { class: "button-row" }, accept, decline), error);
  });
  const alertsButton = "Notification" in window && Notification.permission === "default"
    ? h("button", { type: "button", class: "small", testid: "enable-alerts",
      onclick: async (ev) => {
        unlockAudio();
        const answer = await Notification.requestPermission();
        notify(answer === "granted" ? w("alertsOn") : w("alertsBlocked"));
        ev.target.remove();
      } }, w("enableAlerts"))
    : null;
  fill(pager, alerts, alertsButton);
  document.title = open.length ? `(${open.length}) ⚠ ${w("appTitle")}`
    : `vidconsult — ${w("appTitle")}`;
}

/** A refusal that says the page is over: someone else answered first (even at the same
 * instant, on another server: the store decides) or the emergency ended. The page stops ringing
 * here and the notice says why, in the page's language. An answer the server could not save
 * (its database is down: 503 store_unavailable) was not made: the page still rings, and its
 * alert says so, in the page's language, until the next answer. Any other refusal is thrown
 * on, to the page's alert. */
function pageOver(page, err) {
  if (err instanceof ApiError && err.code === "store_unavailable") {
    state.notSaved[page.page_id] = true;
    throw new ApiError(err.status, err.code, err.reason, w("pageNotSaved"));
  }
  if (!(err instanceof ApiError) || !["page_answered", "page_closed"].includes(err.code)) {
    throw err;
  }
  delete state.pages[page.page_id];
  updateBell();
  renderPager();
  notify(errorText(err));
  return null;
}

function onRing(page) {
  if (!(page.page_id in state.ringAt)) state.ringAt[page.page_id] = Date.now();
  const fresh = !(page.page_id in state.pages);
  state.pages[page.page_id] = page;
  renderPager();
  updateBell();
  if (fresh) notifyDesktop(page);
}

// why a page stopped ringing here (its `reason`, docs/protocol.md), as a sentence
const CLOSED_TEXT = {
  answered_elsewhere: "pageClosedAnswered",
  room_closed: "pageClosedRoom",
  emergency_withdrawn: "pageClosedWithdrawn",
};

function onClosed(page) {
  delete state.notSaved[page.page_id];
  if (!(page.page_id in state.pages)) return;
  delete state.pages[page.page_id];
  renderPager();
  updateBell();
  notify(CLOSED_TEXT[page.reason] ? w(CLOSED_TEXT[page.reason]) : w("pageClosedEnded"));
}

function openChannel() {
  socket = io("/staff", { auth: { token: session.token }, transports: ["websocket"] });
  socket.on("connect", async () => {
    state.channel = "up";
    document.body.dataset.channel = "up";
    // what rang while the page was away
    try {
      const mine = await api("GET", "/pages/mine");
      state.pages = {};
      for (const p of mine.pages) onRing(p);
      renderPager();
    } catch (err) {
      notify(err.message, "error");
    }
  });
  socket.on("disconnect", () => {
    state.channel = "down";
    document.body.dataset.channel = "down";
  });
  socket.on("connect_error", (err) => {
    if (err?.data?.code === "session_ended") session.onUnauthorized(
      new ApiError(401, err.data.code, err.data.message));
  });
  socket.on("page.ring", onRing);
  socket.on("page.closed", onClosed);
  renderPager();
  setInterval(() => { if (Object.keys(state.pages).length) renderPager(); }, 5000);
}

function closeChannel() {
  if (socket) socket.disconnect();
  socket = null;
  state.pages = {};
  updateBell();
}

// ---- start ---------------------------------------------------------------------------------

const RETRY_MS = [1000, 2000, 4000, 8000, 15000];

async function start() {
  translateShell();
  $("sign-out").addEventListener("click", signOut);
  document.addEventListener("click", unlockAudio, { once: true });
  // a refused token (expired, revoked, signed out elsewhere) ends the session; anything
  // else (not a coordinator's, no server) says what it is, in the page's language
  const whyEnded = (err) => (err.status === 401 ? w("sessionExpired")
    : err instanceof ApiError ? err.message : errorText(null));
  session.onUnauthorized = (err) => {
    if (!me) return;
    session.token = null;
    showSignIn(whyEnded(err), "error");
  };
  // a page opened (or reloaded) while the server does not answer keeps its session and tries
  // again, rather than asking for the password: an expert on duty must not miss pages over it
  for (let attempt = 0; session.token; attempt += 1) {
    try {
      await signedIn(session.token);
      return;
    } catch (err) {
      if (err.status !== 0) {
        showSignIn(whyEnded(err), "error");
        return;
      }
      document.body.dataset.state = "unreachable";
      notify(w("serverUnreachable"), "error");
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(attempt, 4)]));
    }
  }
  showSignIn();
}

start();
