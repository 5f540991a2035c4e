// Recordings: the archive index (one file per participant and recording session), filtered by
// room, case and dates, newest first and grouped by room. A file plays inline (a short-lived
// signed link; the server answers HTTP Range), downloads, and may be put on legal hold; a
// room's files export as one composite MP4. The case view shows its recordings with the same
// table (caseRecordingsCard).

import { failureText, t, term } from "./i18n.js";
import {
  api, busy, centreDayStart, centreTime, confirmDialog, field, fill, formatBytes,
  formatDuration, h, nextDay, notify, select, technicalDetails, timeEl, zoneNote,
} from "./dashboard-core.js";

export const REC_STATUSES = ["recording", "completed", "interrupted", "failed", "deleted"];
const EXPORT_POLL_MS = 1000;
const LIMIT = 500;
const COLUMNS = ["colParticipant", "colStarted", "colDuration", "colSize", "colStatus",
  "colCodecs", "colHold", "colActions"];
let uid = 0;

/** The API answers 404 to every recordings route when the server has no recording area. */
function unavailable(err) {
  return err && err.status === 404;
}

/** Room id -> {id, name}, from the names the recordings list carries (no room list fetched). */
function roomsOf(recordings) {
  return new Map(recordings.map((r) => [r.room_id, { id: r.room_id, name: r.room_name }]));
}

/** "opus + VP8" from the index's ["audio/opus", "video/VP8"]. */
function codecNames(codecs) {
  return codecs.map((c) => c.split("/").pop()).join(" + ");
}

export function recStatusBadge(rec) {
  return h("span", { class: `badge rec-status rec-${rec.status}`, testid: "recording-status",
    dataset: { status: rec.status } },
  term("recStatuses", rec.status));
}

/** A recordings table with its inline player. `show(recordings, rooms)` fills it (grouped by
 * room, newest first); `stop()` ends the exports' polling and the playback. */
export function recordingsBrowser({ emptyText, testid = "recordings-table", caption }) {
  const timers = new Set();
  let stopped = false;
  let shown = 0; // each show() replaces the rows; an export of older rows stops following
  let rooms = new Map();
  const player = playerPanel();
  const empty = h("p", { class: "empty", testid: "recordings-empty", hidden: true }, emptyText);
  const head = h("thead", {}, h("tr", {}, COLUMNS.map((k) => h("th", { scope: "col",
    class: k === "colDuration" || k === "colSize" ? "num" : null }, t(k),
  k === "colStarted" ? zoneNote() : null))));
  const table = h("table", { class: "table recordings", testid, hidden: true },
    h("caption", { class: "visually-hidden" }, caption), head);
  const el = h("div", { class: "recordings-browser" }, player.el,
    h("div", { class: "table-scroll" }, table), empty);

  function sleep(ms) {
    return new Promise((resolve) => {
      const id = setTimeout(() => { timers.delete(id); resolve(); }, ms);
      timers.add(id);
    });
  }

  function roomName(roomId) {
    return rooms.get(roomId)?.name || roomId;
  }

  function show(recordings, roomMap = new Map(), { message = null } = {}) {
    rooms = roomMap;
    shown += 1;
    for (const body of table.querySelectorAll("tbody")) body.remove();
    const newest = [...recordings].sort((a, b) => b.started_at.localeCompare(a.started_at));
    const groups = new Map(); // room id -> recordings, in order of each room's newest file
    for (const rec of newest) {
      if (!groups.has(rec.room_id)) groups.set(rec.room_id, []);
      groups.get(rec.room_id).push(rec);
    }
    for (const [roomId, recs] of groups) table.append(group(roomId, recs));
    table.hidden = recordings.length === 0;
    empty.hidden = recordings.length > 0;
    fill(empty, message || emptyText);
    if (player.current && !recordings.some((r) => r.id === player.current.id)) player.close();
  }

  function group(roomId, recs) {
    const name = roomName(roomId);
    const caseId = recs.find((r) => r.case_id)?.case_id;
    const exporter = exportControl(roomId, name);
    return h("tbody", { testid: "recording-group", dataset: { roomId } },
      h("tr", { class: "group-head" },
        h("th", { colspan: COLUMNS.length, scope: "rowgroup" },
          h("div", { class: "group-line" },
            h("div", { class: "group-title" },
              h("span", { class: "visually-hidden" }, `${t("room")}: `),
              h("strong", {}, name),
              name !== roomId ? h("span", { class: "muted mono small-text" }, ` ${roomId}`) : null,
              caseId ? [h("span", { class: "muted" }, ` · ${t("case")} `),
                h("a", { href: `#cases/${encodeURIComponent(caseId)}`, class: "mono",
                  testid: "recording-case-link" }, caseId)] : null,
              h("span", { class: "muted small-text" }, ` · ${t("files", { n: recs.length })}`)),
            exporter))),
      recs.map(row));
  }

  function row(rec) {
    const started = centreTime(rec.started_at, { seconds: true });
    const vars = { who: rec.identity, time: started };
    // no file (deleted, or failed before anything was written): no action that needs one,
    // a note instead; the failure's sentence stays in its column
    const actions = rec.has_file === false
      ? h("span", { class: "muted small-text", testid: "recording-no-file" }, t("recNoFile"))
      : fileActions(rec, vars);
    return h("tr", { testid: "recording-row", dataset: { recordingId: rec.id, status: rec.status,
      identity: rec.identity, roomId: rec.room_id, source: rec.source || "camera" } },
    h("th", { scope: "row" },
      h("span", { class: "p-name" }, rec.identity), " ",
      h("span", { class: "badge role" }, term("roles", rec.role)),
      rec.kinds.length > 0 && !rec.kinds.includes("video")
        ? h("div", { class: "muted small-text" }, t("audioOnly")) : null,
      // the screen the participant shared: a file of its own beside its camera's
      rec.source === "screen"
        ? h("div", { class: "muted small-text", testid: "recording-screen" }, t("recScreenShare")) : null),
    h("td", {}, timeEl(rec.started_at, { zone: false })),
    h("td", { class: "num" }, formatDuration(rec.duration_ms)),
    h("td", { class: "num" }, rec.size ? formatBytes(rec.size) : "—"),
    h("td", {}, recStatusBadge(rec),
      rec.error ? h("div", { class: "small-text note", testid: "recording-failure",
        dataset: { code: rec.error_code || "recording_failed" } },
      h("span", {}, failureText("recFailures", rec.error_code)), technicalDetails(rec.error))
        : null,
      // a file with something in it that lacks what the participant was sending (a file with
      // nothing in it is a no_media failure, said above)
      rec.kinds.length > 0 ? (rec.missing || []).map((kind) => h("div",
        { class: "small-text note", testid: "recording-missing", dataset: { kind } },
        term("recMissing", kind))) : null),
    h("td", { class: "mono small-text", title: rec.codecs.join(", ") || null },
      rec.codecs.length ? codecNames(rec.codecs) : "—"),
    h("td", {}, holdToggle(rec, vars)),
    h("td", { class: "actions" }, actions));
  }

  /** Play (inline) and Download: for a recording that has a file. */
  function fileActions(rec, vars) {
    const play = h("button", { type: "button", class: "small primary", testid: "play-button",
      "aria-label": t("playLabel", vars) }, t("play"));
    play.addEventListener("click", () => busy(play, () => player.play(rec, roomName(rec.room_id))));
    const download = h("button", { type: "button", class: "small", testid: "download-button",
      "aria-label": t("downloadLabel", vars) }, t("download"));
    download.addEventListener("click", () => busy(download, async () => {
      // the purpose goes on the case's audit trail (a download, not a playback)
      const link = await api("GET",
        `/recordings/${encodeURIComponent(rec.id)}/link?purpose=download`);
      const a = h("a", { href: link.url, download: rec.file, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    }));
    return [play, download];
  }

  function holdToggle(rec, vars) {
    const box = h("input", { type: "checkbox", testid: "hold-toggle", checked: rec.legal_hold,
      "aria-label": t("holdLabel", vars) });
    box.addEventListener("change", async () => {
      const held = box.checked;
      if (!held) {
        const ok = await confirmDialog({ title: t("releaseHoldTitle"),
          text: t("releaseHoldConfirm", vars), confirmLabel: t("releaseHold") });
        if (!ok) {
          box.checked = true;
          return;
        }
      }
      box.disabled = true;
      try {
        const updated = await api("PUT", `/recordings/${encodeURIComponent(rec.id)}/hold`,
          { held });
        rec.legal_hold = updated.legal_hold;
        box.checked = updated.legal_hold;
        notify(t(held ? "holdSet" : "holdReleased", { who: rec.identity }));
      } catch (err) {
        box.checked = !held;
        notify(err.message, "error");
      } finally {
        box.disabled = false;
      }
    });
    return h("div", { class: "hold" },
      h("label", { class: "check" }, box, h("span", { "aria-hidden": "true" }, t("hold"))),
      rec.case_hold ? h("span", { class: "badge held", testid: "case-hold-badge",
        title: t("caseHoldHint") }, t("caseHoldBadge")) : null);
  }

  function exportControl(roomId, name) {
    const button = h("button", { type: "button", class: "small", testid: "export-button",
      "aria-label": t("exportLabel", { room: name }) }, t("exportComposite"));
    const progress = h("progress", { max: 1, value: 0, hidden: true, testid: "export-progress",
      "aria-label": t("exportProgressLabel", { room: name }) });
    const status = h("span", { class: "export-status", role: "status", "aria-live": "polite",
      testid: "export-status" });
    const error = h("span", { class: "error", role: "alert", testid: "export-error" });
    const result = h("span", { class: "export-result", testid: "export-result" });
    const box = h("div", { class: "export", testid: "export", dataset: { roomId } },
      button, progress, status, error, result);

    const mine = shown;
    const gone = () => stopped || shown !== mine;

    async function follow(job) {
      box.dataset.jobId = job.id;
      let announced = -1;
      let answered = true;
      while (job.status === "running") {
        box.dataset.status = "running";
        const pct = Math.floor((job.progress || 0) * 100);
        progress.hidden = false;
        progress.value = job.progress || 0;
        if (answered && (announced < 0 || pct - announced >= 10)) { // not a ticker
          status.textContent = t("exportRunning", { pct });
          announced = pct;
        }
        await sleep(EXPORT_POLL_MS);
        if (gone()) return;
        try {
          job = await api("GET", `/exports/${encodeURIComponent(job.id)}`);
          answered = true;
        } catch (err) {
          // no answer (the server restarting, a proxy's 502-504): keep asking. Once back it
          // says how the job ended: done, or failed ("export_interrupted") if it stopped
          if (err.status !== 0 && err.status < 502) throw err;
          if (answered) status.textContent = t("exportNoAnswer");
          answered = false;
          announced = -1;
        }
      }
      progress.hidden = true;
      box.dataset.status = job.status;
      if (job.status !== "done") {
        // what happened and what to do, in the coordinator's language; the server's
        // diagnostic folded away for the operator
        status.textContent = "";
        fill(error, h("span", { testid: "error-text" }, failureText("exportFailures", job.error_code)),
          technicalDetails(job.error));
        error.dataset.code = job.error_code || "export_failed";
        return;
      }
      const link = await exportLink(job.id);
      if (gone()) return;
      status.textContent = t("exportDone");
      let expires = Date.parse(link.expires_at);
      const a = h("a", { href: link.url, download: `composite-${roomId}.mp4`, rel: "noopener",
        testid: "export-link" }, t("exportDownload"));
      a.addEventListener("click", async (ev) => {
        if (Date.now() < expires - 5000) return;
        ev.preventDefault(); // the signed link expired: ask for a fresh one
        const fresh = await exportLink(job.id).catch((err) => notify(err.message, "error"));
        if (!fresh) return;
        a.href = fresh.url;
        expires = Date.parse(fresh.expires_at);
        a.click();
      });
      fill(result, a);
    }

    button.addEventListener("click", () => busy(button, async () => {
      fill(result);
      status.textContent = "";
      delete box.dataset.status;
      const job = await api("POST", `/rooms/${encodeURIComponent(roomId)}/exports`);
      await follow(job);
    }, error));
    return box;
  }

  return {
    el,
    show,
    stop() {
      stopped = true;
      for (const id of timers) clearTimeout(id);
      timers.clear();
      player.close();
    },
  };
}

function exportLink(jobId) {
  return api("GET", `/exports/${encodeURIComponent(jobId)}/link`);
}

/** The inline player: a <video> (audio-only files play in it too) and what is playing. */
function playerPanel() {
  const id = `player-heading-${++uid}`;
  const heading = h("h3", { id, tabindex: -1, testid: "player-heading" });
  const facts = h("dl", { class: "facts player-facts", testid: "player-facts" });
  const video = h("video", { controls: true, playsinline: true, preload: "metadata",
    testid: "player-video" });
  const problem = h("p", { class: "error", role: "alert", testid: "player-error" });
  const el = h("section", { class: "card player", testid: "recording-player", hidden: true,
    "aria-labelledby": id },
  h("div", { class: "card-head" }, heading,
    h("button", { type: "button", class: "small quiet", testid: "player-close",
      onclick: () => panel.close() }, t("closePlayer"))),
  h("div", { class: "player-body" }, video, facts), problem);
  let renewedAt = 0;

  async function link(rec) {
    return api("GET", `/recordings/${encodeURIComponent(rec.id)}/link`);
  }

  // the signed link is short-lived: when a later range request fails, ask for a fresh one once
  video.addEventListener("error", async () => {
    const rec = panel.current;
    if (!rec) return;
    if (Date.now() - renewedAt > 10_000) {
      renewedAt = Date.now();
      const at = video.currentTime;
      try {
        video.src = (await link(rec)).url;
        if (at) video.currentTime = at;
        video.play().catch(() => {});
        return;
      } catch {
        // fall through to the message
      }
    }
    fill(problem, t("playError", { message: video.error?.message || video.error?.code || "?" }));
  });

  const panel = {
    el,
    current: null,
    async play(rec, roomName) {
      const got = await link(rec);
      panel.current = rec;
      renewedAt = Date.now();
      fill(problem);
      const audioOnly = rec.kinds.length > 0 && !rec.kinds.includes("video");
      el.classList.toggle("audio-only", audioOnly);
      el.dataset.recordingId = rec.id;
      fill(heading, t("playerHeading", { who: rec.identity, role: term("roles", rec.role) }));
      fill(facts, [
        [t("room"), roomName !== rec.room_id
          ? [roomName, h("span", { class: "muted mono small-text" }, ` ${rec.room_id}`)]
          : h("span", { class: "mono" }, rec.room_id)],
        rec.case_id && [t("case"), h("a", { href: `#cases/${encodeURIComponent(rec.case_id)}`,
          class: "mono" }, rec.case_id)],
        [t("colStarted"), timeEl(rec.started_at)],
        [t("ended"), timeEl(rec.ended_at)],
        [t("colDuration"), formatDuration(rec.duration_ms)],
        [t("offset"), formatDuration(rec.offset_ms)],
        [t("colStatus"), recStatusBadge(rec)],
        audioOnly && [t("colCodecs"), `${codecNames(rec.codecs)} · ${t("audioOnly")}`],
      ].filter(Boolean).map(([label, value]) => h("div", {}, h("dt", {}, label),
        h("dd", {}, value))));
      video.src = got.url;
      el.hidden = false;
      heading.focus({ preventScroll: true });
      el.scrollIntoView({ block: "nearest" });
      video.play().catch(() => {}); // blocked autoplay: the controls are there
    },
    close() {
      panel.current = null;
      video.pause();
      video.removeAttribute("src");
      video.load();
      el.hidden = true;
      delete el.dataset.recordingId;
    },
  };
  return panel;
}

// ---- the section ----------------------------------------------------------------------------

export function mountRecordings(view) {
  let stopped = false;
  const room = h("input", { name: "room_id", maxlength: 64, class: "mono", testid: "filter-room",
    autocapitalize: "none", spellcheck: "false" });
  const caseId = h("input", { name: "case_id", maxlength: 64, class: "mono",
    testid: "filter-case", autocapitalize: "none", spellcheck: "false" });
  const since = h("input", { type: "date", name: "since", testid: "filter-since" });
  const until = h("input", { type: "date", name: "until", testid: "filter-until" });
  const status = select("status", REC_STATUSES, (s) => term("recStatuses", s),
    { blank: t("any") });
  status.dataset.testid = "filter-rec-status";
  const refresh = h("button", { type: "submit", class: "small", testid: "recordings-refresh" },
    t("showRecordings"));
  const filters = h("form", { class: "filters", testid: "recording-filters",
    "aria-label": t("recordingsHeading") },
  field(t("filterRoom"), room), field(t("filterCase"), caseId),
  field(t("filterSince"), since), field(t("filterUntil"), until),
  field(t("filterStatus"), status), refresh);
  const summary = h("p", { class: "muted small-text", testid: "recordings-summary" });
  const error = h("p", { class: "error", role: "alert", testid: "recordings-error" });
  const browser = recordingsBrowser({ emptyText: t("noRecordings"),
    caption: t("recordingsHeading") });

  async function load() {
    const q = new URLSearchParams({ order: "desc", limit: String(LIMIT) });
    if (room.value.trim()) q.set("room_id", room.value.trim());
    if (caseId.value.trim()) q.set("case_id", caseId.value.trim());
    if (since.value) q.set("since", centreDayStart(since.value));
    if (until.value) q.set("until", centreDayStart(nextDay(until.value))); // the whole day
    if (status.value) q.set("status", status.value);
    await busy(refresh, async () => {
      let data;
      try {
        data = await api("GET", `/recordings?${q}`);
      } catch (err) {
        if (!unavailable(err)) throw err;
        if (!stopped) browser.show([], new Map(), { message: t("recordingUnavailable") });
        summary.textContent = "";
        return;
      }
      if (stopped) return;
      browser.show(data.recordings, roomsOf(data.recordings));
      const n = data.recordings.length;
      summary.textContent = n >= LIMIT ? t("recordingsLimited", { n })
        : n ? t("recordingsCount", { n }) : "";
    }, error);
  }
  filters.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  for (const el of [since, until, status]) el.addEventListener("change", load);

  fill(view,
    h("div", { class: "section-head" }, h("h2", {}, t("recordingsHeading")), summary),
    h("div", { class: "card" }, filters, error, browser.el));
  load();
  return () => {
    stopped = true;
    browser.stop();
  };
}

// ---- one case's recordings --------------------------------------------------------------------

/** The case view's card: the case's recordings (the same table and player) and its legal
 * hold. Hidden when the server records nothing (no recording area). */
export function caseRecordingsCard(caseId) {
  let stopped = false;
  const headingId = `case-recordings-heading-${++uid}`;
  const browser = recordingsBrowser({ emptyText: t("noCaseRecordings"),
    testid: "case-recordings-table", caption: t("recordingsHeading") });
  const hold = h("input", { type: "checkbox", testid: "case-hold-toggle", disabled: true });
  const error = h("p", { class: "error", role: "alert", testid: "case-recordings-error" });
  const el = h("section", { class: "card case-recordings", testid: "case-recordings",
    "aria-labelledby": headingId },
  h("div", { class: "card-head" },
    h("h3", { id: headingId }, t("recordingsHeading")),
    h("label", { class: "check" }, hold, t("caseHold"))),
  error, browser.el);
  const path = `/cases/${encodeURIComponent(caseId)}/recording-hold`;

  async function load() {
    await busy(null, async () => {
      const q = new URLSearchParams({ case_id: caseId, order: "desc", limit: String(LIMIT) });
      let data;
      let held;
      try {
        [data, held] = await Promise.all([api("GET", `/recordings?${q}`), api("GET", path)]);
      } catch (err) {
        if (!unavailable(err)) throw err;
        el.hidden = true;
        return;
      }
      if (stopped) return;
      hold.checked = held.held;
      hold.disabled = false;
      el.dataset.held = String(held.held);
      browser.show(data.recordings, roomsOf(data.recordings));
    }, error);
  }

  hold.addEventListener("change", async () => {
    const want = hold.checked;
    if (!want) {
      const ok = await confirmDialog({ title: t("releaseHoldTitle"),
        text: t("releaseCaseHoldConfirm"), confirmLabel: t("releaseHold") });
      if (!ok) {
        hold.checked = true;
        return;
      }
    }
    hold.disabled = true;
    try {
      await api("PUT", path, { held: want });
      notify(t(want ? "caseHoldSet" : "caseHoldReleased"));
    } catch (err) {
      hold.checked = !want;
      hold.disabled = false;
      notify(err.message, "error");
      return;
    }
    await load(); // each file's "case held" mark follows
    hold.disabled = false;
  });

  load();
  return {
    el,
    stop() {
      stopped = true;
      browser.stop();
    },
  };
}
