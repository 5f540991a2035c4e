// The speaking indicator's rules (web/static/speaking.js): levels from getStats counters, the
// on/off gate without flicker, the active speaker's hold, the pre-join microphone check.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  reading, levelBetween, remoteReadings, localReading, sourcesLevel, SpeakingGate, ActiveSpeaker, MicCheck,
  NoiseFloor, SPEECH_LEVEL, ONSET_MS, RELEASE_MS,
} from "../static/speaking.js";

test("the level between two readings is the RMS of the audio in between", () => {
  const a = { energy: 1, duration: 3 };
  const b = { energy: 1.05, duration: 3.2 }; // 0.05 energy over 0.2 s: RMS 0.5
  assert.equal(levelBetween(a, b), 0.5);
  assert.equal(levelBetween(a, a), 0); // nothing played
  assert.equal(levelBetween(b, a), 0); // counters restarted (a new stream)
  assert.equal(levelBetween(null, b), 0);
  assert.equal(reading({ kind: "audio" }), null);
});

test("remote readings go to each publisher; a shared screen's sound and video are not speech", () => {
  const report = [
    { type: "inbound-rtp", kind: "audio", mid: "1", totalAudioEnergy: 2, totalSamplesDuration: 4 },
    { type: "inbound-rtp", kind: "audio", mid: "2", totalAudioEnergy: 9, totalSamplesDuration: 4 },
    { type: "inbound-rtp", kind: "video", mid: "3" },
    { type: "inbound-rtp", kind: "audio", mid: "7", totalAudioEnergy: 1, totalSamplesDuration: 1 },
    { type: "media-source", kind: "audio", totalAudioEnergy: 5, totalSamplesDuration: 6 },
  ];
  const tracks = {
    1: { publisher: "pt-zhang", kind: "audio", source: "microphone" },
    2: { publisher: "dr-wang", kind: "audio", source: "screen_audio" },
    3: { publisher: "pt-zhang", kind: "video", source: "camera" },
  };
  assert.deepEqual([...remoteReadings(report, tracks)], [["pt-zhang", { energy: 2, duration: 4 }]]);
  assert.deepEqual(localReading(report), { energy: 5, duration: 6 });
  assert.equal(localReading([]), null);
});

test("a report without mids is matched by the receiving track; without counters, the packets' levels", () => {
  const report = [
    { type: "inbound-rtp", kind: "audio", trackIdentifier: "trk-a", totalAudioEnergy: 1, totalSamplesDuration: 2 },
    { type: "inbound-rtp", kind: "audio", trackIdentifier: "unknown", totalAudioEnergy: 1, totalSamplesDuration: 2 },
  ];
  const tracks = { 4: { publisher: "dr-li", kind: "audio", source: "microphone" } };
  assert.deepEqual([...remoteReadings(report, tracks, new Map([["trk-a", "4"]]))],
    [["dr-li", { energy: 1, duration: 2 }]]);
  const sources = [{ audioLevel: 0.3, timestamp: 10_000 }, { audioLevel: 0.9, timestamp: 9_000 }];
  assert.equal(sourcesLevel(sources, 10_100), 0.3); // the 0.9 is a second old
  assert.equal(sourcesLevel(sources, 20_000), 0); // nothing heard lately
  assert.equal(sourcesLevel(undefined, 0), 0);
});

const LOUD = SPEECH_LEVEL * 5;

test("a click does not light the indicator; sound that goes on does, after the onset", () => {
  const gate = new SpeakingGate();
  assert.equal(gate.update(LOUD, 0), false); // a click...
  assert.equal(gate.update(0, 200), false);
  assert.equal(gate.update(0, 1000), false); // ...and silence: never on
  assert.equal(gate.update(LOUD, 2000), false);
  assert.equal(gate.update(LOUD, 2000 + ONSET_MS - 100), false);
  assert.equal(gate.update(LOUD, 2000 + ONSET_MS), true);
});

test("pauses shorter than the release keep it on (no flicker); a longer silence turns it off", () => {
  const gate = new SpeakingGate();
  // Chromium's fake microphone: a short beep every 500 ms, sampled every 200 ms
  let on = [];
  for (let now = 0; now <= 5000; now += 200) on.push(gate.update(now % 1000 < 200 || (now + 500) % 1000 < 200 ? LOUD : 0, now));
  const first = on.indexOf(true);
  assert.ok(first > 0 && first * 200 <= 1000, `on after ${first * 200} ms`);
  assert.ok(on.slice(first).every(Boolean), "stays on between the beeps");
  on = [];
  for (let now = 5200; now <= 5200 + RELEASE_MS + 400; now += 200) on.push(gate.update(0, now));
  assert.equal(on[0], true);
  assert.equal(on.at(-1), false);
  assert.equal(on.filter((x, i) => i > 0 && x !== on[i - 1]).length, 1); // one change, off
});

test("on the stream's clock: a page that played nothing heard no silence; a new stream starts afresh", () => {
  const gate = new SpeakingGate();
  const on = 1000 + ONSET_MS;
  gate.update(LOUD, 1000);
  assert.equal(gate.update(LOUD, on), true);
  // the page stalls: several samples find the audio clock where it was
  for (let i = 0; i < 5; i++) assert.equal(gate.update(0, on), true);
  assert.equal(gate.update(0, on + 200), true); // 200 ms of silence played: still within the release
  assert.equal(gate.update(0, on + RELEASE_MS + 100), false);
  const again = on + RELEASE_MS + 300;
  gate.update(LOUD, again);
  assert.equal(gate.update(LOUD, again + ONSET_MS), true);
  assert.equal(gate.update(LOUD, 100), false); // counters restarted: a new run of sound
  assert.equal(gate.update(LOUD, 100 + ONSET_MS), true);
});

test("a muted participant is never speaking, whatever the level", () => {
  const gate = new SpeakingGate();
  for (let now = 0; now <= 2000; now += 200) assert.equal(gate.update(1, now, { muted: true }), false);
  gate.update(LOUD, 3000);
  assert.equal(gate.update(LOUD, 3000 + ONSET_MS), true);
  assert.equal(gate.update(LOUD, 3000 + ONSET_MS + 200, { muted: true }), false); // off at once
});

// Levels as Chromium's page measured them (tests/browser/test_speaking.py, espeak-ng and sox):
// a fan and a corridor at -49 dBFS RMS read 0.005..0.018 on the meter, soft speech 0.23..0.57
// with dips to ~0.06 at a comma, a 150 ms cough three samples (its peak-hold tail).
const fan = (i, scale = 1) => scale * [0.006, 0.007, 0.005, 0.009, 0.018, 0.008, 0.006, 0.012, 0.007, 0.015][i % 10];

test("the noise floor follows the room down at once and up slowly, never past its cap", () => {
  const floor = new NoiseFloor({ riseDb: 1, min: 0.001, first: 0.005, max: 0.02 });
  assert.equal(floor.update(0.3, 0), 0.005); // a first sample of speech is not the room
  assert.equal(floor.update(0.003, 0.2), 0.003); // down at once
  assert.ok(Math.abs(floor.update(0.3, 10) - 0.003 * 10 ** (10 / 20)) < 1e-9); // +1 dB a second
  assert.equal(floor.update(0.5, 100), 0.02); // a minute of shouting: the cap
  assert.equal(floor.update(0, 0.2), 0); // digital silence
  assert.ok(Math.abs(floor.update(0.5, 1) - 0.001 * 10 ** (1 / 20)) < 1e-9); // rises from MIN again
});

test("a room's noise never lights it, a louder fan above SPEECH_LEVEL neither; speech over it does", () => {
  for (const scale of [1, 1.4]) { // as measured, and 3 dB louder: peaks of 0.025 > SPEECH_LEVEL
    const gate = new SpeakingGate();
    let now = 0;
    for (let i = 0; i < 300; i++, now += 200) assert.equal(gate.update(fan(i, scale), now), false, `${scale} ${i}`);
    // a ten-second sentence with a comma's dip each second: on after the onset, on throughout
    const start = now;
    const said = [];
    for (let i = 0; i < 50; i++, now += 200) said.push(gate.update(i % 5 === 4 ? 0.06 : 0.3, now));
    const first = said.indexOf(true);
    assert.ok(first * 200 >= ONSET_MS && first * 200 <= ONSET_MS + 200, `on after ${first * 200} ms`);
    assert.ok(said.slice(first).every(Boolean), `${scale}: on to the end of the sentence`);
    let off = null;
    for (let i = 0; off == null && i < 20; i++, now += 200) if (!gate.update(fan(i, scale), now)) off = now;
    assert.ok(off - (start + 50 * 200) <= RELEASE_MS + 200, "off after the release");
  }
});

test("a cough does not light it, with one of its samples late on a busy page", () => {
  for (const [cough, step] of [[[0.369, 0.26, 0.063], 200], [[0.104, 0.518, 0.098], 300],
    [[0.9, 0.5, 0.12, 0.03], 200]]) {
    const gate = new SpeakingGate();
    let now = 0;
    for (let i = 0; i < 50; i++, now += 200) gate.update(fan(i), now);
    for (const level of cough) assert.equal(gate.update(level, (now += step)), false, `${cough}`);
    for (let i = 0; i < 10; i++) assert.equal(gate.update(fan(i), (now += 200)), false);
  }
  // SPEECH_LEVEL alone is still the bar in a silent room (the fake microphone's beeps, a headset)
  const gate = new SpeakingGate();
  for (let now = 0; now <= 2000; now += 200) gate.update(0, now);
  gate.update(SPEECH_LEVEL, 2200);
  assert.equal(gate.update(SPEECH_LEVEL, 2200 + ONSET_MS), true);
});

test("the active speaker changes only after the new one spoke a while, and not too often", () => {
  const active = new ActiveSpeaker({ switchAfterMs: 1500, holdMs: 4000 });
  const present = new Set(["a", "b", "c"]);
  assert.equal(active.update(new Set(), 0, present), null);
  assert.equal(active.update(new Set(["a"]), 100, present), "a");
  // b answers "yes" briefly while a is quiet: no jump
  assert.equal(active.update(new Set(["b"]), 5000, present), "a");
  assert.equal(active.update(new Set(), 5400, present), "a");
  // b talks on: after 1.5 s b is the active speaker
  assert.equal(active.update(new Set(["b"]), 6000, present), "a");
  assert.equal(active.update(new Set(["b"]), 7400, present), "a");
  assert.equal(active.update(new Set(["b"]), 7500, present), "b");
  // within the hold, c cannot take it even when b is quiet
  assert.equal(active.update(new Set(["c"]), 8000, present), "b");
  assert.equal(active.update(new Set(["c"]), 10000, present), "b");
  assert.equal(active.update(new Set(["c"]), 11500, present), "c");
  // the room goes quiet: c stays; c leaves: nobody until someone speaks
  assert.equal(active.update(new Set(), 20000, present), "c");
  assert.equal(active.update(new Set(), 20100, new Set(["a", "b"])), null);
});

test("the microphone check: heard stays heard; silence says so after 5 s", () => {
  const check = new MicCheck({ threshold: 0.05, silentMs: 5000 });
  assert.equal(check.update(0, 1000), "listening");
  assert.equal(check.update(0.01, 5900), "listening");
  assert.equal(check.update(0, 6000), "silent");
  assert.equal(check.update(0.3, 6100), "heard"); // sound at last: the warning goes
  assert.equal(check.update(0, 20000), "heard");
  check.reset();
  assert.equal(check.update(0, 30000), "listening");
});
