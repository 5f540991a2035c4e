// The coordinators' dashboard: sign in, then live rooms, cases, recordings, the directory and
// statistics.
// Plain ES modules against the REST API (docs/api.md); sections are chosen by the URL hash.

import { errorText, t, term, lang } from "./i18n.js";
import {
  ApiError, api, busy, centre, centreTime, field, fill, h, notify, session, signInForm, zoneLabel,
  zoneOffset, zoneTitle,
} from "./dashboard-core.js";
import { mountRooms } from "./dashboard-rooms.js";
import { mountCases } from "./dashboard-cases.js";
import { mountCase } from "./dashboard-case.js";
import { mountRecordings } from "./dashboard-recordings.js";
import { mountDirectory } from "./dashboard-directory.js";
import { mountStats } from "./dashboard-stats.js";
import { mountLectures } from "./dashboard-lectures.js";
import { mountPaging, stopWatchingPages, watchCoordinatorPages } from "./dashboard-paging.js";

const $ = (id) => document.getElementById(id);

const SECTIONS = {
  rooms: mountRooms,
  cases: mountCases,
  case: mountCase,
  recordings: mountRecordings,
  directory: mountDirectory,
  stats: mountStats,
  emergencies: mountPaging,
  lectures: mountLectures,
};

let me = null; // GET /auth/me of the signed-in token
let unmount = null; // cleanup of the shown section (stops polling)

// ---- the page shell -----------------------------------------------------------------------

function translateShell() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = `vidconsult — ${t("appTitle")}`;
  $("app-title").textContent = t("appTitle");
  $("skip-link").textContent = t("skip");
  $("nav").setAttribute("aria-label", t("navLabel"));
  for (const a of $("nav").querySelectorAll("a")) {
    const key = { rooms: "navRooms", cases: "navCases", recordings: "navRecordings",
      directory: "navDirectory", stats: "navStats", emergencies: "navEmergencies",
      lectures: "navLectures" }[a.dataset.section];
    a.textContent = t(key);
  }
  $("clock-label").textContent = t("centreTime");
  $("sign-out").textContent = t("signOut");
  const other = lang === "zh" ? "en" : "zh";
  const link = $("lang-link");
  const params = new URLSearchParams(location.search);
  params.set("lang", other);
  link.href = `?${params}${location.hash}`;
  link.textContent = t("otherLanguage");
  link.lang = other === "zh" ? "zh-CN" : "en";
  link.setAttribute("aria-label", t("otherLanguageLabel"));
  // keep the section when switching language
  window.addEventListener("hashchange", () => {
    link.href = `?${params}${location.hash}`;
  });
}

function tickClock() {
  const now = new Date();
  const el = $("clock");
  el.dateTime = now.toISOString();
  el.textContent = `${centreTime(now)} ${zoneLabel()}`;
  el.title = `${zoneTitle(centre.zone, now)} (${zoneOffset(now)})`;
}

// ---- signing in ---------------------------------------------------------------------------

function showSignIn(message = "", tone = "info") {
  if (unmount) unmount();
  unmount = null;
  me = null;
  document.body.dataset.state = "signed-out";
  $("view").hidden = true;
  $("nav").hidden = true;
  $("who").hidden = true;
  $("sign-out").hidden = true;
  const section = $("sign-in");
  section.hidden = false;

  const { form, error, username } = signInForm({ text: t, message, tone,
    onToken: (token) => signedIn(token, { login: true }) });

  const tokenInput = h("textarea", { name: "token", rows: 3, required: true, testid: "token-input",
    spellcheck: "false", autocomplete: "off" });
  const tokenSubmit = h("button", { type: "submit", testid: "use-token-button" }, t("useToken"));
  const tokenForm = h("form", { class: "stack", testid: "token-form" },
    field(t("tokenLabel"), tokenInput, t("tokenHint")), tokenSubmit);
  tokenForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(tokenSubmit, async () => {
      await signedIn(tokenInput.value.trim().replace(/^Bearer\s+/i, ""));
      tokenInput.value = "";
    }, error);
  });

  fill(section,
    h("div", { class: "card sign-in-card" },
      h("h2", { id: "sign-in-heading" }, t("signInHeading")),
      h("p", { class: "muted" }, t("signInIntro")),
      error, form,
      h("details", { class: "token-login" },
        h("summary", { testid: "token-toggle" }, t("tokenHeading")), tokenForm)));
  username.focus();
}

/** Checks `token` (GET /auth/me: a room-less coordinator), keeps it and opens the dashboard. */
async function signedIn(token, { login = false } = {}) {
  session.token = token;
  try {
    const who = await api("GET", "/auth/me", undefined);
    if (login && !who.room && (who.role === "expert" || who.role === "doctor")) {
      // experts and unit doctors who sign in here have their own workspace
      location.assign(`/workspace${location.search}`);
      return;
    }
    if (who.role !== "coordinator") throw new ApiError(403, "not_coordinator", "",
      t("notCoordinator", { role: who.role }));
    if (who.room) throw new ApiError(403, "room_token", "", t("roomToken"));
    me = who;
  } catch (err) {
    session.token = null;
    throw err;
  }
  await learnCentreZone();
  showDashboard();
}

async function learnCentreZone() {
  // the centre's zone is the one statistics are counted in
  try {
    const stats = await api("GET", "/stats?period=day");
    if (stats && stats.time_zone) centre.zone = stats.time_zone;
  } catch {
    // keep the default
  }
  tickClock();
}

function signOut() {
  stopWatchingPages();
  session.token = null;
  notify("");
  history.replaceState(null, "", `${location.pathname}${location.search}`);
  showSignIn(t("signedOut"));
}

// ---- sections -----------------------------------------------------------------------------

function showDashboard() {
  document.body.dataset.state = "signed-in";
  $("sign-in").hidden = true;
  $("view").hidden = false;
  $("nav").hidden = false;
  const who = $("who");
  who.hidden = false;
  who.textContent = me.name || me.identity;
  who.title = t("signedInAs", { name: me.name || me.identity, role: term("roles", me.role) });
  $("sign-out").hidden = false;
  watchCoordinatorPages();
  route();
}

function parseHash() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  if (name === "cases" && rest[0]) return { name: "case", id: decodeURIComponent(rest[0]) };
  return { name: name in SECTIONS && name !== "case" ? name : "rooms" };
}

function route() {
  if (!me) return;
  if (unmount) unmount();
  unmount = null;
  const where = parseHash();
  const navName = where.name === "case" ? "cases" : where.name;
  for (const a of $("nav").querySelectorAll("a")) {
    if (a.dataset.section === navName) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const view = $("view");
  view.dataset.section = where.name;
  fill(view);
  unmount = SECTIONS[where.name](view, where) || null;
}

// ---- start --------------------------------------------------------------------------------

async function start() {
  translateShell();
  tickClock();
  setInterval(tickClock, 15_000);
  $("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  // a refused token (expired, revoked, signed out elsewhere) ends the session; anything
  // else (not a coordinator's, no server) says what it is, in the page's language
  const whyEnded = (err) => (err.status === 401 ? t("sessionExpired")
    : err instanceof ApiError ? err.message : errorText(null));
  session.onUnauthorized = (err) => {
    if (!me) return; // a failed sign-in shows its own message
    session.token = null;
    showSignIn(whyEnded(err), "error");
  };
  if (session.token) {
    try {
      await signedIn(session.token);
      return;
    } catch (err) {
      showSignIn(whyEnded(err), "error");
      return;
    }
  }
  showSignIn();
}

start();
