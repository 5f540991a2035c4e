"""The browser client: the room page, static files and the npm-installed socket.io client."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from web import vendor
from web.http import error_response
from web.openapi import describe

HERE = Path(__file__).parent
STATIC = HERE / "static"
# the ES module build: the room page imports { io } from it (web/static/room-live.js)
SOCKET_IO_CLIENT = HERE / "node_modules" / "socket.io-client" / "dist" / "socket.io.esm.min.js"

routes = web.RouteTableDef()

NO_STORE = {"Cache-Control": "no-store"}
JAVASCRIPT = "text/javascript"  # RFC 9239
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # the camera and microphone for this origin only
    "Permissions-Policy": "camera=(self), microphone=(self)",
}
# no inline script or style anywhere (the pages load theirs from /static); element.style set
# from JS is not covered by style-src. Signaling connects back over ws(s) to the same host.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'{ws}; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)


# a Host header fit to name in the policy (else the sockets rely on 'self' alone)
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def security_headers(host: str) -> dict[str, str]:
    """The headers of every answer: pages, static files and the API alike."""
    ws = f" ws://{host} wss://{host}" if _HOST.fullmatch(host) else ""
    return {**SECURITY_HEADERS, "Content-Security-Policy": CSP.format(ws=ws)}


async def _add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in security_headers(request.host).items():
        response.headers.setdefault(name, value)


@routes.get("/room/{room_id}")
@describe(
    "The room page (the join token travels in the URL fragment)",
    auth="none",
    response={"type": "string"},
    media_type="text/html",
)
async def room_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "room.html", headers=NO_STORE)


@routes.get("/dashboard")
@describe(
    "The coordinators' dashboard", auth="none", response={"type": "string"}, media_type="text/html"
)
async def dashboard_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "dashboard.html", headers=NO_STORE)


@routes.get("/workspace")
@describe(
    "The workspace of experts (pages, consultations, reports, roster) and unit doctors "
    "(requests, cases, join links, reports)",
    auth="none",
    response={"type": "string"},
    media_type="text/html",
)
async def workspace_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "workspace.html", headers=NO_STORE)


@routes.get("/static/vendor/socket.io.esm.min.js")
@describe(
    "The socket.io browser client (an ES module)",
    auth="none",
    response={"type": "string"},
    media_type=JAVASCRIPT,
    errors=(503,),
)
async def socket_io_client(request: web.Request) -> web.StreamResponse:
    if not SOCKET_IO_CLIENT.exists():
        return error_response(
            503, "not_installed", "socket.io client not installed: run `npm ci --prefix web`"
        )
    return web.FileResponse(SOCKET_IO_CLIENT, headers={"Content-Type": JAVASCRIPT})


@routes.get("/")
@describe("The front page", auth="none", response={"type": "string"}, media_type="text/html")
async def index(request: web.Request) -> web.StreamResponse:
    index_html = STATIC / "index.html"
    if index_html.exists():
        return web.FileResponse(index_html)
    return web.Response(text="vidconsult is running. See /api/v1/openapi.json.\n")


def add_static(app: web.Application) -> None:
    app.router.add_routes(routes)
    app.router.add_routes(vendor.routes)  # before the static directory: /static/vendor/...
    app.on_response_prepare.append(_add_security_headers)
    app.router.add_static("/static/", STATIC, follow_symlinks=False, append_version=False)
