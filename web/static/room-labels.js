// The page's fixed labels that assistive technology reads (title, regions, toolbar) in the
// page's language; the visible texts are set by the modules that own them.

import { t } from "./i18n.js";
import { registerFeature, $ } from "./room-context.js";
import { updateControls } from "./room-controls.js";

function mount() {
  document.title = t("title");
  const labels = { room: "regionConsultation", tiles: "regionVideo", controls: "regionControls" };
  for (const [id, key] of Object.entries(labels)) {
    const node = $(id);
    if (node) node.setAttribute("aria-label", t(key));
  }
  updateControls(); // the toolbar's texts, also on a page that never gets to join
}

registerFeature({ name: "labels", mount });
