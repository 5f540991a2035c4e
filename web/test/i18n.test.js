// The one string table: both languages complete, placeholders kept, no raw codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { STRINGS, pickLanguage, translator } from "../static/i18n.js";

function flatten(table, prefix = "") {
  const out = {};
  for (const [key, value] of Object.entries(table)) {
    if (value && typeof value === "object") Object.assign(out, flatten(value, `${prefix}${key}.`));
    else out[`${prefix}${key}`] = String(value);
  }
  return out;
}

test("en and zh have the same keys", () => {
  const en = Object.keys(flatten(STRINGS.en)).sort();
  const zh = Object.keys(flatten(STRINGS.zh)).sort();
  // English specialty names are their codes with spaces (term() does it); Chinese needs a table
  assert.deepEqual(zh.filter((k) => !en.includes(k) && !k.startsWith("specialties.")), []);
  assert.deepEqual(en.filter((k) => !zh.includes(k)), []);
});

test("every string has the same placeholders in both languages", () => {
  const en = flatten(STRINGS.en);
  const zh = flatten(STRINGS.zh);
  const names = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const key of Object.keys(en)) {
    if (key in zh) assert.deepEqual(names(zh[key]), names(en[key]), key);
  }
});

test("the Chinese table is Chinese", () => {
  const zh = flatten(STRINGS.zh);
  // a pattern of placeholders and punctuation only ("{name}（{specialty}）") has no words to
  // translate: what counts is Latin text left once the placeholders are taken out
  const words = (v) => v.replace(/\{\w+\}/g, "");
  const latinOnly = Object.entries(zh).filter(
    ([, v]) => words(v).length > 3 && /[A-Za-z]/.test(words(v)) && !/[\u4e00-\u9fff]/.test(v),
  );
  // a few are names or symbols on purpose (the language switch says 中文 / English)
  assert.ok(latinOnly.length < 8, `untranslated: ${latinOnly.map(([k]) => k).join(", ")}`);
});

test("the language follows ?lang= first, then the browser", () => {
  assert.equal(pickLanguage("?lang=zh", ["en-GB"]), "zh");
  assert.equal(pickLanguage("", ["zh-CN", "en"]), "zh");
  assert.equal(pickLanguage("?lang=fr", ["de-DE"]), "en");
  assert.equal(pickLanguage("", []), "en");
});

test("t fills placeholders and falls back to English, then to the key", () => {
  const { t, term } = translator("zh");
  assert.equal(t("roomLabel", { room: "r1" }), "会诊室 r1");
  assert.equal(t("noSuchKey"), "noSuchKey");
  assert.equal(term("roles", "expert"), "专家");
  assert.equal(term("roles", "new_role"), "new role");
});

test("a server error code reads as a sentence in the page's language, never as the code", () => {
  const zh = translator("zh");
  const en = translator("en");
  assert.equal(zh.errorText({ code: "double_booking", message: "slot taken" }), STRINGS.zh.errors.double_booking);
  assert.equal(en.errorText("permission_denied"), STRINGS.en.errors.permission_denied);
  // an unknown code, no code, or a non-string: the generic sentence of that language
  assert.equal(zh.errorText({ code: "made_up", message: "raw English" }), STRINGS.zh.errorUnknown);
  assert.equal(en.errorText(undefined), STRINGS.en.errorUnknown);
  assert.equal(zh.errorText({ code: 42 }), STRINGS.zh.errorUnknown);
  // a page's own readings win over the shared one
  assert.equal(zh.errorText("not_found", "roomErrors"), STRINGS.zh.roomErrors.not_found);
  assert.equal(zh.errorText("not_found"), STRINGS.zh.errors.not_found);
});
