// Shared by the expert's and the unit's workspace: times in named zones, a case's records and
// its report. Times always say their zone ("UTC+8 · China Standard Time", in the page's
// language), never a bare "CST" nor the IANA id.

import { locale, term } from "./i18n.js";
import {
  ApiError, api, busy, field, fill, h, notify, session, zoneTitle,
} from "./dashboard-core.js";
import { w, wterm } from "./workspace-i18n.js";

function partsIn(zone, date, options) {
  const out = {};
  for (const p of new Intl.DateTimeFormat("en-GB", { timeZone: zone, hourCycle: "h23",
    ...options }).formatToParts(date)) out[p.type] = p.value;
  return out;
}

/** "UTC+8" (or "UTC-4", "UTC") for `zone` at `date`. */
export function offsetLabel(zone, date = new Date()) {
  const name = partsIn(zone, date, { timeZoneName: "shortOffset" }).timeZoneName || "GMT";
  return name.replace("GMT", "UTC") || "UTC";
}

/** "2026-03-09 09:30" (or "09:30:05" with `seconds`) in `zone`. */
export function wallTime(iso, zone, { seconds = false } = {}) {
  const date = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const p = partsIn(zone, date, { year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined });
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}${seconds ? `:${p.second}` : ""}`;
}

/** The short weekday of `date` in `zone`, in the page's language ("Sun", "周日"). */
function weekdayIn(date, zone) {
  return new Intl.DateTimeFormat(locale, { timeZone: zone, weekday: "short" }).format(date);
}

/** A <time>: "label 2026-03-09 09:30 UTC+8 · China Standard Time" ("label Mon 2026-03-09 …" with
 * `weekday`: a booked time read across the date line, where the day is what goes wrong). */
export function timeIn(iso, zone, label = "", testid = null,
  { seconds = false, weekday = false } = {}) {
  if (!iso) return h("span", { class: "muted" }, "—");
  const date = new Date(iso);
  const day = weekday ? `${weekdayIn(date, zone)} ` : "";
  return h("span", { class: "zone-time", testid },
    label ? h("b", {}, `${label} `) : null,
    h("time", { datetime: date.toISOString() }, `${day}${wallTime(date, zone, { seconds })}`),
    h("span", { class: "zone", dataset: { zone } },
      ` ${offsetLabel(zone, date)} · ${zoneTitle(zone, date)}`));
}

/** The same instant in several zones, one line per zone, each with its weekday; labels of
 * zones that coincide share a line ("Your time · Unit’s time Mon 2026-03-09 09:30 UTC+8 ·
 * China Standard Time"). */
export function timesIn(iso, zones, testid = "times") {
  const byZone = new Map();
  for (const [label, zone, id] of zones) {
    if (!zone) continue;
    const entry = byZone.get(zone) || { labels: [], ids: [] };
    entry.labels.push(label);
    entry.ids.push(id);
    byZone.set(zone, entry);
  }
  const lines = [...byZone].map(([zone, { labels, ids }]) =>
    timeIn(iso, zone, labels.join(" · "), ids.filter(Boolean).join(" "), { weekday: true }));
  return h("div", { class: "times", testid }, lines);
}

/** The UTC instant of wall time `value` ("2026-03-16T08:00", a datetime-local) in `zone`. */
export function wallToInstant(value, zone) {
  const [day, clock = "00:00"] = value.split("T");
  const [y, m, d] = day.split("-").map(Number);
  const [hh, mm] = clock.split(":").map(Number);
  const guess = Date.UTC(y, m - 1, d, hh, mm);
  const offsetAt = (utc) => {
    const p = partsIn(zone, new Date(utc), { year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit" });
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - utc;
  };
  let utc = guess - offsetAt(guess);
  utc = guess - offsetAt(utc);
  return new Date(utc).toISOString();
}

export function patientLine(patient) {
  const age = patient.age_years != null ? w("ageYears", { age: patient.age_years })
    : patient.birth_date || "";
  return w("patientLine", { name: patient.name, sex: term("sexes", patient.sex), age });
}

/** A case's records: the list with signed download links, and an upload field. */
export function recordsPanel(caseId) {
  const list = h("ul", { class: "plain-list", testid: "attachments" });
  const status = h("p", { class: "muted small-text", role: "status" });
  async function load() {
    const got = await api("GET", `/cases/${encodeURIComponent(caseId)}/attachments`);
    if (!got.attachments.length) {
      fill(list, h("li", { class: "muted" }, w("noAttachments")));
      return;
    }
    fill(list, got.attachments.map((a) => h("li", { testid: "attachment" },
      h("a", { href: a.download_url, rel: "noopener", download: a.filename }, a.filename))));
  }
  const input = h("input", { type: "file", name: "record", testid: "upload-input",
    accept: ".pdf,.jpg,.jpeg,.png,.dcm,application/pdf,image/jpeg,image/png,application/dicom" });
  input.addEventListener("change", () => {
    const file = input.files && input.files[0];
    if (!file) return;
    busy(null, async () => {
      const type = file.type || (file.name.toLowerCase().endsWith(".dcm") ? "application/dicom"
        : "application/octet-stream");
      const resp = await fetch(
        `/api/v1/cases/${encodeURIComponent(caseId)}/attachments?filename=${
          encodeURIComponent(file.name)}`,
        { method: "POST", headers: { Authorization: `Bearer ${session.token}`,
          "Content-Type": type }, body: file });
      const data = await resp.json().catch(() => null);
      if (!resp.ok) {
        throw new ApiError(resp.status, data?.error?.code ?? `http_${resp.status}`,
          data?.error?.message ?? "");
      }
      fill(status, w("uploaded", { name: file.name }));
      input.value = "";
      await load();
    });
  });
  load().catch((err) => fill(list, h("li", { class: "error" }, err.message)));
  return h("section", { class: "stack" },
    h("h4", {}, w("attachments")), list,
    field(w("upload"), input, w("uploadHint")), status);
}

/** The report (and referral) as the unit and the expert read it. */
export function reportView(c, zone) {
  if (!c.report) return h("p", { class: "muted", testid: "no-report" }, w("noReport"));
  const r = c.report;
  const ref = c.referral;
  return h("div", { class: "report-view", testid: "report" },
    h("h4", {}, w("reportHeading")),
    h("p", {}, h("b", {}, `${w("diagnosis")}: `), h("span", { testid: "report-diagnosis" },
      r.diagnosis)),
    h("p", {}, h("b", {}, `${w("treatmentPlan")}: `), r.treatment_plan),
    r.notes ? h("p", {}, h("b", {}, `${w("notes")}: `), r.notes) : null,
    ref ? h("p", { testid: "report-referral" }, w("referralTo", {
      hospital: ref.target_hospital, department: ref.department,
      priority: wterm("priorities", ref.priority) }),
    ref.green_channel ? h("span", { class: "badge live" }, w("greenChannelYes")) : null) : null,
    h("p", { class: "muted small-text" }, w("signedBy", { who: r.signed_by, time: "" }),
      timeIn(r.signed_at, zone)));
}

/** Runs `load` now and whenever `notify` says so; shows errors in the notice line. */
export async function guarded(work) {
  try {
    return await work();
  } catch (err) {
    notify(err.message, "error");
    return undefined;
  }
}
