"""Join time in the browser: join click -> first decoded remote VIDEO frame, vidconsult against
Janus's VideoRoom, side by side in one run. Prints JSON.

Two headless Chromium pages (Debian ``chromium``, fake camera 640x480) per join, each the other's
remote participant. vidconsult: the real server (REST, signaling, aiortc media) in a process of
its own, like Janus, and its own room page. Janus (Debian ``janus``, in its network namespace,
see janus_videoroom.py): a small page in this file doing what the room page does over Janus's
HTTP API (one session, a publisher handle and a subscriber handle per remote feed). The same on
both:

* the camera is opened (the room page's constraints, 960x540 at 30 fps) before the join click,
  and the camera is sent as the room page's three simulcast layers (Janus's VideoRoom forwards
  the top one to a new subscriber, vidconsult starts at the top one too);
* no bitrate cap (vidconsult's default; the Janus rooms are created with ``bitrate: 0``);
* max-bundle; ICE: the room page sends each offer/answer with its first candidate (the server
  pairs with where the checks come from), the Janus page trickles (as janus.js does); the
  room page makes its two peer connections on the pre-join step (candidates gathered before
  the click, no media) and negotiates them there ("prepare": ICE and DTLS up, the subscribe
  connection with a spare audio and video slot that the first publisher takes at the join,
  the click's publish offer made and kept unsent), the Janus page at the click (as janus.js
  does);
* the end: ``requestVideoFrameCallback`` on the remote ``<video>`` (fires for video frames only);
* the stage timings come from the same init script, which wraps ``RTCPeerConnection``
  (offer/answer applied, ICE connected, DTLS connected, first audio/video RTP and first decoded
  frame from ``getStats`` polled every 10 ms) plus the page's own marks ("socket": token checked
  and signaling connected / Janus session created and handle attached; "joinReply").

vidconsult's server marks its own stages too (vidconsult/join_trace.py; the server process is
built with a JoinTrace and answers the benchmark's queries over a queue, no network surface):
``server.<stage>`` for the page's own participant (token check, join, publish offer/answer,
subscribe offer/answer, ICE and DTLS per connection, the keyframe asked for it, the first
audio/video packet forwarded to it) and ``server.peer.<stage>`` for the participant it waits
to see (its publish answer and DTLS, its first audio/video RTP in), all on the page's time line
(wall clock: ``performance.timeOrigin`` on the page). Janus has page-side stages only.

Rooms alternate (vidconsult, Janus, vidconsult, ...; with ``--compare-unprepared`` vidconsult's
page also joins with its pre-join "prepare" step off, the page as it was before it); each join
gives two measurements (each page's time to see the other). All times are ms after the join
click.

    python benchmarks/join_time.py --runs 8 > benchmarks/join_time.results.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

from benchmarks import janus_videoroom as jv  # noqa: E402
from benchmarks.harness import blank_page_server  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.helpers import SECRET  # noqa: E402
from vidconsult.app import run_server  # noqa: E402
from vidconsult.config import Settings  # noqa: E402
from vidconsult.domain.roles import Role  # noqa: E402
from vidconsult.join_trace import JoinTrace  # noqa: E402
from vidconsult.tokens import TokenSigner  # noqa: E402

# Wraps RTCPeerConnection: when each connection reaches each step, in performance.now() time.
TRACE_JS = (HERE / "join_time_trace.js").read_text()

# The Janus page: the room page's behaviour over Janus's HTTP API. `prepare` opens the camera
# and puts the join button up; the click runs `join`.
JANUS_PAGE_JS = (HERE / "join_time_janus.js").read_text()

STAGES_JS = """(other) => {
  const h = window.vidconsult, t0 = h.joinClickAt;
  const rel = (t) => (t == null ? null : Math.round(t - t0));
  const out = { ...h.joinStages, firstFrame: h.joinTimes[other],
                clickEpoch: performance.timeOrigin + t0 };
  // connections used after the click (vidconsult makes its own before it, on the pre-join
  // step, and negotiates them there: ICE and DTLS happen before the click). Each step: its
  // first time after the click, else its last time before it (a negative time)
  const pcs = window.__joinTrace.pcs.filter((p) => p.events.some(([, t]) => t >= t0));
  for (const role of ["publish", "subscribe"]) {
    const rec = pcs.find((p) => p.role === role);
    if (!rec) continue;
    for (const key of ["offer", "answer", "gathered", "ice", "dtls",
                       "firstAudioRtp", "firstVideoRtp", "firstDecoded"]) {
      const times = rec.events.filter(([k]) => k === key).map(([, t]) => t);
      const after = times.find((t) => t >= t0);
      const before = times.filter((t) => t < t0).pop();
      const at = after ?? before;
      if (at != null) out[`${role}.${key}`] = rel(at);
    }
  }
  return out;
}"""

IDENTITIES = ("dr-a", "pt-b")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 1)


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "mean_ms": round(statistics.fmean(values), 1),
        "max_ms": round(max(values), 1),
    }


def stage_medians(stages: list[dict[str, Any]]) -> dict[str, float]:
    keys: dict[str, None] = {}
    for s in stages:
        keys.update(dict.fromkeys(s))
    out = {}
    for key in keys:
        values = [s[key] for s in stages if s.get(key) is not None]
        if values:
            out[key] = percentile(values, 50)
    return dict(sorted(out.items(), key=lambda kv: kv[1]))


async def measure(pages: list[tuple[str, Any]]) -> tuple[list[float], list[dict[str, Any]]]:
    await asyncio.gather(*(p.click("[data-testid=join-button]") for _, p in pages))
    times, stages = [], []
    for (_identity, page), other in zip(pages, reversed(IDENTITIES), strict=True):
        try:
            await page.wait_for_function(
                "(id) => window.vidconsult.joinTimes[id] !== undefined", arg=other, timeout=30_000
            )
        except Exception:
            state = await page.evaluate("() => [window.vidconsult, window.__joinTrace]")
            raise RuntimeError(f"no first frame from {other}: {json.dumps(state)}") from None
        # the getStats poll reports the first decoded frame within ~10 ms of it
        await page.wait_for_function(
            "() => window.__joinTrace.pcs.some((p) => p.role === 'subscribe' && p.firstDecoded)",
            timeout=10_000,
        )
        times.append(float(await page.evaluate("(id) => window.vidconsult.joinTimes[id]", other)))
        stages.append(await page.evaluate(STAGES_JS, other))
    return times, stages


def with_server_stages(
    stages: list[dict[str, Any]], marks: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    """Each page's stages plus the server's (vidconsult/join_trace.py), ms after that page's
    click on the same wall clock: ``server.<stage>`` for the page's own participant, and
    ``server.peer.<stage>`` for the publishing side of the one it waits to see."""
    merged = []
    for stage, identity, other in zip(stages, IDENTITIES, reversed(IDENTITIES), strict=True):
        click = stage.pop("clickEpoch")
        out = dict(stage)
        for name, at in marks.get(identity, {}).items():
            out[f"server.{name}"] = round(at - click)
        for name in ("publishAnswerSent", "publish.dtls", "firstAudioIn", "firstVideoIn"):
            at = marks.get(other, {}).get(name)
            if at is not None:
                out[f"server.peer.{name}"] = round(at - click)
        merged.append(out)
    return merged


async def vidconsult_join(
    browser: Any,
    url: str,
    session: Any,
    coordinator: str,
    server_marks: Any,
    *,
    prepare: bool = True,
) -> tuple[list[float], list[dict[str, Any]]]:
    auth = {"Authorization": f"Bearer {coordinator}"}
    async with session.post(f"{url}/api/v1/rooms", json={"name": "bench"}, headers=auth) as resp:
        room = await resp.json()
    pages, contexts = [], []
    for identity, role in zip(IDENTITIES, (Role.DOCTOR, Role.PATIENT), strict=True):
        async with session.post(
            f"{url}/api/v1/rooms/{room['id']}/tokens",
            json={"identity": identity, "role": role.value},
            headers=auth,
        ) as resp:
            join_url = (await resp.json())["join_url"]
        context = await browser.new_context()
        await context.add_init_script(TRACE_JS)
        if not prepare:  # the page as before "prepare" (room-live.js), for the comparison
            await context.add_init_script("window.__vidconsultNoPrepare = true;")
        page = await context.new_page()
        await page.goto(join_url)
        # not timed: at a load average of 30-40 on this machine the pre-join step (link check,
        # camera preview) took over playwright's default 30 s now and then
        await page.wait_for_function(
            "() => document.querySelector('[data-testid=preview-video]').videoWidth > 0",
            timeout=120_000,
        )
        await page.wait_for_function(
            "() => !document.querySelector('[data-testid=join-button]').disabled",
            timeout=120_000,
        )
        pages.append((identity, page))
        contexts.append(context)
    try:
        times, stages = await measure(pages)
        return times, with_server_stages(stages, await asyncio.to_thread(server_marks, room["id"]))
    finally:
        for context in contexts:
            await context.close()
        async with session.delete(f"{url}/api/v1/rooms/{room['id']}", headers=auth):
            pass


async def janus_join(
    browser: Any, origin: str, janus_url: str, room: int
) -> tuple[list[float], list[dict[str, Any]]]:
    await asyncio.to_thread(jv.create_room, janus_url, room, publishers=6, bitrate=0)
    pages, contexts = [], []
    for identity in IDENTITIES:
        context = await browser.new_context()
        await context.add_init_script(TRACE_JS)
        page = await context.new_page()
        await page.goto(origin)  # a blank page on localhost: a secure context for the camera
        await page.evaluate(JANUS_PAGE_JS, {"base": janus_url, "room": room, "display": identity})
        pages.append((identity, page))
        contexts.append(context)
    try:
        times, stages = await measure(pages)
        for stage in stages:
            stage.pop("clickEpoch")
        return times, stages
    finally:
        for _, page in pages:
            await page.evaluate("window.vidconsult.state = 'closed'")
        for context in contexts:
            await context.close()
        await asyncio.to_thread(jv.destroy_room, janus_url, room)


def side(times: list[float], stages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "join_to_first_video": summary(times),
        "stages_p50_ms": stage_medians(stages),
        "each": [{"first_video_ms": t, **s} for t, s in zip(times, stages, strict=True)],
    }


def _serve(data_dir: str, media_mode: str | None, url_q: Any, trace_q: Any) -> None:
    """The vidconsult server under test, in its own process (as Janus is). ``trace_q``: a room
    id asked there is answered on ``url_q`` with its participants' join trace."""

    async def serve() -> None:
        trace = JoinTrace()
        loop = asyncio.get_running_loop()

        def answer_trace_requests() -> None:
            while True:
                room_id = trace_q.get()
                loop.call_soon_threadsafe(lambda r=room_id: url_q.put(trace.room(r)))

        settings = Settings.from_env(
            {},
            port=0,
            data_dir=Path(data_dir),
            secret=SECRET,
            media_mode=media_mode,
            log_level="WARNING",
        )
        async with run_server(settings, join_trace=trace) as server:
            url_q.put((server.url, settings.media_mode))
            threading.Thread(target=answer_trace_requests, daemon=True).start()
            await asyncio.Event().wait()

    from vidconsult import event_loop

    event_loop.run(serve())  # the product's loop, as `vidconsult serve`


async def main() -> None:
    import aiohttp

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=8, help="joins per server (2 pages each)")
    parser.add_argument("--media-mode", default=None)
    parser.add_argument("--no-janus", action="store_true")
    parser.add_argument(
        "--compare-unprepared",
        action="store_true",
        help="also join with the page's prepare step off (rooms alternate), for the comparison",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, _janus(args.no_janus) as janus:
        ctx = mp.get_context("spawn")
        url_q, trace_q = ctx.Queue(), ctx.Queue()
        server = ctx.Process(
            target=_serve, args=(tmp, args.media_mode, url_q, trace_q), daemon=True
        )
        server.start()
        url, media_mode = url_q.get(timeout=60)

        def server_marks(room_id: str) -> dict[str, dict[str, float]]:
            trace_q.put(room_id)
            marks: dict[str, dict[str, float]] = url_q.get(timeout=30)
            return marks

        signer = TokenSigner(SECRET.encode())
        coordinator = signer.mint(
            identity="bench", role=Role.COORDINATOR, now=datetime.now(UTC), ttl=timedelta(hours=1)
        )
        ours: tuple[list[float], list[dict[str, Any]]] = ([], [])
        unprepared: tuple[list[float], list[dict[str, Any]]] = ([], [])
        theirs: tuple[list[float], list[dict[str, Any]]] = ([], [])
        async with (
            aiohttp.ClientSession() as session,
            async_playwright() as pw,
        ):
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            rooms = itertools.count(9001)
            blank = await blank_page_server()
            for _ in range(args.runs):
                t, s = await vidconsult_join(browser, url, session, coordinator, server_marks)
                ours[0].extend(t)
                ours[1].extend(s)
                if args.compare_unprepared:
                    t, s = await vidconsult_join(
                        browser, url, session, coordinator, server_marks, prepare=False
                    )
                    unprepared[0].extend(t)
                    unprepared[1].extend(s)
                if isinstance(janus, tuple):
                    t, s = await janus_join(browser, blank[0], janus[0], next(rooms))
                    theirs[0].extend(t)
                    theirs[1].extend(s)
            await browser.close()
            await blank[1].cleanup()
        server.terminate()
        server.join(10)
    result: dict[str, Any] = {
        "benchmark": "join_time",
        "measure": "join click -> first requestVideoFrameCallback on the remote <video>, ms",
        "joins_per_server": args.runs,
        "media_mode": media_mode,
        "vidconsult": side(*ours),
    }
    if args.compare_unprepared:
        result["vidconsult_unprepared"] = side(*unprepared)
        result["vidconsult_unprepared"]["note"] = (
            "the same page without 'prepare' (docs/protocol.md): connections negotiated after"
            " the click, as before issue 15's prepare step"
        )
    if isinstance(janus, tuple):
        result["janus"] = side(*theirs)
        result["janus"]["version"] = janus[1]
        if args.compare_unprepared:
            result["vidconsult_unprepared_over_janus_p50"] = round(
                percentile(unprepared[0], 50) / percentile(theirs[0], 50), 2
            )
        ratio = percentile(ours[0], 50) / percentile(theirs[0], 50)
        result["vidconsult_over_janus_p50"] = round(ratio, 2)
        result["vidconsult_over_janus_p95"] = round(
            percentile(ours[0], 95) / percentile(theirs[0], 95), 2
        )
    else:
        result["janus"] = {"skipped": janus}
    print(json.dumps(result, indent=2))


class _janus:
    """Janus for the run, or the reason it is not there: (api url, version) or a string."""

    def __init__(self, disabled: bool) -> None:
        self._cm = None if disabled else jv.janus_running()

    def __enter__(self) -> tuple[str, str | None] | str:
        if self._cm is None:
            return "--no-janus"
        try:
            url, _pid = self._cm.__enter__()
        except jv.JanusUnavailable as exc:
            self._cm = None
            return str(exc)
        return url, jv.janus_version(url)

    def __exit__(self, *exc: Any) -> None:
        if self._cm is not None:
            self._cm.__exit__(*exc)


if __name__ == "__main__":
    asyncio.run(main())
