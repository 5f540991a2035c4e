// Editing the directory: units (with their consult hours), experts and interpreters, an
// expert's roster and leave, and the on-duty rota. Each editor is a form that PUTs/POSTs the
// whole record (the API's create-or-replace) and calls `saved()`. The specialty catalogue's
// editor is dashboard-specialties.js.

import { t, term } from "./i18n.js";
import { api, busy, field, h, notify, select, zonedIso, zoneTitle } from "./dashboard-core.js";
import { SPECIALTIES } from "./dashboard-cases.js";

export const WEEKDAYS = [0, 1, 2, 3, 4, 5, 6];
const TIERS = ["city", "county", "township", "village"];
const KINDS = ["domestic", "international"];
// the specialties an expert may have: the clinical ones in use, interpreting (a bookable
// resource), and any retired one they already have (a function: dashboard-cases.js and this
// module import each other through the directory)
const expertSpecialties = (expert) => [
  ...new Set([...SPECIALTIES, "interpretation", ...(expert?.specialties ?? [])])];
export const ZONES = ["Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "Asia/Tokyo",
  "Europe/London", "Europe/Berlin", "America/New_York", "America/Chicago", "America/Denver",
  "America/Los_Angeles", "UTC"];

export function weekdayName(d) {
  return term("weekdays", String(d));
}

function zoneInput(value, testid) {
  const list = `zones-${Math.random().toString(36).slice(2, 8)}`;
  return [
    h("input", { name: "time_zone", list, value, required: true, testid, spellcheck: "false",
      autocomplete: "off" }),
    h("datalist", { id: list }, ZONES.map((z) => h("option", { value: z }))),
  ];
}

function zoneField(label, value, testid, hint = null) {
  const [input, list] = zoneInput(value, testid);
  const f = field(label, input, hint);
  f.append(list);
  return { el: f, input };
}

function csv(value) {
  return value.split(",").map((x) => x.trim()).filter(Boolean);
}

function timeInput(name, value, testid) {
  return h("input", { type: "time", name, value, required: true, testid, step: 60 });
}

/** A form's shell: heading, fields, error line, save and cancel. */
export function editor(title, testid, fields, onSubmit, close) {
  const error = h("p", { class: "error", role: "alert", testid: "editor-error" });
  const save = h("button", { type: "submit", class: "primary", testid: "editor-save" }, t("save"));
  const cancel = h("button", { type: "button", testid: "editor-cancel", onclick: close },
    t("cancel"));
  const form = h("form", { class: "stack editor", testid }, h("h3", {}, title), fields, error,
    h("div", { class: "button-row" }, save, cancel));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(save, () => onSubmit(), error);
  });
  return form;
}

// ---- units ---------------------------------------------------------------------------------

export function unitEditor(unit, units, { saved, close }) {
  const id = h("input", { name: "id", value: unit?.id ?? "", required: true, testid: "unit-id",
    pattern: "[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}", readOnly: Boolean(unit) });
  const name = h("input", { name: "name", value: unit?.name ?? "", required: true,
    maxlength: 200, testid: "unit-name" });
  const tier = select("tier", TIERS, (x) => term("tiers", x), { value: unit?.tier ?? "village" });
  tier.dataset.testid = "unit-tier";
  const zone = zoneField(t("colZone"), unit?.time_zone ?? "Asia/Shanghai", "unit-zone");
  const parent = select("parent", units.filter((u) => u.id !== unit?.id).map((u) => u.id),
    (x) => units.find((u) => u.id === x)?.name ?? x, { blank: "—", value: unit?.parent_id ?? "" });
  const rooms = h("input", { name: "consult_rooms", value: (unit?.consult_rooms ?? []).join(", "),
    testid: "unit-rooms" });
  // consult hours: per weekday, any number of windows (the unit's own clock); a day with no
  // window takes no consultation, no window at all means any time. Nothing is flattened.
  const hours = consultHoursEditor(unit?.consult_hours ?? []);
  const fields = [
    field(t("unitId"), id), field(t("colName"), name), field(t("colTier"), tier), zone.el,
    field(t("colParent"), parent), field(t("colConsultRooms"), rooms, t("commaSeparated")),
    hours.el,
  ];
  return editor(unit ? t("editUnit", { name: unit.name }) : t("newUnit"), "unit-editor", fields,
    async () => {
      const body = {
        id: id.value.trim(), name: name.value.trim(), tier: tier.value,
        time_zone: zone.input.value.trim(), consult_rooms: csv(rooms.value),
        consult_hours: hours.read(),
      };
      if (parent.value) body.parent_id = parent.value;
      await api("POST", "/units", body);
      notify(t("savedUnit", { name: body.name }));
      saved();
    }, close);
}

/** The weekly consult hours: one line per weekday with its windows (add, remove). */
function consultHoursEditor(windows) {
  const lines = WEEKDAYS.map((d) => {
    const list = h("span", { class: "windows", testid: "hours-windows",
      dataset: { weekday: String(d) } });
    const closed = h("span", { class: "muted small-text", testid: "hours-closed" },
      t("consultHoursNone"));
    const sync = () => { closed.hidden = list.children.length > 0; };
    const addWindow = (w = { start: "08:00", end: "17:30" }) => {
      const from = timeInput("hours_from", w.start, "hours-from");
      from.setAttribute("aria-label", `${weekdayName(d)} ${t("from")}`);
      const to = timeInput("hours_to", w.end, "hours-to");
      to.setAttribute("aria-label", `${weekdayName(d)} ${t("to")}`);
      const win = h("span", { class: "row-edit window", testid: "hours-window" }, from, "–", to);
      win.append(h("button", { type: "button", class: "small", testid: "hours-remove",
        "aria-label": `${weekdayName(d)} ${t("removeRow")}`,
        onclick: () => { win.remove(); sync(); } }, "×"));
      win.read = () => ({ weekday: d, start: from.value, end: to.value });
      list.append(win);
      sync();
    };
    for (const w of windows.filter((x) => x.weekday === d)) addWindow(w);
    sync();
    const add = h("button", { type: "button", class: "small", testid: "hours-add",
      dataset: { weekday: String(d) }, "aria-label": `${weekdayName(d)} ${t("addHours")}`,
      onclick: () => addWindow() }, `+ ${t("addHours")}`);
    return h("li", { class: "row-edit", testid: "hours-day", dataset: { weekday: String(d) } },
      h("strong", { class: "day-name" }, weekdayName(d)), closed, list, add);
  });
  const el = h("fieldset", { class: "hours" }, h("legend", {}, t("consultHours")),
    h("p", { class: "hint" }, t("consultHoursHint")),
    h("ul", { class: "rows", testid: "hours-days" }, lines));
  const read = () => lines.flatMap((line) => [...line.querySelectorAll("[data-testid=hours-window]")]
    .map((w) => w.read()));
  return { el, read };
}

// ---- experts -------------------------------------------------------------------------------

export function expertEditor(expert, { saved, close }) {
  const id = h("input", { name: "id", value: expert?.id ?? "", required: true,
    testid: "expert-id", pattern: "[A-Za-z0-9][A-Za-z0-9._:\\-]{0,63}", readOnly: Boolean(expert) });
  const name = h("input", { name: "name", value: expert?.name ?? "", required: true,
    maxlength: 200, testid: "expert-name" });
  const inst = expert?.institution ?? {};
  const instId = h("input", { name: "institution_id", value: inst.id ?? "", required: true,
    testid: "expert-inst-id" });
  const instName = h("input", { name: "institution_name", value: inst.name ?? "", required: true,
    testid: "expert-inst-name" });
  const kind = select("kind", KINDS, (k) => t(k), { value: inst.kind ?? "domestic" });
  kind.dataset.testid = "expert-inst-kind";
  const country = h("input", { name: "country", value: inst.country ?? "CN", required: true,
    maxlength: 2, testid: "expert-country" });
  const specialties = h("select", { name: "specialties", multiple: true, size: 6, required: true,
    testid: "expert-specialties" },
  expertSpecialties(expert).map((s) => h("option", { value: s,
    selected: (expert?.specialties ?? []).includes(s) }, term("specialties", s))));
  const languages = h("input", { name: "languages", required: true,
    value: (expert?.languages ?? ["zh"]).join(", "), testid: "expert-languages" });
  const zone = zoneField(t("colZone"), expert?.time_zone ?? "Asia/Shanghai", "expert-zone",
    t("expertZoneHint"));
  const fields = [
    field(t("expertId"), id, t("expertIdHint")), field(t("colName"), name),
    field(t("institutionId"), instId), field(t("colInstitution"), instName),
    field(t("institutionKind"), kind), field(t("country"), country),
    field(t("colSpecialties"), specialties, t("specialtiesHint")),
    field(t("colLanguages"), languages, t("languagesHint")), zone.el,
  ];
  return editor(expert ? t("editExpert", { name: expert.name }) : t("newExpert"),
    "expert-editor", fields, async () => {
      const body = {
        id: id.value.trim(), name: name.value.trim(),
        institution: { id: instId.value.trim(), name: instName.value.trim(), kind: kind.value,
          country: country.value.trim().toUpperCase() },
        specialties: [...specialties.selectedOptions].map((o) => o.value),
        languages: csv(languages.value).map((l) => l.toLowerCase()),
        time_zone: zone.input.value.trim(),
      };
      await api("POST", "/experts", body);
      notify(t("savedExpert", { name: body.name }));
      saved();
    }, close);
}

// ---- roster and leave ----------------------------------------------------------------------

// an editable row keeps its reader in `read` (an <li> has a `value` of its own)
function shiftRow(shift = { weekday: 0, start: "09:00", end: "12:00" }) {
  const day = select("weekday", WEEKDAYS.map(String), weekdayName, { value: String(shift.weekday) });
  day.dataset.testid = "shift-weekday";
  day.setAttribute("aria-label", t("weekday"));
  const start = timeInput("start", shift.start, "shift-start");
  start.setAttribute("aria-label", t("from"));
  const end = timeInput("end", shift.end, "shift-end");
  end.setAttribute("aria-label", t("to"));
  const row = h("li", { class: "row-edit", testid: "shift-row" }, day, start, "–", end);
  row.append(h("button", { type: "button", class: "small", testid: "shift-remove",
    onclick: () => row.remove() }, t("removeRow")));
  row.read = () => ({ weekday: Number(day.value), start: start.value, end: end.value });
  return row;
}

function leaveRow(expert, leave = null) {
  const local = (iso) => (iso ? new Intl.DateTimeFormat("en-CA", { timeZone: expert.time_zone })
    .format(new Date(iso)) : "");
  const from = h("input", { type: "date", name: "leave_from", required: true,
    value: local(leave?.start), testid: "leave-from", "aria-label": t("leaveFrom") });
  // the API's end is exclusive: a leave ending at 00:00 of the 13th is shown as "to the 12th"
  const lastDay = leave ? local(new Date(new Date(leave.end).getTime() - 1).toISOString()) : "";
  const to = h("input", { type: "date", name: "leave_to", required: true, value: lastDay,
    testid: "leave-to", "aria-label": t("leaveTo") });
  const reason = h("input", { name: "reason", value: leave?.reason ?? "", maxlength: 500,
    testid: "leave-reason", "aria-label": t("reason") });
  const row = h("li", { class: "row-edit", testid: "leave-row" }, from, "–", to, reason);
  row.append(h("button", { type: "button", class: "small", testid: "leave-remove",
    onclick: () => row.remove() }, t("removeRow")));
  row.read = () => {
    const [y, m, d] = to.value.split("-").map(Number);
    const after = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
    return { start: zonedIso(from.value, "00:00", expert.time_zone),
      end: zonedIso(after, "00:00", expert.time_zone), reason: reason.value.trim() };
  };
  return row;
}

export function rosterEditor(expert, roster, { saved, close }) {
  const shifts = h("ul", { class: "rows", testid: "shift-rows" },
    (roster?.shifts ?? []).map((s) => shiftRow(s)));
  const leave = h("ul", { class: "rows", testid: "leave-rows" },
    (roster?.leave ?? []).map((l) => leaveRow(expert, l)));
  const holidays = h("input", { name: "holidays", value: (roster?.holidays ?? []).join(", "),
    testid: "roster-holidays" });
  const fields = [
    h("p", { class: "hint" }, t("rosterZoneNote", { zone: zoneTitle(expert.time_zone) })),
    h("fieldset", {}, h("legend", {}, t("shifts")), shifts,
      h("button", { type: "button", class: "small", testid: "shift-add",
        onclick: () => shifts.append(shiftRow()) }, t("addShift"))),
    h("fieldset", {}, h("legend", {}, t("leaveAbsence")), leave,
      h("button", { type: "button", class: "small", testid: "leave-add",
        onclick: () => leave.append(leaveRow(expert)) }, t("addLeave"))),
    field(t("holidays"), holidays, t("holidaysHint")),
  ];
  return editor(t("editRoster", { name: expert.name }), "roster-editor", fields, async () => {
    const body = {
      shifts: [...shifts.children].map((r) => r.read()),
      leave: [...leave.children].map((r) => r.read()),
      holidays: csv(holidays.value),
    };
    await api("PUT", `/experts/${encodeURIComponent(expert.id)}/roster`, body);
    notify(t("savedRoster", { name: expert.name }));
    saved();
  }, close);
}

// ---- the on-duty rota ----------------------------------------------------------------------

export function rotaEditor(specialty, rota, experts, { saved, close }) {
  const fit = experts.filter((e) => e.specialties.includes(specialty));
  const row = (slot = { expert_id: fit[0]?.id ?? "", weekday: 0, start: "08:00", end: "20:00",
    time_zone: "Asia/Shanghai" }) => {
    const who = select("expert_id", fit.map((e) => e.id),
      (x) => fit.find((e) => e.id === x)?.name ?? x, { value: slot.expert_id });
    who.dataset.testid = "rota-expert";
    who.setAttribute("aria-label", t("expert"));
    const r = shiftRow(slot);
    r.prepend(who);
    const inner = r.read;
    r.read = () => ({ ...inner(), expert_id: who.value, time_zone: slot.time_zone });
    r.dataset.testid = "rota-row";
    return r;
  };
  const rows = h("ul", { class: "rows", testid: "rota-rows" },
    rota.slots.filter((s) => s.specialty === specialty).map((s) => row(s)));
  const fields = [
    h("p", { class: "hint" }, t("rotaHint")), rows,
    fit.length ? h("button", { type: "button", class: "small", testid: "rota-add",
      onclick: () => rows.append(row()) }, t("addShift"))
      : h("p", { class: "muted" }, t("noExpertForSpecialty")),
  ];
  return editor(t("editRota", { specialty: term("specialties", specialty) }), "rota-editor", fields,
    async () => {
      await api("PUT", `/rota/${encodeURIComponent(specialty)}`,
        { slots: [...rows.children].map((r) => r.read()) });
      notify(t("savedRota", { specialty: term("specialties", specialty) }));
      saved();
    }, close);
}

/** The rota's summary: per specialty, its weekly slots (in their zone). */
export function rotaCard(rota, experts, onEdit) {
  const bySpecialty = {};
  for (const s of rota.slots) (bySpecialty[s.specialty] ??= []).push(s);
  const name = (id) => experts.find((e) => e.id === id)?.name ?? id;
  const pick = select("rota_specialty", SPECIALTIES, (s) => term("specialties", s),
    { value: "cardiology" });
  pick.dataset.testid = "rota-specialty";
  const edit = h("button", { type: "button", class: "small", testid: "rota-edit",
    onclick: () => onEdit(pick.value) }, t("editRotaButton"));
  return h("section", { class: "card", testid: "rota-card", "aria-labelledby": "rota-heading" },
    h("h3", { id: "rota-heading" }, t("rotaHeading")),
    Object.keys(bySpecialty).length ? h("ul", { class: "rota" },
      Object.entries(bySpecialty).map(([sp, slots]) => h("li", { testid: "rota-specialty-row",
        dataset: { specialty: sp } },
      h("strong", {}, term("specialties", sp)), ": ",
      slots.map((s) => `${weekdayName(s.weekday)} ${s.start}–${s.end} ${name(s.expert_id)}`)
        .join("; "))))
      : h("p", { class: "muted" }, t("noRota")),
    h("div", { class: "inline-field" }, h("label", { for: "rota-pick" }, t("specialty")),
      Object.assign(pick, { id: "rota-pick" }), edit));
}

