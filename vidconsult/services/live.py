"""Live (in-memory, per node) state of open rooms: who is connected with which tracks."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from vidconsult.domain.rooms import CHAT_HISTORY, ChatLine, Participant, Waiting


@dataclass(slots=True)
class LiveParticipant:
    participant: Participant
    session_id: str
    # the join token it came in with: removing the participant revokes it
    token_id: str = ""
    token_expires_at: datetime | None = None
    # while it is reconnecting: the timer that ends its seat when the grace runs out
    grace: asyncio.TimerHandle | None = None

    def stop_grace(self) -> None:
        if self.grace is not None:
            self.grace.cancel()
            self.grace = None


@dataclass(slots=True)
class LobbyEntry:
    waiting: Waiting
    session_id: str


@dataclass(slots=True)
class LiveRoom:
    room_id: str
    participants: dict[str, LiveParticipant] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # the last lines of its chat and who was admitted: also in the store (RoomStore), whence a
    # node that takes the room over after another died reads them
    chat: deque[ChatLine] = field(default_factory=lambda: deque(maxlen=CHAT_HISTORY))
    # when the last visible participant left (None: nobody has left an empty room yet)
    emptied_at: datetime | None = None
    # the waiting room, in arrival order, and who was admitted (a reconnect does not wait again)
    lobby: dict[str, LobbyEntry] = field(default_factory=dict)
    admitted: set[str] = field(default_factory=set)
    # raised hands read from the store when this node took the room over (a restart, or the
    # room's node died), each given back to its owner's join; those not back within the
    # reconnect grace are lowered (forget_hands_at: that timer)
    restored_hands: dict[str, datetime] = field(default_factory=dict)
    forget_hands_at: asyncio.TimerHandle | None = None
    # made from a join's check of the room, which may be older than the room's end: the first
    # join to take the lock reads the room's status again (RoomService._ensure_admitting)
    unconfirmed: bool = True

    def waiting(self) -> list[Waiting]:
        return [entry.waiting for entry in self.lobby.values()]

    def get(self, identity: str) -> Participant | None:
        live = self.participants.get(identity)
        return live.participant if live else None

    def visible(self) -> list[Participant]:
        return [
            lp.participant for lp in self.participants.values() if not lp.participant.grants.hidden
        ]

    def all(self) -> list[Participant]:
        return [lp.participant for lp in self.participants.values()]
