// The slot picker of a case (GET /cases/{id}/slots): the experts who fit and bookable
// interpreters; free slots in the next working days inside the unit's consult hours, each shown
// in the centre's time, the unit's and every chosen person's own; then book one (an expert, or a
// panel of experts with an interpreter) or move a booked case there (reschedule, with a reason).

import { languageNames, t } from "./i18n.js";
import {
  api, busy, centre, field, fill, h, notify, timeEl, zonedTimeEl, zoneTitle,
} from "./dashboard-core.js";
import { directory } from "./dashboard-directory.js";

// refusals of a booking that mean the slot was taken, or no longer fits, since it was offered
const TAKEN = new Set(["double_booking", "expert_on_leave", "off_roster", "outside_consult_hours",
  "slot_in_past"]);

/** One person's (or the unit's) local time of `iso`, labelled with who it is. */
export function partyTime(label, iso, zone, identity) {
  return h("li", { testid: "party-time", dataset: { identity, zone } },
    h("span", { class: "party" }, label), " ", zonedTimeEl(iso, zone),
    h("span", { class: "muted small-text" }, ` · ${zoneTitle(zone, new Date(iso))}`));
}

/**
 * The picker for case `c`. mode "book" books a requested case; "reschedule" moves a scheduled
 * one (asks for a reason). `done(reply)` runs after a successful booking.
 */
export function slotPicker(c, { mode = "book", done = () => {} } = {}) {
  const id = encodeURIComponent(c.id);
  const error = h("p", { class: "error", role: "alert", testid: "picker-error" });
  const people = h("fieldset", { class: "picker-experts", testid: "picker-experts" },
    h("legend", {}, t("pickerExperts")), h("p", { class: "muted" }, t("loading")));
  const interpreter = h("select", { name: "interpreter", testid: "picker-interpreter" });
  const reason = mode === "reschedule"
    ? h("input", { name: "reason", required: true, maxlength: 2000, testid: "reschedule-reason" })
    : null;
  const find = h("button", { type: "submit", class: "small", testid: "find-slots" },
    t("findSlots"));
  const results = h("div", { class: "picker-results", testid: "picker-results",
    "aria-live": "polite" });
  const form = h("form", { class: "stack picker", testid: "slot-picker" }, people,
    field(t("pickerInterpreter"), interpreter, t("pickerInterpreterHint")),
    reason ? field(t("rescheduleReason"), reason) : null, find, error);
  let info = null;

  function chosen() {
    return [...people.querySelectorAll("input[type=checkbox]:checked")].map((b) => b.value);
  }

  async function load() {
    const params = new URLSearchParams({ limit: "12" });
    const ids = chosen();
    if (ids.length) params.set("experts", ids.join(","));
    if (interpreter.value) params.set("interpreter", interpreter.value);
    const reply = await api("GET", `/cases/${id}/slots?${params}`);
    if (!info) {
      info = reply;
      fill(people, h("legend", {}, t("pickerExperts")),
        reply.experts.length ? reply.experts.map((e) => h("label", { class: "check" },
          h("input", { type: "checkbox", name: "expert", value: e.id, testid: "picker-expert",
            dataset: { expertId: e.id } }),
          ` ${e.name} `, h("span", { class: "muted small-text" },
            `${e.institution} · ${zoneTitle(e.time_zone)}${e.international ? ` · ${t("international")}` : ""}`)))
          : h("p", { class: "muted" }, t("pickerNoExperts")));
      fill(interpreter, h("option", { value: "" }, t("pickerNoInterpreter")),
        reply.interpreters.map((p) => h("option", { value: p.id },
          `${p.name} (${languageNames(p.languages)} · ${zoneTitle(p.time_zone)})`)));
    }
    render(reply);
  }

  function render(reply) {
    const zoneOf = {};
    for (const p of [...reply.experts, ...reply.interpreters]) zoneOf[p.id] = p;
    const hours = reply.unit.consult_hours.length
      ? t("consultHoursSome", { n: reply.unit.consult_hours.length, zone: zoneTitle(reply.unit.time_zone) })
      : t("consultHoursAny");
    if (!reply.slots.length) {
      fill(results, h("p", { class: "empty", testid: "no-slots" }, t("noSlots")),
        h("p", { class: "muted small-text" }, hours));
      return;
    }
    const rows = reply.slots.map((s) => {
      const who = [...s.expert_ids, ...(s.interpreter_id ? [s.interpreter_id] : [])];
      const action = h("button", { type: "button", class: "small primary", testid: "pick-slot" },
        mode === "reschedule" ? t("moveHere") : t("bookSlot"));
      action.addEventListener("click", async () => {
        const booked = await busy(action, async () => {
          const body = { expert_id: s.expert_ids[0], panel: s.expert_ids.slice(1), start: s.start };
          if (s.interpreter_id) body.interpreter_id = s.interpreter_id;
          let reply2;
          if (mode === "reschedule") {
            if (!reason.reportValidity()) return;
            reply2 = await api("POST", `/cases/${id}/reschedule`,
              { ...body, reason: reason.value.trim() });
            notify(t("rescheduled"));
          } else {
            reply2 = await api("POST", `/cases/${id}/booking`, body);
            notify(t("bookedPanel", { n: who.length }));
          }
          done(reply2);
          return true;
        }, error);
        // taken (or no longer fitting) since the list was drawn: the list shows what is free
        // now; the refusal's sentence stays above it
        if (!booked && TAKEN.has(error.dataset.code) && error.textContent) {
          await load().catch(() => {});
        }
      });
      return h("tr", { testid: "slot-row", dataset: { start: s.start, experts: who.join(",") } },
        h("td", {}, timeEl(s.start, { weekday: true })),
        h("td", {}, h("ul", { class: "party-times" },
          partyTime(reply.unit.name, s.start, reply.unit.time_zone, `unit-${reply.unit.id}`),
          who.map((pid) => partyTime(zoneOf[pid]?.name || pid, s.start,
            zoneOf[pid]?.time_zone || centre.zone, pid)))),
        h("td", {}, s.sla_breach ? h("span", { class: "badge sla sla-breach" }, t("slaBreach"))
          : h("span", { class: "badge sla sla-met" }, t("slaMet"))),
        h("td", {}, action));
    });
    fill(results,
      h("p", { class: "muted small-text" }, hours, " · ",
        t("slotsUntil", { n: reply.slots.length }), " ", timeEl(reply.until)),
      h("div", { class: "table-scroll" }, h("table", { class: "table compact", testid: "slots-table" },
        h("caption", { class: "visually-hidden" }, t("pickerHeading")),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, t("colCentreTime")),
          h("th", { scope: "col" }, t("colLocalTimes")),
          h("th", { scope: "col" }, t("colSla")),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, t("colActions"))))),
        h("tbody", {}, rows))));
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(find, load, error);
  });
  busy(null, async () => { await directory.load(); await load(); }, error);
  return h("section", { class: "card picker-card", testid: "slot-picker-card",
    "aria-labelledby": `picker-${c.id}` },
  h("h3", { id: `picker-${c.id}` }, mode === "reschedule" ? t("rescheduleHeading")
    : t("pickerHeading")),
  form, results);
}
