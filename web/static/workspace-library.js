// The replay library in a workspace (a unit's doctors, experts): the lectures held so far with
// their recordings, played inline through short-lived signed links (GET /library).

import { t } from "./i18n.js";
import { api, busy, fill, h } from "./dashboard-core.js";
import { timesIn } from "./workspace-common.js";

/** A card listing the library; times in `zones` ([[label, zone, testid], ...]). */
export function libraryCard(zones) {
  const video = h("video", { controls: true, playsinline: true, preload: "metadata",
    testid: "library-video", hidden: true });
  const playing = h("p", { class: "muted", testid: "library-playing", "aria-live": "polite" });
  const error = h("p", { class: "error", role: "alert" });
  const list = h("ul", { class: "plain-list library", testid: "library" });
  const card = h("section", { class: "card", testid: "library-card",
    "aria-labelledby": "library-heading" },
  h("h2", { id: "library-heading", class: "card-title" }, t("libraryHeading")),
  h("p", { class: "muted small-text" }, t("libraryHint")), error, playing, video, list);

  function entry(e) {
    const buttons = e.recordings.map((r) => {
      const play = h("button", { type: "button", class: "small", testid: "library-play",
        dataset: { recordingId: r.id } }, t("playRecording", { who: r.identity }));
      play.addEventListener("click", () => busy(play, async () => {
        const link = await api("GET", `/library/recordings/${encodeURIComponent(r.id)}/link`);
        video.hidden = false;
        video.src = link.url;
        fill(playing, t("nowPlaying", { title: e.title }));
        await video.play().catch(() => {});
      }, error));
      return play;
    });
    return h("li", { testid: "library-entry", dataset: { lectureId: e.id } },
      h("strong", {}, e.title), timesIn(e.start, zones, "library-time"),
      h("div", { class: "muted small-text" },
        t("audienceCame", { joined: e.attendance.audience_joined,
          invited: e.attendance.audience_invited }), " · ",
        t("questionsHeading", { n: e.questions })),
      buttons.length ? h("div", { class: "button-row" }, buttons)
        : h("p", { class: "muted small-text" }, t("noRecordingYet")));
  }

  busy(null, async () => {
    const got = await api("GET", "/library");
    fill(list, got.lectures.length ? got.lectures.map(entry)
      : h("li", { class: "muted", testid: "library-empty" }, t("libraryEmpty")));
  }, error);
  return card;
}
