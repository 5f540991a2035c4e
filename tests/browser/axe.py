"""axe-core (npm, web/node_modules) run in a page: the violations of impact serious or critical.

The script is evaluated over the DevTools protocol, which the page's Content-Security-Policy
does not govern, so the page under test keeps its real policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers import require_binary

AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"

RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
}"""


async def serious_violations(page: Any) -> list[dict[str, Any]]:
    """[] when the page has no serious or critical axe violation."""
    require_binary(str(AXE))  # skipped locally without `npm ci --prefix web`, fails in CI
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    return list(await page.evaluate(RUN))
