// The unit doctor's workspace: file a routine request or an emergency for a patient of the
// unit, upload records, see the unit's cases, their bookings and join links, and the report
// when it comes back. The server scopes every call to the doctor's own unit.

import { term } from "./i18n.js";
import { api, busy, field, fill, h, notify, select } from "./dashboard-core.js";
import { lang, w } from "./workspace-i18n.js";
import { guarded, patientLine, recordsPanel, reportView, timesIn } from "./workspace-common.js";
import { libraryCard } from "./workspace-library.js";

const SEXES = ["female", "male", "other", "unknown"];
const DEFAULT_SPECIALTY = "cardiology";
const SPECIALTIES = [
  "cardiology", "neurology", "neurosurgery", "cardiac_surgery", "medical_oncology",
  "surgical_oncology", "radiation_oncology", "rheumatology", "endocrinology",
  "gastroenterology", "hepatobiliary_surgery", "nephrology", "urology", "pulmonology",
  "thoracic_surgery", "hematology", "infectious_disease", "orthopedics", "pediatrics",
  "obstetrics_gynecology", "psychiatry", "radiology", "pathology", "emergency_medicine",
];

export function mountUnit(view, me) {
  const unit = me.unit;
  const zone = unit.time_zone;
  const centreZone = me.centre_time_zone;
  const open = new Set();
  let items = [];
  let shown = "";

  // ---- filing ------------------------------------------------------------------------------
  const kindRoutine = h("input", { type: "radio", name: "kind", value: "routine",
    checked: true, testid: "kind-routine" });
  const kindEmergency = h("input", { type: "radio", name: "kind", value: "emergency",
    testid: "kind-emergency" });
  const name = h("input", { name: "patient_name", required: true, maxlength: 200,
    testid: "patient-name", autocomplete: "off" });
  const sex = select("sex", SEXES, (s) => term("sexes", s), { value: "unknown" });
  sex.dataset.testid = "patient-sex";
  const age = h("input", { name: "age", type: "number", min: 0, max: 130, required: true,
    testid: "patient-age", inputmode: "numeric" });
  const idNumber = h("input", { name: "id_number", maxlength: 32, autocomplete: "off" });
  const specialty = select("specialty", me.specialties ?? SPECIALTIES,
    (s) => term("specialties", s),
    { value: DEFAULT_SPECIALTY });
  specialty.dataset.testid = "specialty";
  const doctor = h("input", { name: "referring_doctor", required: true, maxlength: 200,
    testid: "referring-doctor", value: me.name });
  const summary = h("textarea", { name: "clinical_summary", required: true, rows: 3,
    maxlength: 4000, testid: "clinical-summary" });
  const submit = h("button", { type: "submit", class: "primary", testid: "file-button" },
    w("fileRoutine"));
  const error = h("p", { class: "error", role: "alert", testid: "file-error" });
  const outcome = h("div", { testid: "file-outcome", "aria-live": "polite" });
  const syncKind = () => {
    const emergency = kindEmergency.checked;
    submit.textContent = emergency ? w("fileEmergency") : w("fileRoutine");
    submit.className = emergency ? "danger solid" : "primary";
  };
  kindRoutine.addEventListener("change", syncKind);
  kindEmergency.addEventListener("change", syncKind);
  const form = h("form", { class: "stack", testid: "file-form" },
    h("fieldset", {}, h("legend", {}, w("requestKind")),
      h("label", { class: "check" }, kindRoutine, w("kindRoutine")),
      h("label", { class: "check" }, kindEmergency, w("kindEmergency"))),
    field(w("patientName"), name),
    h("div", { class: "row" }, field(w("sex"), sex), field(w("age"), age)),
    field(w("idNumber"), idNumber),
    field(w("specialty"), specialty), field(w("referringDoctor"), doctor),
    field(w("clinicalSummary"), summary), error, submit);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const emergency = kindEmergency.checked;
    busy(submit, async () => {
      if (emergency) submit.textContent = w("emergencyPaging");
      const patient = { name: name.value.trim(), sex: sex.value, age_years: Number(age.value) };
      if (idNumber.value.trim()) patient.id_number = idNumber.value.trim();
      const body = { patient, referring_unit_id: unit.id, specialty: specialty.value,
        referring_doctor: doctor.value.trim(), clinical_summary: summary.value.trim() };
      if (emergency) {
        window.vidconsultUnit = { emergencyClickAt: performance.now() };
        const got = await api("POST", "/emergencies", body);
        const link = got.links.find((l) => l.kind === "unit");
        const joinBtn = h("button", { type: "button", class: "primary", testid: "emergency-join",
          dataset: { caseId: got.case.id, roomId: got.room.id } }, w("joinRoom"));
        joinBtn.addEventListener("click", () => location.assign(`${link.join_url}&join=now`));
        fill(outcome, h("div", { class: "status-box", role: "status" },
          h("p", {}, w("filedEmergency", { expert: got.expert.id })), joinBtn));
        joinBtn.focus();
      } else {
        await api("POST", "/cases", body);
        fill(outcome, h("p", { class: "ok", role: "status" }, w("filedRoutine")));
      }
      form.reset();
      doctor.value = me.name;
      // reset() puts a select on its first option (neurology): back to the form's default
      specialty.value = DEFAULT_SPECIALTY;
      syncKind();
      await load();
    }, error);
    syncKind();
  });

  // ---- the unit's cases --------------------------------------------------------------------
  const body = h("tbody", { testid: "unit-cases" });
  const cases = h("section", { class: "card", "aria-labelledby": "cases-heading" },
    h("h2", { id: "cases-heading", class: "card-title" }, w("unitCasesHeading")),
    h("div", { class: "table-scroll" }, h("table", { class: "table" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, w("colPatient")),
        h("th", { scope: "col" }, w("colWhen")),
        h("th", { scope: "col" }, w("colStatus")),
        h("th", { scope: "col" }, w("colActions")))),
      body)));
  fill(view, h("div", { class: "ws-grid" },
    h("div", { class: "ws-col" }, cases),
    h("div", { class: "ws-col" }, h("section", { class: "card",
      "aria-labelledby": "file-heading" },
    h("h2", { id: "file-heading", class: "card-title" }, w("fileHeading")), form, outcome),
    // the lectures the centre recorded, to watch again
    libraryCard([[w("unitTime"), zone, "time-unit"], [w("centreTime"), centreZone,
      "time-centre"]]))));

  function row(item) {
    const c = item.case;
    const when = item.booking ? item.booking.start : null;
    const joinable = (item.booking && ["scheduled", "in_progress"].includes(c.status))
      || item.emergency_room_id;
    const join = joinable ? h("button", { type: "button", class: "primary small",
      testid: "join-button" }, w("join")) : null;
    join?.addEventListener("click", () => busy(join, async () => {
      const got = await api("POST", `/workspace/cases/${encodeURIComponent(c.id)}/join`);
      const link = got.links.find((l) => l.kind !== "patient") || got.links[0];
      location.assign(`${link.join_url}&join=now`);
    }));
    const toggle = h("button", { type: "button", class: "small", testid: "details-button",
      "aria-expanded": String(open.has(c.id)) }, open.has(c.id) ? w("hide") : w("details"));
    toggle.addEventListener("click", () => {
      if (open.has(c.id)) open.delete(c.id);
      else open.add(c.id);
      render(true);
    });
    const rows = [h("tr", { testid: "unit-case-row", dataset: { caseId: c.id,
      status: c.status } },
    h("td", {}, h("div", {}, c.patient.name), h("div", { class: "muted small-text" },
      `${term("specialties", c.specialty)} · ${term("urgencies", c.urgency)}`)),
    h("td", {}, when ? [timesIn(when, [[w("unitTime"), zone, "time-unit"],
      [w("centreTime"), centreZone, "time-centre"]]), bookedWith(item)]
      : (item.emergency_room_id ? h("span", { class: "badge live" }, w("emergencyNow"))
        : h("span", { class: "muted" }, w("notBooked")))),
    h("td", {}, h("span", { class: "badge", testid: "case-status" }, term("statuses", c.status)),
      c.report ? h("div", { class: "small-text ok" }, w("reportHeading")) : null),
    h("td", {}, h("div", { class: "button-row" }, join, toggle)))];
    if (open.has(c.id)) rows.push(h("tr", { class: "case-detail" }, h("td", { colspan: 4 },
      h("div", { class: "detail-grid", testid: "case-detail" },
        h("div", { class: "stack" }, h("h3", {}, patientLine(c.patient)),
          h("h4", {}, w("summary")), h("p", {}, c.clinical_summary), recordsPanel(c.id)),
        h("div", { class: "stack" }, reportView(c, zone), withdrawForm(item))))));
    return rows;
  }

  // whom the patient will see: each booked expert's name, with the specialty they see the
  // case in (the case's own if they have it, else their first)
  function bookedWith(item) {
    const experts = item.experts ?? [];
    if (!experts.length) return null;
    const names = experts.map((e) => {
      const spec = e.specialties.includes(item.case.specialty) ? item.case.specialty
        : e.specialties[0];
      return spec ? w("expertWithSpecialty", { name: e.name, specialty: term("specialties", spec) })
        : e.name;
    });
    return h("div", { class: "small-text", testid: "booked-experts" },
      w("bookedWith", { experts: names.join(lang === "zh" ? "、" : ", ") }));
  }

  // an open emergency the unit filed may be withdrawn (the server refuses it once the expert
  // is in the room, and says so): the room closes for everyone in it, the pages stop
  function withdrawForm(item) {
    const c = item.case;
    if (c.urgency !== "emergency" || c.status !== "in_progress" || !item.emergency_room_id) {
      return null;
    }
    const reason = h("input", { name: "reason", required: true, maxlength: 2000,
      testid: "withdraw-reason", autocomplete: "off" });
    const failed = h("p", { class: "error", role: "alert", testid: "withdraw-error" });
    const button = h("button", { type: "submit", class: "danger", testid: "withdraw-button" },
      w("withdrawButton"));
    const form = h("form", { class: "stack", testid: "withdraw-form",
      "aria-labelledby": `withdraw-${c.id}` },
    h("h4", { id: `withdraw-${c.id}` }, w("withdrawHeading")),
    h("p", { class: "muted small-text" }, w("withdrawHint")),
    field(w("withdrawReason"), reason), failed, button);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(button, async () => {
        await api("POST", `/emergencies/${encodeURIComponent(c.id)}/withdraw`,
          { reason: reason.value.trim() });
        notify(w("withdrawnDone"));
        await load();
      }, failed);
    });
    return form;
  }

  function render(force = false) {
    const key = JSON.stringify(items);
    if (!force && key === shown) return; // nothing changed: keep open panels as they are
    shown = key;
    if (!items.length) {
      fill(body, h("tr", {}, h("td", { colspan: 4, class: "empty" }, w("noCases"))));
      return;
    }
    fill(body, items.map(row));
  }

  async function load() {
    items = (await api("GET", "/workspace/cases")).cases;
    render();
  }

  guarded(load);
  const timer = setInterval(() => guarded(load), 5000);
  notify("");
  return () => clearInterval(timer);
}
