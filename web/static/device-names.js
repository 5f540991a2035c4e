// A device's name must be readable where it is chosen: a <select> cannot wrap, and the
// camera of a consult-room PC is often called something like "Logitech BRIO 4K Ultra HD Pro
// Webcam (046d:085e)", cut off in a half-width column. The chosen name is the select's title,
// and, when the select cannot show it whole, it is written out under it, wrapping.

// what a select takes beside its text: its padding, border and the drop-down arrow
const ARROW_AND_PADDING = 36;

let canvas = null;

/** The width `text` takes in the computed font of `el` (px). */
function textWidth(el, text) {
  canvas = canvas || document.createElement("canvas");
  const ctx = canvas.getContext("2d");
  const style = getComputedStyle(el);
  ctx.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  return ctx.measureText(text).width;
}

/** True when `textPx` fits a select `selectPx` wide (the layout rule, for tests). */
export function fitsSelect(textPx, selectPx) {
  return textPx + ARROW_AND_PADDING <= selectPx;
}

/** Shows the chosen option's full name: in `select`'s title, and in `note` (a hidden-when-
 * empty element after it) when the select is too narrow for it. */
export function showChosenName(select, note) {
  const text = select.selectedOptions[0]?.textContent || "";
  select.title = text;
  const fits = !text || fitsSelect(textWidth(select, text), select.clientWidth);
  note.textContent = fits ? "" : text;
  note.hidden = fits;
}

/** Keeps `note` up to date as the choice, the options and the select's width change. */
export function followChosenName(select, note) {
  const update = () => showChosenName(select, note);
  select.addEventListener("change", update);
  new MutationObserver(update).observe(select, { childList: true });
  if (typeof ResizeObserver === "function") new ResizeObserver(update).observe(select);
  update();
}
