import { test } from "node:test";
import assert from "node:assert/strict";
import { formatField, parseField } from "../static/datefield.js";

test("a date and a time are written in the page's language, not the browser's", () => {
  assert.equal(formatField("date", "2026-12-06", "zh-CN"), "2026/12/06");
  assert.equal(formatField("date", "2026-12-06", "en-GB"), "06/12/2026");
  assert.equal(formatField("time", "15:00", "zh-CN"), "15:00");
  assert.equal(formatField("time", "15:00", "en-GB"), "15:00");
  assert.equal(formatField("datetime", "2026-12-24T08:00", "zh-CN"), "2026/12/24 08:00");
  assert.equal(formatField("datetime", "2026-12-24T08:00", "en-GB"), "24/12/2026 08:00");
  assert.equal(formatField("date", "", "zh-CN"), "");
  assert.equal(formatField("date", "soon", "zh-CN"), null);
});

test("what a person types is read in the page's order, or with the year first", () => {
  assert.equal(parseField("date", "06/12/2026", "en-GB"), "2026-12-06");
  assert.equal(parseField("date", "2026/12/6", "zh-CN"), "2026-12-06");
  assert.equal(parseField("date", "2026年12月6日", "zh-CN"), "2026-12-06");
  assert.equal(parseField("date", "2026-12-06", "en-GB"), "2026-12-06");
  assert.equal(parseField("time", "9:05", "en-GB"), "09:05");
  assert.equal(parseField("time", "15：00", "zh-CN"), "15:00");
  assert.equal(parseField("datetime", "24/12/2026 08:00", "en-GB"), "2026-12-24T08:00");
  assert.equal(parseField("datetime", "2026-12-24T08:00", "zh-CN"), "2026-12-24T08:00");
  assert.equal(parseField("date", " ", "zh-CN"), "");
});

test("what is not a date or a time is refused, not guessed", () => {
  assert.equal(parseField("date", "31/02/2026", "en-GB"), null);
  assert.equal(parseField("date", "12/24", "en-GB"), null);
  assert.equal(parseField("date", "13/13/2026", "en-GB"), null);
  assert.equal(parseField("time", "24:00", "zh-CN"), null);
  assert.equal(parseField("time", "3 PM", "en-GB"), null);
  assert.equal(parseField("datetime", "24/12/2026", "en-GB"), null);
});
