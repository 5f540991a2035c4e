// Who is speaking, from the browser's own WebRTC statistics (RTCPeerConnection.getStats):
// no server CPU per packet. Pure functions and small state machines: the room's speaking
// indicator (room-speaking.js) samples the reports; web/test/speaking.test.js checks the rules.
//
// The level of a stream over a sample interval is the root mean square of its decoded audio,
// from the cumulative counters every audio inbound-rtp (and our own media-source) carries:
// sqrt(delta totalAudioEnergy / delta totalSamplesDuration). Unlike a single audioLevel reading
// (or RTCRtpReceiver.getSynchronizationSources(), the level of the last packet only) it misses
// no syllable between two samples.

// The level is WebRTC's meter of the decoded audio (webrtc audio/audio_level.cc): per 10 ms
// frame the peak of the last ~110 ms, falling to a quarter (-12 dB) each ~110 ms, so it reads
// above the RMS of the sound (pink noise ~+6 dB) and a sound's tail lasts ~0.3 s longer.
// Measured in Chromium with espeak-ng speech and synthetic room noise through the room
// (tests/browser/test_speaking.py, docs/architecture.md "Speaking"): soft speech after the
// sender's gain control 0.17..0.61 (-15..-4 dBFS, 5th..95th percentile), a fan and a corridor
// at -49 dBFS RMS 0.0045..0.0085, loudest 0.018 (-35 dBFS), a cough 0.06..0.52.
//
// Sound is a level of at least SPEECH_LEVEL (0.02, about -34 dBFS) and at least NOISE_MARGIN
// times the stream's own noise floor: a louder room (a fan, a corridor, up to MAX_FLOOR) raises
// the bar with it, and speech, tens of dB above any of it, still clears it.
export const SPEECH_LEVEL = 0.02;
export const NOISE_MARGIN = 6; // +15.6 dB
// the floor follows the quietest level down at once and rises by FLOOR_RISE_DB a second: slow
// enough that a 10 s sentence without a breath (its dips ~0.06) keeps its floor near the room's
export const FLOOR_RISE_DB = 1;
export const MIN_FLOOR = 0.001; // -60 dBFS: after digital silence the floor can rise again
// a stream's first floor, at most: a quiet room on this meter (-46 dBFS), so that a stream
// whose first sample is speech does not take that for its room
export const FIRST_FLOOR = 0.005;
// the floor's cap, 0.008 (-42 dBFS, the measured room's median +1 dB): a louder room still
// raises the bar to 0.048 (-26 dBFS, 11 dB under soft speech), and sound that goes on for long
// (a monologue without a breath, the fake microphone's beeps) cannot raise it past speech
export const MAX_FLOOR = 0.008;
// the indicator turns on once sound has gone on for this long, off after this long without
// sound (pauses between words keep it on: no flicker). A cough of 150 ms reads as 3 samples of
// sound 400 ms apart on the meter (its ~0.3 s tail), 600 ms with one sample late on a loaded
// page: 700 ms of onset keeps it dark, and a sentence still lights within ~1 s
export const ONSET_MS = 700;
export const RELEASE_MS = 800;
// the active speaker of a 4+ grid changes only to someone who has spoken this long, and not
// sooner than this after the last change (the layout must not jump with every "yes")
export const SWITCH_AFTER_MS = 1500;
export const ACTIVE_HOLD_MS = 4000;

/** One counter reading {energy, duration} of an audio stats object, or null. */
export function reading(stat) {
  if (!stat || typeof stat.totalAudioEnergy !== "number" || typeof stat.totalSamplesDuration !== "number") {
    return null;
  }
  return { energy: stat.totalAudioEnergy, duration: stat.totalSamplesDuration };
}

/** The RMS level (0..1) between two readings of the same stream; 0 when no audio played. */
export function levelBetween(before, after) {
  if (!before || !after) return 0;
  const duration = after.duration - before.duration;
  const energy = after.energy - before.energy;
  if (!(duration > 0) || !(energy > 0)) return 0; // a new stream's counters restart: no level
  return Math.min(1, Math.sqrt(energy / duration));
}

/**
 * The audio streams of a subscribe connection's report, by publisher: `report` is an iterable
 * of stats objects, `tracks` the last subscribe offer's map (mid -> {publisher, kind, source}),
 * `midOfTrack` (receiving track id -> mid) for reports without a mid.
 * A shared screen's sound is not its publisher speaking. Returns Map(identity -> reading).
 */
export function remoteReadings(report, tracks, midOfTrack = null) {
  const out = new Map();
  for (const s of report) {
    if (s.type !== "inbound-rtp" || s.kind !== "audio") continue;
    // a browser whose report has no mid names the receiving track instead
    const mid = s.mid ?? (midOfTrack && s.trackIdentifier != null ? midOfTrack.get(s.trackIdentifier) : null);
    if (mid == null) continue;
    const info = tracks && tracks[mid];
    if (!info || !info.publisher || info.source === "screen_audio") continue;
    const r = reading(s);
    if (r) out.set(info.publisher, r);
  }
  return out;
}

/**
 * The level of a receiver's last packets when its report has no energy counters (a browser
 * without them): the loudest of RTCRtpReceiver.getSynchronizationSources() heard within
 * `freshMs` (their audioLevel comes with each packet, RFC 6464). `now` on the same clock as
 * their timestamps (performance.timeOrigin + performance.now()).
 */
export function sourcesLevel(sources, now, freshMs = 300) {
  let level = 0;
  for (const s of sources || []) {
    if (typeof s.audioLevel === "number" && Math.abs(now - s.timestamp) <= freshMs) level = Math.max(level, s.audioLevel);
  }
  return level;
}

/** Our own microphone's reading from a publish connection's report (its media-source). */
export function localReading(report) {
  for (const s of report) {
    if (s.type === "media-source" && s.kind === "audio") {
      const r = reading(s);
      if (r) return r;
    }
  }
  return null;
}

/**
 * The quiet level of one stream (the room's noise as its microphone gives it): down at once to
 * any quieter level, up by FLOOR_RISE_DB a second (from MIN_FLOOR after digital silence), never
 * above MAX_FLOOR; the first is at most FIRST_FLOOR.
 */
export class NoiseFloor {
  constructor({ riseDb = FLOOR_RISE_DB, min = MIN_FLOOR, first = FIRST_FLOOR, max = MAX_FLOOR } = {}) {
    this.rise = 10 ** (riseDb / 20);
    this.min = min;
    this.first = first;
    this.max = max;
    this.level = 0; // nothing measured yet: no bar above SPEECH_LEVEL
    this.measured = false;
  }

  /** Feed the level of the `seconds` since the last one; returns the floor. */
  update(level, seconds) {
    const risen = this.measured ? Math.max(this.level, this.min) * this.rise ** Math.max(0, seconds) : this.first;
    this.level = Math.min(this.max, level, risen);
    this.measured = true;
    return this.level;
  }

  reset() {
    this.level = 0;
    this.measured = false;
  }
}

/**
 * Speaking or not, from one level per sample: on once sound (level >= SPEECH_LEVEL and
 * >= NOISE_MARGIN x the stream's noise floor) has gone on for ONSET_MS with no gap of
 * RELEASE_MS in it, off after RELEASE_MS without sound. Muted
 * (its microphone off, as the room lists it) is never speaking, whatever the level.
 *
 * `now` is best the stream's own clock, the audio played so far (totalSamplesDuration): a page
 * so busy that it played nothing for a second has heard no silence either (on a machine
 * loaded to ten times its cores, wall time made a steady speaker blink off). A sample with the
 * clock where it was changes nothing; a clock that went back (a new stream) starts afresh.
 */
export class SpeakingGate {
  constructor({
    threshold = SPEECH_LEVEL, margin = NOISE_MARGIN, onsetMs = ONSET_MS, releaseMs = RELEASE_MS,
  } = {}) {
    this.threshold = threshold;
    this.margin = margin;
    this.floor = new NoiseFloor();
    this.onsetMs = onsetMs;
    this.releaseMs = releaseMs;
    this.speaking = false;
    this.soundSince = null; // start of the current run of sound
    this.lastSoundAt = null;
    this.lastAt = null; // the clock at the last sample
  }

  /** Feed the level of the interval ending at `now` (ms); returns whether speaking now. */
  update(level, now, { muted = false } = {}) {
    if (muted) {
      this.speaking = false;
      this.soundSince = null;
      this.lastSoundAt = null;
      return false;
    }
    if (this.lastAt != null && now < this.lastAt) {
      this.speaking = false; // a new stream: its clock starts again
      this.soundSince = null;
      this.lastSoundAt = null;
      this.floor.reset();
      this.lastAt = null;
    } else if (this.lastAt != null && now === this.lastAt) {
      return this.speaking; // nothing played since the last sample: nothing heard either way
    }
    const floor = this.floor.update(level, this.lastAt == null ? 0 : (now - this.lastAt) / 1000);
    this.lastAt = now;
    const quietFor = this.lastSoundAt == null ? Infinity : now - this.lastSoundAt;
    if (level >= Math.max(this.threshold, this.margin * floor)) {
      if (quietFor >= this.releaseMs) this.soundSince = now; // a new run of sound
      this.lastSoundAt = now;
      if (now - this.soundSince >= this.onsetMs) this.speaking = true;
    } else if (quietFor >= this.releaseMs) {
      this.speaking = false;
      this.soundSince = null;
    }
    return this.speaking;
  }
}

/**
 * The active speaker of a grid: whoever speaks when nobody is active; someone else only after
 * they have spoken SWITCH_AFTER_MS without a pause and ACTIVE_HOLD_MS after the last change.
 * The active speaker stays while the room is quiet.
 */
export class ActiveSpeaker {
  constructor({ switchAfterMs = SWITCH_AFTER_MS, holdMs = ACTIVE_HOLD_MS } = {}) {
    this.switchAfterMs = switchAfterMs;
    this.holdMs = holdMs;
    this.current = null;
    this.since = -Infinity; // when `current` became the active speaker
    this.speakingSince = new Map(); // identity -> when its speaking began
  }

  /** `speaking`: the identities speaking now; `present`: everyone with a tile. */
  update(speaking, now, present = null) {
    for (const id of [...this.speakingSince.keys()]) if (!speaking.has(id)) this.speakingSince.delete(id);
    for (const id of speaking) if (!this.speakingSince.has(id)) this.speakingSince.set(id, now);
    if (this.current != null && present && !present.has(this.current)) this.current = null;
    if (this.current == null) {
      const first = this._longest(speaking);
      if (first != null) this._set(first, now);
      return this.current;
    }
    if (now - this.since < this.holdMs) return this.current;
    const candidate = this._longest([...speaking].filter((id) => id !== this.current));
    if (candidate != null && now - this.speakingSince.get(candidate) >= this.switchAfterMs &&
      !speaking.has(this.current)) {
      this._set(candidate, now);
    }
    return this.current;
  }

  _longest(ids) {
    let best = null;
    for (const id of ids) {
      if (best == null || this.speakingSince.get(id) < this.speakingSince.get(best)) best = id;
    }
    return best;
  }

  _set(identity, now) {
    this.current = identity;
    this.since = now;
  }
}

/**
 * The pre-join microphone check: "heard" once a level of at least `threshold` came in (the
 * microphone works: it stays so), "silent" after `silentMs` of measuring without one (what to
 * check is then shown; sound later still makes it "heard"), else "listening".
 */
export class MicCheck {
  constructor({ threshold = 0.05, silentMs = 5000 } = {}) {
    this.threshold = threshold;
    this.silentMs = silentMs;
    this.startedAt = null;
    this.heard = false;
  }

  /** Feed one meter reading at `now` (ms); only readings actually measured count. */
  update(level, now) {
    if (this.startedAt == null) this.startedAt = now;
    if (level >= this.threshold) this.heard = true;
    return this.state(now);
  }

  state(now) {
    if (this.heard) return "heard";
    if (this.startedAt != null && now - this.startedAt >= this.silentMs) return "silent";
    return "listening";
  }

  /** Measuring starts again (another microphone chosen). */
  reset() {
    this.startedAt = null;
    this.heard = false;
  }
}
