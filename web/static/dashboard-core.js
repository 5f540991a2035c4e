// Dashboard plumbing shared by every section: the REST client, a small DOM builder, times in
// the centre's zone, and the notice line.

import { t, locale, errorText } from "./i18n.js";
import { zoneName } from "./timefmt.js";

const TOKEN_KEY = "vidconsult.dashboard.token";

/** An error reply of the API: `{"error": {"code", "message"}}`, or a network failure. Its
 * `message` is the person's sentence for the code in the page's language (i18n.js `errors`,
 * never the raw code), or `sentence` when the page has a more fitting one of its own; `reason`
 * keeps the server's own (English) words for support. */
export class ApiError extends Error {
  constructor(status, code, reason = "", sentence = null) {
    super(sentence ?? errorText(code));
    this.status = status;
    this.code = code;
    this.reason = reason;
  }
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  onUnauthorized: (_err) => {},
};

/** Calls `/api/v1{path}`; resolves to the JSON body, rejects with an ApiError. A 401 on a
 * signed-in call ends the session (expired or revoked token). */
export async function api(method, path, body = undefined, { auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (auth && session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, "network", err.message);
  }
  let data = null;
  if ((resp.headers.get("Content-Type") || "").startsWith("application/json")) {
    data = await resp.json().catch(() => null);
  }
  if (!resp.ok) {
    const e = data && data.error;
    const err = new ApiError(resp.status, e?.code ?? `http_${resp.status}`,
      e?.message ?? `${resp.status} ${resp.statusText}`);
    if (resp.status === 401 && auth) session.onUnauthorized(err);
    throw err;
  }
  return data;
}

/** Builds an element: h("td", {class: "x", dataset: {id}}, "text", child, [more]). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "testid") el.dataset.testid = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// ---- times in the centre's zone -----------------------------------------------------------

export const centre = { zone: "Asia/Shanghai" };

function parts(date, options) {
  const out = {};
  for (const p of new Intl.DateTimeFormat("en-GB", { timeZone: centre.zone, hourCycle: "h23",
    ...options }).formatToParts(date)) out[p.type] = p.value;
  return out;
}

/** A zone's name in the page's language ("中国标准时间", "Eastern Time"), never its IANA id:
 * timefmt.js `zoneName`. */
export function zoneTitle(zone, date = new Date()) {
  return zoneName(zone, locale, date);
}

/** "UTC+8" for the centre's zone at `date`. */
export function zoneOffset(date = new Date()) {
  const name = parts(date, { timeZoneName: "shortOffset" }).timeZoneName || "";
  return name.replace("GMT", "UTC") || "UTC";
}

/** "2026-03-09 09:30" in the centre's zone (ISO order reads the same in both languages). */
export function centreTime(iso, { seconds = false } = {}) {
  if (!iso) return "—";
  const date = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const p = parts(date, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: seconds ? "2-digit" : undefined });
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}${seconds ? `:${p.second}` : ""}`;
}

/** The weekday of `iso` in the centre's zone, in the UI language. */
export function centreWeekday(iso) {
  return new Intl.DateTimeFormat(locale, { timeZone: centre.zone, weekday: "short" })
    .format(new Date(iso));
}

/** A <time> element: centre time plus the zone's name; the instant in `datetime`. */
export function timeEl(iso, { weekday = false, zone = true } = {}) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const text = `${weekday ? `${centreWeekday(iso)} ` : ""}${centreTime(iso)}`;
  return h("time", { datetime: iso, title: `${zoneTitle(centre.zone, new Date(iso))} (${zoneOffset(new Date(iso))})` },
    text, zone ? h("span", { class: "zone" }, ` ${zoneLabel(new Date(iso))}`) : null);
}

/** " (UTC+8)" after a column heading whose cells show times without the zone. */
export function zoneNote() {
  return h("span", { class: "zone", title: zoneTitle(centre.zone) }, ` (${zoneLabel()})`);
}

/** The zone label shown after times: the UTC offset ("UTC+8"), never an abbreviation such as
 * "CST" (China Standard Time to some, US Central to others); the zone's name is in the title. */
export function zoneLabel(date = new Date()) {
  return zoneOffset(date);
}

/** "2026-03-09 08:00" in `zone` (an IANA name) and that zone's offset label ("UTC-4"). */
export function zonedTime(iso, zone) {
  const date = iso instanceof Date ? iso : new Date(iso);
  const out = {};
  for (const p of new Intl.DateTimeFormat("en-GB", { timeZone: zone, hourCycle: "h23",
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    timeZoneName: "shortOffset" }).formatToParts(date)) out[p.type] = p.value;
  const offset = (out.timeZoneName || "GMT").replace("GMT", "UTC");
  return { text: `${out.year}-${out.month}-${out.day} ${out.hour}:${out.minute}`,
    offset: offset === "UTC" ? "UTC+0" : offset };
}

/** A <time> in another party's zone: "2026-03-09 08:00 UTC-4", the zone's name in the title. */
export function zonedTimeEl(iso, zone, testid = null) {
  const z = zonedTime(iso, zone);
  return h("time", { datetime: iso, title: zoneTitle(zone, new Date(iso)), testid, dataset: { zone } },
    z.text, h("span", { class: "zone" }, ` ${z.offset}`));
}

/** The instant the calendar day `day` ("2026-03-09") starts in the centre's zone, as an ISO
 * date-time with the zone's offset (what the API's date filters take). */
export function centreDayStart(day) {
  const noon = new Date(`${day}T12:00:00Z`);
  if (Number.isNaN(noon.getTime())) return day;
  const name = parts(noon, { timeZoneName: "longOffset" }).timeZoneName || "GMT";
  const offset = /^GMT[+-]\d\d:\d\d$/.test(name) ? name.slice(3) : "+00:00";
  return `${day}T00:00:00${offset}`;
}

/** The calendar day after `day` ("2026-03-09" -> "2026-03-10"). */
export function nextDay(day) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** Today's date in the centre's zone ("2026-03-09"). */
export function centreToday() {
  const p = parts(new Date(), { year: "numeric", month: "2-digit", day: "2-digit" });
  return `${p.year}-${p.month}-${p.day}`;
}

// ---- sizes and durations ------------------------------------------------------------------

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** "0:04", "12:30", "1:02:03" from milliseconds. */
export function formatDuration(ms) {
  const total = Math.max(0, Math.round((ms || 0) / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}`
    : `${minutes}:${seconds}`;
}

// ---- the notice line ----------------------------------------------------------------------

let noticeTimer = null;

/** Shows a message in the notice line (role=status, or alert for errors). */
export function notify(text, tone = "info") {
  const el = document.getElementById("notice");
  if (!el) return;
  clearTimeout(noticeTimer);
  el.textContent = text;
  el.dataset.tone = tone;
  el.setAttribute("role", tone === "error" ? "alert" : "status");
  el.hidden = !text;
  if (tone !== "error" && text) noticeTimer = setTimeout(() => { el.hidden = true; }, 8000);
}

/** Runs `work` with `button` disabled; an ApiError goes to `errorEl` (or the notice line). */
export async function busy(button, work, errorEl = null) {
  if (errorEl) fill(errorEl);
  const label = button ? button.textContent : "";
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  try {
    return await work();
  } catch (err) {
    const message = err instanceof ApiError ? err.message : String(err.message || err);
    if (errorEl) {
      fill(errorEl, h("span", { testid: "error-text" }, message), errorDetails(err));
      errorEl.dataset.code = err.code || "error";
      delete errorEl.dataset.tone; // an error, whatever the line said before (signed out...)
    } else {
      notify(message, "error");
    }
    return undefined;
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      button.textContent = label;
    }
  }
}

/** The server's own words for a refusal, folded away under a disclosure: a coordinator
 * reads the sentence; support (or a coordinator fixing a form) can open the details, which
 * name the field or the record the server refused. Not for network failures. */
function errorDetails(err) {
  const reason = err instanceof ApiError && err.status ? err.reason : "";
  if (!reason) return null;
  return h("details", { class: "error-details", testid: "error-details" },
    h("summary", {}, t("errorDetails")), h("span", { lang: "en" }, reason));
}

/** A recording's or an export's diagnostic (the server's English, for the operator), folded
 * under a clearly labelled disclosure beside the coordinator's sentence; null without one. */
export function technicalDetails(diagnostic) {
  if (!diagnostic) return null;
  return h("details", { class: "error-details", testid: "technical-details" },
    h("summary", {}, t("technicalDetails")), h("span", { lang: "en", class: "mono" }, diagnostic));
}

/** A labelled form field: <div class="field"><label>..</label><input ...></div>. */
export function field(label, control, hint = null) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const hintEl = hint ? h("small", { id: `${id}-hint`, class: "hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

/** A <select> of `values` with labels from `label(value)`; `blank` adds a first empty option. */
export function select(name, values, label, { blank = null, value = "" } = {}) {
  const el = h("select", { name },
    blank != null ? h("option", { value: "" }, blank) : null,
    values.map((v) => h("option", { value: v }, label(v))));
  el.value = value;
  return el;
}

/** A copy-to-clipboard button for the value of `input`. */
export function copyButton(input, testid = "copy-button") {
  const button = h("button", { type: "button", class: "small", testid }, t("copy"));
  button.addEventListener("click", async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      button.textContent = t("copied");
    } catch {
      // clipboard blocked (plain http, or no permission): fall back to the old way
      const ok = document.execCommand && document.execCommand("copy");
      button.textContent = ok ? t("copied") : t("copyFailed");
    }
    setTimeout(() => { button.textContent = t("copy"); }, 2500);
  });
  return button;
}

/** Opens the shared confirm <dialog>; resolves true when confirmed. */
export function confirmDialog({ title, text, confirmLabel, tone = "danger" }) {
  const dialog = document.getElementById("confirm-dialog");
  fill(dialog.querySelector("h2"), title);
  fill(dialog.querySelector("p"), text);
  const ok = dialog.querySelector("[data-testid=confirm-ok]");
  ok.textContent = confirmLabel;
  ok.className = tone;
  dialog.querySelector("[data-testid=confirm-cancel]").textContent = t("cancel");
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
    dialog.querySelector("[data-testid=confirm-cancel]").focus();
  });
}

// ---- wall-clock times in a named zone (forms) -----------------------------------------------

function offsetAt(date, zone) {
  const name = new Intl.DateTimeFormat("en-GB", { timeZone: zone, timeZoneName: "longOffset" })
    .formatToParts(date).find((p) => p.type === "timeZoneName")?.value || "GMT";
  return /^GMT[+-]\d\d:\d\d$/.test(name) ? name.slice(3) : "+00:00";
}

/** The instant of wall-clock `day` ("2026-03-10") `hhmm` ("09:30") in `zone` (an IANA name), as
 * an ISO date-time with that zone's offset then (what the API takes). */
export function zonedIso(day, hhmm, zone) {
  const guess = new Date(`${day}T${hhmm}:00Z`);
  if (Number.isNaN(guess.getTime())) return "";
  // the zone's offset near that wall time, checked once more after applying it (DST edges)
  let offset = offsetAt(guess, zone);
  const again = offsetAt(new Date(`${day}T${hhmm}:00${offset}`), zone);
  if (again !== offset) offset = again;
  return `${day}T${hhmm}:00${offset}`;
}

/** The user name and password form of the dashboard and the workspace: POST /auth/login, then
 * `onToken(token)`. `text(key)` gives the page's strings (username, password, signIn,
 * signingIn); `message` starts in the error line (with `tone`); `before()` runs on submit
 * (inside the click's gesture). Returns the form, its error line and the user name input. */
export function signInForm({ text, onToken, message = "", tone = "info", before = () => {} }) {
  const error = h("p", { class: "error", role: "alert", testid: "sign-in-error" });
  if (message) {
    fill(error, message);
    error.dataset.tone = tone;
  }
  const username = h("input", { name: "username", autocomplete: "username", required: true,
    testid: "username", autocapitalize: "none", spellcheck: "false" });
  const password = h("input", { name: "password", type: "password", required: true,
    autocomplete: "current-password", testid: "password" });
  const submit = h("button", { type: "submit", class: "primary", testid: "sign-in-button" },
    text("signIn"));
  const form = h("form", { class: "stack", testid: "sign-in-form" },
    field(text("username"), username), field(text("password"), password), submit);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    before();
    busy(submit, async () => {
      submit.textContent = text("signingIn");
      const reply = await api("POST", "/auth/login",
        { username: username.value.trim(), password: password.value }, { auth: false });
      password.value = "";
      await onToken(reply.token);
    }, error);
  });
  return { form, error, username };
}
