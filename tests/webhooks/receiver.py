"""A webhook receiver on 127.0.0.1 for tests: records requests, answers scripted statuses,
can hang, and lets a test await the n-th request."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def signature_valid(self, secret: str) -> bool:
        """What a receiver does: recompute HMAC(secret, timestamp + "." + body)."""
        ts = self.headers["X-Vidconsult-Timestamp"]
        mac = hmac.new(secret.encode(), ts.encode() + b"." + self.body, hashlib.sha256)
        return hmac.compare_digest(
            "sha256=" + mac.hexdigest(), self.headers["X-Vidconsult-Signature"]
        )


class Receiver:
    def __init__(self, statuses: list[int] | None = None, default: int = 200) -> None:
        self.statuses = list(statuses or [])
        self.default = default
        self.requests: list[Received] = []
        self.hang: asyncio.Event | None = None  # set: answer; None: answer at once
        self.url = ""
        self._counts: dict[int, asyncio.Event] = {}

    def received(self, n: int) -> asyncio.Event:
        """Set once ``n`` requests have arrived."""
        event = self._counts.setdefault(n, asyncio.Event())
        if len(self.requests) >= n:
            event.set()
        return event

    async def wait_for(self, n: int, timeout: float = 5) -> list[Received]:
        await asyncio.wait_for(self.received(n).wait(), timeout)
        return self.requests

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(Received(dict(request.headers), await request.read()))
        for n, event in self._counts.items():
            if len(self.requests) >= n:
                event.set()
        if self.hang is not None:
            await self.hang.wait()
        status = self.statuses.pop(0) if self.statuses else self.default
        return web.Response(status=status, text="ok" if status < 400 else "no")


@asynccontextmanager
async def receiving(receiver: Receiver) -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post("/hook", receiver._handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        if receiver.hang is not None:
            receiver.hang.set()
        await runner.cleanup()
