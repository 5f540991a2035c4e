// The expert's workspace: my consultations (in my zone, the unit's and the centre's), join,
// the case with its records, the report and referral I sign; my roster and leave requests.

import { term } from "./i18n.js";
import { api, busy, field, fill, h, notify, select, zoneTitle } from "./dashboard-core.js";
import { w, wterm } from "./workspace-i18n.js";
import {
  guarded, patientLine, recordsPanel, reportView, timeIn, timesIn, wallToInstant,
} from "./workspace-common.js";

const PRIORITIES = ["routine", "urgent", "emergency"];

export function mountExpert(view, me) {
  const zone = me.expert.time_zone;
  const centreZone = me.centre_time_zone;
  const open = new Set(); // case ids whose detail row is shown
  const body = h("tbody", { testid: "consultations" });
  const table = h("table", { class: "table" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, w("colPatient")),
      h("th", { scope: "col" }, w("colWhen")),
      h("th", { scope: "col" }, w("colUnit")),
      h("th", { scope: "col" }, w("colStatus")),
      h("th", { scope: "col" }, w("colActions")))),
    body);
  const refresh = h("button", { type: "button", class: "small", testid: "refresh" }, "↻");
  refresh.setAttribute("aria-label", w("loading"));
  const consultations = h("section", { class: "card",
    "aria-labelledby": "consultations-heading" },
  h("div", { class: "card-head", style: null },
    h("h2", { id: "consultations-heading", class: "card-title" }, w("consultationsHeading")),
    refresh),
  h("div", { class: "table-scroll" }, table));
  const roster = h("section", { class: "card", "aria-labelledby": "roster-heading",
    testid: "roster" });
  fill(view, h("div", { class: "ws-grid" },
    h("div", { class: "ws-col" }, consultations), h("div", { class: "ws-col" }, roster)));

  let items = [];

  function row(item) {
    const c = item.case;
    const when = item.booking ? item.booking.start
      : (item.emergency_room_id ? c.requested_at : null);
    const joinable = (item.booking && ["scheduled", "in_progress"].includes(c.status))
      || item.emergency_room_id;
    const join = joinable ? h("button", { type: "button", class: "primary small",
      testid: "join-button" }, w("join")) : null;
    join?.addEventListener("click", () => busy(join, async () => {
      const got = await api("POST", `/workspace/cases/${encodeURIComponent(c.id)}/join`);
      location.assign(`${got.links[0].join_url}&join=now`);
    }));
    // an interpreter joins and sees the times; the records and the report are the experts'
    const toggle = item.interpreting ? null : h("button", { type: "button", class: "small",
      testid: "details-button", "aria-expanded": String(open.has(c.id)) },
    open.has(c.id) ? w("hide") : w("details"));
    toggle?.addEventListener("click", () => {
      if (open.has(c.id)) open.delete(c.id);
      else open.add(c.id);
      render();
    });
    const rows = [h("tr", { testid: "consultation-row", dataset: { caseId: c.id } },
      h("td", {}, h("div", {}, c.patient.name),
        h("div", { class: "muted small-text" }, `${term("specialties", c.specialty)} · ${
          term("urgencies", c.urgency)}`),
        item.interpreting ? h("div", { class: "badge", testid: "interpreting" },
          w("interpreting")) : null),
      h("td", {}, when ? timesIn(when, [[w("yourTime"), zone, "time-mine"],
        [w("unitTime"), item.unit.time_zone, "time-unit"],
        [w("centreTime"), centreZone, "time-centre"]])
        : h("span", { class: "muted" }, w("notBooked")),
      item.emergency_room_id ? h("div", { class: "badge live" }, w("emergencyNow")) : null),
      h("td", {}, item.unit.name),
      h("td", {}, h("span", { class: "badge", testid: "case-status" },
        term("statuses", c.status))),
      h("td", {}, h("div", { class: "button-row" }, join, toggle)))];
    if (open.has(c.id) && !item.interpreting) rows.push(h("tr", { class: "case-detail" },
      h("td", { colspan: 5 }, detail(item))));
    return rows;
  }

  function detail(item) {
    const c = item.case;
    return h("div", { class: "detail-grid", testid: "case-detail" },
      h("div", { class: "stack" },
        h("h3", {}, patientLine(c.patient)),
        h("p", { class: "muted small-text" }, w("requestedBy", { doctor: c.referring_doctor })),
        h("h4", {}, w("summary")), h("p", { testid: "case-summary" }, c.clinical_summary),
        recordsPanel(c.id)),
      h("div", { class: "stack" },
        c.report ? reportView(c, zone)
          : (["scheduled", "in_progress"].includes(c.status) ? reportForm(c) : reportView(c, zone))));
  }

  function reportForm(c) {
    const diagnosis = h("textarea", { name: "diagnosis", rows: 2, required: true,
      testid: "report-diagnosis-input", maxlength: 4000 });
    const plan = h("textarea", { name: "treatment_plan", rows: 3, required: true,
      testid: "report-plan-input", maxlength: 4000 });
    const notes = h("textarea", { name: "notes", rows: 2, maxlength: 4000 });
    const counselling = h("input", { type: "checkbox", name: "counselling" });
    const refer = h("input", { type: "checkbox", name: "refer", testid: "referral-toggle" });
    const hospital = h("input", { name: "target_hospital", testid: "referral-hospital",
      maxlength: 200 });
    const department = h("input", { name: "department", testid: "referral-department",
      maxlength: 200 });
    const priority = select("priority", PRIORITIES, (p) => wterm("priorities", p),
      { value: "urgent" });
    priority.dataset.testid = "referral-priority";
    const green = h("input", { type: "checkbox", name: "green_channel",
      testid: "referral-green" });
    const reason = h("input", { name: "reason", testid: "referral-reason", maxlength: 2000 });
    const referral = h("fieldset", { class: "stack", hidden: true },
      h("legend", {}, w("referralHeading")),
      field(w("targetHospital"), hospital), field(w("department"), department),
      field(w("priority"), priority),
      h("label", { class: "check" }, green, w("greenChannel")),
      field(w("referralReason"), reason));
    refer.addEventListener("change", () => {
      referral.hidden = !refer.checked;
      hospital.required = department.required = refer.checked;
    });
    const submit = h("button", { type: "submit", class: "primary", testid: "submit-report" },
      w("submitReport"));
    const error = h("p", { class: "error", role: "alert", testid: "report-error" });
    const form = h("form", { class: "stack", testid: "report-form" },
      h("h4", {}, w("reportHeading")),
      field(w("diagnosis"), diagnosis), field(w("treatmentPlan"), plan),
      field(w("notes"), notes),
      h("label", { class: "check" }, counselling, w("counselling")),
      h("label", { class: "check" }, refer, w("addReferral")), referral, error, submit);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(submit, async () => {
        const body = { diagnosis: diagnosis.value.trim(), treatment_plan: plan.value.trim(),
          notes: notes.value.trim(), counselling: counselling.checked };
        if (refer.checked) {
          body.referral = { target_hospital: hospital.value.trim(),
            department: department.value.trim(), priority: priority.value,
            green_channel: green.checked, reason: reason.value.trim() };
        }
        await api("POST", `/cases/${encodeURIComponent(c.id)}/report`, body);
        notify(w("reportSent"));
        await load();
      }, error);
    });
    return form;
  }

  function render() {
    if (!items.length) {
      fill(body, h("tr", {}, h("td", { colspan: 5, class: "empty" }, w("noCases"))));
      return;
    }
    fill(body, items.map(row));
  }

  async function load() {
    const got = await api("GET", "/workspace/cases");
    items = got.cases;
    render();
  }

  async function loadRoster() {
    const got = await api("GET", "/workspace/roster");
    const r = got.roster;
    const start = h("input", { type: "datetime-local", name: "start", required: true,
      testid: "leave-start" });
    const end = h("input", { type: "datetime-local", name: "end", required: true,
      testid: "leave-end" });
    const reason = h("input", { name: "reason", maxlength: 500, testid: "leave-reason" });
    const submit = h("button", { type: "submit", testid: "leave-submit" }, w("requestLeave"));
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { class: "stack", testid: "leave-form" },
      h("h4", {}, w("requestLeave")),
      h("div", { class: "row" }, field(w("leaveStart"), start, zoneTitle(zone)),
        field(w("leaveEnd"), end, zoneTitle(zone))),
      field(w("leaveReason"), reason), error, submit);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(submit, async () => {
        await api("POST", "/workspace/leave-requests", {
          start: wallToInstant(start.value, zone), end: wallToInstant(end.value, zone),
          reason: reason.value.trim() });
        notify(w("leaveSent"));
        await loadRoster();
      }, error);
    });
    const days = w("weekdays");
    const weekday = (i) => (Array.isArray(days) ? days[i] : wterm("weekdays", i));
    fill(roster,
      h("h2", { id: "roster-heading", class: "card-title" }, w("rosterHeading")),
      h("h3", {}, w("rosterZone", { zone: zoneTitle(zone) })),
      r.shifts.length ? h("ul", { class: "plain-list", testid: "shifts" }, r.shifts.map(
        (s) => h("li", {}, `${weekday(s.weekday)} ${s.start}–${s.end}`)))
        : h("p", { class: "muted" }, w("noShifts")),
      h("h3", {}, w("leaveHeading")),
      r.leave.length ? h("ul", { class: "plain-list", testid: "leave" }, r.leave.map(
        (lv) => h("li", {}, timeIn(lv.start, zone), " – ", timeIn(lv.end, zone),
          lv.reason ? ` · ${lv.reason}` : "")))
        : h("p", { class: "muted" }, w("noLeave")),
      h("h3", {}, w("leaveRequestsHeading")),
      got.leave_requests.length ? h("ul", { class: "plain-list", testid: "leave-requests" },
        got.leave_requests.map((lr) => h("li", { dataset: { status: lr.status } },
          timeIn(lr.start, zone), " – ", timeIn(lr.end, zone), " · ",
          h("strong", {}, wterm("leaveStatuses", lr.status)))))
        : null,
      form);
  }

  guarded(load);
  guarded(loadRoster);
  refresh.addEventListener("click", () => guarded(load));
  const timer = setInterval(() => {
    // keep the list fresh unless a report is being written
    if (!open.size) guarded(load);
  }, 15_000);
  return () => clearInterval(timer);
}
