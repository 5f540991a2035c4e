"""Interfaces the core defines and the adapters implement.

``signaling/`` implements :class:`Notifier` (delivering events to connected clients), ``media/``
implements :class:`MediaEngine` (terminating peer connections and forwarding tracks). The core's
services talk only to these protocols, so neither adapter imports the other and the core imports
neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from vidconsult.domain.rooms import TrackKind, TrackSource


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SessionDescription:
    sdp: str
    type: str  # "offer" | "answer"
    # a publish offer's declared source of each track, by mid ("camera", "screen", ...)
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TrackRef:
    """Which participant's which track a subscriber's transceiver (by ``mid``) carries."""

    publisher: str
    track_sid: str
    kind: TrackKind
    source: TrackSource | None = None  # None: the kind's default (camera / microphone)


@dataclass(frozen=True, slots=True)
class PublishedTrack:
    """A track a publisher's peer connection delivered to the media engine."""

    sid: str
    kind: TrackKind
    codec: str = ""  # e.g. "video/VP8", when known
    mid: str | None = None  # the transceiver mid on the publisher's own publish connection
    source: TrackSource | None = None  # None: the kind's default (camera / microphone)

    @property
    def shows(self) -> TrackSource:
        return self.source or TrackSource.of(self.kind)


class MediaListener(Protocol):
    """Callbacks from the media engine into the core (implemented by the room service).

    Every method must return quickly and never raise into the media engine.
    """

    async def on_track_published(
        self, room_id: str, identity: str, track: PublishedTrack
    ) -> None: ...

    async def on_track_ended(self, room_id: str, identity: str, track_sid: str) -> None: ...

    async def on_subscriber_offer(
        self,
        room_id: str,
        identity: str,
        offer: SessionDescription,
        tracks: Mapping[str, TrackRef],
    ) -> None:
        """The engine renegotiated ``identity``'s subscribe connection; deliver ``offer``
        with the mid -> track map. The answer comes back through
        :meth:`MediaEngine.subscriber_answer`."""

    async def on_connection_state(
        self, room_id: str, identity: str, direction: str, state: str
    ) -> None:
        """``direction`` is "publish" or "subscribe"; ``state`` is the RTCPeerConnection
        connectionState (new/connecting/connected/disconnected/failed/closed)."""


@dataclass(slots=True)
class MediaStats:
    rooms: int = 0
    publishers: int = 0
    subscriptions: int = 0
    bytes_forwarded: int = 0
    packets_forwarded: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RelayEdge:
    """A node that has audience for a room: its id and the base URL of its internal API."""

    node_id: str
    url: str


class RelayCourier(Protocol):
    """Carries a relay leg's signaling from the room's home node to an edge node (over HTTP
    with the cluster secret: ``web/relay_api.py``)."""

    async def offer(
        self, edge: RelayEdge, room_id: str, publisher: str, offer: SessionDescription
    ) -> str:
        """Deliver the leg's offer (``offer.sources``: each track's source by mid); returns
        the edge's answer SDP."""
        ...

    async def end(self, edge: RelayEdge, room_id: str, publisher: str) -> None:
        """The publisher's relay ended: the edge drops its relayed publisher."""

    async def join(self, origin_url: str, room_id: str, own_url: str) -> list[str]:
        """(edge) this node has audience for ``room_id``, held by the node at ``origin_url``:
        relay its publishers to ``own_url``; returns the publishers relayed now."""
        ...

    async def leave(self, origin_url: str, room_id: str) -> bool:
        """(edge) no more audience here: the origin closes this node's legs."""
        ...


class NodeRelay(Protocol):
    """A room spanning nodes (docs/media.md, "Rooms across nodes"): both ends of the media
    relay of one node (implemented by ``media.node_relay.NodeRelays``)."""

    async def add_edge(self, room_id: str, edge: RelayEdge) -> list[str]:
        """(origin) ``edge`` has audience for the room: relay its publishers there."""
        ...

    async def remove_edge(self, room_id: str, node_id: str) -> bool: ...

    async def accept_offer(
        self, room_id: str, origin: str, publisher: str, offer: SessionDescription
    ) -> SessionDescription:
        """(edge) a leg's offer from the origin: answered by this node's publish path."""
        ...

    async def end_relayed(self, room_id: str, origin: str, publisher: str) -> bool: ...

    async def serve_audience(
        self, room_id: str, identity: str, session_id: str, origin: str, origin_url: str
    ) -> None:
        """(edge) a listener whose socket is here watches the room from this node's engine;
        the room's first one registers this node with the origin (``relay_unreachable`` if
        it cannot)."""
        ...

    async def drop_audience(self, room_id: str, identity: str, session_id: str) -> bool:
        """(edge) the listener's session ended; the last one unregisters this node."""
        ...

    async def origin_gone(self, origin: str) -> None:
        """(edge) the origin node died: its rooms' audience and relayed publishers go."""
        ...

    def state(self) -> dict[str, Any]: ...


class MediaEngine(Protocol):
    """Terminates participants' peer connections and forwards published tracks.

    Two peer connections per participant: *publish* (client offers, engine answers) and
    *subscribe* (engine offers, client answers, renegotiated as subscriptions change).
    """

    def set_listener(self, listener: MediaListener) -> None: ...

    async def add_participant(
        self, room_id: str, identity: str, *, can_publish: bool, can_subscribe: bool
    ) -> None: ...

    async def prepare(
        self, room_id: str, key: str, identity: str, *, can_publish: bool, can_subscribe: bool
    ) -> SessionDescription | None:
        """Media connections made before the join (``key``: the signaling session), outside
        the room: nothing is forwarded to or from them until :meth:`adopt`. Returns the
        subscribe connection's first offer (no track in it), None if it may not subscribe."""
        ...

    async def prepared_publish(
        self, room_id: str, key: str, offer: SessionDescription
    ) -> SessionDescription:
        """Answer a prepared publish offer; a section that would send is refused
        (``not_joined``)."""
        ...

    async def prepared_answer(self, room_id: str, key: str, answer: SessionDescription) -> None: ...

    async def adopt(self, room_id: str, key: str, identity: str) -> bool:
        """The prepared connections become ``identity``'s in the room (instead of
        :meth:`add_participant`); False when there are none (or they failed)."""
        ...

    async def drop_prepared(self, room_id: str, key: str) -> None: ...

    async def publish(
        self, room_id: str, identity: str, offer: SessionDescription
    ) -> SessionDescription:
        """Apply a publish offer (initial or renegotiation); return the answer.
        Raises :class:`vidconsult.errors.InvalidInput` on a malformed SDP, leaving the existing
        session untouched."""
        ...

    async def subscribe(
        self, room_id: str, subscriber: str, publisher: str, track_sid: str
    ) -> None:
        """Forward ``publisher``'s track to ``subscriber`` (renegotiates, asynchronously)."""
        ...

    async def unsubscribe(
        self, room_id: str, subscriber: str, publisher: str, track_sid: str
    ) -> None: ...

    async def subscriber_answer(
        self, room_id: str, identity: str, answer: SessionDescription
    ) -> None: ...

    async def set_track_muted(
        self, room_id: str, identity: str, track_sid: str, muted: bool
    ) -> None: ...

    async def set_bitrate_cap(self, room_id: str, kbps: int, identity: str | None = None) -> None:
        """Cap publishers' video bitrate in the room (or of one participant); 0 = no cap.
        The publisher is told by REMB now and by b=AS/TIAS in its next publish answer."""
        ...

    async def set_audio_only(self, room_id: str, identity: str, enabled: bool) -> None:
        """A subscriber on a poor link: hold its video subscriptions, keep audio flowing."""
        ...

    def subscriber_links(self, room_id: str, identity: str) -> list[dict[str, Any]]:
        """Per track a subscriber receives: ``publisher``, ``track_sid``, ``kind``, and what
        the engine adapts to its link, where it does (simulcast ``layers``/``layer``, video
        ``paused`` for a link too thin, ``estimate_kbps``, ``fraction_lost``)."""
        ...

    async def remove_participant(self, room_id: str, identity: str) -> None: ...

    async def close_room(self, room_id: str) -> None: ...

    async def close(self) -> None: ...

    def stats(self) -> MediaStats: ...


class Notifier(Protocol):
    """Delivers server events to connected participants (implemented by signaling).

    Participants are addressed by (room, identity); :meth:`bind` says which connection
    (``session_id``) currently speaks for an identity, so a replaced session gets nothing more.
    """

    def bind(self, room_id: str, identity: str, session_id: str) -> None: ...

    def unbind(self, room_id: str, identity: str, session_id: str) -> None:
        """Forget the binding if ``session_id`` still holds it."""

    async def send(self, room_id: str, identity: str, event: str, payload: dict[str, Any]) -> None:
        """To one participant."""
        ...

    async def broadcast(
        self,
        room_id: str,
        event: str,
        payload: dict[str, Any],
        *,
        exclude: str | None = None,
    ) -> None:
        """To every participant of the room (except ``exclude``)."""
        ...

    async def disconnect(self, room_id: str, identity: str, reason: str) -> None:
        """Close the participant's signaling connection after its pending events. Must not call
        back into the services before returning (schedule the close instead)."""
        ...


# recording ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecordingTarget:
    """One participant's file: where it goes and what it is tagged with."""

    recording_id: str
    room_id: str
    identity: str
    path: str  # absolute path of the file to write
    container: str  # "webm" | "matroska"
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordedFile:
    """What a finished (or failed) participant file holds."""

    recording_id: str
    duration_ms: int
    size: int
    sha256: str
    kinds: list[str]
    codecs: list[str]
    offset_ms: int  # where the file's 0 is after the room recording's start
    error: str | None = None
    # kinds of the tracks the file was to hold that never reached it (its video, when the
    # camera's keyframe never came in time): the index says so, the file is not silently short
    missing: list[str] = field(default_factory=list)


class RecorderListener(Protocol):
    """Callbacks from a :class:`Recorder` (on the event loop, synchronous, must not raise)."""

    def on_track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None: ...

    def on_track_ended(self, room_id: str, identity: str, track_sid: str) -> None: ...

    def on_recording_failed(self, recording_id: str, error: str) -> None:
        """The file stopped being written (e.g. ``"disk_full"``); :meth:`Recorder.finish` it."""

    def on_tracks_ended(self, recording_id: str) -> None:
        """Every track of the file has ended (the participant left or unpublished)."""


class Recorder(Protocol):
    """Writes participants' published tracks to files as received, without re-encoding
    (implemented by ``media/recording``)."""

    def set_listener(self, listener: RecorderListener) -> None: ...

    def published_tracks(self, room_id: str) -> list[tuple[str, PublishedTrack]]:
        """(identity, track) of every track now published in the room."""
        ...

    def container_for(self, codecs: list[str]) -> tuple[str, str]:
        """(container, file extension) for these mime types."""
        ...

    def start(
        self, target: RecordingTarget, tracks: list[PublishedTrack], *, origin: float
    ) -> list[str]:
        """Open the file and tap ``tracks``; ``origin`` is the room recording's start on the
        recorder's clock (:meth:`now`). Returns the sids of the tracks taken."""
        ...

    def add_track(self, recording_id: str, track: PublishedTrack) -> bool:
        """Tap one more track into an open file; False when the file cannot take it any more
        (its header is written: start a new file)."""
        ...

    async def finish(self, recording_id: str) -> RecordedFile:
        """Untap, close (trailer, fsync) and hash the file."""
        ...

    def now(self) -> float: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CompositeInput:
    """One participant file in a composite export."""

    path: str
    offset: float  # seconds from the room recording's start
    duration: float  # seconds
    label: str = ""


class StaffPush(Protocol):
    """Delivers events to the open workspaces of staff (experts, coordinators, unit doctors)
    signed in with their dashboard login (implemented by signaling's ``/staff`` namespace)."""

    async def to_person(self, identity: str, event: str, payload: dict[str, Any]) -> int:
        """To every open workspace of ``identity``; how many sessions it reached."""
        ...

    async def to_coordinators(self, event: str, payload: dict[str, Any]) -> int:
        """To every open coordinator dashboard; how many sessions it reached."""
        ...
