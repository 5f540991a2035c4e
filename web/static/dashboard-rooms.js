// Live rooms: the open rooms with who is in them and whether they record (refreshed every few
// seconds), opening a room, a join link for someone, starting and stopping a room's recording,
// and ending a room.

import { failureText, t, term } from "./i18n.js";
import {
  api, busy, centreTime, confirmDialog, copyButton, field, fill, h, notify, select,
  technicalDetails, timeEl,
} from "./dashboard-core.js";

const POLL_MS = 3000;
const KINDS = ["consultation", "emergency", "lecture"];
const ROLES = ["patient", "doctor", "expert", "coordinator", "interpreter", "observer"];

export function mountRooms(view) {
  let stopped = false;
  let timer = null;
  const rows = new Map(); // room id -> {tr, signature}
  let rooms = new Map(); // room id -> room
  let recording = new Map(); // room id -> its recording status (GET /recording/active)
  let canRecord = true; // false once the server says it has no recording area
  let recordingChanged = 0; // when this page last started or stopped a recording

  const updated = h("p", { class: "muted small-text", testid: "rooms-updated", "aria-live": "off" });
  const empty = h("p", { class: "empty", testid: "rooms-empty", hidden: true }, t("noRooms"));
  const tbody = h("tbody");
  const table = h("table", { class: "table rooms", testid: "rooms-table" },
    h("caption", { class: "visually-hidden" }, t("roomsHeading")),
    h("thead", {}, h("tr", {},
      ["colName", "colKind", "colCase", "colOpened", "colParticipants", "colActions"]
        .map((k) => h("th", { scope: "col" }, t(k))))),
    tbody);
  const invite = h("section", { class: "card invite", testid: "invite-panel", hidden: true,
    "aria-labelledby": "invite-heading" });

  fill(view,
    h("div", { class: "section-head" },
      h("h2", { id: "rooms-heading" }, t("roomsHeading")), updated),
    h("div", { class: "rooms-layout" },
      h("div", { class: "rooms-main" },
        h("div", { class: "card table-card" }, h("div", { class: "table-scroll" }, table), empty)),
      h("aside", { class: "rooms-side" }, invite, createForm())));

  // ---- the list ---------------------------------------------------------------------------

  async function poll() {
    if (stopped) return;
    try {
      const asked = Date.now();
      const [data, active] = await Promise.all([api("GET", "/rooms?status=open"),
        recordingStates()]);
      if (stopped) return;
      // an answer sent before our own start / stop would undo it until the next poll
      if (active && asked > recordingChanged) recording = active;
      render(data.rooms);
      updated.textContent = t("roomsUpdated", { time: centreTime(new Date(), { seconds: true }) });
      delete updated.dataset.tone;
    } catch (err) {
      if (stopped) return;
      updated.textContent = t("roomsStale", { message: err.message });
      updated.dataset.tone = "error";
    }
    timer = setTimeout(poll, POLL_MS);
  }

  /** Every room's recording in one request; null when unknown (keep what we knew). */
  async function recordingStates() {
    if (!canRecord) return null;
    try {
      const data = await api("GET", "/recording/active");
      return new Map(data.rooms.map((r) => [r.room_id, r]));
    } catch (err) {
      if (err.status === 404) canRecord = false; // no recording area on this server
      return null;
    }
  }

  function recordingOf(roomId) {
    const rec = recording.get(roomId);
    return { active: Boolean(rec && rec.active), error: rec ? rec.error : null,
      errorCode: rec ? rec.error_code : null,
      since: rec && rec.session ? rec.session.started_at : null };
  }

  function render(list) {
    rooms = new Map(list.map((r) => [r.id, r]));
    for (const [id, row] of rows) {
      if (!rooms.has(id)) {
        row.tr.remove();
        rows.delete(id);
        if (invite.dataset.roomId === id) closeInvite();
      }
    }
    // newest first
    const ordered = [...list].sort((a, b) => (b.created_at || "").localeCompare(a.created_at || ""));
    let previous = null;
    for (const room of ordered) {
      const signature = JSON.stringify([room.name, room.kind, room.case_id,
        room.participants.map((p) => [p.identity, p.name, p.role, p.tracks]), room.lobby,
        (room.waiting || []).map((w) => [w.identity, w.name, w.role]),
        canRecord, recordingOf(room.id)]);
      let row = rows.get(room.id);
      if (!row) {
        row = { tr: h("tr", { testid: "room-row", dataset: { roomId: room.id } }), signature: "" };
        rows.set(room.id, row);
      }
      if (row.signature !== signature) {
        fillRow(row.tr, room);
        row.signature = signature;
      }
      const want = previous ? previous.nextSibling : tbody.firstChild;
      if (want !== row.tr) tbody.insertBefore(row.tr, want);
      previous = row.tr;
    }
    empty.hidden = list.length > 0;
    table.hidden = list.length === 0;
  }

  function fillRow(tr, room) {
    const keepFocus = tr.contains(document.activeElement) ? document.activeElement.dataset.testid
      : null;
    tr.dataset.participants = String(room.participants.length);
    const rec = recordingOf(room.id);
    tr.dataset.recording = String(rec.active);
    fill(tr,
      h("th", { scope: "row", class: "room-name" }, room.name,
        rec.active ? recMarker(rec.since) : null,
        h("div", { class: "muted mono small-text" }, room.id),
        !rec.active && rec.error ? h("div", { class: "error small-text", testid: "rec-error",
          dataset: { code: rec.errorCode || "recording_failed" } },
        h("span", { testid: "rec-error-text" }, failureText("recFailures", rec.errorCode)),
        technicalDetails(rec.error)) : null),
      h("td", {}, h("span", { class: `badge kind-${room.kind}` }, term("kinds", room.kind))),
      h("td", {}, room.case_id
        ? h("a", { href: `#cases/${encodeURIComponent(room.case_id)}`, class: "mono" }, room.case_id)
        : h("span", { class: "muted" }, "—")),
      h("td", {}, timeEl(room.created_at)),
      h("td", {}, participantList(room.participants, room, personAction),
        waitingList(room, personAction)),
      h("td", { class: "actions" }, h("div", { class: "action-stack" },
        canRecord ? recordingButton(room, rec.active) : null,
        h("button", { type: "button", class: "small", testid: "invite-button",
          "aria-label": `${t("invite")} ${room.name}`, onclick: () => openInvite(room.id) },
        t("invite")),
        h("button", { type: "button", class: "small danger", testid: "end-room-button",
          "aria-label": `${t("endRoom")} ${room.name}`, onclick: (ev) => endRoom(room.id, ev.target) },
        t("endRoom")))));
    if (keepFocus) {
      // the recording button changes its kind when pressed: keep the focus on it
      (tr.querySelector(`[data-testid="${keepFocus}"]`)
        || tr.querySelector(`[data-testid="${SWAPPED[keepFocus]}"]`))?.focus();
    }
  }

  /** Admit, decline, mute or remove one person, from the live-room view (REST). */
  async function personAction(action, room, person, button) {
    const who = person.name || person.identity;
    if (action === "remove") {
      const ok = await confirmDialog({ title: t("removeConfirmTitle"),
        text: t("removeConfirmText", { name: who, room: room.name }), confirmLabel: t("remove") });
      if (!ok) return;
    }
    const base = `/rooms/${encodeURIComponent(room.id)}`;
    const id = encodeURIComponent(person.identity);
    const call = {
      admit: ["POST", `${base}/lobby/${id}/admit`, "admitted"],
      decline: ["POST", `${base}/lobby/${id}/decline`, "declinedNotice"],
      mute: ["POST", `${base}/participants/${id}/mute`, "muteAskedNotice"],
      remove: ["DELETE", `${base}/participants/${id}`, "removedNotice"],
    }[action];
    await busy(button, async () => {
      await api(call[0], call[1]);
      notify(t(call[2], { name: who, room: room.name }));
      clearTimeout(timer);
      poll();
    });
  }

  function recordingButton(room, active) {
    const action = active ? "stop" : "start";
    const button = h("button", { type: "button", class: `small${active ? " danger" : " rec"}`,
      testid: `${action}-recording-button`,
      "aria-label": t(active ? "stopRecordingLabel" : "startRecordingLabel", { name: room.name }),
      onclick: () => (active ? stopRecording : startRecording)(room.id, button) },
    t(active ? "stopRecording" : "startRecording"));
    return button;
  }

  async function startRecording(roomId, button) {
    const name = rooms.get(roomId)?.name || roomId;
    await busy(button, async () => {
      const status = await api("POST", `/rooms/${encodeURIComponent(roomId)}/recording/start`);
      recording.set(roomId, status);
      recordingChanged = Date.now();
      notify(t("recordingStarted", { name }));
      render([...rooms.values()]);
    });
  }

  async function stopRecording(roomId, button) {
    const name = rooms.get(roomId)?.name || roomId;
    const ok = await confirmDialog({ title: t("stopRecordingTitle"),
      text: t("stopRecordingConfirm", { name }), confirmLabel: t("stopRecording") });
    if (!ok) return;
    await busy(button, async () => {
      const status = await api("POST", `/rooms/${encodeURIComponent(roomId)}/recording/stop`);
      recording.set(roomId, status);
      recordingChanged = Date.now();
      notify(t("recordingStopped", { name }));
      render([...rooms.values()]);
    });
  }

  // ---- actions ----------------------------------------------------------------------------

  function createForm() {
    const name = h("input", { name: "name", required: true, maxlength: 200,
      testid: "room-name-input" });
    const kind = select("kind", KINDS, (k) => term("kinds", k), { value: "consultation" });
    kind.dataset.testid = "room-kind-select";
    const caseId = h("input", { name: "case_id", maxlength: 64, testid: "room-case-input",
      class: "mono" });
    const lobby = h("input", { type: "checkbox", name: "lobby", testid: "room-lobby-input" });
    const error = h("p", { class: "error", role: "alert", testid: "create-room-error" });
    const submit = h("button", { type: "submit", class: "primary", testid: "create-room-button" },
      t("createRoom"));
    const form = h("form", { class: "stack", testid: "create-room-form" },
      field(t("roomName"), name), field(t("roomKind"), kind), field(t("roomCase"), caseId),
      h("label", { class: "check" }, lobby, ` ${t("roomLobby")}`),
      error, submit);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(submit, async () => {
        const body = { name: name.value.trim(), kind: kind.value, lobby: lobby.checked };
        if (caseId.value.trim()) body.case_id = caseId.value.trim();
        const room = await api("POST", "/rooms", body);
        notify(t("roomCreated", { name: room.name }));
        form.reset();
        kind.value = "consultation";
        render([...rooms.values(), room]);
        openInvite(room.id);
      }, error);
    });
    return h("section", { class: "card", "aria-labelledby": "create-room-heading" },
      h("h3", { id: "create-room-heading" }, t("createRoomHeading")), form);
  }

  async function endRoom(roomId, button) {
    const room = rooms.get(roomId);
    const name = room ? room.name : roomId;
    const ok = await confirmDialog({ title: t("endRoomTitle"), text: t("endRoomConfirm", { name }),
      confirmLabel: t("confirm") });
    if (!ok) return;
    await busy(button, async () => {
      await api("DELETE", `/rooms/${encodeURIComponent(roomId)}`);
      notify(t("roomEnded", { name }));
      rooms.delete(roomId);
      render([...rooms.values()]);
    });
  }

  function openInvite(roomId) {
    const room = rooms.get(roomId);
    if (!room) return;
    invite.dataset.roomId = roomId;
    invite.hidden = false;
    const identity = h("input", { name: "identity", required: true, pattern: "\\S+",
      maxlength: 128, testid: "invite-identity", autocapitalize: "none", spellcheck: "false" });
    const name = h("input", { name: "name", maxlength: 200, testid: "invite-name" });
    const role = select("role", ROLES, (r) => term("roles", r), { value: "doctor" });
    role.dataset.testid = "invite-role";
    const error = h("p", { class: "error", role: "alert", testid: "invite-error" });
    const result = h("div", { class: "join-result", "aria-live": "polite" });
    const submit = h("button", { type: "submit", class: "primary", testid: "mint-link-button" },
      t("mintLink"));
    const form = h("form", { class: "stack" },
      field(t("identity"), identity, t("identityHint")), field(t("displayName"), name),
      field(t("role"), role), error, submit, result);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(submit, async () => {
        const body = { identity: identity.value.trim(), role: role.value };
        if (name.value.trim()) body.name = name.value.trim();
        const link = await api("POST", `/rooms/${encodeURIComponent(roomId)}/tokens`, body);
        fill(result, joinLinkBlock(link.join_url,
          new Date(Date.now() + link.expires_in * 1000).toISOString(), `${body.identity}`));
      }, error);
    });
    fill(invite,
      h("div", { class: "card-head" },
        h("h3", { id: "invite-heading" }, t("inviteHeading", { name: room.name })),
        h("button", { type: "button", class: "small quiet", testid: "invite-close",
          onclick: closeInvite }, t("close"))),
      form);
    identity.focus();
  }

  function closeInvite() {
    invite.hidden = true;
    delete invite.dataset.roomId;
    fill(invite);
  }

  poll();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

const SWAPPED = { "start-recording-button": "stop-recording-button",
  "stop-recording-button": "start-recording-button" };

function recMarker(since) {
  const label = since ? t("recSince", { time: centreTime(since, { seconds: true }) })
    : t("recMarker");
  return h("span", { class: "rec-marker", testid: "rec-marker", title: label },
    h("span", { "aria-hidden": "true" }, t("recMarker")),
    h("span", { class: "visually-hidden" }, label));
}

function participantList(participants, room, act) {
  if (!participants.length) return h("span", { class: "muted" }, t("nobodyYet"));
  return h("ul", { class: "participants" }, participants.map((p) => {
    const name = p.name || p.identity;
    const audioOn = (p.tracks || []).some((tr) => tr.kind === "audio" && !tr.muted);
    return h("li", { testid: "participant", dataset: { identity: p.identity, role: p.role } },
      h("span", { class: "p-name" }, name),
      p.name && p.name !== p.identity ? h("span", { class: "muted mono small-text" }, p.identity)
        : null,
      h("span", { class: "badge role" }, term("roles", p.role)),
      trackBadges(p.tracks || []),
      h("span", { class: "person-actions" },
        audioOn ? h("button", { type: "button", class: "small", testid: "mute-request-button",
          "aria-label": t("muteAskLabel", { name }), onclick: (ev) => act("mute", room, p, ev.target) },
        t("muteAsk")) : null,
        h("button", { type: "button", class: "small danger", testid: "remove-participant-button",
          "aria-label": t("removeLabel", { name }), onclick: (ev) => act("remove", room, p, ev.target) },
        t("remove"))));
  }));
}

/** Who waits in the room's waiting room, with Admit and Decline. */
function waitingList(room, act) {
  const waiting = room.waiting || [];
  if (!room.lobby && !waiting.length) return null;
  return h("div", { class: "waiting-block", testid: "waiting-block" },
    h("p", { class: "waiting-title" }, h("span", { class: "badge lobby" }, t("colWaiting")),
      waiting.length ? null : h("span", { class: "muted small-text" }, ` ${t("waitingNone")}`)),
    waiting.length ? h("ul", { class: "participants waiting" }, waiting.map((w) => {
      const name = w.name || w.identity;
      return h("li", { testid: "waiting-person", dataset: { identity: w.identity } },
        h("span", { class: "p-name" }, name),
        h("span", { class: "badge role" }, term("roles", w.role)),
        h("span", { class: "muted small-text" }, t("waitingSince", { time: timeText(w.since) })),
        h("span", { class: "person-actions" },
          h("button", { type: "button", class: "small primary", testid: "admit-button",
            "aria-label": t("admitLabel", { name }), onclick: (ev) => act("admit", room, w, ev.target) },
          t("admit")),
          h("button", { type: "button", class: "small danger", testid: "decline-button",
            "aria-label": t("declineLabel", { name }), onclick: (ev) => act("decline", room, w, ev.target) },
          t("decline"))));
    })) : null);
}

function timeText(iso) {
  return centreTime(new Date(iso));
}

function trackBadges(tracks) {
  if (!tracks.length) return h("span", { class: "track none" }, t("noTracks"));
  return tracks.map((tr) => {
    const kind = t(tr.kind);
    const label = tr.muted ? t("trackMuted", { kind }) : t("trackOn", { kind });
    return h("span", { class: `track ${tr.kind}${tr.muted ? " muted" : ""}`, testid: "track",
      dataset: { kind: tr.kind, muted: String(tr.muted) }, title: label }, label);
  });
}

/** A read-only join link with a copy button (also used for a booking's and emergency's links). */
export function joinLinkBlock(url, expiresAt, label) {
  const input = h("input", { type: "text", readonly: true, value: url, class: "mono link",
    testid: "join-link", "aria-label": `${t("joinLink")} ${label || ""}`.trim(),
    onfocus: (ev) => ev.target.select() });
  return h("div", { class: "join-link" },
    h("div", { class: "join-link-row" }, input, copyButton(input)),
    expiresAt ? h("small", { class: "muted" }, t("linkExpires", { time: "" }), timeEl(expiresAt))
      : null);
}
