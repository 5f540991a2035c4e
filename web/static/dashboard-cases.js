// Cases: the filtered list, a new routine case (then booking its earliest slot), and the
// emergency request that opens a room at once. The detail of one case is dashboard-case.js.

import { languageName, t, term } from "./i18n.js";
import {
  api, busy, field, fill, h, notify, select, timeEl, zoneNote,
} from "./dashboard-core.js";
import { joinLinkBlock } from "./dashboard-rooms.js";
import { directory, expertName, unitName } from "./dashboard-directory.js";

export const STATUSES = ["requested", "scheduled", "in_progress", "completed", "cancelled",
  "no_show"];
export const URGENCIES = ["routine", "emergency"];
// the specialties offered for new work; replaced by the catalogue's (the ones not retired)
// whenever the directory loads (dashboard-directory.js)
export const SPECIALTIES = ["neurology", "neurosurgery", "cardiology", "cardiac_surgery",
  "medical_oncology", "surgical_oncology", "radiation_oncology", "rheumatology", "endocrinology",
  "gastroenterology", "hepatobiliary_surgery", "nephrology", "urology", "pulmonology",
  "thoracic_surgery", "hematology", "infectious_disease", "orthopedics", "pediatrics",
  "obstetrics_gynecology", "psychiatry", "radiology", "pathology", "emergency_medicine"];
const SEXES = ["female", "male", "other", "unknown"];
// the languages a case may ask for, offered by their names in the page's language ("中文",
// "英语" / "Chinese", "English"), as the directory names them: the codes are for machines
const LANGUAGES = ["zh", "en"];

/** The options of a specialty <select> from the catalogue (once loaded), keeping its value. */
function refreshSpecialties(el) {
  const value = el.value;
  const blank = el.options[0]?.value === "" ? el.options[0] : null;
  el.replaceChildren(...[blank, ...SPECIALTIES.map((s) => h("option", { value: s },
    term("specialties", s)))].filter(Boolean));
  el.value = value;
}

/** The SLA badge of a case or booking: met, breach, or none yet (not booked). */
export function slaBadge(breach) {
  const state = breach === true ? "breach" : breach === false ? "met" : "none";
  const label = { breach: t("slaBreach"), met: t("slaMet"), none: t("slaNone") }[state];
  return h("span", { class: `badge sla sla-${state}`, testid: "sla-badge", dataset: { sla: state } },
    label);
}

export function statusBadge(status) {
  return h("span", { class: `badge status status-${status}`, testid: "status-badge",
    dataset: { status } }, term("statuses", status));
}

export function urgencyBadge(urgency) {
  return h("span", { class: `badge urgency-${urgency}` }, term("urgencies", urgency));
}

/** The outcome of a booking: the expert, the start in the centre's zone, the SLA badge. */
export function bookingSummary(booking) {
  return h("div", { class: "booking-result", testid: "booking-result",
    dataset: { bookingId: booking.id, expertId: booking.expert_id } },
  h("p", {}, h("strong", {}, t("expert")), " ",
    h("span", { testid: "booked-expert" }, expertName(booking.expert_id))),
  h("p", {}, h("strong", {}, t("scheduledStart")), " ",
    h("span", { testid: "booked-start" }, timeEl(booking.start, { weekday: true }))),
  h("p", {}, slaBadge(booking.sla_breach), " ",
    h("span", { class: "muted" }, t("slaDeadline"), " "), timeEl(booking.sla_deadline)));
}

/** Books the earliest slot of `caseId`; shows the result in `out`. */
export async function bookEarliest(caseId, button, out, error) {
  return busy(button, async () => {
    button.textContent = t("booking");
    await directory.load();
    const reply = await api("POST", `/cases/${encodeURIComponent(caseId)}/booking`, {});
    fill(out, bookingSummary(reply.booking));
    notify(t("booked", { expert: expertName(reply.booking.expert_id),
      time: timeEl(reply.booking.start).textContent }));
    return reply;
  }, error);
}

export function mountCases(view) {
  let stopped = false;
  const status = select("status", STATUSES, (s) => term("statuses", s), { blank: t("any") });
  status.dataset.testid = "filter-status";
  const urgency = select("urgency", URGENCIES, (u) => term("urgencies", u), { blank: t("any") });
  urgency.dataset.testid = "filter-urgency";
  const specialty = select("specialty", SPECIALTIES, (s) => term("specialties", s),
    { blank: t("any") });
  specialty.dataset.testid = "filter-specialty";
  const refresh = h("button", { type: "submit", class: "small", testid: "cases-refresh" },
    t("refresh"));
  const filters = h("form", { class: "filters", testid: "case-filters",
    "aria-label": t("casesHeading") },
  field(t("filterStatus"), status), field(t("filterUrgency"), urgency),
  field(t("filterSpecialty"), specialty), refresh);
  const tbody = h("tbody");
  const empty = h("p", { class: "empty", hidden: true, testid: "cases-empty" }, t("noCases"));
  const error = h("p", { class: "error", role: "alert" });
  const table = h("table", { class: "table cases", testid: "cases-table" },
    h("caption", { class: "visually-hidden" }, t("casesHeading")),
    h("thead", {}, h("tr", {}, ["colPatient", "colUnit", "colSpecialty", "colUrgency",
      "colStatus", "colRequested", "colScheduled", "colSla"].map((k) =>
      h("th", { scope: "col" }, t(k),
        k === "colRequested" || k === "colScheduled" ? zoneNote() : null)))),
    tbody);

  async function load() {
    const q = new URLSearchParams({ limit: "200" });
    if (status.value) q.set("status", status.value);
    if (urgency.value) q.set("urgency", urgency.value);
    if (specialty.value) q.set("specialty", specialty.value);
    await busy(refresh, async () => {
      await directory.load();
      const data = await api("GET", `/cases?${q}`);
      if (stopped) return;
      fill(tbody, data.cases.map(caseRow));
      empty.hidden = data.cases.length > 0;
      table.hidden = data.cases.length === 0;
    }, error);
  }
  filters.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  for (const el of [status, urgency, specialty]) el.addEventListener("change", load);

  fill(view,
    h("div", { class: "section-head" }, h("h2", {}, t("casesHeading"))),
    h("div", { class: "cases-layout" },
      h("div", { class: "cases-main" },
        h("div", { class: "card" }, filters, error,
          h("div", { class: "table-scroll" }, table), empty)),
      h("aside", { class: "cases-side" }, newCaseForm(load), emergencyForm(load))));
  load();
  return () => { stopped = true; };
}

function caseRow(c) {
  const href = `#cases/${encodeURIComponent(c.id)}`;
  return h("tr", { testid: "case-row", dataset: { caseId: c.id, status: c.status } },
    h("th", { scope: "row" },
      h("a", { href, class: "case-link" }, c.patient.name),
      h("div", { class: "muted small-text" }, patientLine(c.patient))),
    h("td", {}, unitName(c.referring_unit_id)),
    h("td", {}, term("specialties", c.specialty)),
    h("td", {}, urgencyBadge(c.urgency)),
    h("td", {}, statusBadge(c.status)),
    h("td", {}, timeEl(c.requested_at, { zone: false })),
    h("td", {}, timeEl(c.scheduled_start, { zone: false })),
    h("td", {}, slaBadge(c.sla_breach)));
}

export function patientLine(p) {
  const age = p.age_years != null ? `${p.age_years}` : p.birth_date || "";
  return [term("sexes", p.sex), age].filter(Boolean).join(" · ");
}

function unitSelect(testid) {
  const units = directory.units;
  const el = h("select", { name: "referring_unit_id", required: true, testid },
    h("option", { value: "" }, units.length ? t("selectUnit") : t("noUnits")),
    units.map((u) => h("option", { value: u.id }, `${u.name} (${term("tiers", u.tier)})`)));
  return el;
}

function newCaseForm(reload) {
  const section = h("section", { class: "card", "aria-labelledby": "new-case-heading" });
  const patientName = h("input", { name: "patient_name", required: true, maxlength: 200,
    testid: "case-patient-name" });
  const sex = select("sex", SEXES, (s) => term("sexes", s), { blank: "", value: "" });
  sex.required = true;
  sex.dataset.testid = "case-sex";
  const age = h("input", { name: "age", type: "number", min: 0, max: 130, inputmode: "numeric",
    testid: "case-age" });
  const unitHolder = h("div");
  const doctor = h("input", { name: "referring_doctor", required: true, maxlength: 200,
    testid: "case-doctor" });
  const specialty = select("specialty", SPECIALTIES, (s) => term("specialties", s),
    { blank: "", value: "" });
  specialty.required = true;
  specialty.dataset.testid = "case-specialty";
  const summary = h("textarea", { name: "summary", required: true, rows: 3,
    testid: "case-summary" });
  const language = select("language", LANGUAGES, languageName,
    { blank: t("anyLanguage") });
  language.dataset.testid = "case-language";
  const interpreter = h("input", { type: "checkbox", name: "interpreter",
    testid: "case-interpreter" });
  const error = h("p", { class: "error", role: "alert", testid: "new-case-error" });
  const result = h("div", { class: "result", "aria-live": "polite", testid: "new-case-result" });
  const submit = h("button", { type: "submit", class: "primary", testid: "create-case-button" },
    t("createCase"));
  const form = h("form", { class: "stack", testid: "new-case-form" },
    field(t("patientName"), patientName),
    h("div", { class: "row" }, field(t("sex"), sex), field(t("age"), age)),
    unitHolder, field(t("referringDoctor"), doctor), field(t("specialty"), specialty),
    field(t("summary"), summary), field(t("requestedLanguage"), language),
    h("label", { class: "check" }, interpreter, " ", t("interpreterNeeded")),
    error, submit);
  let unit = null;
  directory.load().then(() => {
    refreshSpecialties(specialty);
    unit = unitSelect("case-unit");
    fill(unitHolder, field(t("referringUnit"), unit));
  });

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      const patient = { name: patientName.value.trim(), sex: sex.value };
      if (age.value !== "") patient.age_years = Number(age.value);
      const body = { patient, referring_unit_id: unit ? unit.value : "",
        referring_doctor: doctor.value.trim(), specialty: specialty.value,
        clinical_summary: summary.value.trim(), interpreter_needed: interpreter.checked };
      if (language.value) body.requested_language = language.value;
      const created = await api("POST", "/cases", body);
      form.reset();
      showCreated(created);
      reload();
    }, error);
  });

  function showCreated(c) {
    const bookError = h("p", { class: "error", role: "alert", testid: "book-error" });
    const out = h("div");
    const book = h("button", { type: "button", class: "primary", testid: "book-button" },
      t("bookEarliest"));
    book.addEventListener("click", async () => {
      const reply = await bookEarliest(c.id, book, out, bookError);
      if (reply) {
        book.hidden = true;
        reload();
      }
    });
    fill(result,
      h("p", { class: "ok", testid: "case-created", dataset: { caseId: c.id } },
        t("caseCreated", { id: "", patient: c.patient.name }),
        h("a", { href: `#cases/${encodeURIComponent(c.id)}`, class: "mono" }, c.id)),
      book, bookError, out);
    book.focus();
  }

  fill(section, h("h3", { id: "new-case-heading" }, t("newCaseHeading")), form, result);
  return section;
}

function emergencyForm(reload) {
  const section = h("section", { class: "card emergency", "aria-labelledby": "emergency-heading" });
  const unitHolder = h("div");
  const specialty = select("specialty", SPECIALTIES, (s) => term("specialties", s),
    { blank: "", value: "cardiology" });
  specialty.required = true;
  specialty.dataset.testid = "emergency-specialty";
  const patientName = h("input", { name: "patient_name", maxlength: 200,
    testid: "emergency-patient-name", placeholder: t("notGiven") });
  const sex = select("sex", SEXES, (v) => term("sexes", v), { value: "unknown" });
  sex.dataset.testid = "emergency-sex";
  // the API needs an age (or a birth date) even here; an estimate will do
  const age = h("input", { name: "age", type: "number", min: 0, max: 130, required: true,
    inputmode: "numeric", testid: "emergency-age" });
  const doctor = h("input", { name: "referring_doctor", maxlength: 200,
    testid: "emergency-doctor", placeholder: t("notGiven") });
  const summary = h("textarea", { name: "summary", rows: 2, testid: "emergency-summary",
    placeholder: t("notGiven") });
  const error = h("p", { class: "error", role: "alert", testid: "emergency-error" });
  const result = h("div", { class: "result", "aria-live": "polite", testid: "emergency-result" });
  const submit = h("button", { type: "submit", class: "danger solid",
    testid: "emergency-button" }, t("requestEmergency"));
  let unit = null;
  directory.load().then(() => {
    refreshSpecialties(specialty);
    unit = unitSelect("emergency-unit");
    fill(unitHolder, field(t("referringUnit"), unit));
  });
  const form = h("form", { class: "stack", testid: "emergency-form" },
    unitHolder, field(t("specialty"), specialty),
    h("div", { class: "row" }, field(t("age"), age), field(t("sex"), sex)),
    field(t("patientName"), patientName),
    field(t("referringDoctor"), doctor), field(t("summary"), summary), error, submit);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      // minutes matter: only unit and specialty are needed; the rest can follow in the room
      const unknown = t("notGiven");
      const body = {
        patient: { name: patientName.value.trim() || unknown, sex: sex.value,
          age_years: Number(age.value) },
        referring_unit_id: unit ? unit.value : "",
        referring_doctor: doctor.value.trim() || unknown,
        specialty: specialty.value,
        clinical_summary: summary.value.trim() || unknown,
      };
      const opened = await api("POST", "/emergencies", body);
      showOpened(opened);
      reload();
    }, error);
  });

  function showOpened(o) {
    fill(result,
      h("div", { class: "emergency-opened", testid: "emergency-opened",
        dataset: { roomId: o.room.id, caseId: o.case.id } },
      h("p", { class: "ok" }, t("emergencyOpened", { room: o.room.name,
        expert: expertName(o.expert.id), busy: o.expert.busy ? t("expertBusy") : "" })),
      h("p", {}, h("a", { href: `#cases/${encodeURIComponent(o.case.id)}`, class: "mono" },
        o.case.id), " · ", h("a", { href: "#rooms", class: "mono" }, o.room.id)),
      h("ul", { class: "links" }, o.links.map((link) =>
        h("li", { dataset: { identity: link.identity } },
          h("strong", {}, link.name), " ",
          h("span", { class: "badge role" }, term("roles", link.role)),
          joinLinkBlock(link.join_url, link.expires_at, link.name))))));
  }

  fill(section, h("h3", { id: "emergency-heading" }, t("emergencyHeading")),
    h("p", { class: "muted small-text" }, t("emergencyIntro")), form, result);
  return section;
}
