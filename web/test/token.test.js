import { test } from "node:test";
import assert from "node:assert/strict";
import { tokenFromHash, decodeTokenPayload, describeToken } from "../static/token.js";

const b64url = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");
const jwt = (payload) => `${b64url({ alg: "HS256" })}.${b64url(payload)}.sig`;

test("the token comes from the fragment", () => {
  assert.equal(tokenFromHash("#token=abc.def.ghi"), "abc.def.ghi");
  assert.equal(tokenFromHash("#other=1"), null);
  assert.equal(tokenFromHash(""), null);
});

test("a payload is decoded, unicode names included", () => {
  const payload = decodeTokenPayload(jwt({ sub: "p1", name: "张三", role: "patient", room: "r1", exp: 10,
    grants: { publish: true, subscribe: true } }));
  const claims = describeToken(payload);
  assert.equal(claims.name, "张三");
  assert.equal(claims.room, "r1");
  assert.deepEqual(claims.grants, { publish: true, subscribe: true, admin: false, hidden: false });
  assert.equal(claims.expiresAt.getTime(), 10000);
});

test("anything else is refused", () => {
  assert.throws(() => decodeTokenPayload("not-a-jwt"));
  assert.throws(() => decodeTokenPayload("a.bm90IGpzb24.c"));
  assert.throws(() => decodeTokenPayload(`a.${b64url(null)}.c`));
});
