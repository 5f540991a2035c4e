"""Weak links: a good and a weak subscriber in one room, vidconsult (simulcast, a layer per
subscriber) against Janus's VideoRoom (simulcast, its defaults), side by side in one run.
Prints JSON.

The impaired links are tests/netlab.py's: each subscriber ("watcher") is a headless Chromium in
its own network namespace; the good one's link is not limited, the weak one's is set to each
profile in turn (default ``300kbit/3%``: 300 kbit/s, 3 % random loss each way; a third part
adds a one-way delay each way, ``300kbit/3%/150ms``). The publisher
is a headless Chromium on this machine sending its fake camera (960x540, 30 fps) as three
simulcast layers with the room page's encodings (q/h/f: 1/4, 1/2, 1; 120/350/1000 kbit/s):

* vidconsult: the real server in-process, the room page for everyone (watchers as observers);
* Janus (Debian ``janus``, on this machine's side of the netlab links): the same publisher
  constraints and encodings over its HTTP API, watchers subscribing with Janus's defaults
  (top substream, no adaptation to the subscriber's link) — benchmarks/weak_links_janus.js.

Per profile and server: both watchers start on good links and play; the weak one's link is
impaired; after ``--settle`` s, ``--seconds`` s of playback are measured on both, from the
frames each page presents (``requestVideoFrameCallback``): fps, freezes (a gap longer than
max(3 x the mean frame interval, mean + 150 ms), Chromium's definition), total freeze time, the
longest gap, the most shown resolution; packets the weak link's rate limit dropped in that
window and since the impairment (vidconsult paces a limited subscriber's link, docs/media.md
"Pacing"; its view of the weak link, ``server_view``, shows the pacer). Forwarding cost: the
server's CPU (user+sys from /proc; vidconsult's is this process, which also drives the
browsers) during the measured window, minus a publisher-only baseline window, per subscriber.

    python benchmarks/weak_links.py > benchmarks/weak_links.results.json
    python benchmarks/weak_links.py --profiles 300kbit/3%,500kbit/1% --seconds 20
    python benchmarks/weak_links.py --profiles 300kbit/3%/150ms
    python benchmarks/weak_links.py --no-simulcast

``--no-simulcast``: the publisher sends its camera as one stream (no layers; as a Firefox or
H.264 publisher does), on both servers: vidconsult paces the weak link and holds the
publisher to it by REMB (docs/media.md, "Pacing"); Janus's room has no bitrate cap.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

from benchmarks import janus_videoroom as jv  # noqa: E402
from benchmarks.harness import blank_page_server, cpu_seconds  # noqa: E402
from tests.browser.conftest import CHROMIUM  # noqa: E402
from tests.browser.watching import (  # noqa: E402
    JS_FRAMES_SINCE,
    JS_INBOUND,
    JS_NOW,
    NO_SIMULCAST,
    inbound_totals,
    join_room,
    launch,
    launch_in,
    page_url,
    playback,
    watching_page,
)
from tests.helpers import SECRET  # noqa: E402
from tests.netlab import GOOD, LinkProfile, Netlab, Participant  # noqa: E402
from vidconsult.app import MEDIA, run_server  # noqa: E402
from vidconsult.config import Settings  # noqa: E402
from vidconsult.domain.roles import Role  # noqa: E402
from vidconsult.tokens import TokenSigner  # noqa: E402

JANUS_PAGE_JS = (HERE / "weak_links_janus.js").read_text()
ENCODINGS = [  # web/static/session.js SIMULCAST_ENCODINGS
    {"rid": "q", "scaleResolutionDownBy": 4, "maxBitrate": 120_000},
    {"rid": "h", "scaleResolutionDownBy": 2, "maxBitrate": 350_000},
    {"rid": "f", "scaleResolutionDownBy": 1, "maxBitrate": 1_000_000},
]


def parse_profile(text: str) -> tuple[str, LinkProfile]:
    """``RATEkbit/LOSS%[/DELAYms]``, e.g. ``300kbit/3%/150ms`` (the delay one way, each
    direction: tests/netlab.py)."""
    rate, _, rest = text.partition("/")
    loss, _, delay = rest.partition("/")
    kbit = int(rate.lower().removesuffix("kbit"))
    return text, LinkProfile(
        rate_kbit=kbit,
        loss=float(loss.rstrip("%") or 0) / 100,
        delay_ms=float(delay.lower().removesuffix("ms") or 0),
    )


async def until(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.2)  # polling a browser's screen: nothing to await
    return False


class Scene:
    """One server's room: a publisher page and the two watchers' pages."""

    def __init__(self, name: str, pid: int) -> None:
        self.name = name
        self.pid = pid
        self.baseline_cpu = 0.0  # CPU s/s with the publisher alone
        self.view: Any = None  # the server's own view of the watchers' links, if it has one
        self.publisher: Any = None
        self.watchers: dict[str, Any] = {}
        self.identity = "doctor"

    async def playing_top(self) -> bool:
        for page in self.watchers.values():
            frames = await page.evaluate(JS_FRAMES_SINCE, [self.identity, 0])
            if len(frames) < 10 or frames[-1][1] < 960:
                return False
        return True


async def measure(
    scene: Scene,
    lab: dict[str, Participant],
    profile: LinkProfile,
    settle: float,
    seconds: float,
) -> dict[str, Any]:
    weak = lab["weak"]
    ready = await until(scene.playing_top, 60)
    cpu0, t0 = cpu_seconds(scene.pid), time.monotonic()
    await asyncio.sleep(seconds / 2)
    cpu_before = (cpu_seconds(scene.pid) - cpu0) / (time.monotonic() - t0)
    link_impaired = {n: lab[n].counters() for n in scene.watchers}
    weak.set_profile(profile)
    await asyncio.sleep(settle)
    since = {n: await p.evaluate(JS_NOW) for n, p in scene.watchers.items()}
    stats0 = {n: inbound_totals(await p.evaluate(JS_INBOUND)) for n, p in scene.watchers.items()}
    link0 = {n: lab[n].counters() for n in scene.watchers}
    cpu0, t0 = cpu_seconds(scene.pid), time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    cpu_during = (cpu_seconds(scene.pid) - cpu0) / elapsed
    link1 = {n: lab[n].counters() for n in scene.watchers}
    out: dict[str, Any] = {"both_on_top_layer_before": ready}
    for name, page in scene.watchers.items():
        frames = await page.evaluate(JS_FRAMES_SINCE, [scene.identity, since[name]])
        stats1 = inbound_totals(await page.evaluate(JS_INBOUND))
        out[name] = playback(frames) | {
            "chromium_freezes": stats1["freezes"] - stats0[name]["freezes"],
            "chromium_frozen_s": round(stats1["frozen_s"] - stats0[name]["frozen_s"], 2),
            "video_kbit_per_s": round(
                (stats1["bytes"] - stats0[name]["bytes"]) * 8 / seconds / 1000
            ),
            "packets_lost": stats1["lost"] - stats0[name]["lost"],
            # everything that left this machine on the watcher's link (all of its media)
            "link_kbit_per_s": round(
                (link1[name]["down_bytes"] - link0[name]["down_bytes"]) * 8 / elapsed / 1000
            ),
            "link_dropped_by_rate_limit": link1[name]["down_tbf_dropped"]
            - link0[name]["down_tbf_dropped"],
            # the same from the moment the link was impaired: the switch to a lower layer
            # (or none) and the settling too, where an unpaced server's bursts are dropped
            "link_dropped_since_impairment": link1[name]["down_tbf_dropped"]
            - link_impaired[name]["down_tbf_dropped"],
        }
    out["server_cpu_ms_per_s"] = round(cpu_during * 1000, 1)
    out["server_cpu_ms_per_s_before_impairment"] = round(cpu_before * 1000, 1)
    out["server_cpu_ms_per_s_publisher_only"] = round(scene.baseline_cpu * 1000, 1)
    out["forwarding_cpu_ms_per_s_per_subscriber"] = round(
        (cpu_during - scene.baseline_cpu) * 1000 / len(scene.watchers), 1
    )
    if scene.view is not None:
        out["server_view"] = scene.view()
    weak.set_profile(GOOD)
    return out


async def baseline(scene: Scene, seconds: float) -> None:
    """The server's CPU with the publisher alone (after its media started)."""
    await asyncio.sleep(3)
    cpu0, t0 = cpu_seconds(scene.pid), time.monotonic()
    await asyncio.sleep(seconds)
    scene.baseline_cpu = (cpu_seconds(scene.pid) - cpu0) / (time.monotonic() - t0)


# --- vidconsult -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def vidconsult_scene(
    pw: Any,
    lab: dict[str, Participant],
    server: Any,
    session: Any,
    tmp: Path,
    seconds: float,
    simulcast: bool = True,
) -> AsyncIterator[Scene]:
    signer = TokenSigner(SECRET.encode())
    from datetime import UTC, datetime, timedelta

    coordinator = signer.mint(
        identity="bench", role=Role.COORDINATOR, now=datetime.now(UTC), ttl=timedelta(hours=1)
    )
    local = f"http://127.0.0.1:{server.port}"
    auth = {"Authorization": f"Bearer {coordinator}"}
    async with session.post(f"{local}/api/v1/rooms", json={"name": "weak"}, headers=auth) as r:
        room = (await r.json())["id"]

    async def join(
        identity: str, role: str, part: Participant | None, browser: Any, script: str = ""
    ) -> Any:
        body = {"identity": identity, "role": role, "name": identity}
        async with session.post(
            f"{local}/api/v1/rooms/{room}/tokens", json=body, headers=auth
        ) as r:
            url = (await r.json())["join_url"]
        return await join_room(browser, page_url(url, server.port, part), script=script)

    scene = Scene("vidconsult", os.getpid())
    browsers = [await launch(pw, CHROMIUM, [])]
    try:
        scene.publisher = await join(
            "doctor", "doctor", None, browsers[0], "" if simulcast else NO_SIMULCAST
        )
        await baseline(scene, seconds)
        engine = server.app[MEDIA]
        scene.view = lambda: {
            n: [x for x in engine.subscriber_links(room, f"watch-{n}") if x["kind"] == "video"]
            for n in lab
        }
        for name, part in lab.items():
            browser = await launch_in(pw, part, CHROMIUM, tmp, server.port)
            browsers.append(browser)
            page = await join(f"watch-{name}", "observer", part, browser)
            await page.evaluate("(id) => window.__watch(id)", "doctor")
            scene.watchers[name] = page
        yield scene
    finally:
        for browser in browsers:
            await browser.close()
        async with session.delete(f"{local}/api/v1/rooms/{room}", headers=auth):
            pass


# --- Janus ------------------------------------------------------------------------------------


@contextlib.contextmanager
def janus_on_host(lab: dict[str, Participant]) -> Iterator[tuple[str, int, str | None]]:
    """Janus on this machine, its ICE on the netlab links only; (API base path, pid, version)."""
    if shutil.which("janus") is None:
        raise jv.JanusUnavailable("janus binary not installed (apt-get install janus)")
    root = Path(tempfile.mkdtemp(prefix="vcbench-weak-janus-"))
    port = 18000 + secrets.randbelow(2000)
    conf = jv.write_config(
        root,
        http_ip="0.0.0.0",
        http_port=port,
        ice_enforce=",".join(p.host_link for p in lab.values()),
        rtp_range="42000-42999",
    )
    url = f"http://127.0.0.1:{port}/janus"
    command = ["janus", "-F", str(conf), "-C", str(conf / "janus.jcfg")]
    with jv.janus_process(command, url, root) as proc:
        yield f"/janus@{port}", proc.pid, jv.janus_version(url)


@contextlib.asynccontextmanager
async def janus_scene(
    pw: Any,
    lab: dict[str, Participant],
    janus: tuple[str, int, str | None],
    room: int,
    tmp: Path,
    seconds: float,
    simulcast: bool = True,
) -> AsyncIterator[Scene]:

    path, pid, _ = janus
    port = int(path.split("@")[1])
    await asyncio.to_thread(
        jv.create_room, f"http://127.0.0.1:{port}/janus", room, publishers=1, bitrate=0
    )

    # on every address: the watchers' machines reach it over their links
    origin, runner = await blank_page_server("0.0.0.0")
    blank_port = runner.addresses[0][1]
    scene = Scene("janus", pid)
    browsers = [await launch(pw, str(CHROMIUM), [])]
    try:
        scene.publisher = await watching_page(browsers[0], origin)
        await scene.publisher.evaluate(
            JANUS_PAGE_JS,
            {
                "base": f"http://127.0.0.1:{port}/janus",
                "room": room,
                "display": "doctor",
                "role": "publisher",
                "encodings": ENCODINGS if simulcast else [],
            },
        )
        await baseline(scene, seconds)
        for name, part in lab.items():
            browser = await launch(pw, str(part.wrapper(tmp, str(CHROMIUM))), [])
            browsers.append(browser)
            page = await watching_page(browser, f"http://{part.host_ip}:{blank_port}/")
            await page.evaluate(
                JANUS_PAGE_JS,
                {
                    "base": f"http://{part.host_ip}:{port}/janus",
                    "room": room,
                    "display": f"watch-{name}",
                    "role": "watcher",
                    "encodings": ENCODINGS,
                },
            )
            await page.evaluate("(id) => window.__watch(id)", "doctor")
            scene.watchers[name] = page
        yield scene
    finally:
        for browser in browsers:
            await browser.close()
        await runner.cleanup()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(jv.destroy_room, f"http://127.0.0.1:{port}/janus", room)


# --- main -------------------------------------------------------------------------------------


async def main() -> None:
    import aiohttp

    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", default="300kbit/3%", help="weak links, comma-separated")
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--no-janus", action="store_true")
    parser.add_argument("--no-simulcast", action="store_true", help="the camera as one stream")
    args = parser.parse_args()
    profiles = [parse_profile(p) for p in args.profiles.split(",")]
    rooms = itertools.count(7001)
    result: dict[str, Any] = {
        "benchmark": "weak_links",
        "publisher": "Chromium fake camera 960x540 30 fps, "
        + (
            "one stream (no simulcast)"
            if args.no_simulcast
            else "simulcast q/h/f 120/350/1000 kbit/s"
        ),
        "measure": "frames presented by each watcher's <video> (requestVideoFrameCallback)",
        "settle_s": args.settle,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 1) for x in os.getloadavg()],
        "profiles": {},
    }
    with tempfile.TemporaryDirectory() as tmp_dir, Netlab() as netlab:
        tmp = Path(tmp_dir)
        lab = {"good": netlab.add("good", GOOD), "weak": netlab.add("weak", GOOD)}
        janus_cm: Any = None
        janus: tuple[str, int, str | None] | str
        if args.no_janus:
            janus = "--no-janus"
        else:
            try:
                janus_cm = janus_on_host(lab)
                janus = janus_cm.__enter__()
            except jv.JanusUnavailable as exc:
                janus_cm, janus = None, str(exc)
        try:
            settings = Settings.from_env(
                {}, host="0.0.0.0", port=0, data_dir=tmp / "var", secret=SECRET, log_level="WARNING"
            )
            async with (
                run_server(settings) as server,
                aiohttp.ClientSession() as session,
                async_playwright() as pw,
            ):
                for label, profile in profiles:
                    row: dict[str, Any] = {}
                    async with vidconsult_scene(
                        pw, lab, server, session, tmp, args.seconds / 2, not args.no_simulcast
                    ) as scene:
                        row["vidconsult"] = await measure(
                            scene, lab, profile, args.settle, args.seconds
                        )
                    if isinstance(janus, tuple):
                        async with janus_scene(
                            pw,
                            lab,
                            janus,
                            next(rooms),
                            tmp,
                            args.seconds / 2,
                            not args.no_simulcast,
                        ) as scene:
                            row["janus"] = await measure(
                                scene, lab, profile, args.settle, args.seconds
                            )
                    else:
                        row["janus"] = {"skipped": janus}
                    result["profiles"][label] = row
        finally:
            if janus_cm is not None:
                janus_cm.__exit__(None, None, None)
    if isinstance(janus, tuple):
        result["janus_version"] = janus[2]
    result["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
