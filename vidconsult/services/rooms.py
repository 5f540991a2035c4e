"""The room service: creating and ending rooms, joining and leaving them, publishing and
subscribing. The one place where room rules meet the store, the media engine and the notifier.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from vidconsult.domain.consent import ConsentRule
from vidconsult.domain.publishing import PublishLimits, check_sections
from vidconsult.domain.ratelimit import Rate, RateLimiter
from vidconsult.domain.roles import Grants, Role
from vidconsult.domain.rooms import (
    CHAT_HISTORY,
    MAX_CHAT_LENGTH,
    ChatLine,
    Participant,
    Room,
    RoomKind,
    RoomStatus,
    Track,
    TrackKind,
    TrackSource,
    Waiting,
    validate_identity,
    validate_room_name,
)
from vidconsult.domain.timeutil import utc_iso
from vidconsult.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unavailable,
    VidconsultError,
)
from vidconsult.ports import (
    Clock,
    MediaEngine,
    Notifier,
    PublishedTrack,
    SessionDescription,
    TrackRef,
)
from vidconsult.services.events import EventBus
from vidconsult.services.live import LiveParticipant, LiveRoom, LobbyEntry
from vidconsult.services.revocations import TokenRevocations
from vidconsult.services.room_cluster import RoomCluster, Session
from vidconsult.store.base import RoomStore
from vidconsult.tokens import TokenClaims, TokenSigner

log = logging.getLogger(__name__)

# remote education: one presenter, every member unit watching
LECTURE_MAX_PARTICIPANTS = 100
# a check run before anyone connects to a room (e.g. the booking's join window); it may raise a
# domain error to refuse, and returns the room as it stands after the check (it may open it)
Admission = Callable[[Room, TokenClaims], Awaitable[Room]]
# a check run under the room's lock right before someone takes a seat or starts waiting in the
# waiting room (e.g. a withdrawn emergency's room admits nobody); it may raise to refuse
SeatCheck = Callable[[Room], Awaitable[None]]
# a join while an end is held (hold_for_end): its outcome is not known yet, so neither is the
# answer; the client asks again (the room has ended then, or admits again)
ROOM_BUSY = "room_busy"


@contextlib.asynccontextmanager
async def _no_lock() -> AsyncIterator[None]:
    yield


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class JoinResult:
    room: Room
    participant: Participant
    participants: list[Participant]
    # the waiting room, for a participant who may admit (empty for the others)
    waiting: list[Waiting] = field(default_factory=list)
    # the room's chat so far (its last lines), oldest first
    chat: list[ChatLine] = field(default_factory=list)
    # the media connections prepared before the click were taken over (else new ones)
    prepared: bool = False


class RoomService:
    """Implements :class:`vidconsult.ports.MediaListener` for the media engine's callbacks."""

    def __init__(
        self,
        *,
        store: RoomStore,
        media: MediaEngine,
        notifier: Notifier,
        signer: TokenSigner,
        clock: Clock,
        default_max_participants: int = 16,
        reconnect_grace: timedelta = timedelta(0),
        events: EventBus | None = None,
        publish_limits: PublishLimits | None = None,
        revocations: TokenRevocations | None = None,
        consent: ConsentRule | None = None,
        cluster: RoomCluster | None = None,
        prepare_timeout: timedelta = timedelta(minutes=5),
    ) -> None:
        """``revocations``: where removing a participant revokes its token (None: a removed
        participant may come back with the same link). ``cluster``: the room's place among
        the nodes and presence (None: this node alone, nothing shared). ``reconnect_grace``:
        how long the seat of a participant whose connection dropped is held for its rejoin
        (0: it leaves at once). ``prepare_timeout``: how long media connections prepared
        before a join click (:meth:`prepare`) are kept without the click."""
        self.cluster = cluster
        self.events = events
        self.consent = consent or ConsentRule()
        self._revocations = revocations
        self._store = store
        self._media = media
        self._notifier = notifier
        self._signer = signer
        self._clock = clock
        self._max_participants = default_max_participants
        self._grace = reconnect_grace
        self._grace_tasks: set[asyncio.Task[None]] = set()
        self._prepare_timeout = prepare_timeout
        # (room, session id) -> when its prepared media is dropped unless it joins first
        self._prepared: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._live: dict[str, LiveRoom] = {}
        # rooms whose end is decided here now (hold_for_end): room -> each hold's id -> (the
        # reason its end is to say, the timer that gives the room back if that end never comes)
        self._closing: dict[str, dict[str, tuple[str, asyncio.TimerHandle]]] = {}
        self._admission: Admission | None = None
        self._seat_check: SeatCheck | None = None
        self._publish_limits = publish_limits or PublishLimits()
        self._offers = RateLimiter(
            {"offer": Rate(self._publish_limits.offers_per_minute)},
            clock=lambda: clock.now().timestamp(),
        )
        media.set_listener(self)

    async def close(self) -> None:
        """At shutdown: the seats held for a rejoin stay as they are (no grace ends later)."""
        for live in self._live.values():
            for lp in live.participants.values():
                lp.stop_grace()
            if live.forget_hands_at is not None:
                live.forget_hands_at.cancel()
        for timer in self._prepared.values():
            timer.cancel()
        self._prepared.clear()
        for room_id in list(self._closing):
            self._stop_closing(room_id)
        for task in list(self._grace_tasks):
            task.cancel()
        await asyncio.gather(*self._grace_tasks, return_exceptions=True)

    def set_admission(self, admission: Admission) -> None:
        self._admission = admission

    def set_seat_check(self, check: SeatCheck) -> None:
        """Run ``check`` under the room's lock before each seat or wait (after the holds of
        :meth:`hold_for_end`): what it reads (the store) holds on every node and across a
        restart, where a hold lives in this process only."""
        self._seat_check = check

    # rooms ---------------------------------------------------------------------------------
    async def create_room(
        self,
        name: str,
        *,
        case_id: str | None = None,
        kind: RoomKind = RoomKind.CONSULTATION,
        max_participants: int | None = None,
        scheduled: bool = False,
        max_video_kbps: int = 0,
        lobby: bool = False,
    ) -> Room:
        """``scheduled``: nobody may join until :meth:`open_room` (a booking's room)."""
        room = Room(
            id=new_id("rm"),
            name=validate_room_name(name),
            created_at=self._clock.now(),
            kind=kind,
            case_id=case_id,
            status=RoomStatus.SCHEDULED if scheduled else RoomStatus.OPEN,
            max_participants=max_participants
            or (LECTURE_MAX_PARTICIPANTS if kind is RoomKind.LECTURE else self._max_participants),
            max_video_kbps=max_video_kbps,
            lobby=lobby,
        )
        await self._store.create_room(room)
        log.info("room created room=%s name=%r case=%s", room.id, room.name, case_id)
        return room

    async def open_room(self, room_id: str) -> Room:
        """Open a scheduled room (idempotent: an open room is returned as it is)."""
        room = await self.get_room(room_id)
        if room.status is RoomStatus.OPEN:
            return room
        room.open()
        await self._store.save_room(room)
        log.info("room opened room=%s case=%s", room.id, room.case_id)
        return room

    async def get_room(self, room_id: str) -> Room:
        room = await self._store.get_room(room_id)
        if room is None:
            raise NotFound(f"room {room_id} not found")
        return room

    async def list_rooms(self, status: RoomStatus | None = RoomStatus.OPEN) -> list[Room]:
        return await self._store.list_rooms(status)

    def participants(self, room_id: str, *, include_hidden: bool = False) -> list[Participant]:
        live = self._live.get(room_id)
        if live is None:
            return []
        return live.all() if include_hidden else live.visible()

    def occupancy(self, room_id: str) -> tuple[bool, datetime | None]:
        """(someone visible is in the room on this node, when the last one left)"""
        live = self._live.get(room_id)
        if live is None:
            return False, None
        return bool(live.visible()), live.emptied_at

    async def present_elsewhere(self, room_id: str) -> bool:
        """Someone is in the room on another node (several nodes; False for one)."""
        return self.cluster is not None and await self.cluster.present_elsewhere(room_id)

    def sessions(self) -> list[Session]:
        """(room, participant, session id) of everyone in a room on this node."""
        return [
            (room_id, lp.participant, lp.session_id)
            for room_id, live in self._live.items()
            for lp in live.participants.values()
        ]

    def live_counts(self) -> tuple[int, int, int]:
        """(rooms with someone in them, participants, published tracks) on this node."""
        rooms = participants = tracks = 0
        for live in self._live.values():
            if live.participants:
                rooms += 1
            for lp in live.participants.values():
                participants += 1
                tracks += len(lp.participant.tracks)
        return rooms, participants, tracks

    async def end_room(self, room_id: str, reason: str = "ended") -> Room:
        room = await self.get_room(room_id)
        room.end(self._clock.now(), reason)
        await self._store.save_room(room)
        live = self._live.pop(room_id, None)
        self._stop_closing(room_id)  # a join from now finds it ended
        log.info("room ended room=%s reason=%s", room_id, reason)
        sessions: list[tuple[str, str]] = []  # (identity, session id) of those in it here
        if live is not None:
            async with live.lock:
                identities = list(live.participants)
                await self._notifier.broadcast(room_id, "room.ended", {"reason": reason})
                for identity in list(live.lobby):
                    # the waiting room is not in the broadcast group: told one by one
                    await self._notifier.send(room_id, identity, "room.ended", {"reason": reason})
                    identities.append(identity)
                for identity in identities:
                    await self._notifier.disconnect(room_id, identity, "room_ended")
                sessions = [(i, lp.session_id) for i, lp in live.participants.items()]
                for lp in live.participants.values():
                    lp.stop_grace()
                if live.forget_hands_at is not None:
                    live.forget_hands_at.cancel()
                live.participants.clear()
                live.lobby.clear()
        await self._media.close_room(room_id)
        try:
            # the live room's records go with it (a case's room keeps its chat with the case)
            await self._store.forget_live(room_id)
        except Unavailable as exc:  # the room has ended all the same; its rows stay behind
            log.warning("live records of an ended room kept room=%s reason=%s", room_id, exc)
        if self.cluster is not None:
            await self.cluster.ended(room_id, sessions)
        if self.events is not None:
            await self.events.publish(
                "room.ended", {"room_id": room_id, "reason": reason, "case_id": room.case_id}
            )
        return room

    async def hold_for_end(
        self,
        room_id: str,
        code: str,
        check: Callable[[list[Participant]], None],
        *,
        lapse: timedelta = timedelta(seconds=30),
        within: float | None = None,
        hold: str = "",
    ) -> str:
        """The first step of an end that depends on who is in the room (an emergency's
        withdrawal: refused once an expert is in it). ``check`` sees everyone in it here
        (hidden ones too) under the lock that admits joins, and refuses by raising; else every
        join from now is refused (``room_busy``: ask again) before it takes a seat, until
        :meth:`end_room` or :meth:`release_hold`; not with ``code``, which may turn out false
        (the end's other steps fail and the room admits again). A join and the decision are
        so ordered: one admitted before is in what ``check`` sees, one after is refused; none
        is admitted and then ended under.
        Done on the room's node: with several nodes the room is claimed here first (a room on
        no node would otherwise be placed by the next join elsewhere). The hold lapses after
        ``lapse`` (the node that asked for it died before ending the room, whose emergency
        goes on: it must admit its expert). ``within``: seconds to decide in, else
        ``node_unavailable`` and nothing held (the node that asked stops waiting for the
        answer: a hold made after that, once a join lets the lock go, would turn joins away
        for its whole lapse with nobody to end or release it). ``hold``: the hold's id, which
        :meth:`release_hold` names (two withdrawals at once: the one that fails gives back its
        own hold, not the other's, whose end is coming). Gives the code the end is to say: the
        first hold's (that withdrawal's reason). A hold lives in this process only: a lapse, or
        this node's restart, forgets it; what must outlast it is in the store, for the seat
        check (:meth:`set_seat_check`) to read."""
        try:
            async with asyncio.timeout(within):
                room = await self.get_room(room_id)
                room.ensure_open()
                if self.cluster is not None:
                    await self.cluster.claim(room_id)
                live = self._live.get(room_id)
                async with live.lock if live else _no_lock():
                    if live is not None and self._live.get(room_id) is not live:
                        raise Conflict(f"room {room_id} has ended", code="room_ended")
                    check(live.all() if live else [])
                    # from here to the hold nothing awaits: once decided, it is held
                    holds = self._closing.setdefault(room_id, {})
                    previous = holds.pop(hold, None)
                    if previous is not None:
                        previous[1].cancel()
                    timer = asyncio.get_running_loop().call_later(
                        lapse.total_seconds(), self._closing_lapsed, room_id, hold
                    )
                    holds[hold] = (code, timer)
                    first = next(iter(holds.values()))[0]
        except TimeoutError:
            log.warning("room closing not decided in time room=%s code=%s", room_id, code)
            raise Unavailable(
                f"room {room_id} could not be held in {within} s", code="node_unavailable"
            ) from None
        log.info("room closing room=%s code=%s", room_id, code)
        return first

    def release_hold(self, room_id: str, hold: str | None = None) -> None:
        """The end held by :meth:`hold_for_end` (its id ``hold``; None: every hold, as a node
        of the release before asks) will not come (its other steps failed): unless another
        hold is on the room, it admits joins again."""
        holds = self._closing.get(room_id, {})
        released = [holds.pop(h) for h in (list(holds) if hold is None else [hold]) if h in holds]
        for _, timer in released:
            timer.cancel()
        if not holds:
            self._closing.pop(room_id, None)
        if released:
            log.info("room closing undone room=%s held=%d", room_id, len(holds))

    def _stop_closing(self, room_id: str) -> None:
        for _, timer in self._closing.pop(room_id, {}).values():
            timer.cancel()

    def _closing_lapsed(self, room_id: str, hold: str) -> None:
        holds = self._closing.get(room_id, {})
        if holds.pop(hold, None) is not None:
            log.warning("room closing lapsed without its end room=%s", room_id)
        if not holds:
            self._closing.pop(room_id, None)

    async def seat_refusal(self, room: Room) -> str | None:
        """The code the seat check would refuse a join into ``room`` with now (the link check
        says it before the camera starts); None: none."""
        if self._seat_check is None:
            return None
        try:
            await self._seat_check(room)
        except VidconsultError as exc:
            return exc.code
        return None

    async def _ensure_admitting(self, live: LiveRoom, room: Room) -> None:
        """A join's last check, under the room's lock, before it takes a seat or waits."""
        if self._live.get(live.room_id) is not live:  # it ended while the join waited
            raise Conflict(f"room {live.room_id} has ended", code="room_ended")
        if live.unconfirmed:
            # made here for a join whose check of the room was read before: the room may have
            # ended since, with nobody here for its end to disconnect. Read once more, under
            # the lock: an end saved after this read finds this live room and empties it
            if (await self.get_room(live.room_id)).status is RoomStatus.ENDED:
                if self._live.get(live.room_id) is live:
                    del self._live[live.room_id]
                if live.forget_hands_at is not None:
                    live.forget_hands_at.cancel()
                raise Conflict(f"room {live.room_id} has ended", code="room_ended")
            live.unconfirmed = False
        holds = self._closing.get(live.room_id)
        if holds:
            # not the hold's code: its end may yet fail (the withdrawal's case not cancelled)
            # and the room admit again; asked again, the join meets the outcome
            code = next(iter(holds.values()))[0]
            raise Conflict(
                f"room {live.room_id} may be closing ({code}): try again", code=ROOM_BUSY
            )
        if self._seat_check is not None:
            await self._seat_check(room)

    def issue_token(
        self,
        room: Room,
        *,
        identity: str,
        role: Role,
        name: str | None = None,
        ttl: timedelta,
        grants: Grants | None = None,
        not_before: datetime | None = None,
        minted_by: str | None = None,
    ) -> str:
        """A join token; a scheduled room's tokens may be issued ahead (``not_before``).
        ``minted_by``: the account (or API token) asking, whose disabling revokes it."""
        room.ensure_not_ended()
        return self._signer.mint(
            identity=validate_identity(identity),
            role=role,
            name=name,
            room=room.id,
            now=self._clock.now(),
            ttl=ttl,
            grants=grants,
            case=room.case_id,
            not_before=not_before,
            minted_by=minted_by,
        )

    # sessions ------------------------------------------------------------------------------
    async def authorize_connect(self, claims: TokenClaims) -> Room:
        """Check a connecting participant's token against its room (before join)."""
        if claims.room is None:
            raise PermissionDenied("token is not bound to a room", code="room_required")
        # revoked since the connection verified it (e.g. removed between connect and join)
        self._signer.check_revoked(claims)
        room = await self.get_room(claims.room)
        if self._admission is not None and room.status is not RoomStatus.ENDED:
            room = await self._admission(room, claims)
        room.ensure_open()
        return room

    async def _live_room(self, room: Room) -> LiveRoom:
        live = self._live.get(room.id)
        if live is None:
            # the room may have been live on a node that died: who it admitted and its chat
            # are in the store
            admitted = await self._store.admitted(room.id)
            chat = await self._store.chat_lines(room.id)
            hands = await self._store.hands(room.id)
            live = self._live.get(room.id)  # another join may have made it meanwhile
            if live is not None:
                return live
            live = self._live[room.id] = LiveRoom(room.id, admitted=admitted)
            live.chat.extend(chat)
            if hands:
                # the queue of raised hands: each owner gets its own back (same instant, same
                # place) if it is back within the reconnect grace, as a dropped seat would
                live.restored_hands = dict(hands)
                live.forget_hands_at = asyncio.get_running_loop().call_later(
                    self._grace.total_seconds(), self._restored_hands_over, live
                )
            if room.max_video_kbps:
                await self._media.set_bitrate_cap(room.id, room.max_video_kbps)
        return live

    # the waiting room ------------------------------------------------------------------------
    async def would_wait(self, room: Room, claims: TokenClaims) -> bool:
        """In a room with a lobby, everyone without the admin grant waits to be admitted,
        unless admitted already while the room is open (a reconnect does not wait, nor does a
        rejoin through another node after the room's node died: the store keeps who was
        admitted until the room ends)."""
        if not room.lobby or claims.grants.admin or claims.grants.hidden:
            return False
        live = self._live.get(room.id)
        if live is not None and claims.identity in live.admitted:
            return False
        return claims.identity not in await self._store.admitted(room.id)

    async def hold_in_lobby(self, claims: TokenClaims, session_id: str) -> dict[str, Any] | None:
        """Put a joining participant in the waiting room if the room has one and it must wait;
        None: it may join now. The answer: its place in the waiting room."""
        room = await self.authorize_connect(claims)
        if not await self.would_wait(room, claims):
            return None
        if self.cluster is not None:  # the lobby is where the room is
            await self.cluster.claim(room.id)
        live = await self._live_room(room)
        async with live.lock:
            await self._ensure_admitting(live, room)
            previous = live.lobby.pop(claims.identity, None)
            if previous is not None and previous.session_id != session_id:
                # the same person from a new tab: the old one stops waiting
                await self._notifier.disconnect(room.id, claims.identity, "duplicate_identity")
            waiting = Waiting(claims.identity, claims.name, claims.role, self._clock.now())
            live.lobby[claims.identity] = LobbyEntry(waiting, session_id)
            self._notifier.bind(room.id, claims.identity, session_id)
            position = list(live.lobby).index(claims.identity) + 1
            await self._lobby_changed(live)
        log.info("waiting room=%s identity=%s role=%s", room.id, claims.identity, claims.role)
        await self._publish(
            "lobby.waiting",
            room,
            {"identity": claims.identity, "name": claims.name, "role": claims.role.value},
        )
        hosts = [p.to_dict() for p in live.visible() if p.grants.admin]
        return {"position": position, "since": waiting.since.isoformat(), "hosts": hosts}

    def waiting(self, room_id: str) -> list[Waiting]:
        live = self._live.get(room_id)
        return live.waiting() if live else []

    async def _lobby_changed(self, live: LiveRoom) -> None:
        """Tell those who may admit who is waiting now (call with the room's lock held)."""
        payload = {"waiting": [w.to_dict() for w in live.waiting()]}
        for lp in live.participants.values():
            if lp.participant.grants.admin:
                await self._notifier.send(
                    live.room_id, lp.participant.identity, "lobby.waiting", payload
                )

    async def admit(self, room_id: str, target: str, *, by: str, role: str) -> Waiting:
        """Let someone in from the waiting room: it is told (``lobby.admitted``) and joins."""
        room = await self.get_room(room_id)
        live = self._live.get(room_id)
        async with live.lock if live else _no_lock():
            entry = live.lobby.get(target) if live else None
            if live is None or entry is None:
                raise NotFound(f"{target} is not waiting in room {room_id}", code="not_waiting")
            # kept before it is told: its join (on whichever node holds the room then) and
            # every rejoin until the room ends find it admitted
            await self._store.add_admitted(room_id, target, self._clock.now())
            del live.lobby[target]
            live.admitted.add(target)
            await self._notifier.send(room_id, target, "lobby.admitted", {"by": by})
            await self._lobby_changed(live)
        log.info("admitted room=%s identity=%s by=%s", room_id, target, by)
        await self._publish(
            "lobby.admitted",
            room,
            {"identity": target, "by": by, "by_role": role, "name": entry.waiting.name},
        )
        return entry.waiting

    async def decline(self, room_id: str, target: str, *, by: str, role: str) -> Waiting:
        """Turn someone in the waiting room away: it is told (``lobby.declined``) and
        disconnected; its link still works (it may wait again)."""
        room = await self.get_room(room_id)
        live = self._live.get(room_id)
        async with live.lock if live else _no_lock():
            entry = live.lobby.pop(target, None) if live else None
            if live is None or entry is None:
                raise NotFound(f"{target} is not waiting in room {room_id}", code="not_waiting")
            await self._notifier.send(room_id, target, "lobby.declined", {"reason": "declined"})
            await self._notifier.disconnect(room_id, target, "declined")
            await self._lobby_changed(live)
        log.info("declined room=%s identity=%s by=%s", room_id, target, by)
        await self._publish(
            "lobby.declined",
            room,
            {"identity": target, "by": by, "by_role": role, "name": entry.waiting.name},
        )
        return entry.waiting

    async def leave_lobby(self, room_id: str, identity: str, session_id: str) -> None:
        """A waiting connection closed: it no longer waits (unless a newer one replaced it)."""
        live = self._live.get(room_id)
        if live is None:
            return
        async with live.lock:
            entry = live.lobby.get(identity)
            if entry is None or entry.session_id != session_id:
                return
            del live.lobby[identity]
            self._notifier.unbind(room_id, identity, session_id)
            await self._lobby_changed(live)

    def may_admit(self, room_id: str, actor: str) -> Participant:
        """The joined participant ``actor``, if it holds the admin grant."""
        participant = self._participant(room_id, actor)
        if not participant.grants.admin:
            raise PermissionDenied("only a participant with the admin grant may do this")
        return participant

    async def _publish(self, event: str, room: Room, data: dict[str, Any]) -> None:
        if self.events is not None:
            await self.events.publish(
                event,
                {
                    **data,
                    "room_id": room.id,
                    "case_id": room.case_id,
                    "at": self._clock.now().isoformat(),
                },
            )

    # media prepared before the join click (docs/protocol.md, "Prepare") -----------------------
    async def prepare(self, claims: TokenClaims, session_id: str) -> SessionDescription | None:
        """Make the media connections of someone on the pre-join step, so that ICE and DTLS
        are done before the click. They stay outside the room: the participant is not listed,
        nothing it offers may send, nothing is forwarded to it, no event is published, until
        :meth:`join` takes them over. Refused (``lobby_required``) for someone who would wait
        in the waiting room. Dropped after ``prepare_timeout`` without a join. Returns the
        subscribe connection's first offer (None: it may not subscribe)."""
        room = await self.authorize_connect(claims)
        if await self.would_wait(room, claims):
            raise PermissionDenied("wait to be admitted", code="lobby_required")
        key = (room.id, session_id)
        self._stop_prepare_timer(key)
        offer = await self._media.prepare(
            room.id,
            session_id,
            claims.identity,
            can_publish=claims.grants.publish,
            can_subscribe=claims.grants.subscribe,
        )
        loop = asyncio.get_running_loop()
        self._prepared[key] = loop.call_later(
            self._prepare_timeout.total_seconds(), self._prepare_expired, key
        )
        log.info("media prepared room=%s identity=%s", room.id, claims.identity)
        return offer

    def is_prepared(self, room_id: str, session_id: str) -> bool:
        return (room_id, session_id) in self._prepared

    async def prepared_publish(
        self, room_id: str, session_id: str, offer: SessionDescription
    ) -> SessionDescription:
        if offer.type != "offer":
            raise InvalidInput("expected an SDP offer", code="invalid_sdp")
        self._require_prepared(room_id, session_id)
        return await self._media.prepared_publish(room_id, session_id, offer)

    async def prepared_answer(
        self, room_id: str, session_id: str, answer: SessionDescription
    ) -> None:
        if answer.type != "answer":
            raise InvalidInput("expected an SDP answer", code="invalid_sdp")
        self._require_prepared(room_id, session_id)
        await self._media.prepared_answer(room_id, session_id, answer)

    async def drop_prepared(self, room_id: str, session_id: str) -> None:
        """The connection closed, or its join failed: its prepared media goes."""
        if self._stop_prepare_timer((room_id, session_id)):
            await self._media.drop_prepared(room_id, session_id)

    def _require_prepared(self, room_id: str, session_id: str) -> None:
        if (room_id, session_id) not in self._prepared:
            raise Conflict("join the room first", code="not_joined")

    def _stop_prepare_timer(self, key: tuple[str, str]) -> bool:
        timer = self._prepared.pop(key, None)
        if timer is not None:
            timer.cancel()
        return timer is not None

    def _prepare_expired(self, key: tuple[str, str]) -> None:
        log.info("prepared media expired room=%s session=%s", *key)
        task = asyncio.get_running_loop().create_task(self.drop_prepared(*key))
        self._grace_tasks.add(task)
        task.add_done_callback(self._grace_tasks.discard)

    async def check_consent(self, claims: TokenClaims, consent: bool | None) -> None:
        """Refuse the join of someone who refused consent where the rule keeps them out."""
        room = await self.get_room(claims.room) if claims.room else None
        if room is not None:
            self.consent.check(room, claims.role, consent)

    async def join(
        self,
        claims: TokenClaims,
        session_id: str,
        *,
        consent: bool | None = None,
        media: bool = True,
    ) -> JoinResult:
        """``consent``: the answer to the pre-join consent question (None: not asked); it
        travels on the "participant.joined" event to the recording policy. ``media=False``:
        the participant's media is served by the node its socket is on (a lecture's
        listener relayed to another node, :meth:`Room.watched_from_any_node`): it is in the
        room (roster, presence, events) but not in this node's media engine."""
        room = await self.authorize_connect(claims)
        if await self.would_wait(room, claims):
            raise PermissionDenied("wait to be admitted", code="lobby_required")
        if self.cluster is not None:  # several nodes: the room is served here, or refused
            await self.cluster.claim(room.id)
        live = await self._live_room(room)
        async with live.lock:
            # the room may have ended (or be ending) while we waited for the lock
            await self._ensure_admitting(live, room)
            previous = live.participants.get(claims.identity)
            if previous is None and len(live.participants) >= room.max_participants:
                raise Conflict("the room is full", code="room_full")
            if previous is not None:
                # the same identity again: its seat is resumed (a rejoin after a drop, or
                # another device taking over); the older connection, if still open, is closed
                log.info(
                    "resuming seat room=%s identity=%s reconnecting=%s",
                    room.id,
                    claims.identity,
                    previous.participant.reconnecting,
                )
                previous.stop_grace()
                if not previous.participant.reconnecting:
                    await self._notifier.send(
                        room.id, claims.identity, "removed", {"reason": "duplicate_identity"}
                    )
                    await self._notifier.disconnect(room.id, claims.identity, "duplicate_identity")
                await self._drop(live, claims.identity, "duplicate_identity", announce=False)
            hand_at = (
                previous.participant.hand_raised_at
                if previous
                else live.restored_hands.pop(claims.identity, None)
            )
            participant = Participant(
                identity=claims.identity,
                name=claims.name,
                role=claims.role,
                grants=claims.grants,
                # a resumed seat keeps when it was first taken and a raised hand (its place in
                # the queue), also one the store kept while the room's node was down
                joined_at=previous.participant.joined_at if previous else self._clock.now(),
                hand_raised=hand_at is not None,
                hand_raised_at=hand_at,
            )
            live.participants[claims.identity] = LiveParticipant(
                participant, session_id, claims.token_id, claims.expires_at
            )
            self._notifier.bind(room.id, claims.identity, session_id)
            if self.cluster is not None:
                await self.cluster.entered(room.id, participant, session_id)
            prepared = (
                media
                and self._stop_prepare_timer((room.id, session_id))
                and await self._media.adopt(room.id, session_id, claims.identity)
            )
            if media and not prepared:
                await self._media.add_participant(
                    room.id,
                    claims.identity,
                    can_publish=claims.grants.publish,
                    can_subscribe=claims.grants.subscribe,
                )
            if not claims.grants.hidden:
                # the others see a resumed seat come back, not a leave and a join
                await self._notifier.broadcast(
                    room.id,
                    "participant.reconnected" if previous else "participant.joined",
                    {"participant": participant.to_dict()},
                    exclude=claims.identity,
                )
            if claims.grants.subscribe and media:
                for other in live.all():
                    if other.identity == claims.identity:
                        continue
                    for track in other.tracks.values():
                        await self._media.subscribe(
                            room.id, claims.identity, other.identity, track.sid
                        )
            log.info(
                "participant joined room=%s identity=%s role=%s",
                room.id,
                claims.identity,
                claims.role.value,
            )
            others = [p for p in live.visible() if p.identity != claims.identity]
            waiting = live.waiting() if claims.grants.admin else []
            chat = list(live.chat)
        if self.events is not None:
            # attendance of booked sessions (the scheduler) listens here
            await self.events.publish(
                "participant.joined",
                {
                    "room_id": room.id,
                    "case_id": room.case_id,
                    "identity": claims.identity,
                    "role": claims.role.value,
                    "at": utc_iso(participant.joined_at),
                    "consent": consent,
                    "resumed": previous is not None,
                },
            )
        return JoinResult(
            room=room,
            participant=participant,
            participants=others,
            waiting=waiting,
            chat=chat,
            prepared=prepared,
        )

    async def leave(self, room_id: str, identity: str, session_id: str, reason: str) -> None:
        """A session ends (leave request or disconnect). Ignored if a newer session with the
        same identity has replaced it."""
        live = self._live.get(room_id)
        if live is None:
            return
        async with live.lock:
            current = live.participants.get(identity)
            if current is None or current.session_id != session_id:
                return
            await self._drop(live, identity, reason, announce=True)

    async def connection_lost(self, room_id: str, identity: str, session_id: str) -> None:
        """A joined participant's connection closed without a leave: its seat is held for the
        reconnect grace (the room is told it is reconnecting), then it leaves
        (``disconnected``) unless a join with its identity resumed it first. Media, tracks and
        subscriptions stay as they are meanwhile. Ignored if a newer session replaced it."""
        live = self._live.get(room_id)
        if live is None:
            return
        async with live.lock:
            current = live.participants.get(identity)
            if current is None or current.session_id != session_id:
                return
            if self._grace <= timedelta(0) or current.participant.grants.hidden:
                await self._drop(live, identity, "disconnected", announce=True)
                return
            current.participant.reconnecting = True
            self._notifier.unbind(room_id, identity, session_id)
            loop = asyncio.get_running_loop()
            current.grace = loop.call_later(
                self._grace.total_seconds(), self._grace_over, live, current
            )
            await self._notifier.broadcast(
                room_id, "participant.reconnecting", {"identity": identity}
            )
        log.info(
            "participant reconnecting room=%s identity=%s grace_s=%s",
            room_id,
            identity,
            self._grace.total_seconds(),
        )

    def _grace_over(self, live: LiveRoom, seat: LiveParticipant) -> None:
        task = asyncio.get_running_loop().create_task(self._end_grace(live, seat))
        self._grace_tasks.add(task)
        task.add_done_callback(self._grace_tasks.discard)

    async def _end_grace(self, live: LiveRoom, seat: LiveParticipant) -> None:
        identity = seat.participant.identity
        async with live.lock:
            if (
                self._live.get(live.room_id) is not live
                or live.participants.get(identity) is not seat
            ):
                return  # resumed, removed, or the room ended meanwhile
            seat.grace = None
            await self._drop(live, identity, "disconnected", announce=True)

    async def _drop(self, live: LiveRoom, identity: str, reason: str, *, announce: bool) -> None:
        lp = live.participants.pop(identity, None)
        if lp is None:
            return
        lp.stop_grace()
        self._notifier.unbind(live.room_id, identity, lp.session_id)
        if self.cluster is not None:
            await self.cluster.left(live.room_id, identity, lp.session_id)
        await self._media.remove_participant(live.room_id, identity)
        if lp.participant.hand_raised and reason != "duplicate_identity":
            await self._forget_hand(live.room_id, identity)  # gone for good: out of the queue
        if announce and not lp.participant.grants.hidden:
            await self._notifier.broadcast(
                live.room_id, "participant.left", {"identity": identity, "reason": reason}
            )
        if not lp.participant.grants.hidden and not live.visible():
            live.emptied_at = self._clock.now()  # the last one people could see has left
        log.info("participant left room=%s identity=%s reason=%s", live.room_id, identity, reason)

    async def _forget_hand(self, room_id: str, identity: str) -> None:
        try:
            await self._store.set_hand(room_id, identity, None)
        except Unavailable as exc:  # it has left all the same; the next node may show it
            log.warning("raised hand kept room=%s identity=%s reason=%s", room_id, identity, exc)

    def _restored_hands_over(self, live: LiveRoom) -> None:
        task = asyncio.get_running_loop().create_task(self._forget_restored_hands(live))
        self._grace_tasks.add(task)
        task.add_done_callback(self._grace_tasks.discard)

    async def _forget_restored_hands(self, live: LiveRoom) -> None:
        """The reconnect grace since this node took the room over has run out: the hands of
        those not back (they left for good) leave the queue."""
        async with live.lock:
            live.forget_hands_at = None
            gone, live.restored_hands = list(live.restored_hands), {}
        for identity in gone:
            await self._forget_hand(live.room_id, identity)
            log.info(
                "raised hand dropped room=%s identity=%s reason=not_back", live.room_id, identity
            )

    def _participant(self, room_id: str, identity: str) -> Participant:
        live = self._live.get(room_id)
        participant = live.get(identity) if live else None
        if participant is None:
            raise Conflict("not joined", code="not_joined")
        return participant

    async def publish(
        self, room_id: str, identity: str, offer: SessionDescription
    ) -> SessionDescription:
        participant = self._participant(room_id, identity)
        if not participant.grants.publish:
            raise PermissionDenied(
                f"role {participant.role.value} may not publish", code="permission_denied"
            )
        if offer.type != "offer":
            raise InvalidInput("expected an SDP offer", code="invalid_sdp")
        # the caps, before the media engine spends anything on the offer
        check_sections(offer.sdp, self._publish_limits)
        self._offers.hit(("offer", f"{room_id}/{identity}"))
        return await self._media.publish(room_id, identity, offer)

    async def subscriber_answer(
        self, room_id: str, identity: str, answer: SessionDescription
    ) -> None:
        self._participant(room_id, identity)
        if answer.type != "answer":
            raise InvalidInput("expected an SDP answer", code="invalid_sdp")
        await self._media.subscriber_answer(room_id, identity, answer)

    async def set_muted(self, room_id: str, identity: str, track_sid: str, muted: bool) -> None:
        participant = self._participant(room_id, identity)
        track = participant.track(track_sid)
        if track.muted == muted:
            return
        track.muted = muted
        await self._media.set_track_muted(room_id, identity, track_sid, muted)
        await self._broadcast_about(
            room_id,
            participant,
            "track.muted",
            {"identity": identity, "track_sid": track_sid, "muted": muted},
        )

    async def set_bandwidth(self, room_id: str, kbps: int, identity: str | None = None) -> Room:
        """Cap publishers' video bitrate: the room's cap (kept with the room) or one
        participant's (for this session). 0 removes the cap."""
        if kbps < 0:
            raise InvalidInput("a bitrate cap cannot be negative")
        room = await self.get_room(room_id)
        room.ensure_not_ended()
        if identity is None:
            room.max_video_kbps = kbps
            await self._store.save_room(room)
        else:
            self._participant(room_id, identity)
        await self._media.set_bitrate_cap(room_id, kbps, identity)
        log.info("bitrate cap room=%s identity=%s kbps=%s", room_id, identity, kbps)
        return room

    async def set_audio_only(self, room_id: str, identity: str, enabled: bool) -> None:
        """The participant's link is poor: receive audio only (video subscriptions held)."""
        self._participant(room_id, identity)
        await self._media.set_audio_only(room_id, identity, enabled)
        log.info("audio only room=%s identity=%s enabled=%s", room_id, identity, enabled)

    def subscriber_links(self, room_id: str, identity: str) -> list[dict[str, Any]]:
        """What the participant receives and how the media engine adapts it to its link."""
        self._participant(room_id, identity)
        return self._media.subscriber_links(room_id, identity)

    async def remove_participant(
        self, room_id: str, actor: str, target: str, reason: str = "removed_by_admin"
    ) -> None:
        """Removed for good: the participant's token is revoked, so reloading the same link
        is refused (``token_revoked``); a new link lets it back in."""
        admin = self.may_admit(room_id, actor)
        await self.remove_by(room_id, target, by=actor, role=admin.role.value, reason=reason)

    async def remove_by(
        self, room_id: str, target: str, *, by: str, role: str, reason: str = "removed_by_admin"
    ) -> None:
        """Remove ``target`` for good (see :meth:`remove_participant`); ``by`` is checked by
        the caller (a room admin in the room, or a coordinator over REST)."""
        actor = by
        live = self._live.get(room_id)
        removed = live.participants.get(target) if live else None
        if removed is not None and self._revocations is not None:
            await self._revocations.revoke_token(
                removed.token_id,
                removed.token_expires_at or self._clock.now(),
                f"removed from room {room_id} by {actor}",
            )
        await self.kick(room_id, target, reason)
        room = await self.get_room(room_id)
        await self._publish(
            "participant.removed", room, {"identity": target, "by": by, "by_role": role}
        )

    async def request_mute(self, room_id: str, target: str, *, by: str, by_name: str) -> None:
        """Ask ``target`` to mute its microphone: its page mutes it and says who asked (it may
        unmute again; nobody can speak for someone else)."""
        self._participant(room_id, target)
        await self._notifier.send(room_id, target, "mute.requested", {"by": by, "name": by_name})

    async def kick(self, room_id: str, target: str, reason: str) -> None:
        live = self._live.get(room_id)
        if live is None or target not in live.participants:
            raise NotFound(f"participant {target} is not in the room")
        async with live.lock:
            await self._notifier.send(room_id, target, "removed", {"reason": reason})
            await self._notifier.disconnect(room_id, target, reason)
            await self._drop(live, target, reason, announce=True)

    async def end_room_by(self, room_id: str, actor: str) -> None:
        self.may_admit(room_id, actor)
        await self.end_room(room_id, reason=f"ended by {actor}")

    async def raise_hand(self, room_id: str, identity: str, raised: bool) -> None:
        """Ask for the floor (or lower the hand): everyone in the room is told."""
        participant = self._participant(room_id, identity)
        if participant.hand_raised == raised:
            return
        at = self._clock.now() if raised else None
        # kept before anyone is told (the queue of hands outlives this node, like the chat): a
        # store that cannot answer refuses it, rather than a hand a restart would lose
        await self._store.set_hand(room_id, identity, at)
        participant.hand_raised = raised
        participant.hand_raised_at = at
        log.info("hand room=%s identity=%s raised=%s", room_id, identity, raised)
        await self._broadcast_about(
            room_id,
            participant,
            "hand.raised",
            {"identity": identity, "raised": raised, "at": utc_iso(at) if at else None},
        )

    async def announce(self, room_id: str, event: str, payload: dict[str, Any]) -> None:
        """Tell everyone in an open room about something that changed outside it (e.g. a file
        added to its case); nothing when nobody is in it."""
        if room_id in self._live:
            await self._notifier.broadcast(room_id, event, payload)

    async def chat(self, room_id: str, identity: str, text: str) -> dict[str, Any]:
        participant = self._participant(room_id, identity)
        text = text.strip()
        if not text or len(text) > MAX_CHAT_LENGTH:
            raise InvalidInput(f"chat text must be 1..{MAX_CHAT_LENGTH} characters")
        line = ChatLine(new_id("msg"), identity, participant.name, text, self._clock.now())
        message = line.to_dict()
        # kept before anyone sees the message (whichever node holds the room next shows it to
        # those who join): a store that cannot answer refuses it for all (the sender gets the
        # reason), rather than showing a message the sender was told failed
        await self._store.add_chat_line(room_id, line, keep=CHAT_HISTORY)
        room = await self._store.get_room(room_id) if self.events is not None else None
        live = self._live.get(room_id)
        if live is not None:
            live.chat.append(line)
        await self._notifier.broadcast(room_id, "chat.message", message, exclude=identity)
        if self.events is not None:
            # the case record keeps the chat (services/records.py subscribes)
            await self.events.publish(
                "chat.message",
                {
                    **message,
                    "room_id": room_id,
                    "case_id": room.case_id if room else None,
                    "role": participant.role.value,
                },
            )
        return message

    async def _broadcast_about(
        self, room_id: str, subject: Participant, event: str, payload: dict[str, Any]
    ) -> None:
        if subject.grants.hidden:
            await self._notifier.send(room_id, subject.identity, event, payload)
        else:
            await self._notifier.broadcast(room_id, event, payload)

    # MediaListener -------------------------------------------------------------------------
    async def on_track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None:
        live = self._live.get(room_id)
        participant = live.get(identity) if live else None
        if live is None or participant is None:
            return
        participant.tracks[track.sid] = Track(
            sid=track.sid, kind=TrackKind(track.kind), source=track.shows
        )
        info = participant.tracks[track.sid].to_dict()
        log.info(
            "track published room=%s identity=%s track=%s kind=%s source=%s codec=%s",
            room_id,
            identity,
            track.sid,
            track.kind,
            track.shows,
            track.codec,
        )
        await self._notifier.send(
            room_id,
            identity,
            "track.published",
            {"identity": identity, "track": info, "mid": track.mid},
        )
        if not participant.grants.hidden:
            await self._notifier.broadcast(
                room_id,
                "track.published",
                {"identity": identity, "track": info, "mid": None},
                exclude=identity,
            )
        for other in live.all():
            if other.identity != identity and other.grants.subscribe:
                await self._media.subscribe(room_id, other.identity, identity, track.sid)

    async def on_track_ended(self, room_id: str, identity: str, track_sid: str) -> None:
        live = self._live.get(room_id)
        participant = live.get(identity) if live else None
        if participant is None or participant.tracks.pop(track_sid, None) is None:
            return
        await self._broadcast_about(
            room_id,
            participant,
            "track.unpublished",
            {"identity": identity, "track_sid": track_sid},
        )

    async def on_subscriber_offer(
        self,
        room_id: str,
        identity: str,
        offer: SessionDescription,
        tracks: Mapping[str, TrackRef],
    ) -> None:
        await self._notifier.send(
            room_id,
            identity,
            "subscribe.offer",
            {
                "sdp": offer.sdp,
                "type": offer.type,
                "tracks": {
                    mid: {
                        "publisher": ref.publisher,
                        "track_sid": ref.track_sid,
                        "kind": ref.kind.value if hasattr(ref.kind, "value") else ref.kind,
                        "source": (ref.source or TrackSource.of(ref.kind)).value,
                    }
                    for mid, ref in tracks.items()
                },
            },
        )

    async def on_connection_state(
        self, room_id: str, identity: str, direction: str, state: str
    ) -> None:
        log.info(
            "peer connection room=%s identity=%s direction=%s state=%s",
            room_id,
            identity,
            direction,
            state,
        )
