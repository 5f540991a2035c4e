// Statistics: the tiles, charts drawn with Chart.js (loaded on first use from
// /static/vendor/chartjs/chart.umd.min.js, the npm package served as socket.io's client is) and the
// same figures as tables (what a screen reader reads; the charts are images of them).
// Cases per period by urgency and by kind (domestic / international: every case counts), SLA met
// %, emergency time to the first expert, and cases per unit and per specialty.

import { locale, t, term } from "./i18n.js";
import { api, busy, fill, h, select } from "./dashboard-core.js";
import { directory, table, unitName } from "./dashboard-directory.js";

const PERIODS = ["day", "week", "month", "quarter", "year"];
// colours with at least 3:1 contrast against the white card (WCAG non-text contrast)
const COLOURS = { blue: "#0b5cad", red: "#b42318", green: "#146c2e", amber: "#8a5a00",
  purple: "#6941c6", grey: "#56616f" };

let chartLib = null;

/** Chart.js, loaded once by a <script src> (the page's CSP allows scripts from 'self' only). */
export function loadChartJs() {
  if (window.Chart) return Promise.resolve(window.Chart);
  if (!chartLib) {
    chartLib = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/vendor/chartjs/chart.umd.min.js";
      script.onload = () => resolve(window.Chart);
      script.onerror = () => { chartLib = null; reject(new Error(t("chartsUnavailable"))); };
      document.head.append(script);
    });
  }
  return chartLib;
}

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

function seconds(value) {
  return value == null ? "—" : t("secondsShort", { n: Math.round(value) });
}

function totalsTable(testid, caption, rows, name, first = "colName") {
  return table(testid, caption,
    [first, "colTotal", "domestic", "international", "slaMetPct", "toFirstExpert", "referrals"],
    Object.entries(rows).map(([key, s]) => h("tr", {},
      h("th", { scope: "row" }, name(key)), h("td", { class: "num" }, String(s.total)),
      h("td", { class: "num" }, String(s.domestic)),
      h("td", { class: "num" }, String(s.international)),
      h("td", { class: "num" }, pct(s.sla_met_pct)),
      h("td", { class: "num" }, seconds(s.emergency_to_expert_median_s)),
      h("td", { class: "num" }, String(s.referrals)))));
}

/** A chart card: a <canvas> (an image with a label; the numbers are in the tables below), or,
 * with `empty` given, that sentence in its place: empty axes read as a broken chart. */
function chartFigure(testid, title, empty = "") {
  const canvas = empty ? null
    : h("canvas", { role: "img", "aria-label": title, testid: `${testid}-canvas` });
  return { canvas, el: h("figure", { class: "card chart", testid },
    h("figcaption", {}, h("h3", {}, title)),
    canvas ? h("div", { class: "chart-box" }, canvas)
      : h("p", { class: "muted chart-empty", testid: `${testid}-empty` }, empty)) };
}

/** Why the emergency chart has nothing to draw ("" when it has): no emergency in the period,
 * or none has a time to its first expert yet. */
function emergencyGap(overall, rows) {
  if (!overall.by_urgency?.emergency) return t("noEmergencies");
  const timed = rows.some((r) => r.emergency_to_expert_median_s != null);
  return timed ? "" : t("noEmergencyTimes");
}

function bar(Chart, canvas, labels, datasets, { stacked = false, horizontal = false,
  percent = false } = {}) {
  return new Chart(canvas, {
    type: "bar",
    data: { labels, datasets },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      // the axes' and tooltips' numbers in the page's language, not the browser's
      locale,
      indexAxis: horizontal ? "y" : "x",
      scales: {
        x: { stacked, beginAtZero: true, ticks: { precision: 0 } },
        y: { stacked, beginAtZero: true, ticks: { precision: 0 },
          ...(percent ? { max: 100 } : {}) },
      },
      plugins: { legend: { display: datasets.length > 1, position: "bottom" } },
    },
  });
}

export function mountStats(view) {
  const period = select("period", PERIODS, (p) => term("periods", p), { value: "month" });
  period.id = "stats-period";
  period.dataset.testid = "stats-period";
  const body = h("div", { class: "stats", testid: "stats" }, h("p", { class: "muted" }, t("loading")));
  const error = h("p", { class: "error", role: "alert" });
  let charts = [];
  fill(view,
    h("div", { class: "section-head" }, h("h2", {}, t("statsHeading")),
      h("div", { class: "inline-field" }, h("label", { for: "stats-period" }, t("period")), period)),
    error, body);

  function destroy() {
    for (const c of charts) c.destroy();
    charts = [];
  }

  async function load() {
    await busy(null, async () => {
      await directory.load();
      const [s, Chart] = await Promise.all([api("GET", `/stats?period=${period.value}`),
        loadChartJs()]);
      const o = s.overall;
      const periods = Object.keys(s.by_period);
      const rows = Object.values(s.by_period);
      const units = Object.keys(s.by_unit);
      const specialties = Object.keys(s.by_specialty);
      const figs = {
        urgency: chartFigure("chart-urgency", t("chartUrgency")),
        kind: chartFigure("chart-kind", t("chartKind")),
        sla: chartFigure("chart-sla", t("chartSla")),
        emergency: chartFigure("chart-emergency", t("chartEmergency"), emergencyGap(o, rows)),
        unit: chartFigure("chart-unit", t("chartUnit")),
        specialty: chartFigure("chart-specialty", t("chartSpecialty")),
      };
      destroy();
      fill(body,
        h("div", { class: "tiles" },
          tile(t("total"), String(o.total), null, "stat-total"),
          tile(t("slaMetPct"), pct(o.sla_met_pct),
            t("slaCounts", { met: o.sla_met, breached: o.sla_breached }), "stat-sla"),
          tile(t("domesticIntl"), `${o.domestic} / ${o.international}`, t("domesticIntlHint"),
            "stat-intl"),
          tile(t("toFirstExpert"), seconds(o.emergency_to_expert_median_s),
            t("toFirstExpertDetail", { n: o.emergency_to_expert_count,
              p90: seconds(o.emergency_to_expert_p90_s) }), "stat-first-expert"),
          tile(t("referrals"), String(o.referrals), t("greenChannelCount", { n: o.green_channel }),
            "stat-referrals")),
        h("div", { class: "charts", testid: "charts" }, Object.values(figs).map((f) => f.el)),
        h("div", { class: "card breakdowns" },
          breakdown(t("byUrgency"), "urgencies", o.by_urgency),
          breakdown(t("byStatus"), "statuses", o.by_status)),
        h("div", { class: "stats-tables" },
          h("section", { class: "card" }, h("h3", {}, t("byPeriod")),
            totalsTable("stats-by-period", t("byPeriod"), s.by_period, (k) => k, "period")),
          h("section", { class: "card" }, h("h3", {}, t("byUnit")),
            totalsTable("stats-by-unit", t("byUnit"), s.by_unit, unitName, "colUnit")),
          h("section", { class: "card" }, h("h3", {}, t("bySpecialty")),
            totalsTable("stats-by-specialty", t("bySpecialty"), s.by_specialty,
              (k) => term("specialties", k), "specialty"))));
      charts = [
        bar(Chart, figs.urgency.canvas, periods, [
          { label: term("urgencies", "routine"), data: rows.map((r) => r.by_urgency.routine || 0),
            backgroundColor: COLOURS.blue },
          { label: term("urgencies", "emergency"),
            data: rows.map((r) => r.by_urgency.emergency || 0), backgroundColor: COLOURS.red },
        ], { stacked: true }),
        bar(Chart, figs.kind.canvas, periods, [
          { label: t("domestic"), data: rows.map((r) => r.domestic), backgroundColor: COLOURS.green },
          { label: t("international"), data: rows.map((r) => r.international),
            backgroundColor: COLOURS.purple },
        ], { stacked: true }),
        bar(Chart, figs.sla.canvas, periods, [
          { label: t("slaMetPct"), data: rows.map((r) => r.sla_met_pct),
            backgroundColor: COLOURS.green },
        ], { percent: true }),
        figs.emergency.canvas && bar(Chart, figs.emergency.canvas, periods, [
          { label: t("median"), data: rows.map((r) => r.emergency_to_expert_median_s),
            backgroundColor: COLOURS.amber },
          { label: t("p90"), data: rows.map((r) => r.emergency_to_expert_p90_s),
            backgroundColor: COLOURS.grey },
        ]),
        bar(Chart, figs.unit.canvas, units.map(unitName), [
          { label: t("domestic"), data: units.map((u) => s.by_unit[u].domestic),
            backgroundColor: COLOURS.green },
          { label: t("international"), data: units.map((u) => s.by_unit[u].international),
            backgroundColor: COLOURS.purple },
        ], { stacked: true, horizontal: true }),
        bar(Chart, figs.specialty.canvas, specialties.map((k) => term("specialties", k)), [
          { label: t("total"), data: specialties.map((k) => s.by_specialty[k].total),
            backgroundColor: COLOURS.blue },
        ], { horizontal: true }),
      ].filter(Boolean);
      body.dataset.charts = String(charts.length);
    }, error);
  }
  period.addEventListener("change", load);
  load();
  return destroy;
}
