// Times for people: in the viewer's own zone with the centre's beside it, each zone named
// (its name in the page's language and its UTC offset), never a raw UTC instant or a raw IANA
// id such as "America/New_York"; and countdowns. Pure functions.

/** The viewer's IANA zone (the browser's). */
export function viewerZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** "GMT+8" for a zone at an instant. */
export function zoneOffset(date, zone, locale = "en-GB") {
  const parts = new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: "shortOffset" })
    .formatToParts(date);
  return (parts.find((p) => p.type === "timeZoneName") || {}).value || "";
}

function zoneNameAs(zone, style, locale, date) {
  try {
    return new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: style })
      .formatToParts(date).find((p) => p.type === "timeZoneName")?.value || "";
  } catch {
    return "";
  }
}

/** A zone's name for people, in `locale`: "China Standard Time" / "中国标准时间", "Eastern
 * Time" / "北美东部时间" for "America/New_York". The generic name first (it does not change at
 * a DST switch), the specific one when the browser has no generic name, the UTC offset when it
 * has neither ("GMT+06:00"): the IANA id is for machines (patients and village doctors do not
 * read "Asia/Shanghai"); it stays in `title`s and data attributes. */
export function zoneName(zone, locale = "en-GB", date = new Date()) {
  if (!zone) return "";
  for (const style of ["longGeneric", "long"]) {
    const name = zoneNameAs(zone, style, locale, date);
    if (name && !/^(GMT|UTC)([+-]|$)/.test(name)) return name;
  }
  return (zoneNameAs(zone, "longOffset", locale, date) || zone).replace(/^GMT$/, "GMT+00:00");
}

/** "Mon 7 Dec 2026, 20:50" in `zone`. */
export function formatIn(date, zone, locale = "en-GB") {
  return new Intl.DateTimeFormat(locale, {
    timeZone: zone, weekday: "short", year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).format(date);
}

/** A time in both zones: [{label, text, zone}], the viewer's first; one entry when the two
 * zones agree at that instant (same offset and name). */
export function bothZones(date, { viewer, centre, locale, t }) {
  const mine = { label: t("yourTime"), text: formatIn(date, viewer, locale), zone: `${zoneName(viewer, locale, date)}, ${zoneOffset(date, viewer, locale)}` };
  if (viewer === centre) return [{ ...mine, label: t("yourAndCentreTime") }];
  const theirs = { label: t("centreZoneTime"), text: formatIn(date, centre, locale), zone: `${zoneName(centre, locale, date)}, ${zoneOffset(date, centre, locale)}` };
  return [mine, theirs];
}

/** The first wall-clock slot in `zone` on a `step`-minute boundary (a full half hour) at
 * least `lead` minutes after `now`: { day: "2026-12-07", time: "00:30" }, what a form that
 * books something later offers by default (never a time already gone, nor one too close to
 * prepare for). */
export function nextSlot(now, zone, { lead = 15, step = 30 } = {}) {
  const soonest = new Date(now.getTime() + lead * 60_000);
  const p = {};
  for (const part of new Intl.DateTimeFormat("en-GB", { timeZone: zone, hourCycle: "h23",
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit" }).formatToParts(soonest)) p[part.type] = Number(part.value);
  const past = soonest.getUTCMilliseconds() > 0 || p.second > 0 ? 1 : 0;
  const minutes = Math.ceil((p.hour * 60 + p.minute + past) / step) * step;
  // a slot past midnight is on the next calendar day
  const date = new Date(Date.UTC(p.year, p.month - 1, p.day + Math.floor(minutes / 1440)));
  const pad = (n) => String(n).padStart(2, "0");
  const left = minutes % 1440;
  return { day: date.toISOString().slice(0, 10), time: `${pad(Math.floor(left / 60))}:${pad(left % 60)}` };
}

/** Whole seconds from `now` to `target` (0 when passed). */
export function secondsUntil(target, now) {
  return Math.max(0, Math.ceil((target.getTime() - now.getTime()) / 1000));
}

/** "1 d 02:05:09" style countdown text in words of `t` (days, hours, minutes, seconds). */
export function countdownText(seconds, t) {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const pad = (n) => String(n).padStart(2, "0");
  const parts = [];
  if (d) parts.push(t("cdDays", { n: d }));
  if (d || h) parts.push(t("cdHours", { n: h }));
  parts.push(t("cdMinutes", { n: d || h ? pad(m) : m }));
  parts.push(t("cdSeconds", { n: pad(s) }));
  return parts.join(" ");
}
