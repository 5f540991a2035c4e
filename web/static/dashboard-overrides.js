// Dated duty overrides in the directory: the list (each with its period in the centre's time,
// who is on duty, when it was made), adding one and deleting one. Where overrides overlap,
// the most recently created one is paged first (the API's rule; the hint says so).

import { t, term } from "./i18n.js";
import {
  api, busy, centre, field, h, notify, select, timeEl, zoneNote, zonedIso, zoneTitle,
} from "./dashboard-core.js";
import { SPECIALTIES } from "./dashboard-cases.js";

function dateTimeInput(name, testid) {
  return h("input", { type: "datetime-local", name, required: true, testid, step: 60 });
}

/** The overrides card: list, delete, add. `reload()` after a change. */
export function overridesCard(rota, experts, reload, error) {
  const name = (id) => experts.find((e) => e.id === id)?.name ?? id;
  const rows = [...rota.overrides].sort((a, b) => a.start.localeCompare(b.start)
    || (b.created_at ?? "").localeCompare(a.created_at ?? ""));
  const remove = (o) => h("button", { type: "button", class: "small danger",
    testid: "override-delete", onclick: (ev) => busy(ev.target, async () => {
      await api("DELETE", `/rota/overrides/${encodeURIComponent(o.id)}`);
      notify(t("overrideDeleted"));
      reload();
    }, error) }, t("removeRow"));
  const list = rows.length
    ? h("ul", { class: "plain-list", testid: "override-list" }, rows.map((o) => h("li", {
      testid: "override-row", dataset: { overrideId: o.id, expertId: o.expert_id,
        specialty: o.specialty } },
    h("strong", {}, term("specialties", o.specialty)), ` · ${name(o.expert_id)} · `,
    timeEl(o.start, { weekday: true }), " – ", timeEl(o.end, { weekday: true }), " ",
    o.created_at ? h("span", { class: "muted small-text" }, t("overrideMade"), " ",
      timeEl(o.created_at, { zone: false })) : null, " ", remove(o))))
    : h("p", { class: "muted" }, t("noOverrides"));

  const specialty = select("override_specialty", SPECIALTIES, (s) => term("specialties", s),
    { value: "cardiology" });
  specialty.dataset.testid = "override-specialty";
  const who = h("select", { name: "override_expert", required: true,
    testid: "override-expert" });
  const fillWho = () => {
    const fit = experts.filter((e) => e.specialties.includes(specialty.value));
    who.replaceChildren(...fit.map((e) => h("option", { value: e.id }, e.name)));
  };
  specialty.addEventListener("change", fillWho);
  fillWho();
  const from = dateTimeInput("override_from", "override-from");
  const to = dateTimeInput("override_to", "override-to");
  const formError = h("p", { class: "error", role: "alert", testid: "override-error" });
  const add = h("button", { type: "submit", class: "primary small", testid: "override-add" },
    t("addOverride"));
  const zoneHint = `${t("centreTimeHint")} (${zoneTitle(centre.zone)})`;
  const form = h("form", { class: "stack", testid: "override-form" },
    h("h4", {}, t("addOverride")),
    h("div", { class: "inline-fields" }, field(t("specialty"), specialty),
      field(t("expert"), who)),
    h("div", { class: "inline-fields" }, field(t("from"), from, zoneHint),
      field(t("to"), to, zoneHint)),
    formError, add);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(add, async () => {
      const [fd, ft] = from.value.split("T");
      const [td, tt] = to.value.split("T");
      await api("POST", "/rota/overrides", { specialty: specialty.value, expert_id: who.value,
        start: zonedIso(fd, ft, centre.zone), end: zonedIso(td, tt, centre.zone) });
      notify(t("overrideAdded", { name: name(who.value) }));
      reload();
    }, formError);
  });
  return h("section", { class: "card", testid: "overrides-card",
    "aria-labelledby": "overrides-heading" },
  h("h3", { id: "overrides-heading" }, t("overridesHeading"), zoneNote()),
  h("p", { class: "hint" }, t("overridesHint")), list, form);
}
