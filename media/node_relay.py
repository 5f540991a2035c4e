"""``NodeRelays``: a room that spans nodes (a lecture whose audience outgrows one node).

The room's **home** node (the *origin*) holds the presenter's publish connection. Another node
(an *edge*) that has audience for the room asks the origin for it once
(:meth:`NodeRelays.add_edge`, over the internal HTTP endpoint of ``web/relay_api.py``). For
each publisher of the room the origin then opens one **leg**: a subscribe-only participant of
its own engine, named ``"relay <edge node> <publisher>"`` (a space, so it can never be a
participant's identity), subscribed to all of the publisher's tracks. The leg's offers go to the
edge through a :class:`RelayCourier`, whose answer comes from the edge's engine **publish** path
(:meth:`accept_offer`): on the edge, the relayed publisher is an ordinary publisher of the
same identity, so its audience subscribes, gets passthrough RTP, NACKs served from the edge's
own history and PLIs relayed (over the leg to the origin, then to the presenter), all by the
code that serves local publishers. Nothing is decoded on either node; one copy of each track
crosses per edge, whatever the edge's audience. A simulcast video track crosses as every
layer once: the leg has one slot per layer, each pinned to it
(``AiortcMediaEngine.subscribe_layers``), its offer is marked so
(``media.simulcast.with_relay_layers``) and the edge's publish path makes them one simulcast
track again, whose layer each edge listener gets is chosen by the edge for its link.

**The edge's audience** (:meth:`serve_audience` / :meth:`drop_audience`, called by the
signaling edge, ``signaling/audience.py``): a lecture's listener whose socket is on this node
gets its subscribe connection from this node's engine. The first one of a room registers this
node with the origin (``RelayCourier.join``), the last one leaving removes it (``leave``) and
drops the room's relayed-in publishers; each listener is subscribed to every relayed-in track
of its room, now and as they arrive.

A publisher leaving the origin (its media participant removed) ends its legs and tells each
edge (:meth:`RelayCourier.end`), whose audience then sees the tracks end. An edge registration
stays until the edge removes it (:meth:`remove_edge`) or the room closes, so a presenter who
comes back is relayed again. Relayed-in publishers are never relayed on (no loops).

This module never speaks HTTP: the courier is given by the composition root.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket

from media.simulcast import with_relay_layers
from vidconsult.errors import Conflict, InvalidInput, Unavailable
from vidconsult.ports import (
    MediaListener,
    PublishedTrack,
    RelayCourier,
    RelayEdge,
    SessionDescription,
    TrackRef,
)

if TYPE_CHECKING:
    from media.engine import AiortcMediaEngine
    from media.rooms import Rooms

logger = logging.getLogger(__name__)

LEG_PREFIX = "relay "
NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")  # vidconsult.cluster.node's rule


def check_node_id(node_id: str) -> str:
    if not NODE_ID.fullmatch(node_id):
        raise InvalidInput(
            "node id must be 1..63 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit",
            code="invalid_node_id",
        )
    return node_id


def leg_identity(edge: str, publisher: str) -> str:
    return f"{LEG_PREFIX}{edge} {publisher}"


def is_leg(identity: str) -> bool:
    return identity.startswith(LEG_PREFIX)


Edge = RelayEdge  # the name this module uses


@dataclass(slots=True)
class _Leg:
    room_id: str
    edge: Edge
    publisher: str
    identity: str
    offers: int = 0
    answered: int = 0


@dataclass(slots=True)
class _Audience:
    """This node's (an edge's) own listeners of a room held by ``origin``."""

    origin: str
    origin_url: str
    members: dict[str, str] = field(default_factory=dict)  # identity -> session id
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    joined: bool = False  # registered with the origin


@dataclass(slots=True)
class _Room:
    edges: dict[str, Edge] = field(default_factory=dict)  # by node id
    legs: dict[tuple[str, str], _Leg] = field(default_factory=dict)  # (edge, publisher)


class NodeRelays:
    """Both ends of node-to-node relays for one engine: origin legs and relayed-in publishers."""

    def __init__(self, engine: AiortcMediaEngine, rooms: Rooms) -> None:
        self._engine = engine
        self._rooms = rooms
        self.node_id = ""
        self._courier: RelayCourier | None = None
        self._origin: dict[str, _Room] = {}
        #: relayed-in publishers on this node (as an edge): (room, identity) -> origin node
        self._relayed_in: dict[tuple[str, str], str] = {}
        #: this node's own audience of rooms held elsewhere (as an edge), by room
        self._audience: dict[str, _Audience] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._own_url: Callable[[], str] = lambda: ""

    def configure(
        self, node_id: str, courier: RelayCourier, own_url: Callable[[], str] | None = None
    ) -> None:
        """``own_url``: this node's internal base URL, which an origin posts legs' offers to
        (read when an edge registers: the port may be known only once the server listens)."""
        self.node_id = check_node_id(node_id)
        self._courier = courier
        if own_url is not None:
            self._own_url = own_url

    @property
    def configured(self) -> bool:
        return self._courier is not None

    def listener_for(self, inner: MediaListener) -> MediaListener:
        """The engine's listener: the core's, with the legs' callbacks taken out."""
        return _RelayingListener(inner, self)

    # --- origin side -----------------------------------------------------------------------

    async def add_edge(self, room_id: str, edge: Edge) -> list[str]:
        """``edge`` has audience for ``room_id`` (idempotent): every publisher of the room is
        relayed to it, now and as they publish. Returns the publishers relayed now."""
        if self._courier is None:
            raise Unavailable("node relay is not configured on this node", code="relay_disabled")
        check_node_id(edge.node_id)
        if edge.node_id == self.node_id:
            raise Conflict("a node cannot relay to itself", code="same_node")
        room = self._origin.setdefault(room_id, _Room())
        old = room.edges.get(edge.node_id)
        if old is not None and old.url != edge.url:
            await self.remove_edge(room_id, edge.node_id)  # the edge restarted elsewhere
            room = self._origin.setdefault(room_id, _Room())
        room.edges[edge.node_id] = edge
        publishers = self._local_publishers(room_id)
        for publisher in publishers:
            await self._open_leg(room_id, edge, publisher)
        logger.info(
            "relay edge added room=%s edge=%s url=%s publishers=%s",
            room_id,
            edge.node_id,
            edge.url,
            publishers,
        )
        return publishers

    async def remove_edge(self, room_id: str, node_id: str) -> bool:
        room = self._origin.get(room_id)
        if room is None or room.edges.pop(node_id, None) is None:
            return False
        for key, leg in list(room.legs.items()):
            if key[0] == node_id:
                await self._close_leg(leg, tell_edge=False)
        if not room.edges:
            self._origin.pop(room_id, None)
        logger.info("relay edge removed room=%s edge=%s", room_id, node_id)
        return True

    async def room_closed(self, room_id: str) -> None:
        """The room closes on this node: edges are told, registrations dropped; relayed-in
        publishers of the room are forgotten (the engine removes them)."""
        room = self._origin.pop(room_id, None)
        if room is not None:
            for leg in list(room.legs.values()):
                await self._close_leg(leg, tell_edge=True)
        for key in [k for k in self._relayed_in if k[0] == room_id]:
            del self._relayed_in[key]

    def _local_publishers(self, room_id: str) -> list[str]:
        seen: list[str] = []
        for identity, _track in self._engine.published_tracks(room_id):
            if identity not in seen and self._relayable(room_id, identity):
                seen.append(identity)
        return seen

    def _relayable(self, room_id: str, identity: str) -> bool:
        return not is_leg(identity) and (room_id, identity) not in self._relayed_in

    async def _open_leg(self, room_id: str, edge: Edge, publisher: str) -> None:
        room = self._origin.get(room_id)
        if room is None:
            return
        leg = room.legs.get((edge.node_id, publisher))
        if leg is None:
            identity = leg_identity(edge.node_id, publisher)
            leg = _Leg(room_id, edge, publisher, identity)
            room.legs[(edge.node_id, publisher)] = leg
            await self._engine.add_participant(
                room_id, identity, can_publish=False, can_subscribe=True
            )
            logger.info(
                "relay leg opened room=%s edge=%s publisher=%s", room_id, edge.node_id, publisher
            )
        for identity, track in self._engine.published_tracks(room_id):
            if identity == publisher:
                await self._engine.subscribe_layers(room_id, leg.identity, publisher, track.sid)

    async def _close_leg(self, leg: _Leg, *, tell_edge: bool) -> None:
        room = self._origin.get(leg.room_id)
        if room is not None:
            room.legs.pop((leg.edge.node_id, leg.publisher), None)
        await self._engine.remove_participant(leg.room_id, leg.identity)
        logger.info(
            "relay leg closed room=%s edge=%s publisher=%s",
            leg.room_id,
            leg.edge.node_id,
            leg.publisher,
        )
        if tell_edge and self._courier is not None:
            courier = self._courier
            self._spawn(self._tell_end(courier, leg))

    async def _tell_end(self, courier: RelayCourier, leg: _Leg) -> None:
        try:
            await courier.end(leg.edge, leg.room_id, leg.publisher)
        except Exception as exc:
            logger.warning(
                "relay end not delivered room=%s edge=%s publisher=%s error=%s",
                leg.room_id,
                leg.edge.node_id,
                leg.publisher,
                exc,
            )

    def _find_leg(self, room_id: str, identity: str) -> _Leg | None:
        room = self._origin.get(room_id)
        if room is None:
            return None
        return next((leg for leg in room.legs.values() if leg.identity == identity), None)

    # callbacks of the engine (through _RelayingListener), on the room's dispatch task

    async def track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None:
        audience = self._audience.get(room_id)
        if audience is not None and (room_id, identity) in self._relayed_in:
            for member in list(audience.members):
                await self._engine.subscribe(room_id, member, identity, track.sid)
        room = self._origin.get(room_id)
        if room is None or not self._relayable(room_id, identity):
            return
        for edge in list(room.edges.values()):
            await self._open_leg(room_id, edge, identity)

    async def track_ended(self, room_id: str, identity: str) -> None:
        """The engine already took the track off the legs (and re-offers them); a publisher
        whose media participant is gone (it left) ends its legs."""
        room = self._origin.get(room_id)
        if room is None or self._rooms.get(room_id, identity) is not None:
            return
        for (_, publisher), leg in list(room.legs.items()):
            if publisher == identity:
                await self._close_leg(leg, tell_edge=True)

    def leg_offer(self, room_id: str, identity: str, offer: SessionDescription) -> None:
        leg = self._find_leg(room_id, identity)
        if leg is None or self._courier is None:
            return
        leg.offers += 1
        # each simulcast layer in a section of its own, marked for the edge's publish path
        layers = self._engine.slot_layers(room_id, identity)
        if layers:
            offer = SessionDescription(
                with_relay_layers(offer.sdp, layers), offer.type, offer.sources
            )
        self._spawn(self._negotiate(self._courier, leg, offer))

    async def _negotiate(self, courier: RelayCourier, leg: _Leg, offer: SessionDescription) -> None:
        """The engine keeps at most one offer of a leg outstanding, so these never overlap."""
        try:
            sdp = await courier.offer(leg.edge, leg.room_id, leg.publisher, offer)
            await self._engine.subscriber_answer(
                leg.room_id, leg.identity, SessionDescription(sdp, "answer")
            )
            leg.answered += 1
        except Exception as exc:
            logger.warning(
                "relay leg negotiation failed, leg closed room=%s edge=%s publisher=%s error=%s",
                leg.room_id,
                leg.edge.node_id,
                leg.publisher,
                exc,
            )
            if self._find_leg(leg.room_id, leg.identity) is leg:
                await self._close_leg(leg, tell_edge=True)

    async def leg_state(self, room_id: str, identity: str, state: str) -> None:
        leg = self._find_leg(room_id, identity)
        logger.info("relay leg connection room=%s leg=%r state=%s", room_id, identity, state)
        if leg is not None and state in ("failed", "closed"):
            # closed by the edge or failed: the edge registers again (PUT) to get it back
            await self._close_leg(leg, tell_edge=True)

    # --- edge side -------------------------------------------------------------------------

    async def accept_offer(
        self, room_id: str, origin: str, publisher: str, offer: SessionDescription
    ) -> SessionDescription:
        """An origin's leg offers ``publisher``'s tracks: they become a publisher of this
        engine (same identity), answered by its ordinary publish path."""
        check_node_id(origin)
        if origin == self.node_id:
            raise Conflict("an offer from this node itself", code="same_node")
        if is_leg(publisher):
            raise InvalidInput("a relay leg cannot be relayed", code="invalid_identity")
        key = (room_id, publisher)
        known = self._relayed_in.get(key)
        if known is None and self._rooms.get(room_id, publisher) is not None:
            raise Conflict(
                f"{publisher} is a participant of room {room_id} on this node",
                code="identity_in_use",
            )
        if known is not None and known != origin:
            raise Conflict(
                f"{publisher} of room {room_id} is relayed from node {known}",
                code="relayed_elsewhere",
            )
        if known is None:
            self._relayed_in[key] = origin
            await self._engine.add_participant(
                room_id, publisher, can_publish=True, can_subscribe=False
            )
            logger.info(
                "relayed publisher added room=%s origin=%s publisher=%s", room_id, origin, publisher
            )
        try:
            answer = await self._engine.publish(room_id, publisher, offer)
        except Exception:
            if known is None:
                await self.end_relayed(room_id, origin, publisher)
            raise
        part = self._rooms.get(room_id, publisher)
        if part is not None and part.publisher is not None:
            for entry in part.publisher.tracks.values():
                _no_remb(entry.receiver)
        return answer

    async def end_relayed(self, room_id: str, origin: str, publisher: str) -> bool:
        if self._relayed_in.get((room_id, publisher)) != origin:
            return False
        del self._relayed_in[(room_id, publisher)]
        await self._engine.remove_participant(room_id, publisher)
        logger.info(
            "relayed publisher removed room=%s origin=%s publisher=%s", room_id, origin, publisher
        )
        return True

    def relayed_in(self, room_id: str, identity: str) -> str | None:
        """The origin node of a relayed-in publisher, None for a local one."""
        return self._relayed_in.get((room_id, identity))

    # --- the edge's own audience -----------------------------------------------------------

    async def serve_audience(
        self, room_id: str, identity: str, session_id: str, origin: str, origin_url: str
    ) -> None:
        """``identity`` (a listener whose socket is on this node) watches ``room_id``, held by
        ``origin`` (internal base URL ``origin_url``), from this node's engine. The room's
        first listener here registers this node with the origin; refused with
        :class:`Unavailable` ``relay_unreachable`` (nothing left behind) when it cannot."""
        courier = self._courier
        if courier is None:
            raise Unavailable("node relay is not configured on this node", code="relay_disabled")
        check_node_id(origin)
        while True:
            audience = self._audience.get(room_id)
            if audience is None:
                audience = self._audience[room_id] = _Audience(origin, origin_url.rstrip("/"))
            await audience.lock.acquire()
            if self._audience.get(room_id) is not audience:
                audience.lock.release()  # its last listener left meanwhile: a new one
                continue
            if audience.origin != origin:
                # the room moved (its node died, it was placed again): the old relay is over
                await self._forget_audience(room_id, audience, leave=False)
                audience.lock.release()
                continue
            break
        try:
            audience.members[identity] = session_id
            await self._engine.add_participant(
                room_id, identity, can_publish=False, can_subscribe=True
            )
            if not audience.joined:
                try:
                    publishers = await courier.join(audience.origin_url, room_id, self._own_url())
                except Exception as exc:
                    logger.warning(
                        "relay join refused room=%s origin=%s url=%s error=%s",
                        room_id,
                        origin,
                        audience.origin_url,
                        exc,
                    )
                    audience.members.pop(identity, None)
                    await self._engine.remove_participant(room_id, identity)
                    if not audience.members:
                        await self._forget_audience(room_id, audience, leave=False)
                    raise Unavailable(
                        f"this node cannot reach the lecture's node {origin} to relay it; "
                        "try again (another entry point may serve you)",
                        code="relay_unreachable",
                        retry_after=5,
                    ) from None
                audience.joined = True
                logger.info(
                    "relay joined room=%s origin=%s publishers=%s", room_id, origin, publishers
                )
            for publisher, track in self._engine.published_tracks(room_id):
                if (room_id, publisher) in self._relayed_in:
                    await self._engine.subscribe(room_id, identity, publisher, track.sid)
        finally:
            audience.lock.release()
        logger.info(
            "edge audience in room=%s identity=%s origin=%s listeners=%d",
            room_id,
            identity,
            origin,
            len(audience.members),
        )

    async def drop_audience(self, room_id: str, identity: str, session_id: str) -> bool:
        """The listener's session ended (ignored if a newer session of the same identity took
        over); the room's last listener here unregisters this node from the origin."""
        audience = self._audience.get(room_id)
        if audience is None:
            return False
        async with audience.lock:
            if audience.members.get(identity) != session_id:
                return False
            del audience.members[identity]
            await self._engine.remove_participant(room_id, identity)
            logger.info(
                "edge audience out room=%s identity=%s listeners=%d",
                room_id,
                identity,
                len(audience.members),
            )
            if not audience.members:
                await self._forget_audience(room_id, audience, leave=True)
        return True

    async def _forget_audience(self, room_id: str, audience: _Audience, *, leave: bool) -> None:
        """(Under the audience's lock; it stays registered until the end, so a listener
        arriving meanwhile waits for the lock and then starts a new one.)"""
        for identity in list(audience.members):
            await self._engine.remove_participant(room_id, identity)
        audience.members.clear()
        if leave and audience.joined and self._courier is not None:
            try:
                await self._courier.leave(audience.origin_url, room_id)
            except Exception as exc:  # the origin is gone or unreachable: its legs fail
                logger.warning(
                    "relay leave not delivered room=%s origin=%s error=%s",
                    room_id,
                    audience.origin,
                    exc,
                )
        audience.joined = False
        for (r, publisher), origin in list(self._relayed_in.items()):
            if r == room_id and origin == audience.origin:
                await self.end_relayed(room_id, origin, publisher)
        if room_id not in self._origin and not self._rooms.members(room_id):
            # nobody of the room left on this node's engine: its room state and listener task
            # go (an edge serves many lectures over time)
            await self._engine.close_room(room_id)
        if self._audience.get(room_id) is audience:
            del self._audience[room_id]
        logger.info("relay left room=%s origin=%s", room_id, audience.origin)

    async def origin_gone(self, origin: str) -> None:
        """``origin`` died: its rooms' audience here is dropped (their sockets reconnect and
        join again wherever the room is placed), and its relayed-in publishers with it."""
        for room_id, audience in list(self._audience.items()):
            if audience.origin == origin:
                async with audience.lock:
                    if self._audience.get(room_id) is audience:  # not left meanwhile
                        await self._forget_audience(room_id, audience, leave=False)
        for (room_id, publisher), known in list(self._relayed_in.items()):
            if known == origin:
                await self.end_relayed(room_id, origin, publisher)

    def audience(self, room_id: str) -> list[str]:
        found = self._audience.get(room_id)
        return sorted(found.members) if found else []

    # --- observation -----------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Legs (with what each sent: per track ``packets``) and relayed-in publishers."""
        legs = []
        for room_id, room in self._origin.items():
            for leg in room.legs.values():
                links = self._engine.subscriber_links(room_id, leg.identity)
                legs.append(
                    {
                        "room_id": room_id,
                        "edge": leg.edge.node_id,
                        "publisher": leg.publisher,
                        "offers": leg.offers,
                        "answered": leg.answered,
                        "tracks": [
                            {
                                "track_sid": x["track_sid"],
                                "kind": x["kind"],
                                "packets": x.get("packets", 0),
                            }
                            for x in links
                        ],
                    }
                )
        return {
            "node_id": self.node_id,
            "edges": {room_id: sorted(room.edges) for room_id, room in self._origin.items()},
            "legs": legs,
            "relayed_in": [
                {"room_id": r, "publisher": p, "origin": o}
                for (r, p), o in self._relayed_in.items()
            ],
            "audience": {
                room_id: {"origin": a.origin, "listeners": sorted(a.members)}
                for room_id, a in self._audience.items()
            },
        }

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except BaseException:  # noqa: S110 - cancelled or already logged
                pass

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _no_remb(receiver: Any) -> None:
    """The edge's receiver of a leg sends no REMB: aiortc's delay-based estimate, on a busy
    event loop, reads scheduling delay as queueing and falls to a few hundred kbit/s
    (docs/media.md, Simulcast). The leg's downstreams of a simulcast track are pinned to their
    layers (no choice to feed); the guard stays for a leg downstream that chooses. Idempotent."""
    if getattr(receiver, "_vidconsult_no_remb", False):
        return
    send_rtcp = receiver._send_rtcp

    async def without_remb(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            return
        await send_rtcp(packet)

    receiver._send_rtcp = without_remb
    receiver._vidconsult_no_remb = True


class _RelayingListener:
    """Between the engine and the core: legs' offers and states go to the relays, never to
    the core (a leg is nobody in the room); published/ended go to both."""

    def __init__(self, inner: MediaListener, relays: NodeRelays) -> None:
        self._inner = inner
        self._relays = relays

    async def on_track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None:
        try:
            await self._inner.on_track_published(room_id, identity, track)
        finally:  # the core failing must not keep the track from the edges
            await self._relays.track_published(room_id, identity, track)

    async def on_track_ended(self, room_id: str, identity: str, track_sid: str) -> None:
        try:
            await self._inner.on_track_ended(room_id, identity, track_sid)
        finally:
            await self._relays.track_ended(room_id, identity)

    async def on_subscriber_offer(
        self,
        room_id: str,
        identity: str,
        offer: SessionDescription,
        tracks: Mapping[str, TrackRef],
    ) -> None:
        if not is_leg(identity):
            await self._inner.on_subscriber_offer(room_id, identity, offer, tracks)
            return
        sources = {mid: ref.source.value for mid, ref in tracks.items() if ref.source is not None}
        self._relays.leg_offer(
            room_id, identity, SessionDescription(offer.sdp, offer.type, sources)
        )

    async def on_connection_state(
        self, room_id: str, identity: str, direction: str, state: str
    ) -> None:
        if is_leg(identity):
            await self._relays.leg_state(room_id, identity, state)
            return
        origin = self._relays.relayed_in(room_id, identity)
        if origin is not None:
            # a relayed-in publisher's leg failed or closed (its origin went away without a
            # word): it is dropped here; the origin relays it again when it offers anew
            if direction == "publish" and state in ("failed", "closed"):
                await self._relays.end_relayed(room_id, origin, identity)
            return
        await self._inner.on_connection_state(room_id, identity, direction, state)
