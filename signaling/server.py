"""The Socket.IO server: connection auth, request dispatch, and the :class:`Notifier` adapter."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketio
from pydantic import BaseModel, ValidationError

from signaling import schemas
from signaling.audience import EdgeAudience
from signaling.guard import GuardedServer, RejectionSink, error_payload
from signaling.origins import AllowedOrigins
from signaling.relay import EdgeRelay, Sockets, remote_sid, split_sid
from vidconsult.cluster.ports import LiveState
from vidconsult.domain.ratelimit import RateLimiter
from vidconsult.errors import (
    Conflict,
    InvalidInput,
    RateLimited,
    TooLarge,
    Unauthenticated,
    VidconsultError,
)
from vidconsult.join_trace import JoinTrace
from vidconsult.ports import Clock, SessionDescription
from vidconsult.services.node_link import NodeLink
from vidconsult.services.rooms import RoomService
from vidconsult.tokens import TokenClaims, TokenSigner
from vidconsult.turn import TurnRelay

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Session:
    sid: str
    claims: TokenClaims
    room_id: str
    joined: bool = False
    joining: bool = False  # the join request is being handled
    waiting: bool = False  # in the room's waiting room (lobby)
    prepared: bool = False  # media connections prepared before the join (``prepare``)
    gone: bool = False  # left or disconnected while joining: the join must be undone
    # a lecture's listener relayed from another node that serves its media (audience.py)
    media_elsewhere: bool = False


Handler = Callable[[Session, Any], Awaitable[dict[str, Any]]]
# failed requests that are the client's bad input: counted and logged throttled by kind (a
# flood of them is one line a minute), where other failures are logged one by one
BAD_INPUT = (InvalidInput, TooLarge, RateLimited)


class SocketNotifier:
    """Implements :class:`vidconsult.ports.Notifier` on top of the Socket.IO server."""

    def __init__(self, sockets: Sockets, trace: JoinTrace | None = None) -> None:
        self._sio = sockets
        self._trace = trace
        self._sids: dict[tuple[str, str], str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # requests being handled per connection: a close waits for them, so that a request
        # which ends its own session (leave, end room) still gets its acknowledgement
        self._busy: dict[str, int] = {}
        self._idle = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def request(self, sid: str) -> AsyncIterator[None]:
        self._busy[sid] = self._busy.get(sid, 0) + 1
        try:
            yield
        finally:
            left = self._busy[sid] - 1
            if left:
                self._busy[sid] = left
            else:
                del self._busy[sid]
            async with self._idle:
                self._idle.notify_all()

    def bind(self, room_id: str, identity: str, sid: str) -> None:
        self._sids[(room_id, identity)] = sid

    def unbind(self, room_id: str, identity: str, sid: str) -> None:
        if self._sids.get((room_id, identity)) == sid:
            del self._sids[(room_id, identity)]

    async def send(self, room_id: str, identity: str, event: str, payload: dict[str, Any]) -> None:
        sid = self._sids.get((room_id, identity))
        if sid is not None:
            await self._sio.emit(event, payload, to=sid)
            if self._trace is not None and event == "subscribe.offer":
                self._trace.mark(room_id, identity, "subscribeOfferSent")

    async def broadcast(
        self, room_id: str, event: str, payload: dict[str, Any], *, exclude: str | None = None
    ) -> None:
        skip = self._sids.get((room_id, exclude)) if exclude else None
        await self._sio.fanout(event, payload, room=room_id, skip_sid=skip)

    async def disconnect(self, room_id: str, identity: str, reason: str) -> None:
        sid = self._sids.pop((room_id, identity), None)
        if sid is not None:
            self.close_session(sid, reason)

    def close_session(self, sid: str, reason: str) -> None:
        # scheduled, so the service's caller never re-enters through the disconnect handler
        task = asyncio.get_running_loop().create_task(self._close(sid, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close(self, sid: str, reason: str) -> None:
        async with self._idle:
            await self._idle.wait_for(lambda: sid not in self._busy)
        # the request handler that asked for this close queues its ack before it yields
        await asyncio.sleep(0)
        try:
            await self._sio.disconnect(sid)
        except Exception:  # the socket may be gone already
            log.debug("disconnect failed sid=%s reason=%s", sid, reason, exc_info=True)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class SignalingServer:
    def __init__(
        self,
        *,
        rooms: RoomService | None = None,
        link: NodeLink | None = None,
        live: LiveState | None = None,
        signer: TokenSigner,
        clock: Clock,
        ice_servers: list[dict[str, Any]],
        rejections: RejectionSink,
        turn: TurnRelay | None = None,
        max_message_bytes: int = 256 * 1024,
        limiter: RateLimiter | None = None,
        trace: JoinTrace | None = None,
    ) -> None:
        self._clock = clock
        self._trace = trace  # the join benchmark's stage timestamps (vidconsult/join_trace.py)
        self._rejections = rejections
        # joins per client address ("join.ip") and per participant of a room ("join.account")
        self._limiter = limiter
        self.origins = AllowedOrigins()
        self.sio = GuardedServer(
            rejections=rejections,
            context=self._context,
            async_mode="aiohttp",
            # every client of the protocol uses WebSocket; no long-polling bodies to read
            transports=["websocket"],
            cors_allowed_origins=self.origins.allows,
            max_http_buffer_size=max_message_bytes,
            ping_interval=10,
            ping_timeout=10,
        )
        # several nodes: a socket whose room is on another node is relayed there (relay.py)
        self.sockets = Sockets(self.sio, link)
        self.sockets.on_remote_closed = self._on_disconnect
        self.notifier = SocketNotifier(self.sockets, trace)
        self.link = link
        self.edge: EdgeRelay | None = None
        if link is not None and live is not None:
            self.edge = EdgeRelay(self.sio, link, live)
            link.on("sig.connect", self._remote_connect)
            link.on("sig.event", self._remote_event)
            link.on("sig.disconnect", self._remote_disconnect)
        # the lecture relay (signaling/audience.py, set by the wiring when this node has a
        # cluster secret): this node's listeners of lectures held elsewhere, and this node's
        # internal URL, which edges serving its lectures' listeners are given
        self.audience: EdgeAudience | None = None
        self.relay_url: Callable[[], str] | None = None
        self._rooms = rooms
        self._signer = signer
        self._ice_servers = ice_servers
        # per-participant TURN credentials, minted at join for the token's life
        self._turn = turn
        self._sessions: dict[str, Session] = {}
        self._handlers: dict[str, tuple[type[BaseModel], Handler]] = {
            "join": (schemas.Join, self._join),
            "prepare": (schemas.Empty, self._prepare),
            "publish.offer": (schemas.Offer, self._publish_offer),
            "subscribe.answer": (schemas.Answer, self._subscribe_answer),
            "track.mute": (schemas.TrackMute, self._track_mute),
            "leave": (schemas.Empty, self._leave),
            "admin.remove": (schemas.RemoveParticipant, self._admin_remove),
            "admin.end_room": (schemas.Empty, self._admin_end_room),
            "admin.admit": (schemas.RemoveParticipant, self._admin_admit),
            "admin.decline": (schemas.RemoveParticipant, self._admin_decline),
            "admin.mute": (schemas.RemoveParticipant, self._admin_mute),
            "chat.send": (schemas.ChatSend, self._chat_send),
            "subscribe.audio_only": (schemas.AudioOnly, self._audio_only),
            "subscribe.links": (schemas.Empty, self._links),
            "hand.raise": (schemas.HandRaise, self._hand_raise),
            "ping": (schemas.Empty, self._ping),
        }
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("*", self._on_event)

    def add_request(
        self,
        event: str,
        schema: type[BaseModel],
        handler: Callable[[TokenClaims, str, Any], Awaitable[dict[str, Any]]],
    ) -> None:
        """Another area's request (e.g. ``recording.start``): ``handler(claims, room_id,
        payload)`` runs for a joined participant after ``payload`` validated."""

        async def call(session: Session, payload: Any) -> dict[str, Any]:
            return await handler(session.claims, session.room_id, payload)

        if event in self._handlers:
            raise ValueError(f"request {event!r} is already handled")
        self._handlers[event] = (schema, call)

    def attach_rooms(self, rooms: RoomService) -> None:
        self._rooms = rooms

    @property
    def rooms(self) -> RoomService:
        assert self._rooms is not None, "room service not attached"
        return self._rooms

    def attach(self, app: Any) -> None:
        self.sio.attach(app)

    def _context(self, sid: str) -> dict[str, object]:
        session = self._sessions.get(sid)
        if session is None:
            return {}
        return {"room": session.room_id, "identity": session.claims.identity}

    # connection ----------------------------------------------------------------------------
    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        wanted_room = auth.get("room") if isinstance(auth, dict) else None
        try:
            claims = self._signer.verify(token, now=self._clock.now())
            if wanted_room is not None:
                # the client says which room it means to enter (e.g. from the page URL)
                claims.require_room(str(wanted_room))
            if self._limiter is not None:
                self._limiter.hit(
                    ("join.ip", _remote(environ)),
                    ("join.account", f"{claims.room or ''}/{claims.identity}"),
                )
            node = None
            if self.edge is not None and claims.room is not None:
                hello = {"token": token, "room": wanted_room, "remote": _remote(environ)}
                node = await self.edge.connect(sid, claims.room, hello)
            if node is not None:
                log.info(
                    "connected sid=%s room=%s identity=%s relayed_to=%s",
                    sid,
                    claims.room,
                    claims.identity,
                    node,
                )
                return
            room = await self.rooms.authorize_connect(claims)
        except VidconsultError as exc:
            if isinstance(exc, Unauthenticated | RateLimited):  # floods: counted, throttled
                self._rejections.record("signaling", exc.code, sid=sid, reason=exc.message)
            else:
                log.info("connection refused sid=%s code=%s reason=%s", sid, exc.code, exc.message)
            # socket.io carries the refusal to the client as err.data = {message, data}
            refusal: dict[str, Any] = {"code": exc.code, "message": exc.message}
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                refusal["retry_after"] = math.ceil(exc.retry_after)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, refusal) from None
        self._sessions[sid] = Session(sid=sid, claims=claims, room_id=room.id)
        self._mark(self._sessions[sid], "tokenChecked")
        log.info("connected sid=%s room=%s identity=%s", sid, room.id, claims.identity)

    async def start(self) -> None:
        """Several nodes: listen on the node link, watch the nodes relayed to."""
        if self.link is not None:
            await self.link.start()
        if self.edge is not None:
            await self.edge.start()

    async def stop(self) -> None:
        if self.edge is not None:
            await self.edge.stop()
        if self.audience is not None:
            await self.audience.close()
        if self.link is not None:
            await self.link.close()

    # relayed participants: the room's node's side --------------------------------------------
    async def _remote_connect(self, edge: str, payload: dict[str, Any]) -> dict[str, Any]:
        claims = self._signer.verify(payload.get("token"), now=self._clock.now())
        if payload.get("room") is not None:
            claims.require_room(str(payload["room"]))
        room = await self.rooms.authorize_connect(claims)
        sid = remote_sid(edge, str(payload.get("sid")))
        # a lecture's listener: the edge serves its media, relayed from here
        elsewhere = (
            payload.get("edge_media") is True
            and self.relay_url is not None
            and room.watched_from_any_node(claims.grants)
        )
        self._sessions[sid] = Session(
            sid=sid, claims=claims, room_id=room.id, media_elsewhere=elsewhere
        )
        log.info(
            "connected sid=%s room=%s identity=%s via=%s media=%s",
            sid,
            room.id,
            claims.identity,
            edge,
            "edge" if elsewhere else "here",
        )
        if elsewhere and self.relay_url is not None:
            return {"ok": True, "media": "edge", "origin_url": self.relay_url()}
        return {"ok": True}

    async def _remote_event(self, edge: str, payload: dict[str, Any]) -> dict[str, Any]:
        sid = remote_sid(edge, str(payload.get("sid")))
        return await self._on_event(str(payload.get("event")), sid, payload.get("data"))

    async def _remote_disconnect(self, edge: str, payload: dict[str, Any]) -> None:
        await self._on_disconnect(remote_sid(edge, str(payload.get("sid"))), "relay")

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        if self.edge is not None and sid in self.edge.sessions:
            await self.edge.closed(sid)
            return
        session = self._sessions.pop(sid, None)
        if session is not None and split_sid(sid) is not None:
            self.sockets.forget(sid, session.room_id)
        if session is not None and session.prepared and not session.joined:
            await self.rooms.drop_prepared(session.room_id, sid)
        if session is not None:
            # a join still being handled (entering the room or the waiting room) takes the
            # participant out when it completes
            session.gone = True
        if session is not None and session.joining:
            return
        if session is not None and session.waiting:
            await self.rooms.leave_lobby(session.room_id, session.claims.identity, sid)
            return
        if session is None or not session.joined:
            return
        try:
            # without a `leave`: the seat is held for a rejoin (the reconnect grace)
            await self.rooms.connection_lost(session.room_id, session.claims.identity, sid)
        except Exception:
            log.exception("leave on disconnect failed sid=%s room=%s", sid, session.room_id)

    # requests ------------------------------------------------------------------------------
    async def _on_event(self, event: str, sid: str, data: Any = None) -> dict[str, Any]:
        if self.edge is not None and (relayed := self.edge.sessions.get(sid)) is not None:
            try:
                if relayed.edge_media and self.audience is not None:
                    return await self.audience.request(relayed, event, data)
                return await self.edge.forward(sid, event, data)
            except VidconsultError as exc:
                return error_payload(exc.code, exc.message)
        session = self._sessions.get(sid)
        if session is None:
            return error_payload("not_connected", "no session")
        entry = self._handlers.get(event)
        try:
            if entry is None:
                raise InvalidInput(f"unknown event {event[:64]!r}", code="unknown_event")
            schema, handler = entry
            try:
                payload = schema.model_validate({} if data is None else data)
            except ValidationError as exc:
                raise InvalidInput(
                    f"invalid {event} payload: {_summarize(exc)}", code="invalid_payload"
                ) from None
            if event not in _BEFORE_JOIN and not session.joined:
                if not (session.prepared and event in _PREPARED):
                    raise Conflict("join the room first", code="not_joined")
            async with self.notifier.request(sid):
                if self._trace is not None:
                    return await self._traced(event, session, handler, payload)
                return await handler(session, payload)
        except BAD_INPUT as exc:
            self._rejections.record(
                "signaling",
                exc.code,
                sid=sid,
                room=session.room_id,
                identity=session.claims.identity,
                event=event[:64],
                reason=exc.message,
            )
            result = error_payload(exc.code, exc.message)
        except VidconsultError as exc:
            log.info(
                "request failed sid=%s room=%s identity=%s event=%s code=%s reason=%s",
                sid,
                session.room_id,
                session.claims.identity,
                event,
                exc.code,
                exc.message,
            )
            result = error_payload(exc.code, exc.message)
        except Exception:
            log.exception("request crashed sid=%s room=%s event=%s", sid, session.room_id, event)
            result = error_payload("internal", "internal error")
        await self.sockets.emit("error", result["error"], to=sid)
        return result

    def _mark(self, session: Session, stage: str) -> None:
        if self._trace is not None:
            self._trace.mark(session.room_id, session.claims.identity, stage)

    async def _traced(
        self, event: str, session: Session, handler: Handler, payload: Any
    ) -> dict[str, Any]:
        stages = _TRACED.get(event)
        if stages is None:
            return await handler(session, payload)
        self._mark(session, stages[0])
        result = await handler(session, payload)
        if stages[1] and "lobby" not in result:
            self._mark(session, stages[1])
        return result

    async def _join(self, session: Session, msg: schemas.Join) -> dict[str, Any]:
        if session.joined:
            raise Conflict("already joined", code="already_joined")
        claims = session.claims
        if msg.name is not None:
            claims = dataclasses.replace(claims, name=msg.name.strip())
        if not msg.prepared:
            await self._unprepare(session)  # the client negotiates new connections
        elif session.prepared and self._trace is not None:
            # the join benchmark: what the prepare did is apart from what this join does
            self._trace.set_aside(session.room_id, claims.identity)
            self._mark(session, "joinReceived")
        try:
            # the token may have expired between connect (or prepare) and join
            if claims.expires_at <= self._clock.now():
                raise Unauthenticated("token has expired", code="token_expired")
            await self.rooms.check_consent(claims, msg.consent)
            held = await self.rooms.hold_in_lobby(claims, session.sid)
        except BaseException:
            await self._unprepare(session)  # e.g. revoked since the prepare: nothing is kept
            raise
        if held is not None:
            # in the waiting room: `lobby.admitted` tells it to send `join` again
            session.waiting = True
            await self._unprepare(session)  # no media before admission
            if session.gone:
                # its connection closed while it was being put in the waiting room (after the
                # admins were told, before `waiting` was set): nobody may stay listed there
                await self.rooms.leave_lobby(session.room_id, claims.identity, session.sid)
                raise Conflict("left while joining", code="not_joined")
            return {"lobby": held}
        session.waiting = False
        await self.sockets.enter_room(session.sid, session.room_id)
        # joined from now on: joining subscribes the newcomer to the tracks already published,
        # and a client may answer that offer before this request's reply reaches it
        session.joined = session.joining = True
        try:
            result = await self.rooms.join(
                claims, session.sid, consent=msg.consent, media=not session.media_elsewhere
            )
        except BaseException:
            session.joined = False
            await self.sockets.leave_room(session.sid, session.room_id)
            await self._unprepare(session)
            raise
        finally:
            session.joining = False
        if not result.prepared:
            await self._unprepare(session)  # not taken over (media elsewhere): closed
        session.prepared = False
        if session.gone:
            # it left (or its connection dropped) while this join was being handled: no ghost
            # may stay in the room holding a seat and looking present
            await self.rooms.leave(session.room_id, claims.identity, session.sid, "left")
            session.joined = False
            raise Conflict("left while joining", code="not_joined")
        extra: dict[str, Any] = {}
        if result.prepared and msg.publish is not None:
            # the click's publish offer came with the join: answered here, on the connection
            # just taken over (a failure is the client's to retry with publish.offer)
            extra = await self._join_publish(session, msg.publish)
        return {
            "room": result.room.to_dict(),
            "participant": result.participant.to_dict(),
            "participants": [p.to_dict() for p in result.participants],
            "ice_servers": self._ice_for(claims),
            "waiting": [w.to_dict() for w in result.waiting],
            "chat": [line.to_dict() for line in result.chat],
            "prepared": result.prepared,
            **extra,
        }

    async def _join_publish(self, session: Session, offer: schemas.Offer) -> dict[str, Any]:
        self._mark(session, "publishOfferReceived")
        try:
            answer = await self._publish_offer(session, offer)
        except VidconsultError as exc:
            log.info(
                "publish with join failed sid=%s room=%s code=%s reason=%s",
                session.sid,
                session.room_id,
                exc.code,
                exc.message,
            )
            return {"publish": None, "publish_error": {"code": exc.code, "message": exc.message}}
        self._mark(session, "publishAnswerSent")
        return {"publish": answer}

    async def _prepare(self, session: Session, _: schemas.Empty) -> dict[str, Any]:
        """Media connections made on the pre-join step (docs/protocol.md, "Prepare")."""
        if session.joined or session.joining:
            raise Conflict("already joined", code="already_joined")
        claims = session.claims
        if claims.expires_at <= self._clock.now():
            raise Unauthenticated("token has expired", code="token_expired")
        if session.media_elsewhere:  # a lecture's listener: its media is on another node
            raise Conflict("media is served by another node", code="not_prepared")
        offer = await self.rooms.prepare(claims, session.sid)
        session.prepared = True
        self._mark(session, "prepared")
        subscribe = None if offer is None else {"sdp": offer.sdp, "type": offer.type}
        return {"ice_servers": self._ice_for(claims), "subscribe": subscribe}

    async def _unprepare(self, session: Session) -> None:
        if session.prepared:
            session.prepared = False
            await self.rooms.drop_prepared(session.room_id, session.sid)

    def _ice_for(self, claims: TokenClaims) -> list[dict[str, Any]]:
        servers = list(self._ice_servers)
        if self._turn is not None:
            servers.append(self._turn.credentials(claims.identity, claims.expires_at))
        return servers

    async def _publish_offer(self, session: Session, msg: schemas.Offer) -> dict[str, Any]:
        if not session.joined:  # prepared: the connection comes up, nothing is published
            answer = await self.rooms.prepared_publish(
                session.room_id, session.sid, SessionDescription(msg.sdp, msg.type)
            )
            return {"sdp": answer.sdp, "type": answer.type}
        answer = await self.rooms.publish(
            session.room_id,
            session.claims.identity,
            SessionDescription(msg.sdp, msg.type, dict(msg.sources)),
        )
        return {"sdp": answer.sdp, "type": answer.type}

    async def _subscribe_answer(self, session: Session, msg: schemas.Answer) -> dict[str, Any]:
        if not session.joined:
            await self.rooms.prepared_answer(
                session.room_id, session.sid, SessionDescription(msg.sdp, msg.type)
            )
            return {"ok": True}
        await self.rooms.subscriber_answer(
            session.room_id, session.claims.identity, SessionDescription(msg.sdp, msg.type)
        )
        return {"ok": True}

    async def _track_mute(self, session: Session, msg: schemas.TrackMute) -> dict[str, Any]:
        await self.rooms.set_muted(
            session.room_id, session.claims.identity, msg.track_sid, msg.muted
        )
        return {"ok": True}

    async def _leave(self, session: Session, _: schemas.Empty) -> dict[str, Any]:
        if session.joining:
            session.gone = True
        await self.rooms.leave(session.room_id, session.claims.identity, session.sid, "left")
        session.joined = False
        self.notifier.close_session(session.sid, "left")
        return {"ok": True}

    async def _admin_remove(
        self, session: Session, msg: schemas.RemoveParticipant
    ) -> dict[str, Any]:
        await self.rooms.remove_participant(session.room_id, session.claims.identity, msg.identity)
        return {"ok": True}

    async def _admin_admit(
        self, session: Session, msg: schemas.RemoveParticipant
    ) -> dict[str, Any]:
        actor = self.rooms.may_admit(session.room_id, session.claims.identity)
        waiting = await self.rooms.admit(
            session.room_id, msg.identity, by=actor.identity, role=actor.role.value
        )
        return {"ok": True, "admitted": waiting.to_dict()}

    async def _admin_decline(
        self, session: Session, msg: schemas.RemoveParticipant
    ) -> dict[str, Any]:
        actor = self.rooms.may_admit(session.room_id, session.claims.identity)
        waiting = await self.rooms.decline(
            session.room_id, msg.identity, by=actor.identity, role=actor.role.value
        )
        return {"ok": True, "declined": waiting.to_dict()}

    async def _admin_mute(self, session: Session, msg: schemas.RemoveParticipant) -> dict[str, Any]:
        actor = self.rooms.may_admit(session.room_id, session.claims.identity)
        await self.rooms.request_mute(
            session.room_id, msg.identity, by=actor.identity, by_name=actor.name
        )
        return {"ok": True}

    async def _admin_end_room(self, session: Session, _: schemas.Empty) -> dict[str, Any]:
        await self.rooms.end_room_by(session.room_id, session.claims.identity)
        return {"ok": True}

    async def _links(self, session: Session, msg: schemas.Empty) -> dict[str, Any]:
        tracks = self.rooms.subscriber_links(session.room_id, session.claims.identity)
        return {"ok": True, "tracks": tracks}

    async def _audio_only(self, session: Session, msg: schemas.AudioOnly) -> dict[str, Any]:
        await self.rooms.set_audio_only(session.room_id, session.claims.identity, msg.enabled)
        return {"ok": True, "audio_only": msg.enabled}

    async def _hand_raise(self, session: Session, msg: schemas.HandRaise) -> dict[str, Any]:
        await self.rooms.raise_hand(session.room_id, session.claims.identity, msg.raised)
        return {"ok": True, "raised": msg.raised}

    async def _ping(self, session: Session, _: schemas.Empty) -> dict[str, Any]:
        # a client whose network changed checks that this connection still carries
        return {"ok": True}

    async def _chat_send(self, session: Session, msg: schemas.ChatSend) -> dict[str, Any]:
        message = await self.rooms.chat(session.room_id, session.claims.identity, msg.text)
        return {"ok": True, "message": message}


#: requests a connection may send before it joined
_BEFORE_JOIN = frozenset({"join", "prepare"})
#: and those of a connection that prepared its media (``prepare``): the transports come up
_PREPARED = frozenset({"publish.offer", "subscribe.answer"})

#: requests whose arrival and reply the join trace times: event -> (received, replied)
_TRACED = {
    "join": ("joinReceived", "joinReplied"),
    "publish.offer": ("publishOfferReceived", "publishAnswerSent"),
    "subscribe.answer": ("subscribeAnswerReceived", ""),
}


def _summarize(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "payload"
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts)


def _remote(environ: dict[str, Any]) -> str:
    """The client's address (python-engineio's REMOTE_ADDR is a placeholder under aiohttp)."""
    request = environ.get("aiohttp.request")
    return str(getattr(request, "remote", None) or environ.get("REMOTE_ADDR") or "unknown")
