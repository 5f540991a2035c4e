import { test } from "node:test";
import assert from "node:assert/strict";
import { bothZones, countdownText, secondsUntil, zoneOffset, formatIn, zoneName, nextSlot } from "../static/timefmt.js";
import { translator } from "../static/i18n.js";

const en = translator("en").t;
const zh = translator("zh").t;
const at = new Date("2026-12-07T12:50:00Z");

test("a time is shown in the viewer's zone and the centre's, both named", () => {
  const [mine, centre] = bothZones(at, { viewer: "Europe/London", centre: "Asia/Shanghai", locale: "en-GB", t: en });
  assert.match(mine.text, /12:50/);
  assert.match(mine.zone, /^United Kingdom Time, GMT(\+0)?$/);
  assert.match(centre.text, /20:50/);
  assert.equal(centre.zone, "China Standard Time, GMT+8");
  assert.notEqual(mine.label, centre.label);
});

test("one line when the viewer is in the centre's zone", () => {
  const lines = bothZones(at, { viewer: "Asia/Shanghai", centre: "Asia/Shanghai", locale: "zh-CN", t: zh });
  assert.equal(lines.length, 1);
  assert.match(lines[0].text, /20:50/);
  assert.ok(/[\u4e00-\u9fff]/.test(lines[0].label));
});

test("no raw UTC instant in the text", () => {
  assert.doesNotMatch(formatIn(at, "Asia/Shanghai"), /T\d\d:|Z$|\+00:00/);
  assert.equal(zoneOffset(at, "Asia/Kolkata"), "GMT+5:30");
});

test("countdowns", () => {
  assert.equal(secondsUntil(new Date(10_500), new Date(0)), 11);
  assert.equal(secondsUntil(new Date(0), new Date(5000)), 0);
  assert.equal(countdownText(65, en), "1 min 05 s");
  assert.equal(countdownText(3 * 3600 + 65, en), "3 h 01 min 05 s");
  assert.equal(countdownText(86400 + 5, en), "1 d 0 h 00 min 05 s");
  assert.equal(countdownText(65, zh), "1 分 05 秒");
});

test("a zone is named in the page's language, never by its IANA id", () => {
  assert.equal(zoneName("Asia/Shanghai", "zh-CN", at), "中国标准时间");
  assert.equal(zoneName("Asia/Shanghai", "en-GB", at), "China Standard Time");
  assert.equal(zoneName("America/New_York", "en-GB", at), "Eastern Time");
  assert.equal(zoneName("America/New_York", "zh-CN", at), "北美东部时间");
  // no generic name: the specific one; neither: the offset, not the id
  assert.equal(zoneName("UTC", "en-GB", at), "Coordinated Universal Time");
  assert.equal(zoneName("Etc/GMT-3", "en-GB", at), "GMT+03:00");
  for (const zone of ["Asia/Shanghai", "America/New_York", "Europe/London", "Asia/Urumqi"]) {
    for (const locale of ["en-GB", "zh-CN"]) assert.doesNotMatch(zoneName(zone, locale, at), /\//);
  }
  // a zone the browser does not know is shown as given rather than failing the page
  assert.equal(zoneName("Not/AZone", "en-GB", at), "Not/AZone");
});

test("the next slot: a full half hour at least 15 minutes ahead, in the zone's wall clock", () => {
  const sh = "Asia/Shanghai";
  // 23:35 in Beijing: 23:50 is the soonest, so 00:00 the next day
  assert.deepEqual(nextSlot(new Date("2026-12-06T15:35:00Z"), sh), { day: "2026-12-07", time: "00:00" });
  // 09:15 sharp: 09:30 is exactly 15 minutes ahead
  assert.deepEqual(nextSlot(new Date("2026-12-07T01:15:00Z"), sh), { day: "2026-12-07", time: "09:30" });
  // a second later it is 10:00
  assert.deepEqual(nextSlot(new Date("2026-12-07T01:15:01Z"), sh), { day: "2026-12-07", time: "10:00" });
  // New York, on its own clock; Kathmandu (+05:45) on its own half hours, not UTC's
  assert.deepEqual(nextSlot(new Date("2026-12-07T03:40:00Z"), "America/New_York"), { day: "2026-12-06", time: "23:00" });
  assert.deepEqual(nextSlot(new Date("2026-12-07T00:00:00Z"), "Asia/Kathmandu"), { day: "2026-12-07", time: "06:00" });
});
