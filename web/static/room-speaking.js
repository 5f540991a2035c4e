// Who is speaking: a ring and a word on the tile of each remote participant who speaks, our
// own level on our tile, and in a grid of 4+ the active speaker's tile first and larger. All
// from the browser's own statistics of the media it receives and sends (speaking.js): the
// server does nothing per packet for it. A participant the room lists as muted never speaks.

import { room, registerFeature } from "./room-context.js";
import { mediaState } from "./roster.js";
import {
  levelBetween, remoteReadings, localReading, sourcesLevel, SpeakingGate, ActiveSpeaker,
} from "./speaking.js";

// five samples a second: the onset (700 ms) and the release (800 ms) need no finer steps, and
// one getStats per connection per sample costs the page little
const SAMPLE_MS = 200;
// the active speaker layout is for a grid of this many people or more (ourselves included)
const ACTIVE_LAYOUT_PEOPLE = 4;

/** Each publisher's microphone receiver on the subscribe connection: identity -> {receiver, mid}. */
function audioReceivers(pc, tracks) {
  const out = new Map();
  if (!pc || !tracks) return out;
  for (const tr of pc.getTransceivers()) {
    const info = tr.mid != null ? tracks[tr.mid] : null;
    if (!info || !info.publisher || info.kind !== "audio" || info.source === "screen_audio") continue;
    if (tr.receiver.track) out.set(info.publisher, { receiver: tr.receiver, mid: tr.mid });
  }
  return out;
}

function mount() {
  let timer = null;
  let session = null;
  let previous = new Map(); // identity -> last reading
  let gates = new Map(); // identity -> SpeakingGate
  let self = { previous: null, gate: new SpeakingGate() }; // our own microphone
  let active = new ActiveSpeaker();
  let sampling = false;
  const speakingNow = new Set();
  // tests and support: who speaks now, the changes seen (`at` on the page's clock, `clock` on
  // the stream's: the audio played), the samples taken and the last levels measured
  const hooks = {
    speaking: [], changes: [], levels: [], samples: 0, self: { level: 0, speaking: false }, active: null,
  };

  const gateOf = (identity) => {
    if (!gates.has(identity)) gates.set(identity, new SpeakingGate());
    return gates.get(identity);
  };

  const set = (identity, on, clock = null) => {
    if (speakingNow.has(identity) === on) return;
    if (on) speakingNow.add(identity);
    else speakingNow.delete(identity);
    room.view.setSpeaking(identity, on);
    hooks.changes.push({ identity, speaking: on, at: Math.round(performance.now()), clock });
    if (hooks.changes.length > 200) hooks.changes.shift();
    hooks.speaking = [...speakingNow];
  };

  const muted = (identity) => {
    const p = room.roster && room.roster.get(identity);
    return !p || mediaState(p).audio !== "on";
  };

  async function sample() {
    if (sampling || !session || session.closed) return;
    if (window.__vidconsultNoSpeaking) return; // benchmarks/speaking_cost.py: its cost, measured
    sampling = true;
    try {
      const now = performance.now();
      const sub = session.subscribePc;
      const receivers = audioReceivers(sub, session.lastTracks);
      const midOfTrack = new Map([...receivers.values()].map(({ receiver, mid }) => [receiver.track.id, mid]));
      const readings = sub ? remoteReadings((await sub.getStats()).values(), session.lastTracks, midOfTrack) : new Map();
      const present = new Set(room.view.tiles.keys());
      const clock = performance.timeOrigin + performance.now();
      for (const identity of present) {
        const r = readings.get(identity) || null;
        const gate = gateOf(identity);
        const quiet = muted(identity);
        if (r) {
          // on the stream's own clock: the audio played (speaking.js SpeakingGate)
          const level = levelBetween(previous.get(identity), r);
          previous.set(identity, r);
          const at = r.duration * 1000;
          hooks.levels.push({ identity, level, at });
          if (hooks.levels.length > 1000) hooks.levels.shift();
          set(identity, gate.update(level, at, { muted: quiet }), at);
        } else if (receivers.has(identity)) {
          // no energy counters in this browser's report: the last packets' levels, wall clock
          const level = sourcesLevel(receivers.get(identity).receiver.getSynchronizationSources?.(), clock);
          set(identity, gate.update(level, now, { muted: quiet }));
        } else {
          set(identity, gate.update(0, now, { muted: true })); // nothing of its sound here
        }
      }
      for (const identity of [...speakingNow]) if (!present.has(identity)) set(identity, false);
      for (const identity of [...gates.keys()]) {
        if (!present.has(identity)) {
          gates.delete(identity);
          previous.delete(identity);
        }
      }
      await sampleSelf(now);
      layout(now, present);
      hooks.samples += 1;
    } catch (err) {
      if (session && !session.closed) console.warn("vidconsult: speaking sample failed", err);
    } finally {
      sampling = false;
    }
  }

  async function sampleSelf(now) {
    const pub = session.publishPc;
    const r = pub && !room.muted.audio ? localReading((await pub.getStats()).values()) : null;
    const level = levelBetween(self.previous, r);
    self.previous = r;
    const at = r ? r.duration * 1000 : now; // the microphone's own clock, as for the others
    const speaking = self.gate.update(level, at, { muted: room.muted.audio || !r });
    hooks.self = { level, speaking };
    room.view.setLocalLevel(level, speaking);
  }

  function layout(now, present) {
    // screen share takes the large tile (room.css): no active speaker layout meanwhile
    const people = present.size + 1;
    const screen = room.view.screens.size > 0;
    const current = people >= ACTIVE_LAYOUT_PEOPLE && !screen ? active.update(speakingNow, now, present) : null;
    if (current !== hooks.active) {
      hooks.active = current;
      room.view.setActiveSpeaker(current);
    }
  }

  function stop() {
    clearInterval(timer);
    timer = null;
    session = null;
    for (const identity of [...speakingNow]) set(identity, false);
    previous = new Map();
    gates = new Map();
    self = { previous: null, gate: new SpeakingGate() };
    active = new ActiveSpeaker();
    hooks.active = null;
    if (room.view) {
      room.view.setActiveSpeaker(null);
      room.view.setLocalLevel(0, false);
    }
  }

  room.on("joined", ({ session: joined }) => {
    stop();
    session = joined;
    timer = setInterval(sample, SAMPLE_MS);
  });
  room.on("state", ({ state }) => {
    if (state === "reconnecting") stop();
  });
  room.on("finished", stop);
  room.hooks.speaking = hooks;
}

registerFeature({ name: "speaking", mount });
