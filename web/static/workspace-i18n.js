// The workspace's strings (experts, unit doctors; the coordinators' paging board): the
// "workspace" group of the one table in i18n.js, English and Simplified Chinese.

import { STRINGS, lang } from "./i18n.js";

export { lang };
const table = STRINGS[lang]?.workspace ?? STRINGS.en.workspace;

/** The string for `key` with `{name}` placeholders filled from `vars`. */
export function w(key, vars = {}) {
  const text = table[key] ?? STRINGS.en.workspace[key] ?? key;
  if (typeof text !== "string") return text; // a list (weekdays)
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** An entry of one of the workspace's tables (priorities, pageStatuses, leaveStatuses, ...). */
export function wterm(group, value) {
  return table[group]?.[value] ?? STRINGS.en.workspace[group]?.[value] ?? String(value);
}
