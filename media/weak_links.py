"""``WeakLinks``: what the engine does for participants on poor (rural) links.

* Bitrate caps (:class:`~media.bandwidth.BitrateCaps`): a publisher is told its cap by REMB at
  once, aiortc's own REMB estimates are clamped to it (in the track's
  :class:`~media.ingress.Ingress`), and the video sections of its later publish answers carry
  ``b=AS`` / ``b=TIAS``.
* Audio-only subscribers: their video subscriptions are held (kept in ``Participant.held``,
  not forwarded) until audio-only is turned off again.

The engine renegotiates; this module only changes state and talks RTCP.
"""

from __future__ import annotations

import logging

from media.bandwidth import BitrateCaps, with_video_bitrate
from media.publisher import PublishSession
from media.rooms import Participant, Rooms
from vidconsult.ports import SessionDescription, TrackRef

logger = logging.getLogger(__name__)


class WeakLinks:
    def __init__(self, rooms: Rooms, default_kbps: int = 0) -> None:
        self._rooms = rooms
        self._caps = BitrateCaps(default_kbps)

    # --- bitrate caps ---

    async def set_bitrate_cap(self, room_id: str, kbps: int, identity: str | None) -> None:
        self._caps.set(room_id, kbps, identity)
        for part in self._rooms.members(room_id):
            if part.publisher is None or identity not in (None, part.identity):
                continue
            cap = self.apply(part.publisher)
            if not cap:
                continue
            for entry in list(part.publisher.tracks.values()):
                if entry.ingress is not None and entry.kind.value == "video":
                    await entry.ingress.send_remb(cap * 1000)

    def apply(self, session: PublishSession) -> int:
        """Set the publisher's cap on its video ingresses (the REMB clamp); returns it in
        kbit/s, 0 = none."""
        kbps = self._caps.kbps(session.room_id, session.identity)
        for entry in session.tracks.values():
            if entry.ingress is not None and entry.kind.value == "video":
                entry.ingress.set_cap(manual=kbps * 1000)
        return kbps

    @staticmethod
    def answer(answer: SessionDescription, kbps: int) -> SessionDescription:
        """The publish answer with the cap on its video sections."""
        if not kbps:
            return answer
        return SessionDescription(with_video_bitrate(answer.sdp, kbps), answer.type)

    def forget(self, room_id: str) -> None:
        self._caps.forget(room_id)

    # --- audio-only subscribers ---

    def set_audio_only(self, part: Participant, enabled: bool) -> bool:
        """Hold (or give back) the subscriber's video subscriptions; True if its slots
        changed, i.e. it must be offered again."""
        sub = part.subscriber
        if sub is None or part.audio_only == enabled:
            return False
        part.audio_only = enabled
        if enabled:
            for slot in list(sub.slots):
                ref = slot.ref
                if ref is not None and ref.kind.value == "video":
                    part.held[ref.track_sid] = ref
                    sub.remove(slot)
        else:
            held, part.held = part.held, {}
            for ref in held.values():
                if self._rooms.find_track(part.room_id, ref.publisher, ref.track_sid) is not None:
                    sub.add(ref)
        logger.info(
            "audio only room=%s identity=%s enabled=%s", part.room_id, part.identity, enabled
        )
        return True

    @staticmethod
    def held_back(part: Participant, ref: TrackRef) -> bool:
        """A new subscription of an audio-only subscriber: video is held, not forwarded."""
        if part.audio_only and ref.kind.value == "video":
            part.held[ref.track_sid] = ref
            return True
        return False
