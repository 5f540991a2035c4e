// Lectures (remote education): schedule one (presenter, audience units, time in the centre's
// zone); the list with each lecture's attendance, the audience's questions (the room's chat) and
// join links; and the replay library of recorded lectures, played inline (Range requests).

import { t } from "./i18n.js";
import { nextSlot } from "./timefmt.js";
import {
  api, busy, centre, centreTime, field, fill, h, notify, timeEl, zonedIso, zoneLabel, zoneNote,
  zoneTitle,
} from "./dashboard-core.js";
import { joinLinkBlock } from "./dashboard-rooms.js";
import { directory, expertName, unitName } from "./dashboard-directory.js";

const DURATIONS = [30, 45, 60, 90, 120];

function scheduleForm(reload) {
  const title = h("input", { name: "title", required: true, maxlength: 200,
    testid: "lecture-title" });
  const presenter = h("select", { name: "presenter", required: true, testid: "lecture-presenter" },
    directory.experts.filter((e) => !e.specialties.every((s) => s === "interpretation"))
      .map((e) => h("option", { value: e.id }, `${e.name} · ${e.institution.name}`)));
  const units = h("fieldset", { class: "audience", testid: "lecture-audience" },
    h("legend", {}, t("audienceUnits")),
    directory.units.map((u) => h("label", { class: "check" },
      h("input", { type: "checkbox", value: u.id, testid: "lecture-unit",
        dataset: { unitId: u.id } }), ` ${u.name}`)));
  // the next full half hour at least 15 minutes ahead in the centre's time (the form's zone),
  // never a fixed hour that may already be gone
  const slot = nextSlot(new Date(), centre.zone);
  const day = h("input", { type: "date", name: "day", required: true, value: slot.day,
    testid: "lecture-day" });
  const time = h("input", { type: "time", name: "time", required: true, value: slot.time,
    step: 60, testid: "lecture-time" });
  const duration = h("select", { name: "duration", testid: "lecture-duration" },
    DURATIONS.map((m) => h("option", { value: String(m), selected: m === 60 },
      t("minutes", { n: m }))));
  const error = h("p", { class: "error", role: "alert", testid: "lecture-error" });
  const submit = h("button", { type: "submit", class: "primary", testid: "schedule-lecture" },
    t("scheduleLecture"));
  const form = h("form", { class: "stack", testid: "lecture-form" },
    field(t("lectureTitle"), title), field(t("presenter"), presenter), units,
    h("div", { class: "inline-fields" },
      field(t("lectureDay"), day), field(`${t("lectureTime")} (${zoneLabel()})`, time,
        t("centreZoneHint", { zone: zoneTitle(centre.zone) })),
      field(t("duration"), duration)),
    h("p", { class: "hint" }, t("recordedByDefault")), error, submit);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    busy(submit, async () => {
      const audience = [...units.querySelectorAll("input:checked")].map((b) => b.value);
      if (!audience.length) throw new Error(t("pickAudience"));
      const start = zonedIso(day.value, time.value, centre.zone);
      // a start already gone is refused here, in words (the server refuses it too:
      // slot_in_past)
      if (new Date(start).getTime() <= Date.now()) {
        throw new Error(t("lectureStartPast", { now: centreTime(new Date()) }));
      }
      const end = new Date(new Date(start).getTime() + Number(duration.value) * 60_000);
      const lecture = await api("POST", "/lectures", { title: title.value.trim(),
        presenter_id: presenter.value, audience_unit_ids: audience, start,
        end: end.toISOString() });
      notify(t("lectureScheduled", { title: lecture.title }));
      title.value = "";
      reload();
    }, error);
  });
  return h("section", { class: "card", "aria-labelledby": "lecture-form-heading" },
    h("h3", { id: "lecture-form-heading" }, t("scheduleLectureHeading")), form);
}

function activityBlock(lecture) {
  const out = h("div", { class: "lecture-activity", testid: "lecture-activity" });
  const error = h("p", { class: "error", role: "alert" });
  const show = h("button", { type: "button", class: "small", testid: "show-activity" },
    t("showActivity"));
  const links = h("button", { type: "button", class: "small", testid: "show-lecture-links" },
    t("showLinks"));
  show.addEventListener("click", () => busy(show, async () => {
    const a = await api("GET", `/lectures/${encodeURIComponent(lecture.id)}/activity`);
    fill(out, h("p", { testid: "audience-count" },
      t("audienceCount", { joined: a.audience_joined, invited: a.audience_invited,
        now: a.audience_now })),
    h("h4", {}, t("questionsHeading", { n: a.questions.length })),
    a.questions.length ? h("ol", { class: "questions", testid: "questions" },
      a.questions.map((q) => h("li", { testid: "question" }, h("strong", {}, q.name || q.identity),
        " ", h("span", { class: "muted small-text" }, timeEl(q.sent_at)), h("div", {}, q.text))))
      : h("p", { class: "muted" }, t("noQuestions")));
  }, error));
  links.addEventListener("click", () => busy(links, async () => {
    const data = await api("GET", `/lectures/${encodeURIComponent(lecture.id)}/links`);
    fill(out, h("ul", { class: "links" }, data.links.map((l) => h("li", {},
      h("strong", {}, l.name), " ", joinLinkBlock(l.join_url, l.expires_at, l.name)))));
  }, error));
  return h("div", {}, h("div", { class: "button-row" }, show, links), error, out);
}

function lecturesTable(lectures) {
  if (!lectures.length) return h("p", { class: "empty", testid: "no-lectures" }, t("noLectures"));
  return h("div", { class: "table-scroll" }, h("table", { class: "table", testid: "lectures-table" },
    h("caption", { class: "visually-hidden" }, t("lecturesHeading")),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, t("lectureTitle")), h("th", { scope: "col" }, t("presenter")),
      h("th", { scope: "col" }, t("colStart"), zoneNote()),
      h("th", { scope: "col" }, t("audienceUnits")),
      h("th", { scope: "col" }, t("colActions")))),
    h("tbody", {}, lectures.map((lec) => h("tr", { testid: "lecture-row",
      dataset: { lectureId: lec.id } },
    h("th", { scope: "row" }, lec.title),
    h("td", {}, expertName(lec.presenter_id)),
    h("td", {}, timeEl(lec.start, { weekday: true, zone: false })),
    h("td", { class: "small-text" }, lec.audience_unit_ids.map(unitName).join(", ")),
    h("td", {}, activityBlock(lec)))))));
}

function libraryCard(entries) {
  const video = h("video", { controls: true, playsinline: true, preload: "metadata",
    testid: "library-video", hidden: true });
  const playing = h("p", { class: "muted", testid: "library-playing", "aria-live": "polite" });
  const error = h("p", { class: "error", role: "alert" });
  const list = entries.length ? h("ul", { class: "library", testid: "library" },
    entries.map((e) => h("li", { testid: "library-entry", dataset: { lectureId: e.id } },
      h("strong", {}, e.title), " · ", expertName(e.presenter_id), " · ",
      timeEl(e.start, { weekday: true }),
      h("div", { class: "muted small-text" },
        t("audienceCame", { joined: e.attendance.audience_joined,
          invited: e.attendance.audience_invited }), " · ",
        t("questionsHeading", { n: e.questions })),
      e.recordings.length ? h("div", { class: "button-row" }, e.recordings.map((r) => {
        const play = h("button", { type: "button", class: "small", testid: "library-play",
          dataset: { recordingId: r.id } }, t("playRecording", { who: expertName(r.identity) }));
        play.addEventListener("click", () => busy(play, async () => {
          const link = await api("GET",
            `/library/recordings/${encodeURIComponent(r.id)}/link`);
          video.hidden = false;
          video.src = link.url;
          fill(playing, t("nowPlaying", { title: e.title }));
          await video.play().catch(() => {});
        }, error));
        return play;
      })) : h("p", { class: "muted small-text" }, t("noRecordingYet")))))
    : h("p", { class: "empty", testid: "library-empty" }, t("libraryEmpty"));
  return h("section", { class: "card", testid: "library-card", "aria-labelledby": "library-heading" },
    h("h3", { id: "library-heading" }, t("libraryHeading")),
    h("p", { class: "hint" }, t("libraryHint")), error, playing, video, list);
}

export function mountLectures(view) {
  const error = h("p", { class: "error", role: "alert" });
  const body = h("div", { class: "lectures", testid: "lectures" },
    h("p", { class: "muted" }, t("loading")));
  fill(view, h("div", { class: "section-head" }, h("h2", {}, t("lecturesHeading"))), error, body);
  async function load() {
    await busy(null, async () => {
      await directory.load();
      const [lectures, library] = await Promise.all([api("GET", "/lectures"),
        api("GET", "/library")]);
      fill(body, scheduleForm(load),
        h("section", { class: "card", "aria-labelledby": "lectures-list-heading" },
          h("h3", { id: "lectures-list-heading" }, t("lecturesHeading")),
          lecturesTable(lectures.lectures)),
        libraryCard(library.lectures));
    }, error);
  }
  load();
  return null;
}
