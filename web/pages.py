"""The browser client: the room page, static files and the npm-installed socket.io client."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

HERE = Path(__file__).parent
STATIC = HERE / "static"
SOCKET_IO_CLIENT = HERE / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"

routes = web.RouteTableDef()

NO_STORE = {"Cache-Control": "no-store"}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # the camera and microphone for this origin only
    "Permissions-Policy": "camera=(self), microphone=(self)",
}


@routes.get("/room/{room_id}")
async def room_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "room.html", headers={**NO_STORE, **SECURITY_HEADERS})


@routes.get("/dashboard")
async def dashboard_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "dashboard.html", headers={**NO_STORE, **SECURITY_HEADERS})


@routes.get("/static/vendor/socket.io.min.js")
async def socket_io_client(request: web.Request) -> web.StreamResponse:
    if not SOCKET_IO_CLIENT.exists():
        return web.Response(
            status=503,
            text="socket.io client not installed: run `npm ci --prefix web`",
            content_type="text/plain",
        )
    return web.FileResponse(SOCKET_IO_CLIENT)


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    index_html = STATIC / "index.html"
    if index_html.exists():
        return web.FileResponse(index_html, headers=SECURITY_HEADERS)
    return web.Response(text="vidconsult is running. See /api/v1/openapi.json.\n")


def add_static(app: web.Application) -> None:
    app.router.add_routes(routes)
    app.router.add_static("/static/", STATIC, follow_symlinks=False, append_version=False)
