// The in-room features' pure parts (issue 10): which viewer opens an attachment, sizes and
// upload types, the notice for each way of leaving, chat times, screen tracks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { viewerFor } from "../static/case-viewers.js";
import { formatSize, uploadType } from "../static/room-case.js";
import { leftText } from "../static/room-notices.js";
import { clockTime } from "../static/room-chat.js";
import { isScreenSource } from "../static/session.js";
import { translator } from "../static/i18n.js";

test("each accepted attachment type has its inline viewer", () => {
  assert.equal(viewerFor("image/png"), "image");
  assert.equal(viewerFor("image/jpeg"), "image");
  assert.equal(viewerFor("application/pdf"), "pdf");
  assert.equal(viewerFor("application/dicom"), "dicom");
  assert.equal(viewerFor("text/html"), null);
});

test("sizes read as people read them; DICOM files without a type are typed", () => {
  assert.equal(formatSize(532, "en-GB"), "532 B");
  assert.equal(formatSize(1234567, "en-GB"), "1.2 MB");
  assert.equal(uploadType({ name: "IM0001", type: "" }), "application/dicom");
  assert.equal(uploadType({ name: "ecg.PDF", type: "application/octet-stream" }), "application/pdf");
  assert.equal(uploadType({ name: "x.jpg", type: "image/jpeg" }), "image/jpeg");
});

test("a leave notice says how they left", () => {
  assert.match(leftText("Dr Li", "left"), /Dr Li left/);
  assert.match(leftText("Dr Li", "disconnected"), /lost the connection/);
  assert.match(leftText("Dr Li", "removed_by_admin"), /removed/);
});

test("chat times are the viewer's clock time; bad instants show nothing", () => {
  assert.match(clockTime("2026-12-05T06:05:00+00:00", "en-GB"), /^\d\d:\d\d$/);
  assert.equal(clockTime("not a time"), "");
});

test("screen sources are told apart from the camera", () => {
  assert.equal(isScreenSource("screen"), true);
  assert.equal(isScreenSource("screen_audio"), true);
  assert.equal(isScreenSource("camera"), false);
  assert.equal(isScreenSource(undefined), false);
});

test("every in-room string has its Chinese text", () => {
  const zh = translator("zh");
  for (const key of ["recBadge", "roomChatHeading", "raiseHand", "shareScreen", "audioOnlyButton",
    "poorLinkSuggestion", "casePanelHeading", "uploadLabel", "participantLeft", "net_poor"]) {
    const en = translator("en").t(key);
    assert.notEqual(zh.t(key), en, key);
    assert.notEqual(zh.t(key), key, key);
  }
});
