// The room page's extension points and error texts (no browser needed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { room, registerFeature, mountFeatures, errorText, FINISHED } from "../static/room-context.js";
import { STRINGS } from "../static/i18n.js";

test("features mount once and hear page events", () => {
  const heard = [];
  registerFeature({ name: "probe", mount(page) { page.on("joined", (d) => heard.push(d.n)); } });
  assert.throws(() => registerFeature({ name: "broken" }));
  mountFeatures();
  room.emit("joined", { n: 1 });
  assert.deepEqual(heard, [1]);
});

test("signal handlers registered early reach the socket made later", () => {
  const calls = [];
  room.onSignal("chat.message", (m) => calls.push(m));
  const attached = [];
  room.attachSignaling({ on: (name, handler) => attached.push([name, handler]) });
  const [name, handler] = attached.find(([n]) => n === "chat.message");
  handler("hi");
  assert.equal(name, "chat.message");
  assert.deepEqual(calls, ["hi"]);
});

test("finish happens once and says why", () => {
  const finished = [];
  room.on("finished", (d) => finished.push(d));
  room.finish("removed", "text", "removed");
  room.finish("error", "text", "later");
  assert.equal(room.state, "removed");
  assert.ok(FINISHED.has(room.state));
  assert.deepEqual(finished, [{ state: "removed", reason: "removed" }]);
});

test("an error code becomes a sentence, an unknown one the generic sentence", () => {
  assert.equal(errorText({ code: "token_revoked" }), STRINGS.en.errors.token_revoked);
  assert.equal(errorText("token_expired"), STRINGS.en.errors.token_expired);
  assert.equal(errorText({ code: "made_up_code", message: "raw English" }), STRINGS.en.errorUnknown);
  assert.equal(errorText(null), STRINGS.en.errorUnknown);
});

test("the room page reads not_found as its room; the shared table reads it in general", () => {
  assert.equal(errorText({ code: "not_found" }), STRINGS.en.roomErrors.not_found);
  assert.notEqual(STRINGS.en.errors.not_found, STRINGS.en.roomErrors.not_found);
});
