// Date, time and date-and-time fields written in the page's language. Chromium draws its own
// <input type=date|time|datetime-local> in the browser's language, whatever the page's: a
// Chinese page in an English browser read "12/06/2026" and "03:00 PM". These fields are text
// inputs the page formats itself ("2026/12/06 15:00" on a Chinese page, "06/12/2026 15:00" on
// an English one); their `value` stays the ISO form the native inputs gave ("2026-12-06",
// "15:00", "2026-12-06T15:00"), so the forms that read them do not change. Typed text is read
// in the page's order, or as ISO.

// the widest value of each kind, for the field's width
const SAMPLES = { date: "2026-12-31", time: "23:59", datetime: "2026-12-31T23:59" };
const KINDS = Object.keys(SAMPLES);
const pad = (n) => String(n).padStart(2, "0");

/** "2026/12/06" (zh-CN), "06/12/2026" (en-GB) for "2026-12-06". */
function dateText(iso, locale) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) return null;
  return new Intl.DateTimeFormat(locale, { timeZone: "UTC", year: "numeric", month: "2-digit",
    day: "2-digit" }).format(new Date(Date.UTC(+m[1], +m[2] - 1, +m[3])));
}

/** "15:00" for "15:00", in the page's 24-hour clock. */
function timeText(iso, locale) {
  const m = /^(\d{2}):(\d{2})/.exec(iso);
  if (!m) return null;
  return new Intl.DateTimeFormat(locale, { timeZone: "UTC", hour: "2-digit", minute: "2-digit",
    hourCycle: "h23" }).format(new Date(Date.UTC(2000, 0, 1, +m[1], +m[2])));
}

/** The order of day, month and year in `locale`'s short date ("day month year" for en-GB). */
function dayOrder(locale) {
  return new Intl.DateTimeFormat(locale, { timeZone: "UTC", year: "numeric", month: "2-digit",
    day: "2-digit" }).formatToParts(new Date(0)).map((p) => p.type)
    .filter((type) => ["day", "month", "year"].includes(type));
}

function parseDate(text, locale) {
  const m = /^\D*(\d{1,4})\D+(\d{1,2})\D+(\d{1,4})\D*$/.exec(text.trim());
  if (!m) return null;
  const order = m[1].length > 2 ? ["year", "month", "day"] : dayOrder(locale);
  const got = {};
  order.forEach((type, i) => { got[type] = Number(m[i + 1]); });
  if (!(got.year >= 1000 && got.year <= 9999)) return null;
  const at = new Date(Date.UTC(got.year, got.month - 1, got.day));
  if (at.getUTCMonth() !== got.month - 1 || at.getUTCDate() !== got.day) return null;
  return `${got.year}-${pad(got.month)}-${pad(got.day)}`;
}

function parseTime(text) {
  const m = /^\s*(\d{1,2})\s*[:：.]\s*(\d{2})\s*$/.exec(text);
  if (!m || +m[1] > 23 || +m[2] > 59) return null;
  return `${pad(m[1])}:${m[2]}`;
}

/** The text a field of `kind` shows for an ISO value ("" for none, null for a bad one). */
export function formatField(kind, iso, locale) {
  if (!iso) return "";
  if (kind === "date") return dateText(iso, locale);
  if (kind === "time") return timeText(iso, locale);
  const [day, time] = iso.split("T");
  const [a, b] = [dateText(day, locale), timeText(time || "", locale)];
  return a && b ? `${a} ${b}` : null;
}

/** The ISO value of what a person typed into a field of `kind` ("" for nothing, null when it
 * is not a date or time): the page's order ("06/12/2026" in en-GB), a year first
 * ("2026/12/06", "2026-12-06"), a 24-hour time. */
export function parseField(kind, text, locale) {
  const s = String(text ?? "").trim();
  if (!s) return "";
  if (kind === "date") return parseDate(s, locale);
  if (kind === "time") return parseTime(s);
  const m = /^(.*?\d)(?:\s*T\s*|\s+)(\d{1,2}\s*[:：.]\s*\d{2})$/.exec(s);
  if (!m) return null;
  const [day, time] = [parseDate(m[1], locale), parseTime(m[2])];
  return day && time ? `${day}T${time}` : null;
}

const NATIVE = globalThis.HTMLInputElement
  && Object.getOwnPropertyDescriptor(globalThis.HTMLInputElement.prototype, "value");

/** Makes `input` (a text input, its value ISO or empty) a `kind` field ("date", "time",
 * "datetime") in `locale`: it shows and reads the page's form, `value` gets and sets ISO,
 * `hint` is its placeholder and `invalid` the sentence a wrong entry is refused with. */
export function dateField(input, kind, { locale, hint = "", invalid = "" }) {
  if (!KINDS.includes(kind)) throw new Error(`unknown field kind ${kind}`);
  const initial = NATIVE.get.call(input);
  input.type = "text";
  input.inputMode = "numeric";
  input.autocomplete = "off";
  input.spellcheck = false;
  input.dataset.dateField = kind;
  if (hint) {
    input.placeholder = hint;
    if (!input.title) input.title = hint; // the order (day first in English) once filled in
  }
  const sample = formatField(kind, SAMPLES[kind], locale);
  input.size = Math.max(sample.length, hint.length) + 2;
  Object.defineProperty(input, "value", {
    configurable: true,
    get() { return parseField(kind, NATIVE.get.call(this), locale) ?? ""; },
    set(iso) { NATIVE.set.call(this, formatField(kind, String(iso ?? ""), locale) ?? ""); },
  });
  const check = () => {
    const ok = parseField(kind, NATIVE.get.call(input), locale) !== null;
    input.setCustomValidity(ok ? "" : invalid);
    return ok;
  };
  input.addEventListener("input", check);
  // once left, a readable entry is written back in the page's form
  input.addEventListener("change", () => {
    if (!check()) return;
    const iso = input.value;
    input.value = iso;
  });
  input.value = initial;
  return input;
}
