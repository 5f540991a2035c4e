// Screen share: getDisplayMedia as tracks of their own (docs/protocol.md: screen share), shown
// by everyone as a large tile of its own (presenter layout, room.css) and recorded apart.

import { t } from "./i18n.js";
import { room, registerFeature } from "./room-context.js";
import { el } from "./dom.js";

/** What getDisplayMedia asks for: a clear picture of a document, few frames a second. */
export const DISPLAY_CONSTRAINTS = {
  // 720p is sharp enough for an ECG trace or a report page, and light on a weak uplink
  video: { frameRate: { ideal: 5, max: 15 }, width: { max: 1280 }, height: { max: 720 } },
  audio: false,
};

function mount() {
  const button = el("button", { type: "button", id: "screen-button", "data-testid": "screen-button",
    "aria-pressed": "false", hidden: true });
  let sharing = false;
  let shared = null; // the display stream while we share (kept across a reconnect)
  const live = () => !!shared && shared.getVideoTracks().some((tr) => tr.readyState === "live");
  const render = () => {
    button.textContent = sharing ? t("stopSharing") : t("shareScreen");
    button.setAttribute("aria-pressed", String(sharing));
  };
  render();
  room.addControl(button);

  async function start() {
    const session = room.session;
    if (!session) return;
    let stream;
    try {
      stream = await (room.hooks.getDisplayMedia || ((c) => navigator.mediaDevices.getDisplayMedia(c)))(
        DISPLAY_CONSTRAINTS);
    } catch (err) {
      // the person closed the browser's picker: nothing to say
      if (err && err.name !== "NotAllowedError" && err.name !== "AbortError") {
        room.view.setStatus(t("screenShareFailed"), "warn");
      }
      return;
    }
    const [video] = stream.getVideoTracks();
    if (video) {
      video.contentHint = "detail"; // text and ECG traces: sharpness over smooth motion
      // the browser's own "Stop sharing" bar ends the track
      video.addEventListener("ended", () => { if (sharing) stop(); }, { once: true });
    }
    sharing = true;
    shared = stream;
    render();
    await send(session);
  }

  /** Offer our shared screen on `session` (the first time, or again after a reconnect). */
  async function send(session) {
    room.view.setScreenStream(room.roster.self, room.roster.get(room.roster.self), shared, { isSelf: true });
    try {
      await session.shareScreen(shared);
    } catch (err) {
      if (session.closed) return; // replaced meanwhile: the new session shares it again
      console.error("vidconsult: screen share failed", err);
      room.view.setStatus(t("screenShareFailed"), "warn");
      await stop();
    }
  }

  async function stop() {
    sharing = false;
    if (shared) for (const track of shared.getTracks()) track.stop();
    shared = null;
    render();
    room.view.setScreenStream(room.roster.self, null, null);
    const session = room.session;
    if (session) {
      try {
        await session.stopScreen();
      } catch (err) {
        console.warn("vidconsult: stopping the screen share failed", err);
      }
    }
  }

  button.addEventListener("click", () => (sharing ? stop() : start()));
  room.on("joined", ({ session }) => {
    // a new session after a reconnect: share the same screen again, if it is still shared
    if (sharing && live()) send(session);
    else if (sharing) stop();
    button.hidden = !(room.grants.publish && navigator.mediaDevices &&
      (navigator.mediaDevices.getDisplayMedia || room.hooks.getDisplayMedia));
    session.addEventListener("remote-screen", ({ detail }) => {
      const participant = room.roster.get(detail.identity);
      if (detail.stream && !participant) return; // gone meanwhile
      room.view.setScreenStream(detail.identity, participant, detail.stream);
      if (room.hooks) room.hooks.screens = [...room.view.screens.keys()];
    });
  });
  room.on("finished", () => {
    button.disabled = true;
    if (shared) for (const track of shared.getTracks()) track.stop();
    shared = null;
  });
}

registerFeature({ name: "screen", mount });
