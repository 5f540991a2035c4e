"""A room's place among the nodes, for the room service (:mod:`vidconsult.cluster.ports`).

A join (or a wait in the lobby) claims the room for this node: the live state places it here
if it is new or its node died, keeps it where it is otherwise. A room placed on another node
is refused here with ``room_elsewhere`` (the signaling relay sends such a participant to the
room's node before it gets this far). When the live state is unreachable, or every node is at
its limit, the join is refused with the port's reason; sessions already in rooms go on.

Presence (who is in which room, for listing on any node) follows joins and leaves; a failure
to write it never fails a leave, and :meth:`RoomCluster.resync` writes it again (and claims
this node's rooms again) when the live state is back after an outage.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from vidconsult.cluster.ports import LiveState, PresenceEntry
from vidconsult.domain.rooms import Participant
from vidconsult.domain.timeutil import utc_iso
from vidconsult.errors import Conflict, Unavailable

log = logging.getLogger(__name__)

# (room id, participant, signaling session id) of everyone in a room on this node
Session = tuple[str, Participant, str]


class RoomCluster:
    def __init__(self, live: LiveState) -> None:
        self.live = live

    @property
    def node_id(self) -> str:
        return self.live.node_id

    async def claim(self, room_id: str) -> None:
        # this node holds (or is about to hold) the room's live state: if the room has no
        # live node, it is placed here, not on whichever node is least loaded
        node = await self.live.placement.place(room_id, prefer=self.live.node_id)
        if node.node_id != self.live.node_id:
            raise Conflict(
                f"this room is served by another node ({node.node_id})", code="room_elsewhere"
            )

    def _entry(self, room_id: str, participant: Participant, session_id: str) -> PresenceEntry:
        return PresenceEntry(
            room_id=room_id,
            identity=participant.identity,
            node_id=self.live.node_id,
            session_id=session_id,
            name=participant.name or "",
            role=participant.role.value,
            joined_at=utc_iso(participant.joined_at),
        )

    async def entered(self, room_id: str, participant: Participant, session_id: str) -> None:
        try:
            await self.live.presence.enter(self._entry(room_id, participant, session_id))
        except Unavailable:
            log.warning("presence not written room=%s identity=%s", room_id, participant.identity)

    async def left(self, room_id: str, identity: str, session_id: str) -> None:
        try:
            await self.live.presence.exit(room_id, identity, session_id)
        except Unavailable:
            log.warning("presence not removed room=%s identity=%s", room_id, identity)

    async def ended(self, room_id: str, sessions: Iterable[tuple[str, str]]) -> None:
        """The room ended: forget its place and everyone's presence ((identity, session))."""
        try:
            for identity, session_id in sessions:
                await self.live.presence.exit(room_id, identity, session_id)
            await self.live.placement.release(room_id)
        except Unavailable:
            log.warning("placement not released room=%s", room_id)

    async def present_elsewhere(self, room_id: str) -> bool:
        """Someone is in the room on another node (presence). When the live state cannot
        say, yes: whoever asks (the scheduler, before closing a room) keeps the room and
        looks again later, rather than end a consultation it cannot see."""
        try:
            members = await self.live.presence.members(room_id)
        except Unavailable:
            return True
        return any(m.node_id != self.live.node_id for m in members)

    async def resync(self, sessions: Iterable[Session]) -> None:
        """The live state is back (it may have lost everything): claim this node's rooms
        and write its participants' presence again."""
        claimed: set[str] = set()
        for room_id, participant, session_id in sessions:
            if room_id not in claimed:
                claimed.add(room_id)
                try:
                    await self.claim(room_id)
                except Conflict:
                    log.error("room placed on another node while unreachable room=%s", room_id)
            await self.live.presence.enter(self._entry(room_id, participant, session_id))
        log.info("live state resynced node=%s rooms=%d", self.live.node_id, len(claimed))
