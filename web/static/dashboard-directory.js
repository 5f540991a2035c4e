// The directory (experts and units, read-only) and the statistics summary; also the cache of
// names the other sections show instead of ids.

import { t, term } from "./i18n.js";
import { api, busy, fill, h, select } from "./dashboard-core.js";

/** Units and experts, loaded once per few seconds at most. */
export const directory = {
  units: [],
  experts: [],
  loadedAt: 0,
  pending: null,
  async load({ force = false } = {}) {
    if (!force && Date.now() - this.loadedAt < 10_000) return this;
    if (!this.pending) {
      this.pending = Promise.all([api("GET", "/units"), api("GET", "/experts")])
        .then(([u, e]) => {
          this.units = u.units;
          this.experts = e.experts;
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

function table(testid, caption, columns, rows) {
  return h("div", { class: "table-scroll" },
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
  const error = h("p", { class: "error", role: "alert" });
  fill(view, h("div", { class: "section-head" }, h("h2", {}, t("navDirectory"))), error,
    h("div", { class: "directory" }, experts, units));

  busy(null, async () => {
    await directory.load({ force: true });
    fill(experts, h("h3", { id: "experts-heading" }, t("expertsHeading"),
      h("span", { class: "count" }, ` ${directory.experts.length}`)),
    directory.experts.length ? table("experts-table", t("expertsHeading"),
      ["colName", "colInstitution", "colSpecialties", "colLanguages", "colZone"],
      directory.experts.map((e) => h("tr", { testid: "expert-row", dataset: { expertId: e.id } },
        h("th", { scope: "row" }, e.name, h("div", { class: "muted mono small-text" }, e.id)),
        h("td", {}, e.institution.name, " ",
          h("span", { class: `badge ${e.international ? "intl" : ""}` },
            e.international ? `${t("international")} · ${e.institution.country}` : t("domestic"))),
        h("td", {}, e.specialties.map((s) => term("specialties", s)).join(", ")),
        h("td", {}, e.languages.join(", ")),
        h("td", { class: "mono small-text" }, e.time_zone))))
      : h("p", { class: "empty" }, t("noExperts")));
    fill(units, h("h3", { id: "units-heading" }, t("unitsHeading"),
      h("span", { class: "count" }, ` ${directory.units.length}`)),
    directory.units.length ? table("units-table", t("unitsHeading"),
      ["colName", "colTier", "colParent", "colConsultRooms"],
      directory.units.map((u) => h("tr", { testid: "unit-row", dataset: { unitId: u.id } },
        h("th", { scope: "row" }, u.name, h("div", { class: "muted mono small-text" }, u.id)),
        h("td", {}, h("span", { class: `badge tier-${u.tier}` }, term("tiers", u.tier))),
        h("td", {}, u.parent_id ? unitName(u.parent_id) : "—"),
        h("td", {}, u.consult_rooms.join(", ") || "—"))))
      : h("p", { class: "empty" }, t("noUnits")));
  }, error);
  return null;
}

// ---- statistics ---------------------------------------------------------------------------

const PERIODS = ["day", "week", "month", "quarter", "year"];

function tile(label, value, detail, testid) {
  return h("div", { class: "tile", testid },
    h("div", { class: "tile-label" }, label),
    h("div", { class: "tile-value" }, value),
    detail ? h("div", { class: "tile-detail muted" }, detail) : null);
}

function breakdown(title, group, counts) {
  const entries = Object.entries(counts || {});
  return h("div", { class: "breakdown" }, h("h4", {}, title),
    entries.length ? h("ul", {}, entries.map(([k, n]) =>
      h("li", {}, h("span", {}, term(group, k)), h("strong", {}, String(n)))))
      : h("p", { class: "muted" }, t("noData")));
}

function pct(value) {
  return value == null ? "—" : `${Math.round(value * 10) / 10}%`;
}

function totalsTable(testid, caption, rows, name, first = "colName") {
  return table(testid, caption, [first, "colTotal", "slaMetPct", "referrals"],
    Object.entries(rows).map(([key, s]) => h("tr", {},
      h("th", { scope: "row" }, name(key)), h("td", { class: "num" }, String(s.total)),
      h("td", { class: "num" }, pct(s.sla_met_pct)), h("td", { class: "num" }, String(s.referrals)))));
}

export function mountStats(view) {
  const period = select("period", PERIODS, (p) => term("periods", p), { value: "month" });
  period.id = "stats-period";
  period.dataset.testid = "stats-period";
  const body = h("div", { class: "stats", testid: "stats" }, h("p", { class: "muted" }, t("loading")));
  const error = h("p", { class: "error", role: "alert" });
  fill(view,
    h("div", { class: "section-head" }, h("h2", {}, t("statsHeading")),
      h("div", { class: "inline-field" }, h("label", { for: "stats-period" }, t("period")), period)),
    error, body);

  async function load() {
    await busy(null, async () => {
      await directory.load();
      const s = await api("GET", `/stats?period=${period.value}`);
      const o = s.overall;
      fill(body,
        h("div", { class: "tiles" },
          tile(t("total"), String(o.total), null, "stat-total"),
          tile(t("slaMetPct"), pct(o.sla_met_pct),
            t("slaCounts", { met: o.sla_met, breached: o.sla_breached }), "stat-sla"),
          tile(t("domesticIntl"), `${o.domestic} / ${o.international}`, null, "stat-intl"),
          tile(t("referrals"), String(o.referrals), t("greenChannelCount", { n: o.green_channel }),
            "stat-referrals")),
        h("div", { class: "card breakdowns" },
          breakdown(t("byUrgency"), "urgencies", o.by_urgency),
          breakdown(t("byStatus"), "statuses", o.by_status)),
        h("div", { class: "directory" },
          h("section", { class: "card" }, h("h3", {}, t("byUnit")),
            totalsTable("stats-by-unit", t("byUnit"), s.by_unit, unitName, "colUnit")),
          h("section", { class: "card" }, h("h3", {}, t("byPeriod")),
            totalsTable("stats-by-period", t("byPeriod"), s.by_period, (k) => k, "period"))));
    }, error);
  }
  period.addEventListener("change", load);
  load();
  return null;
}
