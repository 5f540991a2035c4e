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
