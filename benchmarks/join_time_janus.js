// The Janus page of benchmarks/join_time.py: the room page's behaviour over Janus's HTTP API.
// Evaluated with {base, room, display}: opens the camera and puts up the join button; the click
// joins (session, publisher handle, join, publish; a subscriber handle per remote feed).
// ICE is trickled, as janus.js does: each offer/answer goes out at once, candidates follow.
async ({ base, room, display }) => {
  const hooks = (window.vidconsult = { joinTimes: {}, joinStages: {}, joinClickAt: null, state: "prejoin" });
  const local = await navigator.mediaDevices.getUserMedia({
    audio: true,
    // the room page's constraints and simulcast layers (room-prejoin.js, session.js), so both
    // pages encode the same (3 layers of 960x540 cost Chromium far more than one 640x480)
    video: { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 30, max: 30 } },
  });
  const SIMULCAST_ENCODINGS = [
    { rid: "q", scaleResolutionDownBy: 4, maxBitrate: 120_000 },
    { rid: "h", scaleResolutionDownBy: 2, maxBitrate: 350_000 },
    { rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_000_000 },
  ];
  const preview = document.createElement("video");
  preview.muted = true; preview.autoplay = true; preview.playsInline = true;
  preview.srcObject = local;
  document.body.replaceChildren(preview);
  await preview.play().catch(() => {});
  const config = { iceServers: [], bundlePolicy: "max-bundle" };
  const mark = (stage) => {
    if (!(stage in hooks.joinStages)) hooks.joinStages[stage] = Math.round(performance.now() - hooks.joinClickAt);
  };
  const post = async (url, body) => {
    const transaction = Math.random().toString(36).slice(2);
    const reply = await (await fetch(url, { method: "POST", body: JSON.stringify({ ...body, transaction }) })).json();
    if (reply.janus === "error") throw new Error(JSON.stringify(reply.error));
    return reply;
  };

  async function join() {
    hooks.joinClickAt = performance.now();
    hooks.state = "connecting";
    const session = (await post(base, { janus: "create" })).data.id;
    const sbase = `${base}/${session}`;
    const attach = async () => (await post(sbase, { janus: "attach", plugin: "janus.plugin.videoroom" })).data.id;
    const jsepWaiters = new Map();
    const nextJsep = (handle) => new Promise((resolve) => jsepWaiters.set(handle, resolve));
    const seen = new Set();
    const trickle = (handle, pc) => pc.addEventListener("icecandidate", (e) => {
      const c = e.candidate;
      const candidate = c && c.candidate
        ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex }
        : { completed: true };
      post(`${sbase}/${handle}`, { janus: "trickle", candidate }).catch(() => {});
    });
    let joined;
    const joinedEvent = new Promise((resolve) => { joined = resolve; });
    let pubHandle = null;
    const onEvent = (ev) => {
      const data = ev.plugindata && ev.plugindata.data;
      if (ev.jsep && jsepWaiters.has(ev.sender)) {
        const resolve = jsepWaiters.get(ev.sender);
        jsepWaiters.delete(ev.sender);
        resolve(ev.jsep);
      }
      if (data && data.videoroom === "joined" && ev.sender === pubHandle) joined(data);
      if (data && Array.isArray(data.publishers)) for (const p of data.publishers) subscribe(p);
    };
    (async () => {
      while (hooks.state !== "closed") {
        const events = await (await fetch(`${sbase}?maxev=10&rid=${Date.now()}`)).json();
        for (const ev of Array.isArray(events) ? events : [events]) onEvent(ev);
      }
    })();

    async function subscribe(publisher) {
      if (seen.has(publisher.id)) return;
      seen.add(publisher.id);
      const handle = await attach();
      const offer = nextJsep(handle);
      await post(`${sbase}/${handle}`, { janus: "message",
        body: { request: "join", room, ptype: "subscriber", streams: [{ feed: publisher.id }] } });
      const pc = new RTCPeerConnection(config);
      trickle(handle, pc);
      const video = document.createElement("video");
      video.autoplay = true; video.playsInline = true;
      video.dataset.identity = publisher.display;
      document.body.append(video);
      video.requestVideoFrameCallback(() => {
        hooks.joinTimes[publisher.display] = Math.round(performance.now() - hooks.joinClickAt);
      });
      pc.addEventListener("track", () => {
        const tracks = pc.getReceivers().map((r) => r.track).filter(Boolean);
        video.srcObject = new MediaStream(tracks);
        video.play().catch(() => {});
      });
      await pc.setRemoteDescription(await offer);
      await pc.setLocalDescription(await pc.createAnswer());
      await post(`${sbase}/${handle}`, { janus: "message", body: { request: "start" },
        jsep: { type: "answer", sdp: pc.localDescription.sdp } });
    }

    pubHandle = await attach();
    mark("socket");
    await post(`${sbase}/${pubHandle}`, { janus: "message",
      body: { request: "join", room, ptype: "publisher", display } });
    await joinedEvent;
    mark("joinReply");
    hooks.state = "joined";
    const pc = new RTCPeerConnection(config);
    trickle(pubHandle, pc);
    for (const track of local.getTracks()) {
      const init = { direction: "sendonly", streams: [local] };
      if (track.kind === "video") init.sendEncodings = SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
      pc.addTransceiver(track, init);
    }
    await pc.setLocalDescription(await pc.createOffer());
    const answer = nextJsep(pubHandle);
    await post(`${sbase}/${pubHandle}`, { janus: "message", body: { request: "configure", audio: true, video: true },
      jsep: { type: "offer", sdp: pc.localDescription.sdp } });
    await pc.setRemoteDescription(await answer);
  }

  const button = document.createElement("button");
  button.dataset.testid = "join-button";
  button.textContent = "join";
  button.addEventListener("click", () => join().catch((e) => { hooks.state = "error"; hooks.error = String(e); }),
    { once: true });
  document.body.append(button);
}
