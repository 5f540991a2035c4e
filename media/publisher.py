"""A participant's publish connection: the client offers, the engine answers (recvonly)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError
from aiortc.mediastreams import MediaStreamTrack

from media import compat
from media.ingress import Ingress
from media.sdp import (
    SENDING,
    RemoteDescription,
    check_same_sections,
    check_same_transport,
    invalid,
    negotiated_codecs,
)
from media.simulcast import SimulcastDemux, offered_layers, with_simulcast_answer
from vidconsult.domain.rooms import TrackKind, TrackSource
from vidconsult.ports import SessionDescription

logger = logging.getLogger(__name__)


def new_track_sid() -> str:
    return "TR_" + secrets.token_hex(6)


@dataclass(slots=True)
class PublishedEntry:
    sid: str
    mid: str
    kind: TrackKind
    codec: str
    track: MediaStreamTrack
    receiver: RTCRtpReceiver
    ingress: Ingress | None = None
    muted: bool = False
    source: TrackSource = TrackSource.CAMERA


@dataclass(frozen=True, slots=True)
class PublishChanges:
    answer: SessionDescription
    added: list[PublishedEntry]
    ended: list[PublishedEntry]


class PublishSession:
    def __init__(
        self, room_id: str, identity: str, pc: RTCPeerConnection, *, decode: bool = True
    ) -> None:
        self.room_id = room_id
        self.identity = identity
        self.pc = pc
        self.tracks: dict[str, PublishedEntry] = {}  # by mid, only tracks being published
        self._decode = decode
        self._ingress: dict[int, Ingress] = {}  # by id(receiver)
        self._lock = asyncio.Lock()
        pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        """aiortc emits this inside setRemoteDescription, before the receiver starts: the
        only moment its decoder queue can be replaced (see media/ingress.py)."""
        for transceiver in self.pc.getTransceivers():
            receiver = transceiver.receiver
            if receiver.track is track and id(receiver) not in self._ingress:
                self._ingress[id(receiver)] = Ingress(
                    receiver,
                    transceiver.kind,
                    compat.transceiver_codecs(transceiver),
                    decode=self._decode,
                )

    @property
    def usable(self) -> bool:
        return self.pc.connectionState not in ("failed", "closed")

    async def negotiate(
        self, remote: RemoteDescription, sources: Mapping[str, str] | None = None
    ) -> PublishChanges:
        """Apply a (re-)offer. Raises InvalidInput(invalid_sdp) before changing anything.
        ``sources``: the client's declared source of each new track, by mid."""
        async with self._lock:
            previous = self.pc.remoteDescription
            if previous is not None:
                check_same_sections(remote, previous.sdp)
                check_same_transport(remote, previous.sdp)
            try:
                await self.pc.setRemoteDescription(RTCSessionDescription(remote.sdp, "offer"))
            except (ValueError, OperationError, InvalidAccessError, InvalidStateError) as exc:
                logger.warning(
                    "publish offer rejected by aiortc room=%s identity=%s error=%s",
                    self.room_id,
                    self.identity,
                    exc,
                )
                raise invalid(f"offer rejected: {exc}") from exc
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            answer = self.pc.localDescription
            layers = self._simulcast(offered_layers(remote.sdp))
            added, ended = self._diff(remote, negotiated_codecs(answer.sdp), sources or {})
            sdp = with_simulcast_answer(answer.sdp, layers)
            return PublishChanges(SessionDescription(sdp, "answer"), added, ended)

    def _simulcast(self, offered: dict[str, list[str]]) -> dict[str, list[str]]:
        """Simulcast layers for the video sections that offer them (kept as first set: a
        track's layers do not change while it is published); the accepted ones by mid."""
        accepted: dict[str, list[str]] = {}
        for transceiver in self.pc.getTransceivers():
            rids = offered.get(str(transceiver.mid))
            ingress = self._ingress.get(id(transceiver.receiver))
            if not rids or ingress is None or transceiver.kind != "video":
                continue
            if ingress.simulcast is None:
                ingress.simulcast = SimulcastDemux(rids)
            accepted[str(transceiver.mid)] = ingress.simulcast.rids
        return accepted

    def _diff(
        self, remote: RemoteDescription, codecs: dict[str, str], sources: Mapping[str, str]
    ) -> tuple[list[PublishedEntry], list[PublishedEntry]]:
        media = remote.media_by_mid()
        added: list[PublishedEntry] = []
        ended: list[PublishedEntry] = []
        for transceiver in self.pc.getTransceivers():
            mid = transceiver.mid
            if mid is None or mid not in media:
                continue
            m = media[mid]
            track = transceiver.receiver.track
            sending = remote.accepted(m) and m.direction in SENDING and track is not None
            current = self.tracks.get(mid)
            if sending and current is None and track is not None:
                entry = PublishedEntry(
                    sid=new_track_sid(),
                    mid=mid,
                    kind=TrackKind(transceiver.kind),
                    codec=codecs.get(mid, ""),
                    track=track,
                    receiver=transceiver.receiver,
                    ingress=self._ingress.get(id(transceiver.receiver)),
                    source=TrackSource.of(transceiver.kind, sources.get(mid)),
                )
                self.tracks[mid] = entry
                added.append(entry)
            elif not sending and current is not None:
                ended.append(self.tracks.pop(mid))
        return added, ended

    def by_sid(self, sid: str) -> PublishedEntry | None:
        return next((e for e in self.tracks.values() if e.sid == sid), None)

    def end_all(self) -> list[PublishedEntry]:
        ended = list(self.tracks.values())
        self.tracks.clear()
        return ended

    async def close(self) -> list[PublishedEntry]:
        """Close the connection; returns the tracks that were still published."""
        ended = self.end_all()
        await self.pc.close()
        return ended
