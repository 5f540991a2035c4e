"""Browser libraries from npm served to the room page (web/vendor.py): only the listed files,
dwv's bare imports pointed at the served shims, nothing else under node_modules reachable."""

from __future__ import annotations

import re

from tests.helpers import ServerHandle
from web import vendor


async def get(server: ServerHandle, path: str) -> tuple[int, str, str]:
    async with server.session.get(server.url + path) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text(errors="replace")


async def test_the_listed_files_are_served_and_dwv_imports_the_shims(
    app_server: ServerHandle,
) -> None:
    assert vendor.missing() == []  # `npm ci --prefix web` has run
    status, ctype, body = await get(app_server, "/static/vendor/dwv/dwv.min.js")
    assert status == 200 and ctype.startswith("text/javascript")
    # the module's own imports, at its head: `import{default as e}from"konva";...`
    imports = set(re.findall(r'import\{default as \w+\}from"([^"]+)"', body[:300]))
    assert imports == {
        "/static/vendor-shims/konva.js",
        "/static/vendor-shims/magic-wand-tool.js",
        "/static/vendor-shims/jszip.js",
    }
    for shim in imports:
        status, _, text = await get(app_server, shim)
        assert status == 200
        (target,) = re.findall(r'import "([^"]+)"', text)
        assert (await get(app_server, target))[0] == 200
    status, ctype, _ = await get(app_server, "/static/vendor/pdfjs/build/pdf.worker.min.mjs")
    assert status == 200 and ctype.startswith("text/javascript")
    status, _, _ = await get(app_server, "/static/vendor/pdfjs/standard_fonts/FoxitFixed.pfb")
    assert status == 200


async def test_nothing_else_is_reachable(app_server: ServerHandle) -> None:
    for path in (
        "/static/vendor/pdfjs/package.json",
        "/static/vendor/pdfjs/build/pdf.mjs",  # listed are the minified builds only
        "/static/vendor/dwv/../package.json",
        "/static/vendor/dwv/%2e%2e/%2e%2e/konva/package.json",
        "/static/vendor/socket.io-client/dist/socket.io.js",
        "/static/vendor/nope/x.js",
    ):
        status, _, _ = await get(app_server, path)
        assert status == 404, path
