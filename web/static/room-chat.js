// Chat in the room (docs/protocol.md: chat.send / chat.message; the join answer's "chat" is the
// room's last lines). The server keeps every message of a case's room with the case; the
// dashboard's case view shows that transcript.

import { t, locale } from "./i18n.js";
import { viewerZone, zoneName } from "./timefmt.js";
import { room, registerFeature } from "./room-context.js";
import { el } from "./dom.js";

const MAX_TEXT = 4000;

/** "14:05" in the viewer's zone (the panel's heading names that zone). */
export function clockTime(iso, loc = locale) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  return at.toLocaleTimeString(loc, { hour: "2-digit", minute: "2-digit" });
}

function mount() {
  // a log region of plain blocks (a role on a list would take the list's meaning away)
  const log = el("div", { class: "chat-log", role: "log", "aria-live": "polite",
    "aria-labelledby": "chat-heading", "data-testid": "chat-log" });
  const input = el("input", { type: "text", id: "chat-input", maxLength: MAX_TEXT,
    autocomplete: "off", "data-testid": "chat-input" });
  const label = el("label", { for: "chat-input", class: "visually-hidden", text: t("chatInputLabel") });
  input.placeholder = t("chatPlaceholder");
  const send = el("button", { type: "submit", text: t("chatSend"), "data-testid": "chat-send" });
  const problem = el("p", { class: "note", role: "alert" });
  const form = el("form", { class: "chat-form" }, label, input, send);
  // the viewer's zone by its name in the page's language ("中国标准时间"), not its IANA id
  const zone = zoneName(viewerZone(), locale);
  const note = el("p", { class: "panel-note", "data-testid": "chat-note", text: t("chatTimesIn", { zone }) });
  const panel = el("section", { class: "panel chat", "aria-labelledby": "chat-heading",
    "data-testid": "chat-panel" },
  el("h2", { id: "chat-heading", text: t("roomChatHeading") }),
  note,
  log, problem, form);
  panel.hidden = true;
  room.addPanel(panel);

  const shown = new Set();
  function append(message, mine) {
    if (!message || shown.has(message.id)) return;
    shown.add(message.id);
    log.append(el("p", { class: mine ? "chat-message mine" : "chat-message", "data-testid": "chat-message",
      "data-identity": message.identity },
    el("span", { class: "chat-meta" },
      el("span", { class: "chat-name", text: mine ? t("you") : message.name }), " ",
      el("time", { dateTime: message.sent_at, text: clockTime(message.sent_at) })),
    el("span", { class: "chat-text", text: message.text })));
    log.scrollTop = log.scrollHeight;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || !room.signaling) return;
    send.disabled = true;
    problem.textContent = "";
    try {
      const reply = await room.signaling.request("chat.send", { text });
      append(reply.message, true);
      input.value = "";
    } catch (err) {
      problem.textContent = room.errorText(err);
    } finally {
      send.disabled = false;
      input.focus();
    }
  });
  room.onSignal("chat.message", (message) => append(message, false));
  room.on("joined", ({ reply }) => {
    panel.hidden = false;
    // a case's room keeps its chat with the case; a room without one only until it ends
    const withCase = Boolean(reply && reply.room && reply.room.case_id);
    note.textContent = t(withCase ? "chatTimesIn" : "chatTimesInNoCase", { zone });
    // the room's chat so far: after a reload, for a late arrival, after a rejoin through
    // another node (the server keeps the room's last lines until it ends)
    const me = reply && reply.participant ? reply.participant.identity : null;
    for (const message of (reply && reply.chat) || []) append(message, message.identity === me);
  });
  room.on("finished", () => { send.disabled = true; input.disabled = true; });
}

registerFeature({ name: "chat", mount });
