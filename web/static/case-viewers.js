// Inline viewers of a case's attachments in the room: images as they are, PDFs with pdf.js
// and DICOM with dwv (both from npm, served by web/vendor.py and loaded only when opened).
// Each viewer gets the file's bytes (fetched with the room token) and a container element.

import { t } from "./i18n.js";
import { el } from "./dom.js";

const MAX_PDF_PAGES = 30;
let pdfjs = null;
let dwv = null;

/** Which viewer shows a content type: "image", "pdf", "dicom" or null. */
export function viewerFor(contentType) {
  if (contentType === "image/png" || contentType === "image/jpeg") return "image";
  if (contentType === "application/pdf") return "pdf";
  if (contentType === "application/dicom") return "dicom";
  return null;
}

async function loadPdfjs() {
  if (!pdfjs) {
    pdfjs = await import("/static/vendor/pdfjs/build/pdf.min.mjs");
    pdfjs.GlobalWorkerOptions.workerSrc = "/static/vendor/pdfjs/build/pdf.worker.min.mjs";
  }
  return pdfjs;
}

async function loadDwv() {
  if (!dwv) dwv = await import("/static/vendor/dwv/dwv.min.js");
  return dwv;
}

export async function showImage(container, blob, name) {
  const url = URL.createObjectURL(blob);
  const img = el("img", { src: url, alt: name, class: "attachment-image", "data-testid": "viewer-image" });
  await img.decode();
  container.replaceChildren(img);
  return () => URL.revokeObjectURL(url);
}

export async function showPdf(container, blob, name) {
  const lib = await loadPdfjs();
  const data = new Uint8Array(await blob.arrayBuffer());
  const doc = await lib.getDocument({
    data,
    isEvalSupported: false, // the page's CSP has no 'unsafe-eval'
    standardFontDataUrl: "/static/vendor/pdfjs/standard_fonts/",
  }).promise;
  const pages = el("div", { class: "pdf-pages", "data-testid": "viewer-pdf", "data-pages": String(doc.numPages) });
  container.replaceChildren(pages);
  const width = Math.max(320, container.clientWidth - 16);
  for (let n = 1; n <= Math.min(doc.numPages, MAX_PDF_PAGES); n += 1) {
    const page = await doc.getPage(n);
    const base = page.getViewport({ scale: 1 });
    const viewport = page.getViewport({ scale: width / base.width });
    const canvas = el("canvas", { width: Math.floor(viewport.width), height: Math.floor(viewport.height),
      role: "img", "aria-label": t("pdfPage", { name, page: n, pages: doc.numPages }) });
    pages.append(canvas);
    await page.render({ canvas, canvasContext: canvas.getContext("2d"), viewport }).promise;
    canvas.dataset.rendered = "true";
  }
  if (doc.numPages > MAX_PDF_PAGES) pages.append(el("p", { class: "note", text: t("pdfMorePages") }));
  return () => doc.destroy();
}

export async function showDicom(container, blob, name) {
  const lib = await loadDwv();
  const id = `dwv-${Math.random().toString(36).slice(2)}`;
  const layer = el("div", { id, class: "dicom-layer", role: "img", "aria-label": t("dicomImage", { name }),
    "data-testid": "viewer-dicom" });
  const help = el("p", { class: "panel-note", text: t("dicomHelp") });
  container.replaceChildren(layer, help);
  const app = new lib.App();
  const options = new lib.AppOptions({ "*": [new lib.ViewConfig(id)] });
  options.tools = { WindowLevel: {}, ZoomAndPan: {} };
  app.init(options);
  const loaded = new Promise((resolve, reject) => {
    app.addEventListener("load", () => resolve());
    app.addEventListener("error", (event) => reject(event.error || new Error("DICOM not readable")));
    app.addEventListener("abort", () => reject(new Error("DICOM load aborted")));
  });
  app.loadFiles([new File([blob], name || "image.dcm", { type: "application/dicom" })]);
  await loaded;
  app.setTool("WindowLevel");
  layer.dataset.rendered = "true";
  return () => app.reset();
}

export const VIEWERS = { image: showImage, pdf: showPdf, dicom: showDicom };
