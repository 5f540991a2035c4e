"""Join time in the browser: join click -> first remote frame decoded, two Chromium pages.

Runs the real server in-process (REST, signaling, aiortc media) and headless Chromium (Debian
``chromium``, fake camera). Baseline, measured side by side in the same run: two peer
connections in one page with no server (the floor WebRTC itself sets on this machine).
Prints JSON.

    python benchmarks/join_time.py --runs 10 [--media-mode passthrough]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.helpers import SECRET  # noqa: E402
from vidconsult.app import run_server  # noqa: E402
from vidconsult.config import Settings  # noqa: E402
from vidconsult.domain.roles import Role  # noqa: E402
from vidconsult.tokens import TokenSigner  # noqa: E402

# Two RTCPeerConnections in one page, fake camera, no server: time to the first decoded frame.
LOOPBACK_JS = """async () => {
  const t0 = performance.now();
  const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
  const a = new RTCPeerConnection(), b = new RTCPeerConnection();
  a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  const video = document.createElement('video');
  video.muted = true; video.autoplay = true; document.body.appendChild(video);
  const first = new Promise((resolve) => video.addEventListener('loadeddata', resolve));
  b.ontrack = (e) => { video.srcObject = e.streams[0]; };
  const start = performance.now();
  stream.getTracks().forEach((t) => a.addTrack(t, stream));
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  await first;
  const ms = performance.now() - start;
  a.close(); b.close(); stream.getTracks().forEach((t) => t.stop());
  return ms;
}"""


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


async def one_room(
    browser: Any, url: str, signer: TokenSigner, session: Any, coordinator: str
) -> list[float]:
    async with session.post(
        f"{url}/api/v1/rooms",
        json={"name": "bench"},
        headers={"Authorization": f"Bearer {coordinator}"},
    ) as resp:
        room = await resp.json()
    pages = []
    for identity, role in (("dr-a", Role.DOCTOR), ("pt-b", Role.PATIENT)):
        async with session.post(
            f"{url}/api/v1/rooms/{room['id']}/tokens",
            json={"identity": identity, "role": role.value},
            headers={"Authorization": f"Bearer {coordinator}"},
        ) as resp:
            join_url = (await resp.json())["join_url"]
        context = await browser.new_context()
        page = await context.new_page()
        await page.goto(join_url)
        await page.wait_for_function(
            "document.querySelector('[data-testid=preview-video]').videoWidth > 0"
        )
        pages.append((identity, page, context))
    await asyncio.gather(*(p.click("[data-testid=join-button]") for _, p, _ in pages))
    times = []
    for (_identity, page, _), other in zip(pages, ("pt-b", "dr-a"), strict=True):
        await page.wait_for_function(
            f"window.vidconsult.joinTimes['{other}'] !== undefined", timeout=30_000
        )
        times.append(float(await page.evaluate(f"window.vidconsult.joinTimes['{other}']")))
    for _, _, context in pages:
        await context.close()
    async with session.delete(
        f"{url}/api/v1/rooms/{room['id']}", headers={"Authorization": f"Bearer {coordinator}"}
    ):
        pass
    return times


async def main() -> None:
    import aiohttp

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--media-mode", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env(
            {},
            port=0,
            data_dir=Path(tmp),
            secret=SECRET,
            media_mode=args.media_mode,
            log_level="WARNING",
        )
        signer = TokenSigner(SECRET.encode())
        from datetime import UTC, datetime, timedelta

        coordinator = signer.mint(
            identity="bench", role=Role.COORDINATOR, now=datetime.now(UTC), ttl=timedelta(hours=1)
        )
        async with (
            run_server(settings) as server,
            aiohttp.ClientSession() as session,
            async_playwright() as pw,
        ):
            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            server_times: list[float] = []
            baseline: list[float] = []
            for _ in range(args.runs):
                server_times += await one_room(browser, server.url, signer, session, coordinator)
                context = await browser.new_context()
                page = await context.new_page()
                await page.goto(server.url + "/healthz")
                baseline.append(float(await page.evaluate(LOOPBACK_JS)))
                await context.close()
            await browser.close()
    result = {
        "benchmark": "join_time",
        "media_mode": settings.media_mode,
        "vidconsult": summary(server_times),
        "baseline_two_pcs_one_page": summary(baseline),
        "ratio_p50": round(percentile(server_times, 50) / percentile(baseline, 50), 2),
        "reference_janus_1_1_2": {
            "p50_ms": 323,
            "p95_ms": 455,
            "note": "measured earlier on this machine, not in this run",
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
