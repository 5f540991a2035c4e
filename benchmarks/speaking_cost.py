"""What the speaking indicator costs the browser (web/static/room-speaking.js: getStats of the
page's two connections five times a second). Prints JSON.

The server does nothing for it (no work per packet), so there is no server side to compare
with Janus: the figure is the browser's own CPU, the room page with the indicator sampling
against the same pages with it paused (``window.__vidconsultNoSpeaking``), in one run, in
alternating windows (on, off, on, off, ...) so that the machine's load falls on both alike.
Three Chromium pages (fake camera and microphone) in one room of the real server (in this
process; its CPU is not counted). CPU: Chromium's own per-process counters
(``SystemInfo.getProcessInfo`` over the browser's DevTools session), summed over all its
processes and over its renderers alone.

    python benchmarks/speaking_cost.py --windows 4 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.helpers import SECRET  # noqa: E402
from vidconsult.app import run_server  # noqa: E402
from vidconsult.config import Settings  # noqa: E402
from vidconsult.domain.roles import Role  # noqa: E402
from vidconsult.tokens import TokenSigner  # noqa: E402

PEOPLE = (("dr-wang", "expert"), ("pt-zhang", "patient"), ("dr-zhao", "doctor"))


async def cpu(cdp: Any) -> dict[str, float]:
    info = await cdp.send("SystemInfo.getProcessInfo")
    total = sum(p["cpuTime"] for p in info["processInfo"])
    renderers = sum(p["cpuTime"] for p in info["processInfo"] if p["type"] == "renderer")
    return {"all": total, "renderers": renderers}


async def main() -> None:
    import aiohttp

    parser = argparse.ArgumentParser()
    parser.add_argument("--windows", type=int, default=4, help="windows per side (on and off)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one window")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(
            {}, port=0, data_dir=Path(tmp), secret=SECRET, log_level="WARNING"
        )
        async with (
            run_server(settings) as server,
            aiohttp.ClientSession() as session,
            async_playwright() as pw,
        ):
            signer = TokenSigner(SECRET.encode())
            coordinator = signer.mint(
                identity="bench",
                role=Role.COORDINATOR,
                now=datetime.now(UTC),
                ttl=timedelta(hours=1),
            )
            auth = {"Authorization": f"Bearer {coordinator}"}
            url = server.url
            async with session.post(
                f"{url}/api/v1/rooms", json={"name": "bench"}, headers=auth
            ) as r:
                room = await r.json()
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            cdp = await browser.new_browser_cdp_session()
            pages = []
            for identity, role in PEOPLE:
                async with session.post(
                    f"{url}/api/v1/rooms/{room['id']}/tokens",
                    json={"identity": identity, "role": role},
                    headers=auth,
                ) as r:
                    join_url = (await r.json())["join_url"]
                context = await browser.new_context(permissions=["camera", "microphone"])
                page = await context.new_page()
                await page.goto(join_url)
                await page.click("[data-testid=join-button]:enabled", timeout=120_000)
                pages.append(page)
            for page in pages:
                await page.wait_for_function(
                    "() => window.vidconsult.state === 'joined' &&"
                    " window.vidconsult.speaking.speaking.length === 2",
                    timeout=120_000,
                )
            rows: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
            samples = {"on": 0, "off": 0}
            for _ in range(args.windows):
                for side in ("on", "off"):
                    for page in pages:
                        await page.evaluate(
                            "(v) => { window.__vidconsultNoSpeaking = v; }", side == "off"
                        )
                    n0 = sum(
                        [await p.evaluate("window.vidconsult.speaking.samples") for p in pages]
                    )
                    before = await cpu(cdp)
                    await asyncio.sleep(args.seconds)  # the measuring window itself
                    after = await cpu(cdp)
                    n1 = sum(
                        [await p.evaluate("window.vidconsult.speaking.samples") for p in pages]
                    )
                    samples[side] += n1 - n0
                    rows[side].append(
                        {k: (after[k] - before[k]) / args.seconds * 100 for k in after}
                    )
            await browser.close()

    def med(side: str, key: str) -> float:
        return round(statistics.median(r[key] for r in rows[side]), 2)

    print(
        json.dumps(
            {
                "pages": len(PEOPLE),
                "window_s": args.seconds,
                "windows_per_side": args.windows,
                "samples_taken": samples,  # "off" must be 0: the pause works
                "cpu_percent_of_one_core": {
                    side: {k: med(side, k) for k in ("all", "renderers")} for side in rows
                },
                "indicator_cost_percent_of_one_core": {
                    k: round(med("on", k) - med("off", k), 2) for k in ("all", "renderers")
                },
                "per_window": rows,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
