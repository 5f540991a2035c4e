// The specialty catalogue in the directory: every specialty with its English and Chinese
// names; create one, rename it (its names: the slug is its id for good), retire it (no new
// expert, case or rota slot names it; history keeps it) or bring it back.

import { t } from "./i18n.js";
import { api, busy, field, h, notify } from "./dashboard-core.js";
import { editor } from "./dashboard-admin.js";
import { table } from "./dashboard-directory.js";

function nameInput(name, value, testid, lang) {
  return h("input", { name, value, required: true, maxlength: 100, testid, lang });
}

/** Create (`entry` null) or rename a specialty. */
export function specialtyEditor(entry, { saved, close }) {
  const slug = h("input", { name: "slug", value: entry?.slug ?? "", required: true,
    testid: "specialty-slug", pattern: "[A-Za-z][A-Za-z0-9_]{1,47}", readOnly: Boolean(entry),
    spellcheck: "false", autocomplete: "off" });
  const en = nameInput("name_en", entry?.name_en ?? "", "specialty-name-en", "en");
  const zh = nameInput("name_zh", entry?.name_zh ?? "", "specialty-name-zh", "zh-CN");
  const fields = [field(t("specialtySlug"), slug, t("specialtySlugHint")),
    field(t("specialtyNameEn"), en), field(t("specialtyNameZh"), zh)];
  const title = entry ? t("editSpecialty", { name: entry.name_en }) : t("newSpecialty");
  return editor(title, "specialty-editor", fields, async () => {
    const names = { name_en: en.value.trim(), name_zh: zh.value.trim() };
    const got = entry
      ? await api("PATCH", `/specialties/${encodeURIComponent(entry.slug)}`, names)
      : await api("POST", "/specialties", { slug: slug.value.trim().toLowerCase(), ...names });
    notify(t("savedSpecialty", { name: got.name_en }));
    saved();
  }, close);
}

/** The catalogue's table: names, in use or retired, edit and retire / bring back. */
export function specialtiesCard(entries, onEdit, reload, error) {
  const retire = (e) => h("button", { type: "button", class: e.retired ? "small" : "small danger",
    testid: e.retired ? "restore-specialty" : "retire-specialty",
    disabled: e.slug === "interpretation",
    onclick: (ev) => busy(ev.target, async () => {
      await api("PATCH", `/specialties/${encodeURIComponent(e.slug)}`, { retired: !e.retired });
      notify(t(e.retired ? "restoredSpecialty" : "retiredSpecialty", { name: e.name_en }));
      reload();
    }, error) }, e.retired ? t("restoreSpecialty") : t("retireSpecialty"));
  return h("section", { class: "card", testid: "specialties-card",
    "aria-labelledby": "specialties-heading" },
  h("h3", { id: "specialties-heading" }, t("specialtiesHeading"),
    h("span", { class: "count" }, ` ${entries.length}`)),
  table("specialties-table", t("specialtiesHeading"),
    ["specialtySlug", "specialtyNameEn", "specialtyNameZh", "colStatus", "colActions"],
    entries.map((e) => h("tr", { testid: "specialty-row",
      dataset: { slug: e.slug, retired: String(e.retired) } },
    h("th", { scope: "row", class: "mono small-text" }, e.slug),
    h("td", { lang: "en" }, e.name_en),
    h("td", { lang: "zh-CN" }, e.name_zh),
    h("td", {}, h("span", { class: `badge ${e.retired ? "" : "green"}`, testid: "specialty-state" },
      e.retired ? t("specialtyRetired") : t("specialtyInUse"))),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "small", testid: "edit-specialty",
        onclick: () => onEdit(e) }, t("edit")),
      retire(e))))));
}
