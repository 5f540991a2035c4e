// Raise hand (docs/protocol.md: hand.raise / hand.raised): a toolbar toggle, a badge on the
// participant's tile and in the list, and a notice to the others.

import { t } from "./i18n.js";
import { room, registerFeature } from "./room-context.js";
import { el } from "./dom.js";
import { notify } from "./room-notices.js";

function mount() {
  let raised = false;
  const button = el("button", { type: "button", id: "hand-button", "data-testid": "hand-button",
    "aria-pressed": "false", hidden: true });
  const render = () => {
    button.textContent = raised ? t("lowerHand") : t("raiseHand");
    button.setAttribute("aria-pressed", String(raised));
  };
  render();
  room.addControl(button);
  button.addEventListener("click", async () => {
    if (!room.signaling) return;
    const wanted = !raised;
    button.disabled = true;
    try {
      await room.signaling.request("hand.raise", { raised: wanted });
      raised = wanted;
      render();
    } catch (err) {
      room.view.setStatus(room.errorText(err), "error");
    } finally {
      button.disabled = false;
    }
  });
  room.onSignal("hand.raised", ({ identity, raised: up, at }) => {
    if (!room.roster) return;
    room.roster.handRaised(identity, up, at);
    if (identity === room.roster.self) {
      raised = up;
      render();
    } else if (up) {
      const who = room.roster.get(identity);
      notify(t("handRaisedNotice", { name: who ? who.name : identity }));
    }
  });
  room.on("joined", ({ reply }) => {
    raised = !!(reply.participant && reply.participant.hand_raised);
    render();
    button.hidden = false;
  });
  room.on("finished", () => { button.disabled = true; });
}

registerFeature({ name: "hand", mount });
