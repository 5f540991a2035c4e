"""A small raw Socket.IO test client that records events (protocol-level tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import socketio


class RawClient:
    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.connect_error: Any = None
        self.disconnected = asyncio.Event()
        self._waiters: list[tuple[str, asyncio.Future[Any]]] = []

        @self.sio.on("*")
        async def any_event(event: str, data: Any = None) -> None:
            self.events.append((event, data))
            for ev, fut in list(self._waiters):
                if ev == event and not fut.done():
                    fut.set_result(data)
                    self._waiters.remove((ev, fut))

        @self.sio.event
        async def connect_error(data: Any) -> None:
            self.connect_error = data

        @self.sio.event
        async def disconnect(*args: Any) -> None:
            self.disconnected.set()

    async def connect(self, url: str, token: str, **auth: Any) -> None:
        await self.sio.connect(
            url, auth={"token": token, **auth}, transports=["websocket"], wait_timeout=5
        )

    async def request(self, event: str, payload: Any = None) -> Any:
        return await self.sio.call(event, {} if payload is None else payload, timeout=10)

    def expect(self, event: str) -> asyncio.Future[Any]:
        """A future for the next ``event`` (create it before triggering the event)."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append((event, fut))
        return fut

    def seen(self, event: str) -> list[Any]:
        return [d for e, d in self.events if e == event]

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
