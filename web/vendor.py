"""Browser libraries installed from npm (``web/package.json``, ``npm ci --prefix web``) and
served from ``web/node_modules`` as they ship, never copied into the repository: pdf.js (PDF
attachments in the room's case panel) and dwv (DICOM) with dwv's three dependencies; Chart.js
(the dashboard's statistics).

Only the listed files are served. dwv's ES module build imports its dependencies by bare name
(``from "konva"``); a page with a strict CSP has no inline import map, so those three imports
are pointed at the served files when dwv is sent (and the UMD builds of the dependencies are
wrapped as ES modules by the tiny shims in ``web/static/vendor-shims``)."""

from __future__ import annotations

import fnmatch
import functools
from pathlib import Path

from aiohttp import web

from web.http import error_response
from web.openapi import describe

HERE = Path(__file__).parent
NODE_MODULES = HERE / "node_modules"
JAVASCRIPT = "text/javascript"  # RFC 9239

# package -> (directory under node_modules, file patterns served from it)
PACKAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "pdfjs": ("pdfjs-dist", ("build/pdf.min.mjs", "build/pdf.worker.min.mjs", "standard_fonts/*")),
    "dwv": ("dwv/dist", ("dwv.min.js", "assets/workers/*.worker.min.js")),
    "konva": ("konva", ("konva.min.js",)),
    "jszip": ("jszip/dist", ("jszip.min.js",)),
    "magic-wand-tool": ("magic-wand-tool/dist", ("magic-wand.min.js",)),
    # the dashboard's statistics charts: the UMD build, a classic script defining window.Chart
    # (the ES build imports @kurkle/color by bare name)
    "chartjs": ("chart.js/dist", ("chart.umd.min.js",)),
}
# dwv's bare imports -> the shims that hand it the UMD builds as ES modules
DWV_IMPORTS = {
    '"konva"': '"/static/vendor-shims/konva.js"',
    '"magic-wand-tool"': '"/static/vendor-shims/magic-wand-tool.js"',
    '"jszip"': '"/static/vendor-shims/jszip.js"',
}
PATH_SCHEMA = {
    "package": {"type": "string", "enum": sorted(PACKAGES)},
    "path": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-/]{1,200}$"},
}

routes = web.RouteTableDef()


def resolve(package: str, path: str) -> Path | None:
    """The file of ``package`` at ``path`` when it is one the page may load, else None."""
    entry = PACKAGES.get(package)
    if entry is None or ".." in path.split("/") or path.startswith("/"):
        return None
    directory, patterns = entry
    if not any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns):
        return None
    return NODE_MODULES / directory / path


def missing() -> list[str]:
    """The single files of PACKAGES that are not installed (for the image's own check)."""
    return [
        f"{directory}/{pattern}"
        for directory, patterns in PACKAGES.values()
        for pattern in patterns
        if "*" not in pattern and not (NODE_MODULES / directory / pattern).is_file()
    ]


@functools.lru_cache(maxsize=4)
def _dwv_module(path: Path, mtime: float) -> bytes:
    text = path.read_text(encoding="utf-8")
    for bare, served in DWV_IMPORTS.items():
        text = text.replace(f"from{bare}", f"from{served}").replace(
            f"from {bare}", f"from {served}"
        )
    return text.encode()


def _media_type(path: Path) -> str:
    if path.suffix in (".js", ".mjs"):
        return JAVASCRIPT
    return "application/octet-stream"  # pdf.js fonts and colour maps


@routes.get("/static/vendor/{package}/{path:.+}")
@describe(
    "A browser library from npm the pages load (pdf.js, dwv and its dependencies, Chart.js); only "
    "the files the page needs are served",
    auth="none",
    response={"type": "string"},
    media_type="*/*",
    errors=(404, 503),
    path=PATH_SCHEMA,
)
async def vendor_file(request: web.Request) -> web.StreamResponse:
    package, path = request.match_info["package"], request.match_info["path"]
    file = resolve(package, path)
    if file is None:
        return error_response(404, "not_found", "no such library file")
    if not file.is_file():
        return error_response(
            503, "not_installed", f"{package} is not installed: run `npm ci --prefix web`"
        )
    headers = {"Content-Type": _media_type(file), "Cache-Control": "public, max-age=3600"}
    if package == "dwv" and path == "dwv.min.js":
        body = _dwv_module(file, file.stat().st_mtime)
        return web.Response(body=body, headers=headers)
    return web.FileResponse(file, headers=headers)
