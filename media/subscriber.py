"""A participant's subscribe connection: the engine offers, the client answers.

One transceiver (a *slot*) per forwarded track. At most one offer is outstanding: changes made
while the client has not answered yet only mark the session dirty, and the next offer, made
when the answer arrives, folds them all in. An unsubscribed slot goes ``inactive``; once the
client has answered that, the slot may carry another track of the same kind.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from aiortc import (
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamTrack

from media.compat import sender_counters
from media.forwarding import Forwarder
from media.sdp import RemoteDescription, check_same_sections, invalid
from vidconsult.errors import Conflict
from vidconsult.ports import SessionDescription, TrackRef

logger = logging.getLogger(__name__)


@runtime_checkable
class SpareOutputs(Protocol):
    """A forwarder that makes outputs fed by nothing yet (the passthrough): subscribe slots
    negotiated ahead of their track, which a track then takes without a new negotiation."""

    def spare(self, kind: str) -> MediaStreamTrack: ...

    def spare_fits(self, output: MediaStreamTrack, track_sid: str) -> bool: ...

    def spare_preferences(self, kind: str) -> list[RTCRtpCodecCapability] | None: ...

    def bind(self, output: MediaStreamTrack, sender: RTCRtpSender) -> None: ...


@dataclass(slots=True)
class Slot:
    transceiver: RTCRtpTransceiver
    output: MediaStreamTrack
    ref: TrackRef | None
    reusable: bool = False  # inactive, and the client has answered that
    #: (layer, layers): the slot carries one simulcast layer of its track (a relay leg's,
    #: media/node_relay.py); None = the layer is chosen per the subscriber's link
    layer: tuple[int, int] | None = None
    #: negotiated ahead of any track (a prepared connection's, :meth:`SubscribeSession.
    #: prepare_offer`): sending, fed by nothing; the first track of its kind and codec takes it
    #: and reaches the client at once, before any new offer is answered
    spare: bool = False


@dataclass(frozen=True, slots=True)
class SubscriberOffer:
    offer: SessionDescription
    tracks: dict[str, TrackRef]


class SubscribeSession:
    def __init__(
        self, room_id: str, identity: str, pc: RTCPeerConnection, forwarder: Forwarder
    ) -> None:
        self.room_id = room_id
        self.identity = identity
        self.pc = pc
        self._forwarder = forwarder
        self.slots: list[Slot] = []
        self.offer_pending = False
        self.offer_queued = False  # an offer is queued behind the room's events (the engine's)
        self._dirty = False
        self._offered_idle: set[int] = set()  # id(slot) offered as inactive
        self._lock = asyncio.Lock()
        self._closed = False
        # prepared before the join click (docs/protocol.md, "Prepare"): an inactive section that
        # carries ICE and DTLS until the first track is added; it never carries media
        self.placeholder: RTCRtpTransceiver | None = None

    # --- subscriptions (synchronous: they only change what the next offer will say) ---

    def find(self, publisher: str, track_sid: str) -> Slot | None:
        return next(
            (
                s
                for s in self.slots
                if s.ref and s.ref.publisher == publisher and s.ref.track_sid == track_sid
            ),
            None,
        )

    def find_all(self, publisher: str, track_sid: str) -> list[Slot]:
        """Every slot of the track (a relay leg has one per simulcast layer)."""
        return [
            s
            for s in self.slots
            if s.ref and s.ref.publisher == publisher and s.ref.track_sid == track_sid
        ]

    @property
    def closed(self) -> bool:
        return self._closed or self.pc.signalingState == "closed"

    def add(self, ref: TrackRef, layer: tuple[int, int] | None = None) -> Slot:
        """A slot for ``ref``; ``layer`` (layer, layers): it carries that simulcast layer only."""
        fwd = _spare_outputs(self._forwarder)
        spare = next(
            (
                s
                for s in self.slots
                if s.spare
                and layer is None
                and fwd is not None
                and s.transceiver.kind == ref.kind.value
                and fwd.spare_fits(s.output, ref.track_sid)
            ),
            None,
        )
        if spare is not None:
            self._forwarder.subscribe(ref.track_sid, reuse=spare.output)
            spare.ref, spare.spare = ref, False
            return spare
        slot = next(
            (s for s in self.slots if s.reusable and s.transceiver.kind == ref.kind.value), None
        )
        if slot is not None:
            _pin(slot.output, layer)
            self._forwarder.subscribe(ref.track_sid, reuse=slot.output)
            slot.transceiver.direction = "sendonly"
            slot.ref, slot.reusable, slot.layer = ref, False, layer
            return slot
        output = self._forwarder.subscribe(ref.track_sid)
        transceiver = self.pc.addTransceiver(output, direction="sendonly")
        self._forwarder.bind(output, transceiver.sender)
        _pin(output, layer)
        preferences = self._forwarder.codec_preferences(ref.track_sid)
        if preferences:
            transceiver.setCodecPreferences(preferences)
        slot = Slot(transceiver, output, ref, layer=layer)
        self.slots.append(slot)
        return slot

    def remove(self, slot: Slot) -> None:
        self._forwarder.unsubscribe(slot.output)
        slot.transceiver.direction = "inactive"
        slot.ref = None

    # --- negotiation ---

    async def prepare_offer(self, spares: tuple[str, ...] = ()) -> SessionDescription:
        """The first offer of a connection prepared before the join: one inactive audio
        section, so ICE and DTLS come up, and a spare slot per kind in ``spares`` (sendonly,
        fed by nothing: no RTP goes out before a track takes it, see :meth:`add`). Spare slots
        need a forwarder that makes them (the passthrough's ``spare``); without, none."""
        async with self._lock:
            if self.placeholder is None:
                self.placeholder = self.pc.addTransceiver("audio", direction="inactive")
                fwd = _spare_outputs(self._forwarder)
                for kind in spares if fwd is not None else ():
                    assert fwd is not None
                    output = fwd.spare(kind)
                    transceiver = self.pc.addTransceiver(output, direction="sendonly")
                    fwd.bind(output, transceiver.sender)
                    preferences = fwd.spare_preferences(kind)
                    if preferences:
                        transceiver.setCodecPreferences(preferences)
                    self.slots.append(Slot(transceiver, output, None, spare=True))
            await self.pc.setLocalDescription(await self.pc.createOffer())
            self.offer_pending, self._dirty = True, False
            return SessionDescription(self.pc.localDescription.sdp, "offer")

    async def make_offer(self) -> SubscriberOffer | None:
        """The next offer, or None when one is outstanding (the change is folded in later)."""
        async with self._lock:
            if self.closed or (not self.slots and self.placeholder is None):
                return None
            if self.offer_pending:
                self._dirty = True
                return None
            await self.pc.setLocalDescription(await self.pc.createOffer())
            self.offer_pending, self._dirty = True, False
            self._offered_idle = {id(s) for s in self.slots if s.ref is None and not s.spare}
            tracks = {
                s.transceiver.mid: s.ref
                for s in self.slots
                if s.ref is not None and s.transceiver.mid is not None
            }
            return SubscriberOffer(
                SessionDescription(self.pc.localDescription.sdp, "offer"), tracks
            )

    async def apply_answer(self, remote: RemoteDescription) -> bool:
        """Apply the client's answer; returns whether changes wait for a new offer."""
        async with self._lock:
            local = self.pc.localDescription
            if self.closed or not self.offer_pending or local is None:
                raise Conflict("no subscribe offer is waiting for an answer", code="no_offer")
            check_same_sections(remote, local.sdp)
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(remote.sdp, "answer"))
            except (ValueError, OperationError, InvalidAccessError, InvalidStateError) as exc:
                logger.warning(
                    "subscribe answer rejected by aiortc room=%s identity=%s error=%s",
                    self.room_id,
                    self.identity,
                    exc,
                )
                raise invalid(f"answer rejected: {exc}") from exc
            self.offer_pending = False
            for slot in self.slots:
                if slot.ref is None and id(slot) in self._offered_idle:
                    slot.reusable = True
            return self._dirty

    def offer_lost(self) -> None:
        """The offer never reached the client: allow the next change to offer again."""
        if self.offer_pending and self.pc.signalingState == "have-local-offer":
            self.offer_pending = False
            self._dirty = True

    # --- stats / lifecycle ---

    def counters(self) -> tuple[int, int]:
        total_bytes = total_packets = 0
        for slot in self.slots:
            sent_bytes, sent_packets = sender_counters(slot.transceiver.sender)
            total_bytes += sent_bytes
            total_packets += sent_packets
        return total_bytes, total_packets

    async def close(self) -> tuple[int, int]:
        """Close the connection; returns its final (bytes, packets) sent."""
        self._closed = True
        counters = self.counters()
        for slot in self.slots:
            self._forwarder.release(slot.output)
            slot.ref = None
        await self.pc.close()
        return counters


def _spare_outputs(forwarder: Forwarder) -> SpareOutputs | None:
    return forwarder if isinstance(forwarder, SpareOutputs) else None


def _pin(output: MediaStreamTrack, layer: tuple[int, int] | None) -> None:
    """The passthrough's downstream of ``output`` forwards that layer only (or is unpinned)."""
    downstream = getattr(output, "downstream", None)
    if downstream is not None:
        downstream.pin(None if layer is None else layer[0])
