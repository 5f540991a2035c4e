// The layout rule of a device's name in its select (device-names.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { fitsSelect } from "../static/device-names.js";

test("a name fits its select only with room left for the padding and the arrow", () => {
  assert.equal(fitsSelect(200, 300), true);
  assert.equal(fitsSelect(290, 300), false); // the arrow would cover its end
  assert.equal(fitsSelect(264, 300), true);
  assert.equal(fitsSelect(265, 300), false);
});
