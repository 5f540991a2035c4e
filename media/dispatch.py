"""Delivery of engine events to the :class:`MediaListener`.

Events are queued per room and delivered in order by one task per room, never from inside an
engine call or an aiortc callback: the core may hold its own locks while it calls the engine,
and a slow, failing or hanging listener must not stall media or other rooms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from vidconsult.ports import MediaListener

logger = logging.getLogger(__name__)

_STOP = object()
ErrorHook = Callable[[], None]


class ListenerDispatcher:
    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._listener: MediaListener | None = None
        self._queues: dict[str, asyncio.Queue[Any]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    def set_listener(self, listener: MediaListener) -> None:
        self._listener = listener

    def post(
        self, room_id: str, method: str, *args: Any, on_error: ErrorHook | None = None
    ) -> None:
        """Queue ``listener.<method>(room_id, *args)``; ``on_error`` runs if it fails."""
        queue = self._queues.get(room_id)
        if queue is None:
            queue = self._queues[room_id] = asyncio.Queue()
            self._workers[room_id] = asyncio.get_running_loop().create_task(
                self._run(room_id, queue), name=f"media-listener-{room_id}"
            )
        queue.put_nowait((method, args, on_error))

    def post_job(self, room_id: str, job: Callable[[], Awaitable[None]]) -> None:
        """Queue the engine's own ``job()`` behind the room's events already queued (e.g. an
        offer that should fold in the tracks whose events are still to be delivered)."""
        self.post(room_id, "", job)

    async def close_room(self, room_id: str) -> None:
        """Deliver what is queued for the room (bounded by the timeout), then stop."""
        queue = self._queues.pop(room_id, None)
        worker = self._workers.pop(room_id, None)
        if queue is None or worker is None:
            return
        queue.put_nowait(_STOP)
        try:
            await asyncio.wait_for(asyncio.shield(worker), self._timeout)
        except TimeoutError:
            logger.warning("listener events dropped on close room=%s", room_id)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    async def close(self) -> None:
        await asyncio.gather(*(self.close_room(room) for room in list(self._queues)))

    async def _run(self, room_id: str, queue: asyncio.Queue[Any]) -> None:
        while True:
            item = await queue.get()
            if item is _STOP:
                return
            method, args, on_error = item
            if not await self._deliver(room_id, method, args) and on_error is not None:
                try:
                    on_error()
                except Exception:
                    logger.exception("error hook failed room=%s event=%s", room_id, method)

    async def _deliver(self, room_id: str, method: str, args: tuple[Any, ...]) -> bool:
        if not method:  # post_job
            try:
                await asyncio.wait_for(args[0](), self._timeout)
            except Exception:
                logger.exception("media job failed room=%s", room_id)
                return False
            return True
        listener = self._listener
        if listener is None:
            logger.debug("no listener, dropping event=%s room=%s", method, room_id)
            return False
        try:
            await asyncio.wait_for(getattr(listener, method)(room_id, *args), self._timeout)
        except TimeoutError:
            logger.warning(
                "listener timed out room=%s event=%s after=%ss", room_id, method, self._timeout
            )
            return False
        except Exception:
            logger.exception("listener failed room=%s event=%s", room_id, method)
            return False
        return True
