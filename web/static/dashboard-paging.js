// The coordinators' emergency board: each emergency's elapsed time, who was paged (and when),
// who answered; the coordinators' own page rings here (Accept joins the room). Below it the
// experts' leave requests to approve or decline. Live over Socket.IO /staff, polled as well.

import { io } from "/static/vendor/socket.io.esm.min.js";
import { term } from "./i18n.js";
import { api, busy, centre, fill, h, notify, session } from "./dashboard-core.js";
import { w, wterm } from "./workspace-i18n.js";
import { timeIn } from "./workspace-common.js";

const SECONDS = { seconds: true };

function elapsedText(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s`;
}

export function mountPaging(view) {
  const board = h("section", { class: "card", "aria-labelledby": "board-heading",
    testid: "paging-board" });
  const approvals = h("section", { class: "card", "aria-labelledby": "approvals-heading",
    testid: "leave-approvals" });
  fill(view, h("div", { class: "ws-grid" },
    h("div", { class: "ws-col" }, board), h("div", { class: "ws-col" }, approvals)));
  let data = { pagings: [], answer_within_seconds: 60 };
  let loadedAt = Date.now();
  let socket = null;

  function target(t) {
    return t.kind === "coordinator" ? w("coordinators") : t.id;
  }

  function card(p) {
    const since = p.elapsed_seconds + (p.state === "paging" ? (Date.now() - loadedAt) / 1000 : 0);
    const mine = p.state === "paging"
      ? p.pages.find((pg) => pg.target.kind === "coordinator" && pg.status === "ringing")
      : null;
    let accept = null;
    if (mine) {
      accept = h("button", { type: "button", class: "primary", testid: "page-accept" },
        w("accept"));
      accept.addEventListener("click", () => busy(accept, async () => {
        const got = await api("POST", `/pages/${encodeURIComponent(mine.page_id)}/accept`);
        location.assign(`${got.link.join_url}&join=now`);
      }));
    }
    return h("article", { class: mine ? "page-alert ringing" : "card",
      role: mine ? "alert" : null, testid: "paging-row",
      dataset: { caseId: p.case_id, state: p.state } },
    h("div", { class: "card-head" },
      h("h3", {}, `${term("specialties", p.specialty)} · ${p.unit_name}`),
      h("span", { class: "badge", testid: "paging-state" }, wterm("pagingStates", p.state))),
    h("p", {}, h("b", {}, `${w("elapsed")}: `),
      h("span", { class: "elapsed", testid: "paging-elapsed" }, elapsedText(since))),
    h("p", {}, h("b", {}, `${w("answered")}: `),
      h("span", { testid: "paging-answered" }, p.answered_by
        ? [p.answered_by, " · ", timeIn(p.answered_at, centre.zone, "", null, SECONDS)] : w("notAnswered"))),
    p.first_expert_at ? h("p", {}, h("b", {}, `${w("firstExpert")}: `),
      timeIn(p.first_expert_at, centre.zone, "", null, SECONDS)) : null,
    h("p", { class: "small-text" }, h("b", {}, `${w("paged")}:`)),
    h("ol", { class: "paging-steps", testid: "paging-steps" }, p.pages.map((pg) => h("li",
      { dataset: { status: pg.status, target: pg.target.id, reason: pg.reason || "" } },
      `${target(pg.target)} · `, pg.reason
        ? w("statusBecause", { status: wterm("pageStatuses", pg.status),
          reason: wterm("cancelReasons", pg.reason) })
        : wterm("pageStatuses", pg.status), " · ",
      timeIn(pg.sent_at, centre.zone, "", null, SECONDS)))),
    p.escalates_at ? h("p", { class: "small-text muted" }, `${w("escalatesAt")}: `,
      timeIn(p.escalates_at, centre.zone, "", null, SECONDS)) : null,
    h("p", { class: "small-text" }, h("a", { href: `#cases/${encodeURIComponent(p.case_id)}` },
      p.case_id)),
    accept ? h("div", { class: "button-row" }, accept) : null);
  }

  function renderBoard() {
    fill(board,
      h("h2", { id: "board-heading", class: "card-title" }, w("boardHeading")),
      h("p", { class: "muted small-text" },
        w("answerWithin", { seconds: data.answer_within_seconds })),
      data.pagings.length ? h("div", { class: "stack" }, data.pagings.map(card))
        : h("p", { class: "empty" }, w("noPagings")));
  }

  async function loadBoard() {
    data = await api("GET", "/paging");
    loadedAt = Date.now();
    renderBoard();
  }

  async function loadApprovals() {
    const got = await api("GET", "/leave-requests?status=pending");
    const rows = got.leave_requests.map((r) => {
      const approve = h("button", { type: "button", class: "primary small",
        testid: "leave-approve" }, w("approve"));
      const decline = h("button", { type: "button", class: "small danger",
        testid: "leave-decline" }, w("declineLeave"));
      const decide = (button, how) => busy(button, async () => {
        await api("POST", `/leave-requests/${encodeURIComponent(r.id)}/${how}`, {});
        notify(how === "approve" ? w("approved") : w("declined"));
        await loadApprovals();
      });
      approve.addEventListener("click", () => decide(approve, "approve"));
      decline.addEventListener("click", () => decide(decline, "decline"));
      return h("tr", { testid: "leave-row", dataset: { requestId: r.id } },
        h("td", {}, r.expert_id),
        h("td", {}, timeIn(r.start, centre.zone), " – ", timeIn(r.end, centre.zone)),
        h("td", {}, r.reason || "—"),
        h("td", {}, h("div", { class: "button-row" }, approve, decline)));
    });
    fill(approvals,
      h("h2", { id: "approvals-heading", class: "card-title" }, w("approvalsHeading")),
      rows.length ? h("div", { class: "table-scroll" }, h("table", { class: "table" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, w("colExpert")),
          h("th", { scope: "col" }, w("colPeriod")), h("th", { scope: "col" }, w("colReason")),
          h("th", { scope: "col" }, w("colActions")))),
        h("tbody", {}, rows)))
        : h("p", { class: "empty" }, w("noApprovals")));
  }

  const refresh = () => loadBoard().catch((err) => notify(err.message, "error"));
  refresh();
  loadApprovals().catch((err) => notify(err.message, "error"));
  {
    socket = io("/staff", { auth: { token: session.token }, transports: ["websocket"] });
    socket.on("paging.changed", refresh);
    socket.on("page.ring", refresh);
    socket.on("page.closed", refresh);
  }
  const ticker = setInterval(renderBoard, 1000);
  const poller = setInterval(refresh, 10_000);
  return () => {
    clearInterval(ticker);
    clearInterval(poller);
    if (socket) socket.disconnect();
  };
}

let watcher = null;

/** On every section: a page to the coordinators says so in the notice line (and as a desktop
 * notification when allowed) with the way to the board. Needs a login (the /staff namespace
 * refuses tokens without a session; then only the board's polling shows pages). */
export function watchCoordinatorPages() {
  if (watcher) return;
  watcher = io("/staff", { auth: { token: session.token }, transports: ["websocket"] });
  watcher.on("page.ring", (page) => {
    if (page.target.kind !== "coordinator") return;
    const text = w("coordinatorPaged", { specialty: term("specialties", page.specialty),
      unit: page.unit_name });
    if (!location.hash.startsWith("#emergencies")) notify(text, "error");
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        new Notification(w("notificationTitle"), { body: text, tag: page.page_id });
      } catch {
        // notifications from a service worker only, in some browsers
      }
    }
  });
}

export function stopWatchingPages() {
  if (watcher) watcher.disconnect();
  watcher = null;
}
