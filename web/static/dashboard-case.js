// One case: its facts, booking (with the room's window and join links), report and referral,
// attachments (signed download links), its recordings (with the case's legal hold) and the
// audit trail (status changes, and who opened its recordings and attachments).

import { STRINGS, languageName, t, term } from "./i18n.js";
import {
  api, busy, field, fill, formatBytes, h, notify, timeEl, zoneNote,
} from "./dashboard-core.js";
import { joinLinkBlock } from "./dashboard-rooms.js";
import { actorOf, directory, expertName, unitName } from "./dashboard-directory.js";
import {
  bookEarliest, patientLine, slaBadge, statusBadge, urgencyBadge,
} from "./dashboard-cases.js";
import { caseRecordingsCard } from "./dashboard-recordings.js";
import { partyTime, slotPicker } from "./dashboard-slots.js";

const OPEN_STATES = ["requested", "scheduled", "in_progress"];

function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([label, value]) =>
    h("div", {}, h("dt", {}, label), h("dd", {}, value))));
}

export function mountCase(view, { id }) {
  let stopped = false;
  let recordings = null; // the recordings card of the shown render
  const error = h("p", { class: "error", role: "alert", testid: "case-error" });
  const body = h("div", { class: "case-detail", testid: "case-detail", dataset: { caseId: id } },
    h("p", { class: "muted" }, t("loading")));
  fill(view,
    h("p", {}, h("a", { href: "#cases", class: "back" }, t("backToCases"))),
    error, body);

  async function load() {
    await busy(null, async () => {
      await directory.load();
      const path = `/cases/${encodeURIComponent(id)}`;
      const [c, attachments, chat] = await Promise.all([
        api("GET", path),
        api("GET", `${path}/attachments`).catch((err) => ({ error: err })),
        api("GET", `${path}/chat`).catch((err) => ({ error: err })),
      ]);
      // a panel's first booking leads: its room is the panel's
      const bookingId = c.booking_ids.length ? c.booking_ids[0] : null;
      const booking = bookingId
        ? await api("GET", `/bookings/${encodeURIComponent(bookingId)}`).catch(() => null) : null;
      // an emergency has no booking: its room is found among the rooms by case id
      const rooms = c.urgency === "emergency"
        ? (await api("GET", "/rooms?status=all").catch(() => ({ rooms: [] }))).rooms
          .filter((r) => r.case_id === c.id) : [];
      if (!stopped) render(c, booking, attachments, rooms, chat);
    }, error);
  }

  function render(c, booking, attachments, rooms, chat) {
    body.dataset.status = c.status;
    const p = c.patient;
    if (recordings) recordings.stop();
    recordings = caseRecordingsCard(c.id);
    fill(body,
      h("div", { class: "section-head" },
        // the patient and what the case is about; its id only in the title, for support
        h("h2", { title: t("caseNumber", { id: c.id }) }, `${p.name}`,
          h("span", { class: "muted heading-id", testid: "case-label" }, ` ${t("caseLabel", {
            specialty: term("specialties", c.specialty), unit: unitName(c.referring_unit_id) })}`)),
        h("div", { class: "badges" }, urgencyBadge(c.urgency), statusBadge(c.status),
          c.sla_breach == null ? null : slaBadge(c.sla_breach))),
      h("div", { class: "case-grid" },
        h("div", { class: "case-col" },
          h("section", { class: "card" },
            facts([
              [t("patient"), `${p.name} · ${patientLine(p)}${p.id_number ? ` · ${p.id_number}` : ""}`],
              [t("unit"), unitName(c.referring_unit_id)],
              [t("referringDoctor"), c.referring_doctor],
              [t("specialty"), term("specialties", c.specialty)],
              [t("requestedAt"), timeEl(c.requested_at)],
              c.requested_language && [t("requestedLanguage"), languageName(c.requested_language)],
              c.interpreter_needed && [t("interpreterNeeded"), t("yes")],
              c.expert_ids.length && [t("expert"), c.expert_ids.map(expertName).join(", ")],
              c.urgency !== "emergency" &&
                [t("scheduledStart"), timeEl(c.scheduled_start, { weekday: true })],
              c.sla_deadline && [t("slaDeadline"), timeEl(c.sla_deadline)],
            ]),
            h("h3", { class: "summary-heading" }, t("summary")),
            h("p", { class: "summary" }, c.clinical_summary),
            actions(c)),
          c.urgency === "emergency" ? roomsCard(c, rooms) : bookingCard(c, booking),
          c.report ? reportCard(c.report) : null,
          c.referral ? referralCard(c.referral) : null),
        h("div", { class: "case-col" },
          attachmentsCard(attachments),
          chatCard(chat),
          auditCard(c.audit || []))),
      recordings.el);
  }

  function actions(c) {
    if (!OPEN_STATES.includes(c.status)) return null;
    const out = h("div");
    const bookError = h("p", { class: "error", role: "alert", testid: "book-error" });
    const book = c.status === "requested"
      ? h("button", { type: "button", class: "primary", testid: "book-button",
        onclick: async () => { if (await bookEarliest(c.id, book, out, bookError)) load(); } },
      t("bookEarliest"))
      : null;
    const reason = h("input", { name: "reason", required: true, maxlength: 2000,
      testid: "cancel-reason" });
    const cancelError = h("p", { class: "error", role: "alert" });
    const cancel = h("button", { type: "submit", class: "danger", testid: "cancel-case-button" },
      t("cancelCaseConfirm"));
    const cancelForm = h("form", { class: "stack" }, field(t("cancelReason"), reason), cancelError,
      cancel);
    cancelForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(cancel, async () => {
        await api("POST", `/cases/${encodeURIComponent(c.id)}/cancel`,
          { reason: reason.value.trim() });
        notify(t("caseCancelled"));
        load();
      }, cancelError);
    });
    // the slot picker, built when opened: a choice of experts (a panel), interpreter and time
    const picker = h("details", { testid: c.status === "requested" ? "choose-slot"
      : "reschedule" });
    const pickerMode = c.status === "requested" ? "book"
      : c.status === "scheduled" ? "reschedule" : null;
    picker.append(h("summary", {}, pickerMode === "reschedule" ? t("rescheduleHeading")
      : t("pickerHeading")));
    picker.addEventListener("toggle", () => {
      if (picker.open && picker.children.length === 1) {
        picker.append(slotPicker(c, { mode: pickerMode, done: () => load() }));
      }
    });
    return h("div", { class: "case-actions" },
      h("div", { class: "button-row" }, book), bookError, out,
      pickerMode ? picker : null,
      h("details", {}, h("summary", {}, t("cancelCase")), cancelForm));
  }

  load();
  return () => {
    stopped = true;
    if (recordings) recordings.stop();
  };
}

function bookingCard(c, booking) {
  const card = h("section", { class: "card", testid: "case-booking",
    "aria-labelledby": "booking-heading" },
  h("h3", { id: "booking-heading" }, t("bookingHeading")));
  if (!booking) {
    card.append(h("p", { class: "muted" }, t("noBooking")));
    return card;
  }
  const room = booking.room;
  const links = h("div", { testid: "booking-links" });
  const show = h("button", { type: "button", class: "small", testid: "show-links-button" },
    t("showLinks"));
  const linksError = h("p", { class: "error", role: "alert" });
  show.addEventListener("click", () => busy(show, async () => {
    const data = await api("GET", `/bookings/${encodeURIComponent(booking.id)}/links`);
    fill(links, h("h4", {}, t("linksHeading")), h("ul", { class: "links" }, data.links.map((l) =>
      h("li", {}, h("strong", {}, l.name), " ",
        h("span", { class: "badge role" }, term("roles", l.role)),
        joinLinkBlock(l.join_url, l.expires_at, l.name)))));
    show.hidden = true;
  }, linksError));
  card.append(
    facts([
      [t("expert"), c.expert_ids.length ? c.expert_ids.map(expertName).join(", ")
        : expertName(booking.expert_id)],
      [t("scheduledStart"), timeEl(booking.start, { weekday: true })],
      [t("colSla"), slaBadge(booking.sla_breach)],
      room && [t("roomWindow"),
        h("span", {}, timeEl(room.opens_at, { zone: false }), " – ", timeEl(room.closes_at))],
      room && [t("roomState"), h("span", { testid: "booked-room-state" },
        `${term("bookedRoomStates", room.state)} · ${t("attendance")}: ${
          term("attendances", room.attendance)}`)],
      room && [t("parties"), room.parties.map((p) => t("actorWithRole",
        { name: p.name, role: term("roles", p.role) }))
        .join("; ")],
    ]),
    // the start as each party reads it: the unit's clock, each expert's and the interpreter's
    h("h4", {}, t("partyTimesHeading")),
    h("ul", { class: "party-times", testid: "booking-party-times" },
      partyTimesOf(c, booking, room)));
  if (room && !booking.cancelled_at && OPEN_STATES.includes(c.status)) {
    card.append(show, linksError, links);
  }
  return card;
}

function partyTimesOf(c, booking, room) {
  const unit = directory.units.find((u) => u.id === c.referring_unit_id);
  const out = [];
  if (unit) out.push(partyTime(unit.name, booking.start, unit.time_zone, `unit-${unit.id}`));
  const booked = new Set(c.expert_ids);
  for (const p of room?.parties || []) {
    if (p.kind === "interpreter") booked.add(p.identity);
  }
  for (const pid of booked) {
    const person = directory.experts.find((e) => e.id === pid);
    if (person) out.push(partyTime(person.name, booking.start, person.time_zone, pid));
  }
  return out;
}

/** An emergency's rooms in words: what the room is, its state and why it ended in the page's
 * language; the room's id and generated name only as hover text, for support. */
function roomsCard(c, rooms) {
  return h("section", { class: "card", testid: "case-rooms" },
    h("h3", {}, t("caseRoomsHeading")),
    rooms.length ? h("ul", { class: "links" }, rooms.map((r) => h("li", {
      testid: "case-room", dataset: { roomId: r.id, status: r.status } },
      h("strong", { title: `${r.name}\n${t("roomIdTitle", { id: r.id })}` }, roomLabel(c, r)), " ",
      h("span", { class: `badge ${r.status === "open" ? "status-in_progress" : ""}`,
        testid: "case-room-status" }, term("roomStatuses", r.status)),
      h("div", { class: "muted small-text" }, timeEl(r.created_at),
        r.ended_at ? [" – ", timeEl(r.ended_at)] : null,
        r.end_reason ? [" · ", h("span", { testid: "case-room-end" }, endReasonText(r.end_reason))]
          : null))))
      : h("p", { class: "muted" }, t("noRooms")));
}

/** "Emergency room · Cardiology" for an emergency's room (its stored name is generated, in
 * English, with codes); a room named by a person keeps its name. */
function roomLabel(c, room) {
  return room.kind === "emergency"
    ? t("emergencyRoomOf", { specialty: term("specialties", c.specialty) }) : room.name;
}

/** Why a room ended, in words: a known code's sentence, "ended by Li Coordinator" for a
 * person's end (the server writes "ended by <identity>"). */
function endReasonText(reason) {
  const by = /^ended by (.+)$/.exec(reason);
  if (by) return t("roomEndedBy", { who: actorOf(by[1]).name });
  return term("roomEndReasons", STRINGS.en.roomEndReasons[reason] ? reason : "ended");
}

function reportCard(r) {
  return h("section", { class: "card", testid: "case-report" },
    h("h3", {}, t("reportHeading")),
    facts([
      [t("diagnosis"), r.diagnosis],
      [t("treatmentPlan"), r.treatment_plan],
      r.notes && [t("notes"), r.notes],
      r.counselling && [t("counselling"), t("yes")],
    ]),
    h("p", { class: "muted small-text" }, t("signedBy", { who: expertName(r.signed_by), time: "" }),
      timeEl(r.signed_at)));
}

function referralCard(r) {
  return h("section", { class: "card", testid: "case-referral" },
    h("h3", {}, t("referralHeading"), r.green_channel
      ? h("span", { class: "badge green" }, ` ${t("greenChannel")}`) : null),
    facts([
      [t("targetHospital"), r.target_hospital],
      [t("department"), r.department],
      [t("priority"), r.priority],
      r.reason && [t("reason"), r.reason],
    ]));
}

function attachmentsCard(data) {
  const card = h("section", { class: "card", testid: "case-attachments" },
    h("h3", {}, t("attachmentsHeading")));
  if (data.error) {
    card.append(h("p", { class: "error" }, data.error.message));
    return card;
  }
  if (!data.attachments.length) {
    card.append(h("p", { class: "muted" }, t("noAttachments")));
    return card;
  }
  card.append(h("ul", { class: "attachments" }, data.attachments.map((a) =>
    h("li", { testid: "attachment", dataset: { attachmentId: a.id } },
      h("a", { href: a.download_url, download: a.filename, rel: "noopener",
        testid: "attachment-link" }, a.filename),
      h("span", { class: "muted small-text" },
        ` ${a.content_type} · ${formatBytes(a.size_bytes)} · `, timeEl(a.uploaded_at, { zone: false })),
      h("div", { class: "muted small-text" },
        t("linkValidUntil", { time: "" }), timeEl(a.download_expires_at))))));
  return card;
}

// the chat of the case's rooms, as it was typed in the room (oldest first)
function chatCard(data) {
  const card = h("section", { class: "card", testid: "case-chat" },
    h("h3", {}, t("chatHeading"), zoneNote()));
  if (data.error) {
    card.append(h("p", { class: "error" }, data.error.message));
    return card;
  }
  if (!data.messages.length) {
    card.append(h("p", { class: "muted" }, t("noChat")));
    return card;
  }
  card.append(h("ol", { class: "chat-transcript" }, data.messages.map((m) =>
    h("li", { testid: "chat-entry", dataset: { roomId: m.room_id } },
      h("span", { class: "muted small-text" }, timeEl(m.sent_at, { zone: false }), " "),
      h("strong", {}, m.role ? `${m.name} (${term("roles", m.role)})` : m.name),
      h("span", {}, `: ${m.text}`)))));
  return card;
}

function auditCard(entries) {
  return h("section", { class: "card", testid: "case-audit" },
    h("h3", {}, t("auditHeading")),
    h("div", { class: "table-scroll" }, h("table", { class: "table compact" },
      h("caption", { class: "visually-hidden" }, t("auditHeading")),
      h("thead", {}, h("tr", {}, ["colWhen", "colWho", "colAction", "colChange", "colNote"]
        .map((k) => h("th", { scope: "col" }, t(k), k === "colWhen" ? zoneNote() : null)))),
      h("tbody", {}, entries.map((e) => h("tr", { testid: "audit-row",
        dataset: { action: e.action } },
        h("td", {}, timeEl(e.at, { zone: false })),
        h("td", { testid: "audit-actor", title: e.actor }, actorText(e)),
        h("td", {}, term("auditActions", e.action)),
        h("td", {}, e.from || e.to
          ? `${e.from ? term("statuses", e.from) : "—"} → ${e.to ? term("statuses", e.to) : "—"}`
          : ""),
        // an access entry: what was opened (recording, export or attachment id) and its file
        h("td", { class: "note" }, [e.subject, auditNote(e.note)].filter(Boolean).join(" · "))))))));
}

/** "Li Coordinator (coordinator)": the person's name and role in the page's language. */
function actorText(e) {
  const who = actorOf(e.actor);
  const role = e.role || who.role;
  return role ? t("actorWithRole", { name: who.name, role: term("roles", role) }) : who.name;
}

/** An audit note in the page's language: the notes the server writes itself ("bookings
 * ['bk_…']", "with referral") in words, without ids; a person's own note (a reason) as typed. */
function auditNote(note) {
  if (!note) return "";
  if (note === "with referral") return t("auditNoteReferral");
  // who withdrew an emergency (the "emergency.withdrawn" entry): its code, in words
  if (note === "emergency_withdrawn_by_unit") return t("auditNoteWithdrawnByUnit");
  if (note === "emergency_withdrawn_by_centre") return t("auditNoteWithdrawnByCentre");
  const booked = /^bookings \[(.*)\]$/.exec(note);
  if (booked) return t("auditNoteBooked", { n: (booked[1].match(/'[^']*'/g) || []).length });
  return note;
}
