// The roster's queue of raised hands: in the order they went up (the server's hand_raised_at,
// kept across rejoins and a node's restart), each hand's place on its participant.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Roster } from "../static/roster.js";

const person = (identity, extra = {}) => ({ identity, name: identity, role: "patient", joined_at: "2026-12-06T07:00:00+00:00", ...extra });

test("raised hands queue in the order they went up, not by name or join", () => {
  const roster = new Roster();
  roster.reset(person("dr-li"), [
    person("st-a", { hand_raised: true, hand_raised_at: "2026-12-06T07:05:00+00:00" }),
    person("st-b", { hand_raised: true, hand_raised_at: "2026-12-06T07:03:00+00:00" }),
    person("st-c"),
  ]);
  assert.deepEqual(roster.handQueue(), ["st-b", "st-a"]);
  assert.equal(roster.get("st-b").hand_position, 1);
  assert.equal(roster.get("st-a").hand_position, 2);
  assert.equal(roster.get("st-c").hand_position, null);

  roster.handRaised("st-c", true, "2026-12-06T07:06:00+00:00");
  assert.deepEqual(roster.handQueue(), ["st-b", "st-a", "st-c"]);
  roster.handRaised("st-b", false); // answered: the others move up
  assert.deepEqual(roster.handQueue(), ["st-a", "st-c"]);
  assert.equal(roster.get("st-a").hand_position, 1);
  assert.equal(roster.get("st-b").hand_position, null);
  roster.left("st-a");
  assert.equal(roster.get("st-c").hand_position, 1);
});
