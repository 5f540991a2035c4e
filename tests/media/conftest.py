"""Real aiortc peers against the engine over UDP: a listener that records callbacks (and plays
the signaling: it answers subscribe offers), and plain-aiortc publish / subscribe clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack, VideoStreamTrack
from av import VideoFrame

from media import AiortcMediaEngine, MediaConfig
from vidconsult.ports import PublishedTrack, SessionDescription, TrackRef

ROOM = "room-1"
TIMEOUT = 15.0
SdpFilter = Callable[[str], str]


def keep(sdp: str) -> str:
    return sdp


def strip_candidates(sdp: str) -> str:
    """Every a=candidate line removed (a=end-of-candidates kept): only prflx can work."""
    return "".join(f"{x}\r\n" for x in sdp.splitlines() if x and not x.startswith("a=candidate:"))


def mdns_candidates(sdp: str) -> str:
    """Every candidate address replaced by an mDNS name, as browsers do."""
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            fields[4] = "3f1c2a9e-0b7d-4c61-9a3e-1d2f5e6a7b8c.local"
            line = " ".join(fields)
        out.append(line)
    return "\r\n".join(out) + "\r\n"


@dataclass
class Event:
    name: str
    identity: str
    args: tuple[Any, ...]


@dataclass
class SubscriberClient:
    """The client side of a subscribe connection."""

    pc: RTCPeerConnection
    answer_filter: SdpFilter = keep
    tracks: dict[str, TrackRef] = field(default_factory=dict)  # last offer's map

    def transceiver(self, mid: str) -> RTCRtpTransceiver:
        return next(t for t in self.pc.getTransceivers() if t.mid == mid)

    def track(self, mid: str) -> MediaStreamTrack:
        track = self.transceiver(mid).receiver.track
        assert track is not None
        return track

    def mid_of(self, track_sid: str) -> str:
        return next(mid for mid, ref in self.tracks.items() if ref.track_sid == track_sid)


class FakeListener:
    """Records every callback; answers subscribe offers for registered clients."""

    def __init__(self, engine: AiortcMediaEngine) -> None:
        self.engine = engine
        self.events: list[Event] = []
        self.clients: dict[str, SubscriberClient] = {}
        self.auto_answer = True
        self.fail_on: set[str] = set()
        self._changed = asyncio.Condition()

    async def _record(self, name: str, identity: str, *args: Any) -> None:
        async with self._changed:
            self.events.append(Event(name, identity, args))
            self._changed.notify_all()
        if name in self.fail_on:
            raise RuntimeError(f"listener fails on {name}")

    async def on_track_published(self, room_id: str, identity: str, track: PublishedTrack) -> None:
        await self._record("published", identity, track)

    async def on_track_ended(self, room_id: str, identity: str, track_sid: str) -> None:
        await self._record("ended", identity, track_sid)

    async def on_subscriber_offer(
        self,
        room_id: str,
        identity: str,
        offer: SessionDescription,
        tracks: Mapping[str, TrackRef],
    ) -> None:
        await self._record("offer", identity, offer, dict(tracks))
        client = self.clients.get(identity)
        if client is not None and self.auto_answer and client.pc.signalingState != "closed":
            await answer(self.engine, identity, client, offer, tracks)
            await self._record("answered", identity, dict(tracks))

    async def on_connection_state(
        self, room_id: str, identity: str, direction: str, state: str
    ) -> None:
        await self._record("state", identity, direction, state)

    async def wait(
        self, predicate: Callable[[Event], bool], *, after: int = 0, timeout: float = TIMEOUT
    ) -> Event:
        """The first recorded event (from index ``after``) matching ``predicate``."""

        def found() -> Event | None:
            return next((e for e in self.events[after:] if predicate(e)), None)

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: found() is not None), timeout)
        event = found()
        assert event is not None
        return event

    def named(self, name: str, identity: str | None = None) -> list[Event]:
        return [e for e in self.events if e.name == name and identity in (None, e.identity)]

    async def wait_state(self, identity: str, direction: str, state: str) -> None:
        await self.wait(
            lambda e: e.name == "state" and e.identity == identity and e.args == (direction, state)
        )

    async def wait_offer(self, identity: str, *, after: int = 0) -> Event:
        return await self.wait(lambda e: e.name == "offer" and e.identity == identity, after=after)

    async def wait_answered(
        self,
        identity: str,
        predicate: Callable[[dict[str, TrackRef]], bool],
        *,
        after: int = 0,
    ) -> dict[str, TrackRef]:
        """Wait until the client answered an offer whose track map satisfies ``predicate``."""
        event = await self.wait(
            lambda e: e.name == "answered" and e.identity == identity and predicate(e.args[0]),
            after=after,
        )
        return event.args[0]


async def answer(
    engine: AiortcMediaEngine,
    identity: str,
    client: SubscriberClient,
    offer: SessionDescription,
    tracks: Mapping[str, TrackRef],
) -> None:
    await client.pc.setRemoteDescription(RTCSessionDescription(offer.sdp, offer.type))
    await client.pc.setLocalDescription(await client.pc.createAnswer())
    client.tracks = dict(tracks)
    local = client.pc.localDescription
    await engine.subscriber_answer(
        ROOM, identity, SessionDescription(client.answer_filter(local.sdp), local.type)
    )


def client_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class Peers:
    """Creates client peer connections and closes them at the end of the test."""

    def __init__(self, engine: AiortcMediaEngine, listener: FakeListener) -> None:
        self.engine = engine
        self.listener = listener
        self.pcs: list[RTCPeerConnection] = []

    async def publisher(
        self,
        identity: str,
        *tracks: MediaStreamTrack,
        offer_filter: SdpFilter = keep,
        join: bool = True,
    ) -> RTCPeerConnection:
        if join:
            await self.engine.add_participant(ROOM, identity, can_publish=True, can_subscribe=True)
        pc = client_pc()
        self.pcs.append(pc)
        for track in tracks:
            pc.addTransceiver(track, direction="sendonly")
        await self.offer(identity, pc, offer_filter)
        return pc

    async def offer(
        self, identity: str, pc: RTCPeerConnection, offer_filter: SdpFilter = keep
    ) -> None:
        await pc.setLocalDescription(await pc.createOffer())
        local = pc.localDescription
        reply = await self.engine.publish(
            ROOM, identity, SessionDescription(offer_filter(local.sdp), "offer")
        )
        await pc.setRemoteDescription(RTCSessionDescription(reply.sdp, reply.type))

    async def subscriber(
        self, identity: str, *, answer_filter: SdpFilter = keep, join: bool = True
    ) -> SubscriberClient:
        if join:
            await self.engine.add_participant(ROOM, identity, can_publish=True, can_subscribe=True)
        pc = client_pc()
        self.pcs.append(pc)
        client = SubscriberClient(pc, answer_filter)
        self.listener.clients[identity] = client
        return client

    async def close(self) -> None:
        for pc in self.pcs:
            await pc.close()


@pytest.fixture(params=["passthrough", "reencode"])
def forward_mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def engine(forward_mode: str) -> AsyncIterator[AiortcMediaEngine]:
    engine = AiortcMediaEngine(
        MediaConfig(ice_servers=[], listener_timeout=TIMEOUT, forward_mode=forward_mode)
    )
    yield engine
    await engine.close()


@pytest.fixture
def listener(engine: AiortcMediaEngine) -> FakeListener:
    listener = FakeListener(engine)
    engine.set_listener(listener)
    return listener


@pytest.fixture
async def peers(engine: AiortcMediaEngine, listener: FakeListener) -> AsyncIterator[Peers]:
    peers = Peers(engine, listener)
    yield peers
    await peers.close()


class Pulse:
    """What a test awaits instead of polling: the (synchronous) hooks a test puts on aiortc
    objects call :meth:`notify` whenever the state they count changes; :meth:`until` re-checks
    its predicate on each notice."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()

    async def until(self, predicate: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._event.clear()
                await self._event.wait()


async def next_frame(track: MediaStreamTrack, timeout: float = TIMEOUT) -> Any:
    return await asyncio.wait_for(track.recv(), timeout)


async def published(listener: FakeListener, identity: str, count: int) -> list[PublishedTrack]:
    await listener.wait(lambda e: len(listener.named("published", identity)) >= count)
    return [e.args[0] for e in listener.named("published", identity)]


class SizedVideoTrack(VideoStreamTrack):
    """Synthetic video of a given size, to tell publishers apart on the receiving side."""

    def __init__(self, width: int, height: int) -> None:
        super().__init__()
        self.width, self.height = width, height

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=self.width, height=self.height)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.pts, frame.time_base = pts, time_base
        return frame


async def frame_of_width(track: MediaStreamTrack, width: int, timeout: float = TIMEOUT) -> Any:
    """Skip frames (e.g. still queued from an earlier source) until one has ``width``."""
    async with asyncio.timeout(timeout):
        while (frame := await track.recv()).width != width:
            pass
    return frame
