"""Emergency paging, end to end in the browser: from the unit doctor's click on "Request
emergency consultation" to (1) the on-duty expert's open workspace ringing (its alert drawn) and
(2) the first decoded video frame of the expert in the unit's room page. Prints JSON with
p50/p95 over ``--runs`` runs.

The real server in-process (REST, Socket.IO, aiortc media) on loopback; headless Debian Chromium
with fake cameras: one page is the on-duty expert's workspace, signed in and left open (as on a
duty desk), one the village unit doctor's workspace. Each run the unit files an emergency and, as
soon as the reply comes, joins the room (the page's "Join the room" button); the expert accepts
the moment the page rings (a person's reaction time is not part of the figure: add it), lands in
the room joined, and the unit's page records the first frame of the expert's video.

Times are wall-clock epoch milliseconds taken in the pages (one machine, one clock): the click
is the button's click event; the ring is when the workspace drew the alert
(``window.vidconsultWorkspace.ringAt``); the first frame is the room page's own join timing
(``window.vidconsult``: join click + time to the first decoded frame, on ``performance``'s clock
made absolute with ``timeOrigin``).

There is no peer product to run beside it (Janus has no paging); the room part of the second
figure is compared with Janus in benchmarks/join_time.py.

    python benchmarks/emergency_paging.py --runs 20 > benchmarks/emergency_paging.results.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from playwright.async_api import async_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.helpers import SECRET  # noqa: E402
from vidconsult.account_admin import create_account  # noqa: E402
from vidconsult.app import run_server  # noqa: E402
from vidconsult.config import Settings  # noqa: E402
from vidconsult.domain.roles import Role  # noqa: E402
from vidconsult.tokens import TokenSigner  # noqa: E402

PASSWORD = "correct horse battery"
CST = ZoneInfo("Asia/Shanghai")
TIMEOUT_MS = 30_000
CLICK_TIME_JS = """() => {
  const b = document.querySelector("[data-testid=file-button]");
  window.__clickedAt = null;
  b.addEventListener("click", () => { window.__clickedAt = Date.now(); }, { once: true });
}"""
FIRST_FRAME_JS = """(identity) => {
  const h = window.vidconsult;
  if (!h || !h.joinTimes || h.joinTimes[identity] === undefined) return null;
  return performance.timeOrigin + h.joinClickAt + h.joinTimes[identity];
}"""


def summary(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)

    def pct(q: float) -> float:
        k = (len(ordered) - 1) * q
        lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
        return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 1)

    return {
        "p50": pct(0.5),
        "p95": pct(0.95),
        "min": round(ordered[0], 1),
        "max": round(ordered[-1], 1),
        "mean": round(statistics.fmean(ordered), 1),
        "values": [round(v, 1) for v in values],
    }


async def seed(url: str, signer: TokenSigner, data_dir: Path) -> None:
    token = signer.mint(
        identity="bench", role=Role.COORDINATOR, now=datetime.now(CST), ttl=timedelta(hours=2)
    )
    headers = {"Authorization": f"Bearer {token}"}
    now = datetime.now(CST)
    start, end = now - timedelta(hours=1), now + timedelta(hours=3)
    calls: list[tuple[str, str, dict[str, Any]]] = [
        (
            "POST",
            "/api/v1/units",
            {"id": "vil-1", "name": "Xiaoshan Village Clinic", "tier": "village"},
        ),
        (
            "POST",
            "/api/v1/experts",
            {
                "id": "zhou",
                "name": "Dr Zhou Wei",
                "institution": {"id": "pumch", "name": "PUMCH", "kind": "domestic"},
                "specialties": ["cardiology"],
                "languages": ["zh"],
                "time_zone": "Asia/Shanghai",
            },
        ),
        (
            "PUT",
            "/api/v1/rota/cardiology",
            {
                "slots": [
                    {
                        "expert_id": "zhou",
                        "weekday": start.weekday(),
                        "start": start.strftime("%H:%M"),
                        "end": end.strftime("%H:%M"),
                    }
                ]
            },
        ),
    ]
    async with aiohttp.ClientSession(headers=headers) as http:
        for method, path, body in calls:
            async with http.request(method, url + path, json=body) as resp:
                assert resp.status in (200, 201), (path, resp.status, await resp.text())
    for username, role, kw in (
        ("zhou", "expert", {}),
        ("vil.doctor", "doctor", {"unit_id": "vil-1"}),
    ):
        await asyncio.to_thread(create_account, data_dir, username, role, PASSWORD, username, **kw)


async def sign_in(page: Any, url: str, username: str) -> None:
    await page.goto(f"{url}/workspace")
    await page.wait_for_selector("[data-testid=sign-in-form]", timeout=TIMEOUT_MS)
    await page.fill("[data-testid=username]", username)
    await page.fill("[data-testid=password]", PASSWORD)
    await page.click("[data-testid=sign-in-button]")
    await page.locator("[data-testid=signed-in-as]").wait_for(timeout=TIMEOUT_MS)


async def one_run(url: str, expert: Any, unit: Any, n: int) -> dict[str, float]:
    await expert.goto(f"{url}/workspace")
    await expert.wait_for_selector("body[data-channel=up]", timeout=TIMEOUT_MS)
    await unit.goto(f"{url}/workspace")
    await unit.wait_for_selector("[data-testid=file-form]", timeout=TIMEOUT_MS)
    await unit.check("[data-testid=kind-emergency]")
    await unit.fill("[data-testid=patient-name]", f"Patient {n}")
    await unit.fill("[data-testid=patient-age]", "60")
    await unit.fill("[data-testid=clinical-summary]", "Chest pain, ST elevation")
    await unit.evaluate(CLICK_TIME_JS)
    await unit.click("[data-testid=file-button]")
    # the expert answers the moment it rings; the unit joins as soon as its reply is in
    alert = expert.locator("[data-testid=page-accept]")
    join = unit.locator("[data-testid=emergency-join]")
    await alert.wait_for(timeout=TIMEOUT_MS)
    rang = await expert.evaluate("Math.min(...Object.values(window.vidconsultWorkspace.ringAt))")
    await join.wait_for(timeout=TIMEOUT_MS)
    clicked = await unit.evaluate("window.__clickedAt")
    await asyncio.gather(alert.click(), join.click())
    first = await unit.wait_for_function(FIRST_FRAME_JS, arg="zhou", timeout=TIMEOUT_MS)
    return {"ring_ms": rang - clicked, "first_expert_frame_ms": await first.json_value() - clicked}


async def main(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(
            {}, host="127.0.0.1", port=0, data_dir=Path(tmp) / "var", secret=SECRET
        )
        async with run_server(settings) as server, async_playwright() as pw:
            await seed(server.url, TokenSigner(SECRET.encode()), settings.data_dir)
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            contexts = [
                await browser.new_context(permissions=["camera", "microphone", "notifications"])
                for _ in range(2)
            ]
            expert, unit = [await c.new_page() for c in contexts]
            await sign_in(expert, server.url, "zhou")
            await sign_in(unit, server.url, "vil.doctor")
            results = []
            started = time.monotonic()
            for n in range(runs):
                results.append(await one_run(server.url, expert, unit, n))
                print(f"run {n + 1}/{runs}: {results[-1]}", file=sys.stderr)
            wall = time.monotonic() - started
            async with aiohttp.ClientSession() as http, http.get(server.url + "/metrics") as r:
                metrics = [
                    line
                    for line in (await r.text()).splitlines()
                    if line.startswith("vidconsult_emergency_")
                    and ("_sum" in line or "_count" in line)
                ]
            await browser.close()
    return {
        "benchmark": "emergency_paging",
        "runs": runs,
        "what": "unit's emergency click -> expert's workspace rings; -> first decoded video "
        "frame of the expert in the unit's room page (expert accepts at once)",
        "ring_ms": summary([r["ring_ms"] for r in results]),
        "first_expert_frame_ms": summary([r["first_expert_frame_ms"] for r in results]),
        "server_metrics": metrics,
        "wall_seconds": round(wall, 1),
        "chromium": str(CHROMIUM),
        "date": datetime.now(CST).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.runs)), indent=2))
