// The case panel: the case's summary and attachments, viewed inline (case-viewers.js), and
// the referring doctor's upload. Everything goes through the REST API with the join token,
// which is bound to the case (docs/api.md: case records); every read is on the case's
// access log. A new attachment is announced to the room (attachment.added) and listed.

import { t, term, locale } from "./i18n.js";
import { room, registerFeature } from "./room-context.js";
import { el } from "./dom.js";
import { VIEWERS, viewerFor } from "./case-viewers.js";

const ACCEPT = ".pdf,.jpg,.jpeg,.png,.dcm,application/pdf,image/jpeg,image/png,application/dicom";

/** 1.2 MB, 340 kB: sizes as a person reads them. */
export function formatSize(bytes, loc = locale) {
  const units = ["B", "kB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toLocaleString(loc, { maximumFractionDigits: unit ? 1 : 0 })} ${units[unit]}`;
}

/** The content type of a file the browser may not type (DICOM files often have no extension). */
export function uploadType(file) {
  const name = file.name.toLowerCase();
  if (file.type && file.type !== "application/octet-stream") return file.type;
  if (name.endsWith(".pdf")) return "application/pdf";
  if (name.endsWith(".png")) return "image/png";
  if (name.endsWith(".jpg") || name.endsWith(".jpeg")) return "image/jpeg";
  return "application/dicom";
}

async function api(method, path, { body, type } = {}) {
  const headers = { Authorization: `Bearer ${room.token}` };
  if (type) headers["Content-Type"] = type;
  const response = await fetch(path, { method, headers, body });
  if (!response.ok) {
    let error = { code: `http_${response.status}` };
    try {
      error = (await response.json()).error || error;
    } catch { /* not JSON */ }
    throw error;
  }
  return response;
}

function mount() {
  let caseId = null;
  let closeViewer = null;
  const facts = el("dl", { class: "case-facts" });
  const summary = el("p", { class: "case-summary", "data-testid": "case-summary" });
  const list = el("ul", { class: "attachments", "data-testid": "case-attachments" });
  const problem = el("p", { class: "note", role: "alert" });
  const upload = uploadForm();
  const panel = el("section", { class: "panel case", "aria-labelledby": "case-heading",
    "data-testid": "case-panel", hidden: true },
  el("h2", { id: "case-heading", text: t("casePanelHeading") }), facts,
  el("h3", { text: t("caseSummaryHeading") }), summary,
  el("h3", { id: "attachments-heading", text: t("caseAttachmentsHeading") }), list, problem, upload.form);
  room.addPanel(panel);

  // the viewer: a modal dialog (focus stays in it, Esc closes it)
  const viewerTitle = el("h2", { id: "viewer-title" });
  const viewerBody = el("div", { class: "viewer-body", "data-testid": "viewer-body" });
  const close = el("button", { type: "button", text: t("closeViewer"), "data-testid": "viewer-close" });
  const dialog = el("dialog", { class: "viewer", "aria-labelledby": "viewer-title", "data-testid": "viewer" },
    el("div", { class: "viewer-head" }, viewerTitle, close), viewerBody);
  document.body.append(dialog);
  close.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    if (closeViewer) closeViewer();
    closeViewer = null;
    viewerBody.replaceChildren();
  });

  async function open(attachment) {
    const kind = viewerFor(attachment.content_type);
    viewerTitle.textContent = attachment.filename;
    viewerBody.replaceChildren(el("p", { text: t("viewerLoading") }));
    dialog.dataset.kind = kind || "";
    dialog.dataset.state = "loading";
    dialog.showModal();
    try {
      const blob = await (await api("GET", attachment.content_url)).blob();
      closeViewer = await VIEWERS[kind](viewerBody, blob, attachment.filename);
      dialog.dataset.state = "shown";
    } catch (err) {
      console.warn("vidconsult: attachment viewer failed", err);
      viewerBody.replaceChildren(el("p", { class: "note", role: "alert",
        text: err && err.code ? room.errorText(err) : t("viewerFailed") }));
      dialog.dataset.state = "failed";
    }
  }

  /** The summary (each read is on the case's access log: once per join) and the files. */
  async function load({ summary = true } = {}) {
    if (!caseId) return;
    const base = `/api/v1/cases/${encodeURIComponent(caseId)}`;
    problem.textContent = "";
    try {
      const [c, files] = await Promise.all([
        summary ? api("GET", `${base}/summary`).then((r) => r.json()) : null,
        api("GET", `${base}/attachments`).then((r) => r.json()),
      ]);
      if (c) renderCase(c);
      renderFiles(files.attachments);
      panel.hidden = false;
    } catch (err) {
      problem.textContent = room.errorText(err);
      panel.hidden = false;
    }
  }

  function renderCase(c) {
    const p = c.patient;
    const age = p.age_years != null ? t("ageYears", { years: p.age_years }) : p.birth_date || "";
    const rows = [
      [t("casePatient"), [p.name, term("sexes", p.sex), age].filter(Boolean).join(" · ")],
      [t("caseSpecialty"), term("specialties", c.specialty)],
      [t("caseUrgency"), term("urgencies", c.urgency)],
      [t("caseReferringDoctor"), c.referring_doctor],
    ];
    facts.replaceChildren(...rows.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v }))));
    summary.textContent = c.clinical_summary;
  }

  function renderFiles(attachments) {
    if (!attachments.length) {
      list.replaceChildren(el("li", { class: "muted", text: t("noAttachments") }));
      return;
    }
    list.replaceChildren(...attachments.map((a) => {
      const kind = viewerFor(a.content_type);
      const view = el("button", { type: "button", class: "small", text: t("viewAttachment"),
        "aria-label": `${t("viewAttachment")} ${a.filename}`, "data-testid": "view-attachment",
        "data-kind": kind || "" });
      view.disabled = !kind;
      view.addEventListener("click", () => open(a));
      return el("li", { "data-attachment-id": a.id, "data-testid": "attachment" },
        el("span", { class: "file-name", text: a.filename }),
        el("span", { class: "file-meta", text: ` ${t(`kind_${kind}`)} · ${formatSize(a.size_bytes)}` }),
        view);
    }));
  }

  function uploadForm() {
    const input = el("input", { type: "file", id: "case-upload-input", accept: ACCEPT,
      "data-testid": "case-upload-input" });
    const button = el("button", { type: "submit", text: t("uploadButton"), "data-testid": "case-upload-button" });
    const status = el("p", { class: "panel-note", role: "status", "data-testid": "case-upload-status" });
    const form = el("form", { class: "case-upload", hidden: true },
      el("label", { for: "case-upload-input", text: t("uploadLabel") }), input, button, status);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const file = input.files && input.files[0];
      if (!file || !caseId) return;
      button.disabled = true;
      status.textContent = t("uploading");
      try {
        const path = `/api/v1/cases/${encodeURIComponent(caseId)}/attachments?filename=${encodeURIComponent(file.name)}`;
        await api("POST", path, { body: file, type: uploadType(file) });
        status.textContent = t("uploaded", { name: file.name });
        input.value = "";
        await load({ summary: false });
      } catch (err) {
        status.textContent = room.errorText(err);
      } finally {
        button.disabled = false;
      }
    });
    return { form };
  }

  room.onSignal("attachment.added", () => load({ summary: false }));
  room.on("joined", ({ reply }) => {
    caseId = reply.room && reply.room.case_id;
    if (!caseId) return;
    // the referring doctor adds files from the room (the server allows any role that publishes)
    upload.form.hidden = !(room.claims && room.claims.role === "doctor" && room.grants.publish);
    load();
  });
  room.on("finished", () => {
    if (dialog.open) dialog.close();
    upload.form.hidden = true;
  });
}

registerFeature({ name: "case", mount });
