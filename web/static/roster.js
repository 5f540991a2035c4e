// Who is in the room, kept from the join reply and the participant.* / track.* events.

export class Roster extends EventTarget {
  constructor() {
    super();
    this.byIdentity = new Map(); // identity -> Participant (protocol object, tracks included)
    this.self = null; // our own identity
  }

  reset(selfParticipant, participants) {
    this.byIdentity.clear();
    this.self = selfParticipant.identity;
    for (const p of participants) this.byIdentity.set(p.identity, normalise(p));
    this.byIdentity.set(selfParticipant.identity, normalise(selfParticipant));
    this._changed();
  }

  get(identity) {
    return this.byIdentity.get(identity) ?? null;
  }

  /** Everyone, ourselves first, then by join time. */
  list() {
    return [...this.byIdentity.values()].sort((a, b) => {
      if (a.identity === this.self) return -1;
      if (b.identity === this.self) return 1;
      return String(a.joined_at ?? "").localeCompare(String(b.joined_at ?? ""));
    });
  }

  joined(participant) {
    this.byIdentity.set(participant.identity, normalise(participant));
    this._changed(participant.identity);
  }

  /** Its connection dropped; the server holds its seat for a rejoin. */
  reconnecting(identity) {
    const p = this.byIdentity.get(identity);
    if (!p || p.reconnecting) return;
    p.reconnecting = true;
    this._changed(identity);
  }

  left(identity) {
    if (this.byIdentity.delete(identity)) this._changed(identity);
  }

  trackPublished(identity, track) {
    const p = this.byIdentity.get(identity);
    if (!p || !track) return;
    p.tracks = p.tracks.filter((t) => t.sid !== track.sid).concat([{ ...track }]);
    this._changed(identity);
  }

  trackUnpublished(identity, sid) {
    const p = this.byIdentity.get(identity);
    if (!p) return;
    p.tracks = p.tracks.filter((t) => t.sid !== sid);
    this._changed(identity);
  }

  trackMuted(identity, sid, muted) {
    const p = this.byIdentity.get(identity);
    const track = p && p.tracks.find((t) => t.sid === sid);
    if (!track) return;
    track.muted = muted;
    this._changed(identity);
  }

  handRaised(identity, raised, at = null) {
    const p = this.byIdentity.get(identity);
    if (!p || p.hand_raised === raised) return;
    p.hand_raised = raised;
    p.hand_raised_at = raised ? at : null;
    this._changed(identity);
  }

  /** The raised hands in the order they went up (hand_raised_at: the server's instant, kept
   * across rejoins and a node's restart), as the teacher answers them. */
  handQueue() {
    return [...this.byIdentity.values()]
      .filter((p) => p.hand_raised)
      .sort((a, b) => String(a.hand_raised_at ?? "").localeCompare(String(b.hand_raised_at ?? "")) ||
        a.identity.localeCompare(b.identity))
      .map((p) => p.identity);
  }

  _changed(identity = null) {
    // each raised hand's place in the queue (1 = first up), shown on its badge
    const queue = this.handQueue();
    for (const p of this.byIdentity.values()) p.hand_position = queue.indexOf(p.identity) + 1 || null;
    this.dispatchEvent(new CustomEvent("change", { detail: { identity } }));
  }
}

function normalise(p) {
  return {
    ...p,
    grants: p.grants ?? {},
    tracks: Array.isArray(p.tracks) ? p.tracks.map((t) => ({ ...t })) : [],
  };
}

/** Media state of a participant: {audio, video} each "on" | "muted" | "none". */
export function mediaState(participant) {
  const state = { audio: "none", video: "none" };
  for (const track of participant.tracks) {
    if (track.kind in state && state[track.kind] !== "on") state[track.kind] = track.muted ? "muted" : "on";
  }
  return state;
}
