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
from media.simulcast import SimulcastDemux, offered_layers, relay_layers, with_simulcast_answer
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
            merged = self._merge_relayed(remote)
            added, ended = self._diff(remote, negotiated_codecs(answer.sdp), sources or {}, merged)
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

    def _merge_relayed(self, remote: RemoteDescription) -> set[str]:
        """A node relay's leg offers each layer of a simulcast track in a section of its own
        (media/simulcast.py ``relay_layers``): the first section's ingress gets every layer,
        known by the SSRCs the offer gives; the others feed it and publish nothing. Returns
        the mids of those others."""
        marked = relay_layers(remote.sdp)
        media = remote.media_by_mid()
        by_mid = {
            str(t.mid): self._ingress.get(id(t.receiver))
            for t in self.pc.getTransceivers()
            if t.mid is not None
        }
        merged: set[str] = set()
        for mid, ingress in by_mid.items():
            if ingress is None:
                continue
            first, layer = marked.get(mid, (None, 0))
            target = by_mid.get(first) if first is not None else None
            m = media.get(mid)
            if target is None or target.simulcast is None or m is None:
                ingress.merge_into = None
                continue
            ssrcs = [x.ssrc for x in m.ssrc]
            rtx = next(
                (g.items[1] for g in m.ssrc_group if g.semantic == "FID" and len(g.items) == 2),
                None,
            )
            media_ssrc = next((s for s in ssrcs if s != rtx), None)
            if media_ssrc is not None:
                target.simulcast.known(layer, int(media_ssrc), None if rtx is None else int(rtx))
            if first != mid:
                ingress.merge_into = target
                merged.add(mid)
            else:
                ingress.merge_into = None
        return merged

    def _diff(
        self,
        remote: RemoteDescription,
        codecs: dict[str, str],
        sources: Mapping[str, str],
        merged: set[str],
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
            sending = (
                remote.accepted(m)
                and m.direction in SENDING
                and track is not None
                and mid not in merged
            )
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
