// Init script of benchmarks/join_time.py (both servers): wraps RTCPeerConnection and records
// when each connection reaches each step, in performance.now() time, in window.__joinTrace.
(() => {
  const trace = (window.__joinTrace = { pcs: [] });
  const Base = window.RTCPeerConnection;
  const now = () => performance.now();
  // every time a step is reached goes to rec.events ([step, time]); rec[step] keeps the first
  // (the room page negotiates its connections before the click and again after it)
  const once = (rec, key) => {
    const t = now();
    rec.events.push([key, t]);
    if (rec[key] == null) rec[key] = t;
  };
  class Traced extends Base {
    constructor(...args) {
      super(...args);
      const rec = (this.__rec = { created: now(), role: null, events: [] });
      trace.pcs.push(rec);
      this.addEventListener("iceconnectionstatechange", () => {
        if (["connected", "completed"].includes(this.iceConnectionState)) once(rec, "ice");
      });
      this.addEventListener("connectionstatechange", () => {
        if (this.connectionState === "connected") once(rec, "dtls");
      });
      this.addEventListener("icegatheringstatechange", () => {
        if (this.iceGatheringState === "complete") once(rec, "gathered");
      });
    }
    async setLocalDescription(...args) {
      const result = await super.setLocalDescription(...args);
      const type = this.localDescription && this.localDescription.type;
      if (type === "offer") { if (this.__rec.role == null) this.__rec.role = "publish"; once(this.__rec, "offer"); }
      if (type === "answer") once(this.__rec, "answer");
      return result;
    }
    async setRemoteDescription(desc) {
      if (desc && desc.type === "offer") {
        if (this.__rec.role == null) this.__rec.role = "subscribe";
        if (this.__rec.role === "subscribe") {
          once(this.__rec, "offer");
          if (!this.__polling) this.__poll();
        }
      }
      const result = await super.setRemoteDescription(desc);
      if (desc && desc.type === "answer") once(this.__rec, "answer");
      return result;
    }
    __poll() {
      const rec = this.__rec;
      const start = now(); // not rec.created: the room page makes its connections before the click
      this.__polling = true;
      const tick = async () => {
        if (this.signalingState === "closed" || now() - start > 30000) {
          this.__polling = false;
          return;
        }
        try {
          const stats = await this.getStats();
          stats.forEach((s) => {
            if (s.type !== "inbound-rtp") return;
            if (s.kind === "audio" && s.packetsReceived > 0) once(rec, "firstAudioRtp");
            if (s.kind === "video" && s.packetsReceived > 0) once(rec, "firstVideoRtp");
            if (s.kind === "video" && s.framesDecoded > 0) once(rec, "firstDecoded");
          });
        } catch (e) { return; }
        if (rec.firstDecoded == null || rec.firstAudioRtp == null) setTimeout(tick, 10);
        else this.__polling = false;
      };
      setTimeout(tick, 10);
    }
  }
  window.RTCPeerConnection = Traced;
})();
