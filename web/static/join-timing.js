// Join timing, for tests, benchmarks and support staff at a consult-room PC's console.
//
// Contract (window.vidconsult, set up by room.js):
//   joinClickAt          performance.now() at the join click
//   joinTimes[identity]  ms from the join click to the first decoded VIDEO frame of that remote
//                        participant shown on this page (never audio: a <video> element fires
//                        `loadeddata` when the first audio arrives, long before any picture)
//   firstFrameAt[identity], frameSource[identity]  when, and which signal reported it
//   joinStages[name]     ms from the join click to each step of the join done by the page
//                        ("socket", "joinReply", "publishAnswer", "subscribeOffer", ...)
//
// Only measurement lives here: nothing in the join path waits on it.

/**
 * Call `callback(source)` once, when `video` presents its first decoded video frame:
 * `requestVideoFrameCallback` (it only fires for video frames), or, where that API is missing,
 * the element's decoded-frame counter, checked every animation frame.
 */
export function onFirstVideoFrame(video, callback) {
  let done = false;
  const fire = (source) => {
    if (done) return;
    done = true;
    callback(source);
  };
  if (typeof video.requestVideoFrameCallback === "function") {
    video.requestVideoFrameCallback(() => fire("requestVideoFrameCallback"));
    return;
  }
  const poll = () => {
    if (done) return;
    const quality = typeof video.getVideoPlaybackQuality === "function" ? video.getVideoPlaybackQuality() : null;
    if (quality && quality.totalVideoFrames > 0) fire("videoPlaybackQuality");
    else requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
}

/** Records join stages and first video frames into `hooks` (window.vidconsult). */
export class JoinTimer {
  constructor(hooks) {
    this.hooks = hooks;
    hooks.joinClickAt = null;
    hooks.firstFrameAt = {};
    hooks.frameSource = {};
    hooks.joinTimes = {};
    hooks.joinStages = {};
  }

  click() {
    this.hooks.joinClickAt = performance.now();
    this.hooks.joinStages = {};
  }

  /** The first time the page reaches `stage` after the click. */
  mark(stage) {
    const { joinClickAt, joinStages } = this.hooks;
    if (joinClickAt == null || stage in joinStages) return;
    joinStages[stage] = Math.round(performance.now() - joinClickAt);
  }

  firstVideoFrame(identity, source) {
    const hooks = this.hooks;
    if (identity in hooks.firstFrameAt) return;
    const now = performance.now();
    hooks.firstFrameAt[identity] = now;
    hooks.frameSource[identity] = source;
    if (hooks.joinClickAt != null) {
      hooks.joinTimes[identity] = Math.round(now - hooks.joinClickAt);
      console.info(`vidconsult: first video frame from ${identity} ${hooks.joinTimes[identity]} ms after join`);
    }
  }
}
