"""``AiortcMediaEngine``: the :class:`vidconsult.ports.MediaEngine` on aiortc.

Rooms hold participants (:mod:`media.rooms`); a participant has a publish session (its own
tracks) and a subscribe session (other participants' tracks). Published tracks go to a
:class:`Forwarder` and to the :class:`TrackObservers`; listener callbacks go through a per-room
:class:`ListenerDispatcher`, in order and never re-entrantly. Bitrate caps and audio-only
subscribers are :class:`WeakLinks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from aiortc import RTCPeerConnection

from media.compat import check_aiortc, enable_rid_extensions
from media.config import MediaConfig
from media.dispatch import ListenerDispatcher
from media.forwarding import Forwarder, PublisherSource, create_forwarder
from media.node_relay import NodeRelays
from media.observers import TrackObservers
from media.publisher import PublishedEntry, PublishSession
from media.rooms import Participant, Rooms, published
from media.sdp import SENDING, RemoteDescription, parse_remote
from media.subscriber import SubscribeSession
from media.taps import EncodedTap, TrackObserver
from media.weak_links import WeakLinks
from vidconsult.domain.publishing import media_sections
from vidconsult.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from vidconsult.join_trace import JoinTrace
from vidconsult.ports import (
    MediaListener,
    MediaStats,
    PublishedTrack,
    SessionDescription,
    TrackRef,
)

logger = logging.getLogger(__name__)

#: the spare subscribe slots of a prepared connection (docs/protocol.md, "Prepare")
PREPARED_SPARES = ("audio", "video")


class AiortcMediaEngine:
    """Terminates both peer connections of every participant and forwards published tracks.

    ``forwarder`` is for tests and future modes; by default it follows ``config.forward_mode``.
    ``trace``: the join benchmark's stage timestamps (vidconsult/join_trace.py), None = off.
    """

    def __init__(
        self,
        config: MediaConfig,
        *,
        forwarder: Forwarder | None = None,
        trace: JoinTrace | None = None,
    ) -> None:
        check_aiortc()
        enable_rid_extensions()  # simulcast publishers (media/simulcast.py)
        self._config = config
        self._forwarder = forwarder or create_forwarder(config)
        self._dispatch = ListenerDispatcher(config.listener_timeout)
        self._rooms = Rooms()
        self._closing_rooms: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed_bytes = 0
        self._closed_packets = 0
        self._observers = TrackObservers()
        self._links = WeakLinks(self._rooms, config.video_bitrate_kbps)
        #: a room spanning nodes (media/node_relay.py); idle until ``relays.configure``
        self.relays = NodeRelays(self, self._rooms)
        self._trace = trace
        #: connections prepared before a join click, by (room, key): not in the room (nothing
        #: subscribes them, they publish nothing) until :meth:`adopt` at the join
        self._prepared: dict[tuple[str, str], Participant] = {}

    def set_listener(self, listener: MediaListener) -> None:
        self._dispatch.set_listener(self.relays.listener_for(listener))

    # --- participants ---

    async def add_participant(
        self, room_id: str, identity: str, *, can_publish: bool, can_subscribe: bool
    ) -> None:
        if self._rooms.get(room_id, identity) is not None:
            logger.info("replacing media session room=%s identity=%s", room_id, identity)
            await self.remove_participant(room_id, identity)
        part = Participant(room_id, identity, can_publish, can_subscribe)
        if can_subscribe:
            pc = self._new_pc(room_id, identity, "subscribe")
            part.subscriber = SubscribeSession(room_id, identity, pc, self._forwarder)
        self._rooms.add(part)
        logger.debug("media participant added room=%s identity=%s", room_id, identity)

    # --- connections prepared before the join click (docs/protocol.md, "Prepare") ---

    async def prepare(
        self, room_id: str, key: str, identity: str, *, can_publish: bool, can_subscribe: bool
    ) -> SessionDescription | None:
        """Media connections for someone who has not joined yet, kept apart under ``key``
        (its signaling session): the subscribe connection's first offer (one inactive section
        and the spare slots, fed by nothing), or None when it may not subscribe. Its publish
        offer goes to :meth:`prepared_publish`. Nothing is forwarded to or from it before
        :meth:`adopt`."""
        await self.drop_prepared(room_id, key)
        part = Participant(room_id, identity, can_publish, can_subscribe)
        self._prepared[(room_id, key)] = part
        if not can_subscribe:
            return None
        pc = self._new_pc(room_id, identity, "subscribe")
        part.subscriber = SubscribeSession(room_id, identity, pc, self._forwarder)
        # one spare audio and video slot: the first publisher it subscribes to at the join
        # (a consultation's other side) reaches it at once, before a new offer is answered
        return await part.subscriber.prepare_offer(PREPARED_SPARES)

    async def prepared_publish(
        self, room_id: str, key: str, offer: SessionDescription
    ) -> SessionDescription:
        """Answer the publish offer of a prepared connection. Every media section must be
        inactive or receive-only: nobody is heard or seen before the join (``not_joined``)."""
        part = self._prepared_part(room_id, key)
        if not part.can_publish:
            raise PermissionDenied(f"{part.identity} may not publish", code="permission_denied")
        remote = parse_remote(
            offer.sdp, offer.type, expected_type="offer", max_bytes=self._config.max_sdp_bytes
        )
        for m in remote.parsed.media:
            if m.kind in ("audio", "video") and remote.accepted(m) and m.direction in SENDING:
                raise Conflict("join the room before sending media", code="not_joined")
        return await self._publish(part, remote, offer.sources)

    async def prepared_answer(self, room_id: str, key: str, answer: SessionDescription) -> None:
        part = self._prepared_part(room_id, key)
        if part.subscriber is None:
            raise PermissionDenied(f"{part.identity} may not subscribe", code="permission_denied")
        remote = parse_remote(
            answer.sdp, answer.type, expected_type="answer", max_bytes=self._config.max_sdp_bytes
        )
        # nothing changes on a prepared connection, so no new offer follows
        await part.subscriber.apply_answer(remote)

    async def adopt(self, room_id: str, key: str, identity: str) -> bool:
        """At the join: the connections prepared under ``key`` become ``identity``'s in the
        room (as :meth:`add_participant` would make them). False: none were prepared (or they
        failed), call :meth:`add_participant`."""
        part = self._prepared.pop((room_id, key), None)
        if part is None:
            return False
        sessions = [s for s in (part.publisher, part.subscriber) if s is not None]
        if part.identity != identity or any(
            s.pc.connectionState in ("failed", "closed") for s in sessions
        ):
            await self._close_prepared(part)
            return False
        if self._rooms.get(room_id, identity) is not None:
            logger.info("replacing media session room=%s identity=%s", room_id, identity)
            await self.remove_participant(room_id, identity)
        self._rooms.add(part)
        logger.debug("prepared media participant joined room=%s identity=%s", room_id, identity)
        return True

    async def drop_prepared(self, room_id: str, key: str) -> None:
        part = self._prepared.pop((room_id, key), None)
        if part is not None:
            await self._close_prepared(part)

    def prepared_count(self, room_id: str | None = None) -> int:
        return sum(1 for r, _ in self._prepared if room_id in (None, r))

    def _prepared_part(self, room_id: str, key: str) -> Participant:
        part = self._prepared.get((room_id, key))
        if part is None:
            raise Conflict("nothing prepared for this connection", code="not_prepared")
        return part

    async def _close_prepared(self, part: Participant) -> None:
        if part.publisher is not None:
            await part.publisher.close()  # it published nothing
        if part.subscriber is not None:
            await part.subscriber.close()

    async def remove_participant(self, room_id: str, identity: str) -> None:
        part = self._rooms.pop(room_id, identity)
        if part is None:
            return
        if part.publisher is not None:
            ended = await part.publisher.close()
            await self._tracks_ended(part, ended)
        if part.subscriber is not None:
            sent_bytes, sent_packets = await part.subscriber.close()
            self._closed_bytes += sent_bytes
            self._closed_packets += sent_packets
        logger.debug("media participant removed room=%s identity=%s", room_id, identity)

    async def close_room(self, room_id: str) -> None:
        self._closing_rooms.add(room_id)  # nobody to renegotiate with any more
        try:
            for r, key in list(self._prepared):
                if r == room_id:
                    await self.drop_prepared(r, key)
            await self.relays.room_closed(room_id)
            for part in self._rooms.members(room_id):
                await self.remove_participant(room_id, part.identity)
            self._rooms.drop(room_id)
            await self._dispatch.close_room(room_id)
            self._links.forget(room_id)
        finally:
            self._closing_rooms.discard(room_id)

    async def close(self) -> None:
        for room_id, key in list(self._prepared):
            await self.drop_prepared(room_id, key)
        for room_id in self._rooms.ids():
            await self.close_room(room_id)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.relays.close()
        await self._dispatch.close()
        await self._forwarder.close()

    # --- publishing ---

    async def publish(
        self, room_id: str, identity: str, offer: SessionDescription
    ) -> SessionDescription:
        part = self._rooms.participant(room_id, identity)
        if not part.can_publish:
            raise PermissionDenied(f"{identity} may not publish", code="permission_denied")
        remote = parse_remote(
            offer.sdp, offer.type, expected_type="offer", max_bytes=self._config.max_sdp_bytes
        )
        return await self._publish(part, remote, offer.sources)

    async def _publish(
        self, part: Participant, remote: RemoteDescription, sources: Mapping[str, str] | None
    ) -> SessionDescription:
        room_id, identity = part.room_id, part.identity
        if not part.can_publish:
            raise PermissionDenied(f"{identity} may not publish", code="permission_denied")
        session = part.publisher
        if session is not None and not session.usable:
            # the client gave up on a failed connection and offers on a new one
            logger.info(
                "replacing failed publish connection room=%s identity=%s", room_id, identity
            )
            part.publisher = None
            await self._tracks_ended(part, await session.close())
            session = None
        if session is None:
            session = PublishSession(
                room_id,
                identity,
                self._new_pc(room_id, identity, "publish"),
                decode=self._config.forward_mode == "reencode",
            )
            part.publisher = session
        try:
            changes = await session.negotiate(remote, sources)
        except InvalidInput:
            if session.pc.remoteDescription is None:  # a first offer that failed: start afresh
                part.publisher = None
                await session.pc.close()
            raise
        await self._tracks_ended(part, changes.ended)
        kbps = self._links.apply(session)
        for entry in changes.added:
            if entry.ingress is not None:
                entry.ingress.track_sid = entry.sid
            self._forwarder.attach(
                PublisherSource(
                    entry.sid,
                    entry.kind.value,
                    entry.codec,
                    entry.track,
                    entry.receiver,
                    entry.ingress,
                )
            )
            if self._trace is not None:
                self._trace_source(room_id, identity, entry.sid)
            track = published(entry)
            self._observers.published(room_id, identity, track)
            self._dispatch.post(room_id, "on_track_published", identity, track)
            logger.info(
                "track published room=%s identity=%s track=%s kind=%s source=%s codec=%s mid=%s",
                room_id,
                identity,
                entry.sid,
                entry.kind,
                entry.source,
                entry.codec,
                entry.mid,
            )
        return self._links.answer(changes.answer, kbps)

    async def set_track_muted(
        self, room_id: str, identity: str, track_sid: str, muted: bool
    ) -> None:
        entry = self._rooms.find_track(room_id, identity, track_sid)
        if entry is None:  # ended meanwhile; on_track_ended is on its way
            logger.debug("mute of a gone track room=%s track=%s", room_id, track_sid)
            return
        entry.muted = muted
        if entry.ingress is not None:
            entry.ingress.taps_muted = muted
        self._forwarder.set_muted(track_sid, muted)

    # --- bandwidth for weak links (media/weak_links.py) ---

    async def set_bitrate_cap(self, room_id: str, kbps: int, identity: str | None = None) -> None:
        """Cap the video bitrate of every publisher in the room (``identity`` None) or of one
        participant; 0 removes that cap. Told by REMB now, and in the next publish answer."""
        await self._links.set_bitrate_cap(room_id, kbps, identity)

    async def set_audio_only(self, room_id: str, identity: str, enabled: bool) -> None:
        """A subscriber on a poor link: its video subscriptions are held (kept, not
        forwarded) until disabled again; audio keeps flowing. Renegotiates."""
        part = self._rooms.get(room_id, identity)
        if part is not None and self._links.set_audio_only(part, enabled):
            assert part.subscriber is not None
            await self._offer(part.subscriber)

    def subscriber_links(self, room_id: str, identity: str) -> list[dict[str, Any]]:
        """Per track a subscriber receives: its simulcast layer, whether video is paused for
        its link, and the link's estimate (``media.downstream.Downstream.link``), plus
        ``publisher``, ``track_sid`` and ``kind``. Empty for an unknown subscriber."""
        sub = self._rooms.find_subscriber(room_id, identity)
        links: list[dict[str, Any]] = []
        for slot in sub.slots if sub is not None else []:
            ref = slot.ref
            if ref is None:
                continue
            info = self._forwarder.link(slot.output) or {}
            links.append(
                {"publisher": ref.publisher, "track_sid": ref.track_sid, "kind": ref.kind.value}
                | info
            )
        return links

    # --- encoded taps (docs/media.md, "Taps") ---

    def add_tap(self, room_id: str, identity: str, track_sid: str, tap: EncodedTap) -> None:
        entry = self._rooms.find_track(room_id, identity, track_sid)
        if entry is None or entry.ingress is None:
            raise NotFound(f"no published track {track_sid} of {identity} in room {room_id}")
        entry.ingress.add_tap(tap)

    def remove_tap(self, room_id: str, identity: str, track_sid: str, tap: EncodedTap) -> None:
        entry = self._rooms.find_track(room_id, identity, track_sid)
        if entry is not None and entry.ingress is not None:
            entry.ingress.remove_tap(tap)

    def published_tracks(self, room_id: str) -> list[tuple[str, PublishedTrack]]:
        return self._rooms.published_tracks(room_id)

    def add_track_observer(self, observer: TrackObserver) -> None:
        self._observers.add(observer)

    def remove_track_observer(self, observer: TrackObserver) -> None:
        self._observers.remove(observer)

    # --- subscribing ---
    # A subscription naming a participant or track that is already gone is a race with
    # on_track_ended / remove_participant, not an error: it is ignored.

    async def subscribe(
        self, room_id: str, subscriber: str, publisher: str, track_sid: str
    ) -> None:
        sub = self._rooms.find_subscriber(room_id, subscriber)
        entry = self._rooms.find_track(room_id, publisher, track_sid)
        if sub is None or entry is None or sub.closed:
            logger.debug(
                "subscribe to a gone track ignored room=%s subscriber=%s track=%s",
                room_id,
                subscriber,
                track_sid,
            )
            return
        if sub.find(publisher, track_sid) is not None:
            return
        part = self._rooms.participant(room_id, subscriber)
        ref = TrackRef(publisher, track_sid, entry.kind, entry.source)
        if self._links.held_back(part, ref):
            return
        sub.add(ref)
        if self._trace is not None:
            self._trace.mark(room_id, subscriber, "subscribed")
            self._trace_output(sub, publisher, track_sid)
        logger.debug(
            "subscribed room=%s subscriber=%s publisher=%s track=%s",
            room_id,
            subscriber,
            publisher,
            track_sid,
        )
        self._offer_soon(sub)

    async def subscribe_layers(
        self, room_id: str, subscriber: str, publisher: str, track_sid: str
    ) -> None:
        """A relay leg's subscription (media/node_relay.py): a simulcast video track gets one
        slot per layer, each pinned to its layer (:meth:`slot_layers` says which); any other
        track one slot, as :meth:`subscribe`."""
        sub = self._rooms.find_subscriber(room_id, subscriber)
        entry = self._rooms.find_track(room_id, publisher, track_sid)
        layers = entry.ingress.layer_count if entry is not None and entry.ingress else 1
        find = getattr(self._forwarder, "source", None)  # layers need the passthrough
        if sub is None or entry is None or sub.closed or layers < 2 or find is None:
            await self.subscribe(room_id, subscriber, publisher, track_sid)
            return
        if sub.find(publisher, track_sid) is not None:
            return
        ref = TrackRef(publisher, track_sid, entry.kind, entry.source)
        for layer in range(layers):
            sub.add(ref, (layer, layers))
        logger.debug(
            "subscribed per layer room=%s subscriber=%s track=%s layers=%d",
            room_id,
            subscriber,
            track_sid,
            layers,
        )
        self._offer_soon(sub)

    def slot_layers(self, room_id: str, identity: str) -> dict[str, tuple[str, int, int]]:
        """mid -> (track sid, layer, layers) of a subscriber's slots pinned to one layer."""
        sub = self._rooms.find_subscriber(room_id, identity)
        found: dict[str, tuple[str, int, int]] = {}
        for slot in sub.slots if sub is not None else []:
            mid = slot.transceiver.mid
            if slot.ref is not None and slot.layer is not None and mid is not None:
                found[mid] = (slot.ref.track_sid, *slot.layer)
        return found

    async def unsubscribe(
        self, room_id: str, subscriber: str, publisher: str, track_sid: str
    ) -> None:
        sub = self._rooms.find_subscriber(room_id, subscriber)
        part = self._rooms.get(room_id, subscriber)
        if part is not None:
            part.held.pop(track_sid, None)
        slots = sub.find_all(publisher, track_sid) if sub is not None else []
        if sub is None or not slots:
            return
        for slot in slots:
            sub.remove(slot)
        await self._offer(sub)

    async def subscriber_answer(
        self, room_id: str, identity: str, answer: SessionDescription
    ) -> None:
        sub = self._rooms.subscriber(room_id, identity)
        local = sub.pc.localDescription
        # a cheap check first: parsing a large answer costs the loop ~30 ms per 100 KB
        if local is not None and media_sections(answer.sdp) != media_sections(local.sdp):
            raise InvalidInput(
                "media sections in the answer do not match the offer", code="invalid_sdp"
            )
        remote = parse_remote(
            answer.sdp, answer.type, expected_type="answer", max_bytes=self._config.max_sdp_bytes
        )
        if await sub.apply_answer(remote):
            await self._offer(sub)

    def _offer_soon(self, sub: SubscribeSession) -> None:
        """Offer once the room's events already queued are delivered: a publisher's audio and
        video (one ``on_track_published`` each, the listener subscribing others to each), or
        the tracks a newcomer subscribes to in a row, go out in ONE offer. Offered one by one,
        the video waited for the answer to the audio-only offer and a second negotiation
        (issue 15)."""
        if sub.offer_queued:
            return
        sub.offer_queued = True

        async def offer() -> None:
            sub.offer_queued = False
            if self._trace is not None:
                self._trace.mark(sub.room_id, sub.identity, "subscribeOfferJob")
            await self._offer(sub)

        self._dispatch.post_job(sub.room_id, offer)

    async def _offer(self, sub: SubscribeSession) -> None:
        made = await sub.make_offer()
        if made is not None:
            if self._trace is not None:
                self._trace.mark(sub.room_id, sub.identity, "subscribeOfferMade")
            self._dispatch.post(
                sub.room_id,
                "on_subscriber_offer",
                sub.identity,
                made.offer,
                made.tracks,
                on_error=sub.offer_lost,
            )

    # --- stats ---

    def stats(self) -> MediaStats:
        publishers, subscriptions, sent_bytes, sent_packets = self._rooms.usage()
        fwd = self._forwarder.stats()
        return MediaStats(
            rooms=len(self._rooms),
            publishers=publishers,
            subscriptions=subscriptions,
            bytes_forwarded=self._closed_bytes + sent_bytes,
            packets_forwarded=self._closed_packets + sent_packets,
            extra={
                "forward_mode": self._config.forward_mode,
                "sources": fwd.sources,
                "outputs": fwd.outputs,
                "frames_in": fwd.frames_in,
                "frames_out": fwd.frames_out,
            },
        )

    # --- internals ---

    def _new_pc(self, room_id: str, identity: str, direction: str) -> RTCPeerConnection:
        pc = RTCPeerConnection(self._config.rtc_configuration())
        pc.on("connectionstatechange", self._state_handler(pc, room_id, identity, direction))
        trace = self._trace
        if trace is not None:

            @pc.on("iceconnectionstatechange")
            def on_ice() -> None:
                if pc.iceConnectionState == "completed":
                    trace.mark(room_id, identity, f"{direction}.ice")

            @pc.on("connectionstatechange")
            def on_dtls() -> None:
                if pc.connectionState == "connected":
                    trace.mark(room_id, identity, f"{direction}.dtls")

        return pc

    # --- the join benchmark's stage timestamps (vidconsult/join_trace.py) ---

    def _trace_source(self, room_id: str, identity: str, track_sid: str) -> None:
        """The passthrough's source marks the publisher's first RTP in."""
        assert self._trace is not None
        find = getattr(self._forwarder, "source", None)
        src = find(track_sid) if find is not None else None
        if src is not None:
            src.trace = self._trace.marker(room_id, identity)

    def _trace_output(self, sub: SubscribeSession, publisher: str, track_sid: str) -> None:
        """The passthrough's downstream marks the keyframe asked for a new subscriber and
        the first packets it forwards to it."""
        assert self._trace is not None
        slot = sub.find(publisher, track_sid)
        downstream = getattr(slot.output, "downstream", None) if slot is not None else None
        if downstream is not None:
            downstream.trace = self._trace.marker(sub.room_id, sub.identity)

    def _state_handler(
        self, pc: RTCPeerConnection, room_id: str, identity: str, direction: str
    ) -> Callable[[], None]:
        def on_state() -> None:
            state = pc.connectionState
            logger.info(
                "connection state room=%s identity=%s direction=%s state=%s",
                room_id,
                identity,
                direction,
                state,
            )
            self._dispatch.post(room_id, "on_connection_state", identity, direction, state)
            if direction == "publish" and state in ("failed", "closed"):
                self._publisher_gone(room_id, identity, pc)

        return on_state

    def _publisher_gone(self, room_id: str, identity: str, pc: RTCPeerConnection) -> None:
        """The publish connection failed or the client closed it: its tracks end."""
        part = self._rooms.get(room_id, identity)
        if part is None or part.publisher is None or part.publisher.pc is not pc:
            return
        ended = part.publisher.end_all()
        if ended:
            self._spawn(self._tracks_ended(part, ended))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("media background task failed", exc_info=task.exception())

    async def _tracks_ended(self, part: Participant, ended: list[PublishedEntry]) -> None:
        subscribers: set[str] = set()
        for entry in ended:
            subscribers |= self._end_track(part, entry)
        if part.room_id in self._closing_rooms:
            return
        for identity in subscribers:
            other = self._rooms.get(part.room_id, identity)
            if other is not None and other.subscriber is not None:
                await self._offer(other.subscriber)

    def _end_track(self, part: Participant, entry: PublishedEntry) -> set[str]:
        """Stop forwarding a track and unmap it everywhere; returns who must renegotiate."""
        touched: set[str] = set()
        for other in self._rooms.members(part.room_id):
            other.held.pop(entry.sid, None)
            sub = other.subscriber
            slots = sub.find_all(part.identity, entry.sid) if sub is not None else []
            for slot in slots:
                assert sub is not None
                sub.remove(slot)
                touched.add(other.identity)
        self._forwarder.detach(entry.sid)
        if entry.ingress is not None:
            entry.ingress.end()
        self._observers.ended(part.room_id, part.identity, entry.sid)
        self._dispatch.post(part.room_id, "on_track_ended", part.identity, entry.sid)
        logger.info(
            "track ended room=%s identity=%s track=%s", part.room_id, part.identity, entry.sid
        )
        return touched
