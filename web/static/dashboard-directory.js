// The directory (experts, interpreters, units and the rota, each editable: dashboard-admin.js)
// and the statistics; also the cache of names the other sections show instead of ids.

import {
  STRINGS, countryName, languageNames, setSpecialtyNames, t, term,
} from "./i18n.js";
import { api, busy, fill, h, notify, zoneTitle } from "./dashboard-core.js";
import {
  expertEditor, rosterEditor, rotaCard, rotaEditor, unitEditor, weekdayName,
} from "./dashboard-admin.js";
import { SPECIALTIES } from "./dashboard-cases.js";
import { specialtiesCard, specialtyEditor } from "./dashboard-specialties.js";
import { overridesCard } from "./dashboard-overrides.js";

/** Units, experts and the specialty catalogue, loaded once per few seconds at most. */
export const directory = {
  units: [],
  experts: [],
  specialties: [],
  accounts: [], // sign-in accounts, for the names of the people in audit trails
  loadedAt: 0,
  pending: null,
  async load({ force = false } = {}) {
    if (!force && Date.now() - this.loadedAt < 10_000) return this;
    if (!this.pending) {
      this.pending = Promise.all([api("GET", "/units"), api("GET", "/experts"),
        api("GET", "/specialties"),
        // an API token may not list accounts: its pages then show user names as they are
        api("GET", "/accounts").catch(() => ({ accounts: [] }))])
        .then(([u, e, s, a]) => {
          this.units = u.units;
          this.accounts = a.accounts;
          this.experts = e.experts;
          this.specialties = s.specialties;
          setSpecialtyNames(s.specialties);
          // what new cases, experts and rota slots are offered: the clinical ones in use
          SPECIALTIES.splice(0, SPECIALTIES.length, ...s.specialties
            .filter((x) => !x.retired && x.slug !== "interpretation").map((x) => x.slug));
          this.loadedAt = Date.now();
          return this;
        })
        .finally(() => { this.pending = null; });
    }
    return this.pending;
  },
};

export function unitName(id) {
  const unit = directory.units.find((u) => u.id === id);
  return unit ? unit.name : id;
}

export function expertName(id) {
  const expert = directory.experts.find((e) => e.id === id);
  return expert ? expert.name : id;
}

/** Who did something, as a person reads it: an account's or an expert's name, a role's name
 * for a bare role identity (the "coordinator" of a service token), the server's automatic
 * work in words, never a user name or id when a name is known. Returns { name, role } where
 * role is the account's role when the entry does not say it. */
export function actorOf(actor) {
  const account = directory.accounts.find((a) => a.username === actor);
  if (account) return { name: account.display_name || actor, role: account.role };
  const expert = directory.experts.find((e) => e.id === actor);
  if (expert) return { name: expert.name, role: "expert" };
  if (String(actor).startsWith("api-token:")) return { name: term("actors", "apiToken"), role: null };
  const automatic = STRINGS.en.actors[actor] ? term("actors", actor) : null;
  if (automatic) return { name: automatic, role: null };
  if (STRINGS.en.roles[actor]) {
    return { name: t("actorByRole", { role: term("roles", actor) }), role: null };
  }
  return { name: actor, role: null };
}

export function table(testid, caption, columns, rows) {
  // a region that may scroll sideways: focusable, so a keyboard can scroll it too
  return h("div", { class: "table-scroll", tabindex: 0, role: "region", "aria-label": caption },
    h("table", { class: "table", testid },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, t(c))))),
      h("tbody", {}, rows)));
}

export function mountDirectory(view) {
  const experts = h("section", { class: "card", "aria-labelledby": "experts-heading" },
    h("h3", { id: "experts-heading" }, t("expertsHeading")), h("p", { class: "muted" }, t("loading")));
  const units = h("section", { class: "card", "aria-labelledby": "units-heading" },
    h("h3", { id: "units-heading" }, t("unitsHeading")), h("p", { class: "muted" }, t("loading")));
  const rota = h("div");
  const specialties = h("div");
  const overrides = h("div");
  const error = h("p", { class: "error", role: "alert" });
  // one editor at a time, above the tables
  const editorSlot = h("div", { class: "card editor-card", testid: "directory-editor",
    hidden: true });
  const close = () => { fill(editorSlot); editorSlot.hidden = true; };
  const open = (form) => {
    fill(editorSlot, form);
    editorSlot.hidden = false;
    form.querySelector("input:not([readonly]), select")?.focus();
  };
  const hooks = { saved: () => { close(); load(); }, close };
  const newUnit = h("button", { type: "button", class: "small", testid: "new-unit",
    onclick: () => open(unitEditor(null, directory.units, hooks)) }, t("newUnit"));
  const newExpert = h("button", { type: "button", class: "small", testid: "new-expert",
    onclick: () => open(expertEditor(null, hooks)) }, t("newExpert"));
  const newSpecialty = h("button", { type: "button", class: "small", testid: "new-specialty",
    onclick: () => open(specialtyEditor(null, hooks)) }, t("newSpecialty"));
  fill(view, h("div", { class: "section-head" }, h("h2", {}, t("navDirectory")),
    h("div", { class: "button-row" }, newExpert, newUnit, newSpecialty)), error, editorSlot,
  h("div", { class: "directory" }, experts, units), rota, overrides, specialties);

  const editButton = (label, testid, onclick) => h("button", { type: "button", class: "small",
    testid, onclick }, label);
  // deleting asks for a second click; the server refuses (409, with why) what history names
  const deleteButton = (testid, path, done) => {
    const button = h("button", { type: "button", class: "small danger", testid },
      t("deleteButton"));
    button.addEventListener("click", () => {
      if (button.dataset.armed !== "true") {
        button.dataset.armed = "true";
        button.textContent = t("confirmDelete");
        return;
      }
      busy(button, async () => {
        await api("DELETE", path);
        notify(done);
        load();
      }, error);
    });
    return button;
  };

  async function load() {
    await busy(null, async () => {
      await directory.load({ force: true });
      const rotaData = await api("GET", "/rota");
      fill(experts, h("h3", { id: "experts-heading" }, t("expertsHeading"),
        h("span", { class: "count" }, ` ${directory.experts.length}`)),
      directory.experts.length ? table("experts-table", t("expertsHeading"),
        ["colName", "colInstitution", "colSpecialties", "colLanguages", "colZone", "colActions"],
        directory.experts.map((e) => h("tr", { testid: "expert-row", dataset: { expertId: e.id } },
          h("th", { scope: "row" }, e.name, h("div", { class: "muted mono small-text" }, e.id)),
          h("td", {}, e.institution.name, " ",
            h("span", { class: `badge ${e.international ? "intl" : ""}`, testid: "expert-kind" },
              e.international ? `${t("international")} · ${countryName(e.institution.country)}`
                : t("domestic"))),
          h("td", { class: "terms", testid: "expert-specialties" },
            e.specialties.map((s) => term("specialties", s)).join(", ")),
          h("td", { testid: "expert-languages-names" }, languageNames(e.languages)),
          h("td", { class: "small-text", title: e.time_zone, testid: "expert-zone-name" }, zoneTitle(e.time_zone)),
          h("td", { class: "actions" },
            editButton(t("edit"), "edit-expert", () => open(expertEditor(e, hooks))),
            deleteButton("delete-expert", `/experts/${encodeURIComponent(e.id)}`,
              t("deletedExpert", { name: e.name })),
            editButton(t("roster"), "edit-roster", () => busy(null, async () => {
              const roster = await api("GET", `/experts/${encodeURIComponent(e.id)}/roster`)
                .catch((err) => (err.status === 404 ? null : Promise.reject(err)));
              open(rosterEditor(e, roster, hooks));
            }, error))))))
        : h("p", { class: "empty" }, t("noExperts")));
      fill(units, h("h3", { id: "units-heading" }, t("unitsHeading"),
        h("span", { class: "count" }, ` ${directory.units.length}`)),
      directory.units.length ? table("units-table", t("unitsHeading"),
        ["colName", "colTier", "colParent", "colConsultRooms", "consultHours", "colActions"],
        directory.units.map((u) => h("tr", { testid: "unit-row", dataset: { unitId: u.id } },
          h("th", { scope: "row" }, u.name, h("div", { class: "muted mono small-text" }, u.id)),
          h("td", {}, h("span", { class: `badge tier-${u.tier}` }, term("tiers", u.tier))),
          h("td", {}, u.parent_id ? unitName(u.parent_id) : "—"),
          h("td", {}, u.consult_rooms.join(", ") || "—"),
          h("td", { class: "small-text", testid: "unit-hours" }, hoursText(u)),
          h("td", { class: "actions" },
            editButton(t("edit"), "edit-unit",
              () => open(unitEditor(u, directory.units, hooks))),
            deleteButton("delete-unit", `/units/${encodeURIComponent(u.id)}`,
              t("deletedUnit", { name: u.name }))))))
        : h("p", { class: "empty" }, t("noUnits")));
      fill(rota, rotaCard(rotaData, directory.experts,
        (sp) => open(rotaEditor(sp, rotaData, directory.experts, hooks))));
      fill(overrides, overridesCard(rotaData, directory.experts, load, error));
      fill(specialties, specialtiesCard(directory.specialties,
        (entry) => open(specialtyEditor(entry, hooks)), hooks.saved, error));
    }, error);
  }
  load();
  return null;
}

/** "Mon–Fri 08:00–17:30 (China Standard Time)" style summary of a unit's consult hours. */
function hoursText(u) {
  if (!u.consult_hours.length) return t("consultHoursAny");
  const windows = u.consult_hours.map((w) => `${weekdayName(w.weekday)} ${w.start}–${w.end}`);
  return `${windows.join(t("listSeparator"))} (${zoneTitle(u.time_zone)})`;
}

