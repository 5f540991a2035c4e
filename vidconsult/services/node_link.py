"""Messages from one node to another, with answers: the request/reply layer the signaling relay
and the room commands (REST on any node) use, on top of the live state's message bus (one
topic per node, :func:`vidconsult.cluster.ports.node_topic`).

A message is a JSON object ``{"kind", "from", "id"?, "payload"}``; a request carries an
``id`` and the node that handles it answers on the sender's channel with ``{"kind":
"_reply", "id", "payload"}`` (or ``"error"``). The messages of one sender to one receiver
arrive in the order sent (one channel, read by one reader), so events a room's node sends
for a participant arrive before the answer to the request that caused them.

Handlers: ``inline`` ones run in the channel's reader, one after another, in arrival order
(delivering events to sockets: quick, and order matters); the others each in a task of their
own (a join may wait for the room's lock while another request of the same client, its
subscribe answer, must go through).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from vidconsult.cluster.ports import MessageBus, Subscription, node_topic
from vidconsult.errors import Unavailable, VidconsultError

log = logging.getLogger(__name__)

Message = dict[str, Any]
Handler = Callable[[str, Message], Awaitable[Message | None]]
REPLY = "_reply"


class NodeUnavailable(Unavailable):
    """The node a request went to did not answer in time (gone, or overloaded)."""


@dataclass(slots=True)
class _Route:
    handler: Handler
    inline: bool


class NodeLink:
    def __init__(self, bus: MessageBus, node_id: str, *, timeout: float = 10.0) -> None:
        self.node_id = node_id
        self._bus = bus
        self._timeout = timeout
        self._routes: dict[str, _Route] = {}
        self._pending: dict[str, asyncio.Future[Message]] = {}
        self._ids = itertools.count()
        self._prefix = secrets.token_hex(4)
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscription: Subscription | None = None

    def on(self, kind: str, handler: Handler, *, inline: bool = False) -> None:
        """``handler(from_node, payload)``; its answer goes back to a request's sender."""
        if kind in self._routes:
            raise ValueError(f"{kind!r} is already handled")
        self._routes[kind] = _Route(handler, inline)

    async def start(self) -> None:
        if self._subscription is None:
            self._subscription = await self._bus.subscribe(node_topic(self.node_id), self._receive)

    async def close(self) -> None:
        if self._subscription is not None:
            subscription, self._subscription = self._subscription, None
            with contextlib.suppress(Exception):
                await subscription.close()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(NodeUnavailable("this node is stopping", code="stopping"))
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def send(self, node: str, kind: str, payload: Message) -> None:
        """One-way: nothing comes back."""
        await self._bus.publish(
            node_topic(node), {"kind": kind, "from": self.node_id, "payload": payload}
        )

    async def request(
        self, node: str, kind: str, payload: Message, *, timeout: float | None = None
    ) -> Message:
        """The handler's answer; :class:`NodeUnavailable` if none comes in ``timeout`` s; a
        domain error the handler raised is raised here again (same code and message)."""
        request_id = f"{self._prefix}-{next(self._ids)}"
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._bus.publish(
                node_topic(node),
                {"kind": kind, "from": self.node_id, "id": request_id, "payload": payload},
            )
            async with asyncio.timeout(self._timeout if timeout is None else timeout):
                return await future
        except TimeoutError:
            raise NodeUnavailable(
                f"node {node} did not answer {kind} in time", code="node_unavailable"
            ) from None
        finally:
            self._pending.pop(request_id, None)

    # receiving -----------------------------------------------------------------------------
    async def _receive(self, message: Message) -> None:
        kind = message.get("kind")
        if kind == REPLY:
            future = self._pending.get(str(message.get("id")))
            if future is not None and not future.done():
                error = message.get("error")
                if isinstance(error, dict):
                    future.set_exception(_error_of(error))
                else:
                    future.set_result(message.get("payload") or {})
            return
        route = self._routes.get(str(kind))
        if route is None:
            log.warning("node message of no handler kind=%s from=%s", kind, message.get("from"))
            return
        if route.inline:
            await self._handle(route, message)
            return
        task = asyncio.get_running_loop().create_task(self._handle(route, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, route: _Route, message: Message) -> None:
        sender = str(message.get("from"))
        request_id = message.get("id")
        reply: Message = {"kind": REPLY, "from": self.node_id, "id": request_id}
        try:
            answer = await route.handler(sender, message.get("payload") or {})
            reply["payload"] = answer or {}
        except VidconsultError as exc:
            reply["error"] = {
                "code": exc.code,
                "message": exc.message,
                "type": type(exc).__name__,
                "retry_after": exc.retry_after,
            }
        except Exception:
            log.exception("node message failed kind=%s from=%s", message.get("kind"), sender)
            reply["error"] = {"code": "internal", "message": "internal error", "type": ""}
        if request_id is None:
            return
        try:
            await self._bus.publish(node_topic(sender), reply)
        except Exception:
            log.warning("could not answer node=%s kind=%s", sender, message.get("kind"))


def _error_of(error: dict[str, Any]) -> VidconsultError:
    from vidconsult import errors

    cls = getattr(errors, str(error.get("type") or ""), None)
    if not (isinstance(cls, type) and issubclass(cls, VidconsultError)):
        cls = Unavailable
    message, code = str(error.get("message") or ""), error.get("code") or None
    retry = error.get("retry_after")
    retry_after = float(retry) if isinstance(retry, int | float) else None
    try:
        return cls(message, code=code, retry_after=retry_after)
    except TypeError:  # a subclass of another signature
        return Unavailable(message, code=code, retry_after=retry_after)
