// The Janus pages of benchmarks/weak_links.py, over Janus's HTTP API (VideoRoom plugin).
// Evaluated with {base, room, display, role, encodings}:
//   role "publisher": opens the camera as the room page does (960x540, 30 fps) and publishes it
//     with the room page's simulcast encodings (web/static/session.js SIMULCAST_ENCODINGS), listed
//     highest first as janus.js lists them (Janus numbers substreams by that order);
//   role "watcher": subscribes to the room's publisher; its <video data-identity=display of the
//     publisher> is what the benchmark watches. Janus's defaults: it forwards the top substream
//     and does not adapt it to a subscriber's link (an application may "configure" a substream).
// Resolves once the publisher's answer is applied / the watcher's subscription is started.
async ({ base, room, display, role, encodings }) => {
  const config = { iceServers: [], bundlePolicy: "max-bundle" };
  const gathered = (pc) => pc.iceGatheringState === "complete" ? Promise.resolve() :
    new Promise((resolve) => pc.addEventListener("icegatheringstatechange",
      () => pc.iceGatheringState === "complete" && resolve()));
  const post = async (url, body) => {
    const transaction = Math.random().toString(36).slice(2);
    const reply = await (await fetch(url, { method: "POST", body: JSON.stringify({ ...body, transaction }) })).json();
    if (reply.janus === "error") throw new Error(JSON.stringify(reply.error));
    return reply;
  };
  const session = (await post(base, { janus: "create" })).data.id;
  const sbase = `${base}/${session}`;
  const handle = (await post(sbase, { janus: "attach", plugin: "janus.plugin.videoroom" })).data.id;
  const hbase = `${sbase}/${handle}`;
  window.__janus = { session, handle, hbase };
  let jsepResolve;
  const jsep = new Promise((resolve) => { jsepResolve = resolve; });
  (async () => {
    for (;;) {
      const events = await (await fetch(`${sbase}?maxev=10&rid=${Date.now()}`)).json();
      for (const ev of Array.isArray(events) ? events : [events]) {
        if (ev.jsep && ev.sender === handle) jsepResolve(ev.jsep);
      }
    }
  })();

  if (role === "publisher") {
    const local = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 30, max: 30 } },
    });
    await post(hbase, { janus: "message", body: { request: "join", room, ptype: "publisher", display } });
    const pc = new RTCPeerConnection(config);
    // (window.__pcs: the benchmark's init script keeps every connection already)
    for (const track of local.getTracks()) {
      const init = { direction: "sendonly", streams: [local] };
      // no encodings: one stream, no simulcast (weak_links.py --no-simulcast)
      if (track.kind === "video" && encodings.length)
        init.sendEncodings = encodings.map((e) => ({ ...e })).reverse();
      pc.addTransceiver(track, init);
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    await post(hbase, { janus: "message", body: { request: "configure", audio: true, video: true },
      jsep: { type: "offer", sdp: pc.localDescription.sdp } });
    await pc.setRemoteDescription(await jsep);
    return;
  }

  let feed = null;
  for (let i = 0; i < 100 && feed === null; i += 1) {
    const listing = await post(hbase, { janus: "message", body: { request: "listparticipants", room } });
    const found = listing.plugindata.data.participants.find((p) => p.publisher);
    if (found) feed = found;
    else await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (feed === null) throw new Error("no publisher in the Janus room");
  await post(hbase, { janus: "message", body: { request: "join", room, ptype: "subscriber",
    streams: [{ feed: feed.id }] } });
  const pc = new RTCPeerConnection(config);
  // (window.__pcs: the benchmark's init script keeps every connection already)
  const video = document.createElement("video");
  video.autoplay = true; video.muted = true; video.playsInline = true;
  video.dataset.identity = feed.display;
  document.body.append(video);
  pc.addEventListener("track", () => {
    video.srcObject = new MediaStream(pc.getReceivers().map((r) => r.track).filter(Boolean));
    video.play().catch(() => {});
  });
  await pc.setRemoteDescription(await jsep);
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  await post(hbase, { janus: "message", body: { request: "start" },
    jsep: { type: "answer", sdp: pc.localDescription.sdp } });
}
