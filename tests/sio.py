"""A small raw Socket.IO test client that records events (protocol-level tests)."""

from __future__ import annotations

import asyncio
import json
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

        self._any_event = any_event

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

    async def connect_staff(self, url: str, token: str) -> None:
        """The ``/staff`` namespace only (a workspace's pages: docs/protocol.md)."""
        self.sio.on("*", self._any_event, namespace="/staff")
        await self.sio.connect(
            url,
            auth={"token": token},
            transports=["websocket"],
            namespaces=["/staff"],
            wait_timeout=5,
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


class RawSocket:
    """Engine.IO / Socket.IO spoken by hand over aiohttp's WebSocket client: sends any frame,
    however malformed, and reads what comes back (protocol-abuse tests)."""

    def __init__(self, session: Any, url: str) -> None:
        self._session = session
        self._url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.ws: Any = None
        self.frames: list[str] = []
        self.disconnected = False

    async def open(self, token: str | None = None, *, origin: str | None = None) -> str:
        """The Engine.IO handshake, then (with a token) the Socket.IO CONNECT; returns the
        server's answer to it ("40{...}" or "44{...}")."""
        headers = {"Origin": origin} if origin else {}
        self.ws = await self._session.ws_connect(self._url, headers=headers)
        opened = await self.receive()
        assert opened.startswith("0"), opened
        if token is None:
            return opened
        await self.send("40" + json.dumps({"token": token}))
        return await self.receive(lambda f: f.startswith(("40", "44")))

    async def send(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)

    async def receive(self, match: Any = None, timeout: float = 5) -> str:
        """The next text frame (that ``match`` accepts); pings are answered on the way."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if not isinstance(msg.data, str):
                    raise ConnectionError(f"socket closed: {msg.type}")
                if msg.data == "2":
                    await self.ws.send_str("3")
                    continue
                self.frames.append(msg.data)
                if msg.data.startswith("41"):  # the server disconnected this namespace
                    self.disconnected = True
                    raise ConnectionError(f"disconnected by the server: {msg.data}")
                if match is None or match(msg.data):
                    return str(msg.data)

    async def call(self, ack_id: int, event: str, *args: Any) -> Any:
        """Emit ``event`` with an ack id and return the ack's arguments."""
        await self.send(f"42{ack_id}" + json.dumps([event, *args]))
        frame = await self.receive(lambda f: f.startswith(f"43{ack_id}["))
        return json.loads(frame[len(f"43{ack_id}") :])

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
