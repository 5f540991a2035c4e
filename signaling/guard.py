"""The Socket.IO server as clients may use it: every packet a client sends is checked here
before python-socketio dispatches it, so that bad input is refused without side effects, on one
log line and one counter per kind (never a traceback).

What python-socketio would otherwise do with a client's packet:

- an event named ``connect`` or ``disconnect`` calls the connection handlers themselves (a
  second session on a connected socket; a participant dropped from the room whose socket stays
  in it), and one named ``*`` calls the catch-all with shifted arguments;
- an event with extra arguments calls the handler with them (a ``TypeError`` traceback);
- binary attachments are buffered per connection until the count the header announced arrived,
  with no total;
- a packet it cannot decode raises out of the Engine.IO receive loop.

Refused here: reserved event names, events that are not ``[name]`` or ``[name, payload]``,
binary packets and attachments (no request of the protocol carries binary: they are dropped as
they arrive, nothing is buffered), undecodable Engine.IO and Socket.IO packets, a second
CONNECT of a connected namespace. An event with an ack id gets the protocol's error payload
as its ack (and an ``error`` event), as any failed request does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import engineio
import socketio
from engineio import packet as eio_packet
from engineio.async_drivers import aiohttp as engineio_aiohttp
from socketio import packet

log = logging.getLogger(__name__)

# events a client may never send: python-socketio's own (connect, disconnect), the catch-all
# name, and the client library's connect_error
RESERVED_EVENTS = frozenset({"connect", "disconnect", "connect_error", "*"})
MAX_EVENT_NAME = 64
# the first character of an Engine.IO packet a client may send as text (open..noop)
_EIO_TYPES = frozenset("0123456")


class RejectionSink(Protocol):
    """Counts refused input by (source, kind) and logs it on one throttled line."""

    def record(self, source: str, kind: str, **context: object) -> int: ...


def error_payload(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class TransportLog:
    """The logger handed to python-socketio and python-engineio. Their chatter per message
    (info, warning: a client gone, an ack nobody waits for) is dropped, as their default
    loggers at level ERROR drop it; a fault of theirs (error(), exception()) goes to this
    module's logger, traceback and all. Refused handshakes are counted by the Engine.IO server
    below, not logged here."""

    def __init__(self, rejections: RejectionSink) -> None:
        self._rejections = rejections

    def debug(self, *args: Any, **kwargs: Any) -> None:
        pass

    info = warning = debug

    def error(self, msg: str, *args: Any, **kwargs: Any) -> None:
        log.error(msg, *args, **kwargs)

    def exception(self, msg: str, *args: Any, **kwargs: Any) -> None:
        log.exception(msg, *args, **kwargs)


class TextPacket(packet.Packet):
    """A Socket.IO packet that is never binary. python-socketio walks every object of every
    outgoing packet looking for bytes (about 5 ms for a join reply listing 100 participants);
    the server sends JSON only, and clients' binary packets are refused above."""

    uses_binary_events = False


class GuardedServer(socketio.AsyncServer):
    """:class:`socketio.AsyncServer` with the client's packets checked before dispatch.

    ``rejections``: where refused input is counted; ``context``: the room and identity of a
    connection (``sid``), for the log line."""

    def __init__(
        self,
        *,
        rejections: RejectionSink,
        context: Callable[[str], Mapping[str, object]] = lambda sid: {},
        **kwargs: Any,
    ) -> None:
        self._rejections = rejections  # read by _engineio_server_class during __init__
        quiet = TransportLog(rejections)
        super().__init__(serializer=TextPacket, logger=quiet, engineio_logger=quiet, **kwargs)
        check_internals(self)
        self._context = context
        # Engine.IO frames are checked as they arrive, before the Engine.IO packet decoder
        reject = self._reject_frame
        self.eio._async = {**self.eio._async, "websocket": _guarded_websocket(reject)}

    # Engine.IO ------------------------------------------------------------------------------
    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return _counting_engineio(self._rejections)

    def _reject_frame(self, kind: str, peer: str | None) -> None:
        self._rejections.record("signaling", kind, peer=peer)

    # Socket.IO ------------------------------------------------------------------------------
    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if not isinstance(data, str):
            # bytes: a binary attachment, dropped as it arrives; else a JSON value Engine.IO
            # decoded from the frame ("4{}"), which is no Socket.IO packet
            kind = "binary" if isinstance(data, bytes) else "malformed_packet"
            self._reject(eio_sid, None, kind)
            return
        try:
            pkt = self.packet_class(encoded_packet=data)
        except Exception:  # whatever the decoder chokes on
            self._reject(eio_sid, None, "malformed_packet")
            return
        namespace = pkt.namespace or "/"
        kind = pkt.packet_type
        if kind in (packet.BINARY_EVENT, packet.BINARY_ACK):
            await self._refuse(eio_sid, pkt, "binary", "binary_not_supported", "no binary data")
            return
        if kind == packet.EVENT:
            problem = _event_problem(pkt.data)
            if problem is not None:
                code, message = problem
                await self._refuse(eio_sid, pkt, code, code, message)
                return
        elif kind == packet.CONNECT:
            if self.manager.sid_from_eio_sid(eio_sid, namespace) is not None:
                self._reject(eio_sid, None, "duplicate_connect")
                return
        elif kind not in (packet.DISCONNECT, packet.ACK):
            self._reject(eio_sid, None, "malformed_packet")
            return
        try:
            await super()._handle_eio_message(eio_sid, data)
        except KeyError:
            # python-socketio handles a message in a task of its own: a client that sends
            # CONNECT and hangs up at once is gone (its environ with it) when the task runs
            if eio_sid in self.environ:
                raise
            self._reject(eio_sid, None, "gone_before_handled")

    async def _refuse(
        self, eio_sid: str, pkt: packet.Packet, kind: str, code: str, message: str
    ) -> None:
        namespace = pkt.namespace or "/"
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        event = _event_name(pkt.data)
        self._reject(eio_sid, sid, kind, event=event)
        if sid is None or not self.manager.is_connected(sid, namespace):
            return
        payload = error_payload(code, message)
        if pkt.id is not None:
            await self._send_packet(
                eio_sid,
                self.packet_class(packet.ACK, namespace=namespace, id=pkt.id, data=[payload]),
            )
        await self.emit("error", payload["error"], to=sid, namespace=namespace)

    # fan-out -------------------------------------------------------------------------------
    async def fanout(self, event: str, data: Any, room: str, skip_sid: str | None = None) -> None:
        """:meth:`emit` to a room, minus one task per recipient: python-socketio's manager
        starts a task for every recipient of every broadcast (5,000 for 50 joins in rooms of
        100); the sends only queue a packet each, so they are made one after another here.
        The packet is encoded once. Other managers (several nodes) go through :meth:`emit`."""
        pkt = self.packet_class(packet.EVENT, namespace="/", data=[event, data])
        encoded = pkt.encode()
        if type(self.manager) is not socketio.AsyncManager or not isinstance(encoded, str):
            await self.emit(event, data, room=room, skip_sid=skip_sid)
            return
        message = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        for sid, eio_sid in self.manager.get_participants("/", room):
            if sid != skip_sid:
                await self.eio.send_packet(eio_sid, message)

    def _reject(self, eio_sid: str, sid: str | None, kind: str, **extra: object) -> None:
        context = dict(self._context(sid)) if sid else {}
        self._rejections.record("signaling", kind, sid=sid or eio_sid, **context, **extra)


def _event_name(data: Any) -> str | None:
    if isinstance(data, list) and data and isinstance(data[0], str):
        return data[0][:MAX_EVENT_NAME]
    return None


def _event_problem(data: Any) -> tuple[str, str] | None:
    """Why an EVENT packet's data is not a request of the protocol: (kind, message)."""
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        return "malformed_event", "an event is [name] or [name, payload]"
    name = data[0]
    if name in RESERVED_EVENTS:
        return "reserved_event", f"{name!r} is a reserved event name"
    if not name or len(name) > MAX_EVENT_NAME:
        return "malformed_event", f"an event name is 1..{MAX_EVENT_NAME} characters"
    if len(data) > 2:
        return "extra_arguments", f"{name} takes one payload argument, not {len(data) - 1}"
    return None


def _counting_engineio(rejections: RejectionSink) -> type[engineio.AsyncServer]:
    class CountingEngineIO(engineio.AsyncServer):
        """python-engineio reports a handshake it refuses (a page of another origin, polling
        on a WebSocket-only server, an unknown session) at ERROR the first time, through a
        stream handler of its own too: here it is a rejection counted by kind."""

        def _log_error_once(self, message: str, message_key: str) -> None:
            kind = "origin" if message_key == "bad-origin" else "handshake"
            rejections.record("signaling", kind, reason=message_key, detail=message)

    return CountingEngineIO


def _guarded_websocket(
    reject: Callable[[str, str | None], None],
) -> type[engineio_aiohttp.WebSocket]:
    class GuardedWebSocket(engineio_aiohttp.WebSocket):
        """aiohttp's WebSocket as Engine.IO reads it, minus the frames no client of ours
        sends: binary ones are dropped unread, undecodable ones are dropped before the
        Engine.IO decoder raises out of its receive loop."""

        async def wait(self) -> Any:
            while True:
                data = await super().wait()
                if isinstance(data, bytes) or data[:1] == "b":
                    reject("binary", self._peer())
                elif not data or data[0] not in _EIO_TYPES:
                    reject("malformed_frame", self._peer())
                else:
                    return data

        def _peer(self) -> str | None:
            request = getattr(self, "environ", {}).get("aiohttp.request")
            return getattr(request, "remote", None)

    return GuardedWebSocket


def check_internals(server: socketio.AsyncServer) -> None:
    """The python-socketio / python-engineio internals this module builds on, checked at
    start (as media/compat.py checks aiortc's): a version that moved them fails here, not
    on the first bad packet."""
    missing = [
        name
        for obj, name in (
            (server, "_handle_eio_message"),
            (server, "_engineio_server_class"),
            (server.eio, "_log_error_once"),
            (server, "_send_packet"),
            (server.manager, "get_participants"),
            (server.eio, "send_packet"),
            (server.manager, "sid_from_eio_sid"),
            (server.eio, "_async"),
            (engineio_aiohttp.WebSocket, "wait"),
        )
        if not hasattr(obj, name)
    ]
    if missing or not isinstance(getattr(server.eio, "_async", None), dict):
        raise RuntimeError(
            f"python-socketio {socketio.__version__} / python-engineio "
            f"{engineio.__version__}: internals moved ({', '.join(missing) or '_async'}); "
            "signaling/guard.py needs updating"
        )
