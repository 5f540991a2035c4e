"""Signaling across nodes: a participant's socket may be on any node; its room lives on one
(the room's node, where its media engine and live state are). The node holding the socket
(the *edge*) relays: it forwards the connection, every request and the disconnect to the
room's node over the node link, and delivers what the room's node sends back to the socket.
The room's node handles a relayed participant exactly like a local one; only its session id
is remote (``"<edge node>|<sid>"``) and :class:`Sockets` sends its events over the link.
Media does not take this path: the SDP answer carries the room node's own ICE candidates.
Why relay and not redirect: docs/architecture.md ("Several nodes").

Single node (no link): :class:`Sockets` is a thin pass-through to the Socket.IO server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from signaling.guard import GuardedServer
from vidconsult.cluster.ports import (
    CLUSTER_TOPIC,
    NODE_DOWN,
    UNAVAILABLE_CODE,
    LiveState,
    Subscription,
)
from vidconsult.errors import Unavailable
from vidconsult.services.node_link import NodeLink, NodeUnavailable

log = logging.getLogger(__name__)

SEPARATOR = "|"  # never in a Socket.IO sid (URL-safe base64)


def remote_sid(edge: str, sid: str) -> str:
    return f"{edge}{SEPARATOR}{sid}"


def split_sid(rsid: str) -> tuple[str, str] | None:
    edge, sep, sid = rsid.partition(SEPARATOR)
    return (edge, sid) if sep else None


class Sockets:
    """What the signaling server does to a session's socket, wherever the socket is."""

    def __init__(self, sio: GuardedServer, link: NodeLink | None = None) -> None:
        self.sio = sio
        self.link = link
        self._rooms: dict[str, set[str]] = defaultdict(set)  # room -> remote sids in it
        # the room node's own cleanup of a remote session it closed (the server's disconnect)
        self.on_remote_closed: Callable[[str], Awaitable[None]] | None = None

    async def emit(self, event: str, data: Any, to: str) -> None:
        remote = split_sid(to)
        if remote is None:
            await self.sio.emit(event, data, to=to)
        elif self.link is not None:
            await self._send(
                remote[0], "sig.emit", {"sids": [remote[1]], "event": event, "data": data}
            )

    async def fanout(self, event: str, data: Any, room: str, skip_sid: str | None = None) -> None:
        await self.sio.fanout(event, data, room=room, skip_sid=skip_sid)
        members = self._rooms.get(room)
        if not members or self.link is None:
            return
        by_edge: dict[str, list[str]] = defaultdict(list)
        for rsid in members:
            if rsid != skip_sid and (parts := split_sid(rsid)) is not None:
                by_edge[parts[0]].append(parts[1])
        for edge, sids in by_edge.items():
            await self._send(edge, "sig.emit", {"sids": sids, "event": event, "data": data})

    async def enter_room(self, sid: str, room: str) -> None:
        if split_sid(sid) is None:
            await self.sio.enter_room(sid, room)
        else:
            self._rooms[room].add(sid)

    async def leave_room(self, sid: str, room: str) -> None:
        if split_sid(sid) is None:
            await self.sio.leave_room(sid, room)
        else:
            self.forget(sid, room)

    def forget(self, sid: str, room: str) -> None:
        members = self._rooms.get(room)
        if members is not None:
            members.discard(sid)
            if not members:
                del self._rooms[room]

    async def disconnect(self, sid: str) -> None:
        remote = split_sid(sid)
        if remote is None:
            await self.sio.disconnect(sid)
            return
        if self.link is not None:
            await self._send(remote[0], "sig.close", {"sid": remote[1]})
        if self.on_remote_closed is not None:
            await self.on_remote_closed(sid)

    async def _send(self, edge: str, kind: str, payload: dict[str, Any]) -> None:
        assert self.link is not None
        try:
            await self.link.send(edge, kind, payload)
        except Exception:  # the bus is down: the edge's socket learns nothing more
            log.warning("relay send failed edge=%s kind=%s", edge, kind, exc_info=True)


@dataclass(slots=True)
class Relayed:
    """A socket on this node (the edge) whose room is on another node."""

    sid: str
    node: str  # the room's node
    room_id: str
    busy: int = 0  # requests forwarded and not answered yet
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    # a lecture's listener whose media this node serves (signaling/audience.py): the room's
    # node said so at connect, and gave its internal URL for the media relay
    edge_media: bool = False
    origin_url: str = ""


class EdgeRelay:
    """The edge's part: sockets whose room is elsewhere, and what comes back for them."""

    def __init__(
        self,
        sio: GuardedServer,
        link: NodeLink,
        state: LiveState,
        *,
        request_timeout: float = 20.0,
        watch_interval: float = 1.0,
    ) -> None:
        self._sio = sio
        self._link = link
        self._state = state
        self._down: Subscription | None = None
        self._timeout = request_timeout
        self._watch_interval = watch_interval
        self.connect_deadline = 12.0
        self._settle_until = 0.0
        self.settle_seconds = 1.0
        # whether this node's heartbeat reached the live state last time (set by the wiring)
        self.reachable: Callable[[], bool] = lambda: True
        self._outage = False  # a placement failed for the live state: it may come back empty
        self.absent_for = 10.0  # see _watch (the wiring sets it from the node TTL)
        self.sessions: dict[str, Relayed] = {}
        self._watcher: asyncio.Task[None] | None = None
        # the lecture relay (signaling/audience.py, set by the wiring): whether this node can
        # serve a lecture's listeners' media itself, and what to do when a relayed session
        # ends or a room's node is gone
        self.edge_media = False
        self.on_session_end: Callable[[Relayed], Awaitable[None]] | None = None
        self.on_node_gone: Callable[[str], Awaitable[None]] | None = None
        link.on("sig.emit", self._on_emit, inline=True)
        link.on("sig.close", self._on_close, inline=True)

    @property
    def node_id(self) -> str:
        return self._link.node_id

    async def connect(self, sid: str, room_id: str, hello: dict[str, Any]) -> str | None:
        """Relay a new connection to its room's node; None: the room is on this node. The
        room's node checks the token and the room as for one of its own sockets (a refusal
        raises its domain error here). A room node that does not answer (killed, and not yet
        out of the registry) is waited out until the room is placed on a live one, at most
        ``connect_deadline`` s (then :class:`NodeUnavailable`)."""
        loop = asyncio.get_running_loop()
        if self._outage or not self.reachable():
            # the live state was away: is it back? (where() writes nothing; raises if not)
            await self._state.placement.where(room_id)
            if self._outage or not self.reachable():
                self._outage = False
                self.settle()
        if (wait := self._settle_until - loop.time()) > 0:
            await asyncio.sleep(wait)
        deadline = loop.time() + self.connect_deadline
        while True:
            try:
                node = (await self._state.placement.place(room_id)).node_id
            except Unavailable as exc:
                if exc.code == UNAVAILABLE_CODE:
                    self._outage = True
                raise
            if node == self.node_id:
                return None
            left = deadline - asyncio.get_running_loop().time()
            try:
                answer = await self._link.request(
                    node,
                    "sig.connect",
                    {**hello, "sid": sid, "edge_media": self.edge_media},
                    timeout=max(0.5, min(3.0, left)),
                )
            except NodeUnavailable:
                if asyncio.get_running_loop().time() >= deadline:
                    raise
                log.info("room node not answering room=%s node=%s; waiting", room_id, node)
                await asyncio.sleep(0.5)
                continue
            edge_media = self.edge_media and answer.get("media") == "edge"
            self.sessions[sid] = Relayed(
                sid=sid,
                node=node,
                room_id=room_id,
                edge_media=edge_media,
                origin_url=str(answer.get("origin_url") or "") if edge_media else "",
            )
            return node

    def settle(self) -> None:
        """The live state is back after an outage and may have lost the rooms' placement:
        connections wait ``settle_seconds`` (every node writes its rooms back at its next
        heartbeat)
        before a room is placed, so a room alive on a node is not placed on another."""
        self._settle_until = asyncio.get_running_loop().time() + self.settle_seconds

    async def forward(self, sid: str, event: str, data: Any) -> dict[str, Any]:
        relayed = self.sessions[sid]
        relayed.busy += 1
        relayed.idle.clear()
        try:
            return await self._link.request(
                relayed.node,
                "sig.event",
                {"sid": sid, "event": event, "data": data},
                timeout=self._timeout,
            )
        finally:
            relayed.busy -= 1
            if not relayed.busy:
                relayed.idle.set()

    async def emit(self, sid: str, event: str, data: Any) -> None:
        """To a socket of this node (a relayed one)."""
        await self._sio.emit(event, data, to=sid)

    async def closed(self, sid: str) -> None:
        """The socket went away: the room's node lets the participant go."""
        relayed = self.sessions.pop(sid, None)
        if relayed is None:
            return
        await self._ended(relayed)
        with contextlib.suppress(Exception):
            await self._link.send(relayed.node, "sig.disconnect", {"sid": sid})

    async def _ended(self, relayed: Relayed) -> None:
        if self.on_session_end is not None and relayed.edge_media:
            try:
                await self.on_session_end(relayed)
            except Exception:
                log.exception("edge session cleanup failed sid=%s", relayed.sid)

    # from the room's node ------------------------------------------------------------------
    async def _on_emit(self, node: str, payload: dict[str, Any]) -> None:
        event, data = str(payload.get("event")), payload.get("data")
        for sid in payload.get("sids") or []:
            if sid in self.sessions:
                await self._sio.emit(event, data, to=sid)

    async def _on_close(self, node: str, payload: dict[str, Any]) -> None:
        sid = str(payload.get("sid"))
        relayed = self.sessions.get(sid)
        if relayed is None:
            return
        # the answer to the request that closed it (leave, end room) first
        if relayed.busy:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await relayed.idle.wait()
        if self.sessions.pop(sid, None) is not None:
            await self._ended(relayed)

        async def close() -> None:
            await asyncio.sleep(0)
            with contextlib.suppress(Exception):
                await self._sio.disconnect(sid)

        asyncio.get_running_loop().create_task(close())

    # the room's node gone ------------------------------------------------------------------
    async def start(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        if self._down is None:
            try:
                self._down = await self._state.bus.subscribe(CLUSTER_TOPIC, self._on_cluster)
            except Exception:  # the live state is unreachable now: the watcher still looks
                log.warning("could not follow node departures", exc_info=True)

    async def _on_cluster(self, message: dict[str, Any]) -> None:
        if message.get("type") == NODE_DOWN and message.get("node") != self.node_id:
            await self.drop_node(str(message.get("node")))

    async def stop(self) -> None:
        if self._down is not None:
            with contextlib.suppress(Exception):
                await self._down.close()
            self._down = None
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    async def _watch(self) -> None:
        """The fallback for a lost ``node.down``: a node relayed to that stays out of the
        registry for ``absent_for`` s in a row, while this node reaches the live state, is
        gone. (Absent once is no proof: a Redis that came back empty misses every node until
        its next heartbeat.)"""
        missing: dict[str, float] = {}
        while True:
            await asyncio.sleep(self._watch_interval)
            now = asyncio.get_running_loop().time()
            nodes = {r.node for r in self.sessions.values()}
            for node in list(missing):
                if node not in nodes:
                    del missing[node]
            for node in nodes:
                try:
                    alive = self.reachable() and await self._state.nodes.get(node) is not None
                except Exception:  # the live state is unreachable: nothing to conclude
                    alive = True
                if alive or not self.reachable():
                    missing.pop(node, None)
                    continue
                since = missing.setdefault(node, now)
                if now - since >= self.absent_for:
                    del missing[node]
                    await self.drop_node(node)

    async def drop_node(self, node: str) -> None:
        """The room's node is gone: cut those sockets at the transport (not a Socket.IO
        disconnect, which clients take as final), so they reconnect, through any node, to
        the room placed again on a live one, with the same token."""
        doomed = [r for r in self.sessions.values() if r.node == node]
        if doomed:
            log.warning("room node gone node=%s sockets=%d", node, len(doomed))
        for relayed in doomed:
            self.sessions.pop(relayed.sid, None)
            await self._ended(relayed)
            await drop_transport(self._sio, relayed.sid)
        if self.on_node_gone is not None:
            try:
                await self.on_node_gone(node)
            except Exception:
                log.exception("edge cleanup of a gone node failed node=%s", node)


async def drop_transport(sio: GuardedServer, sid: str) -> None:
    """Close a socket's Engine.IO transport: the client sees "transport close" and reconnects
    by itself (a Socket.IO disconnect would be "io server disconnect", which it does not)."""
    eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
    if eio_sid is None:
        return
    with contextlib.suppress(Exception):
        await sio.eio.disconnect(eio_sid)


def unavailable(node: str) -> Unavailable:
    return NodeUnavailable(
        f"the room's node {node} is not answering; try again", code="node_unavailable"
    )
