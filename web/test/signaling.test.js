// The signaling wrapper over a fake socket.io factory: acks become promises, errors carry codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Signaling, SignalingError } from "../static/signaling.js";

function fakeIo(answer) {
  return (url, options) => {
    const handlers = {};
    const socket = {
      options, connected: true,
      on: (n, h) => { (handlers[n] ??= []).push(h); },
      off: (n, h) => { handlers[n] = (handlers[n] || []).filter((x) => x !== h); },
      connect: () => { for (const h of handlers.connect || []) h(); },
      disconnect: () => { socket.connected = false; },
      timeout: () => ({ emit: (event, payload, ack) => ack(null, answer(event, payload)) }),
    };
    return socket;
  };
}

test("the token and room travel in the handshake's auth", async () => {
  const sig = new Signaling(fakeIo(() => ({})), "http://x", "tok", "r1");
  assert.deepEqual(sig.socket.options.auth, { token: "tok", room: "r1" });
  await sig.connect();
});

test("a result resolves, an {error} rejects with its code", async () => {
  const sig = new Signaling(fakeIo((event) => (event === "join" ? { ok: 1 } : { error: { code: "room_full", message: "full" } })), "http://x", "tok");
  assert.deepEqual(await sig.request("join"), { ok: 1 });
  await assert.rejects(sig.request("other"), (err) => err instanceof SignalingError && err.code === "room_full");
});

test("a busy room is asked again for longer than an undecided withdrawal holds it", async () => {
  const { retryDelay, ROOM_BUSY } = await import("../static/signaling.js");
  let waited = 0;
  let tries = 0;
  for (let wait = retryDelay(ROOM_BUSY, 0); wait !== null; wait = retryDelay(ROOM_BUSY, tries)) {
    assert.ok(wait > 0 && wait <= 5000, `${wait}`);
    waited += wait;
    tries += 1;
  }
  assert.ok(waited > 30000, `${waited}`); // the hold's lapse
  assert.ok(tries <= 12, `${tries}`);
  // other refusals are final
  assert.equal(retryDelay("room_ended", 0), null);
  assert.equal(retryDelay("emergency_withdrawn_by_unit", 0), null);
});
