// Short notices in the room (someone left, raised a hand, a file was added): one polite live
// region, newest first, each notice fading out of the list after a while.

import { t } from "./i18n.js";
import { room, registerFeature, $ } from "./room-context.js";
import { el } from "./dom.js";

const KEEP_MS = 15000;
const MAX_SHOWN = 4;
let list = null;

/** Show `text` as a notice (also kept on window.vidconsult.notices for tests and support). */
export function notify(text, kind = "info") {
  if (room.hooks) (room.hooks.notices ??= []).push(text);
  if (!list) return;
  const item = el("p", { class: `notice ${kind}`, "data-testid": "notice", text });
  list.prepend(item);
  while (list.children.length > MAX_SHOWN) list.lastElementChild.remove();
  setTimeout(() => item.remove(), KEEP_MS);
}

/** The notice for a participant.left reason (docs/protocol.md). */
export function leftText(name, reason) {
  if (reason === "removed_by_admin") return t("participantRemoved", { name });
  if (reason === "disconnected") return t("participantLost", { name });
  return t("participantLeft", { name });
}

function mount() {
  list = el("div", { class: "notices", role: "status", "aria-live": "polite",
    "data-testid": "notices" });
  $("status").after(list); // in the top bar, on a line of its own
  room.onSignal("participant.left", ({ identity, reason }) => {
    // room-live.js takes them off the roster after this handler: the name is still known
    const who = room.roster && room.roster.get(identity);
    if (!who || identity === room.roster.self || room.finished) return;
    notify(leftText(who.name, reason));
  });
}

registerFeature({ name: "notices", mount });
