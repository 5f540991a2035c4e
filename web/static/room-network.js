// The network indicator (round-trip time, loss and bitrate from getStats) and the audio-only
// switch (docs/protocol.md: subscribe.audio_only), suggested when the link stays poor.

import { t } from "./i18n.js";
import { room, registerFeature, $ } from "./room-context.js";
import { el } from "./dom.js";
import { toggle } from "./room-controls.js";
import { totals, combine, rates, quality, PoorLinkWatch } from "./netquality.js";

const SAMPLE_MS = 2000;

function mount() {
  let audioOnly = false;
  let cameraOffByUs = false; // we turned the camera off for audio only: turn it on again after
  let timer = null;
  let previous = null;
  const watch = new PoorLinkWatch();

  const indicator = el("p", { class: "net", id: "net-indicator", "data-testid": "net-indicator",
    "data-quality": "unknown", hidden: true });
  $("status").after(indicator);

  const button = el("button", { type: "button", id: "audio-only-toggle",
    "data-testid": "audio-only-toggle", "aria-pressed": "false", hidden: true });
  room.addControl(button);
  const accept = el("button", { type: "button", class: "primary", text: t("switchAudioOnly"),
    "data-testid": "suggest-audio-only" });
  const dismiss = el("button", { type: "button", text: t("notNow") });
  const suggestion = el("div", { class: "suggestion", role: "alert", "data-testid": "audio-only-suggestion",
    hidden: true }, el("p", { text: t("poorLinkSuggestion") }), accept, dismiss);
  document.querySelector(".topbar").append(suggestion);

  const render = () => {
    button.textContent = audioOnly ? t("videoBackOn") : t("audioOnlyButton");
    button.setAttribute("aria-pressed", String(audioOnly));
  };
  render();

  async function setAudioOnly(enabled) {
    if (!room.signaling) return;
    button.disabled = true;
    try {
      await room.signaling.request("subscribe.audio_only", { enabled });
      audioOnly = enabled;
      document.body.classList.toggle("audio-only", enabled);
      room.view.setVideoPaused(enabled); // the tiles say why there is no picture
      if (enabled && !room.muted.video && room.localStream && room.localStream.getVideoTracks().length) {
        cameraOffByUs = true;
        await toggle("video");
      } else if (!enabled && cameraOffByUs && room.muted.video) {
        cameraOffByUs = false;
        await toggle("video");
      }
    } catch (err) {
      room.view.setStatus(room.errorText(err), "error");
    } finally {
      button.disabled = false;
      render();
    }
  }

  button.addEventListener("click", () => setAudioOnly(!audioOnly));
  accept.addEventListener("click", () => {
    suggestion.hidden = true;
    setAudioOnly(true);
  });
  dismiss.addEventListener("click", () => { suggestion.hidden = true; });

  let simulated = false; // a test (or support) feeds samples: the real ones stay out of the way
  async function sample() {
    const session = room.session;
    if (!session || room.state !== "joined" || simulated) return;
    const at = performance.now();
    const parts = [];
    for (const pc of [session.publishPc, session.subscribePc]) {
      if (pc && pc.connectionState !== "closed") parts.push(totals((await pc.getStats()).values(), at));
    }
    const current = combine(parts, at);
    const sampleRates = previous ? rates(previous, current) : null;
    previous = current;
    show(sampleRates);
  }

  function show(sampleRates) {
    const q = quality(sampleRates);
    indicator.hidden = false;
    indicator.dataset.quality = q;
    const parts = [t(`net_${q}`)];
    if (sampleRates) {
      if (sampleRates.rttMs != null) parts.push(t("netRtt", { ms: sampleRates.rttMs }));
      parts.push(t("netLoss", { pct: sampleRates.lossPct }), t("netRate", { kbps: sampleRates.kbps }));
    }
    indicator.textContent = `${t("netLabel")} ${parts.join(" · ")}`;
    if (room.hooks) room.hooks.network = { quality: q, ...(sampleRates || {}) };
    if (watch.feed(q) && !audioOnly) suggestion.hidden = false;
  }
  // tests and support: feed a sample as if measured ({rttMs, lossPct, kbps, receiving})
  room.hooks.feedNetworkSample = (s) => {
    simulated = true;
    show(s);
  };

  room.on("joined", () => {
    button.hidden = false;
    previous = null;
    if (audioOnly) setAudioOnly(true); // a new session after a reconnect: ask again
    if (!timer) timer = setInterval(() => sample().catch(() => {}), SAMPLE_MS);
  });
  room.on("finished", () => {
    clearInterval(timer);
    timer = null;
    button.disabled = true;
    suggestion.hidden = true;
  });
}

registerFeature({ name: "network", mount });
