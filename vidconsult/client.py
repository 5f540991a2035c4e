"""Python participant client (SDK): join a room with a token, publish tracks (live or
pre-encoded from a file), subscribe to everyone else, and follow the room's events.

Speaks docs/protocol.md over python-socketio and aiortc. Used by the tests, the load generator
and the recorder; a consult-room kiosk could use it too. Not imported by the core.

    async with RoomClient(url, token) as client:
        await client.publish(VideoStreamTrack(), AudioStreamTrack())
        track = await client.wait_for_track("dr-li", "video")
        frame = await track.next_frame()

Encoded mode (``RoomClient(url, token, encoded=True)``): every subscribed receiver gets the
server's :class:`media.ingress.Ingress` hook before it starts, so nothing is decoded; add a
:class:`media.taps.EncodedTap` to a :class:`RemoteTrack` (``remote.add_tap(tap)``, e.g. from
the ``on_track`` callback) to get its :class:`~media.taps.EncodedFrame` s and the publisher's
:class:`~media.taps.SenderReport` s, and ``on_end`` when the track goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError

from vidconsult.file_player import EncodedFilePlayer

log = logging.getLogger(__name__)

SdpFilter = Callable[[str], str]


class ClientError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(eq=False)
class RemoteTrack:
    """A track received from another participant; frames are consumed in the background
    (aiortc would otherwise queue every decoded frame forever)."""

    publisher: str
    track_sid: str
    kind: str
    track: MediaStreamTrack
    source: str = ""  # "camera", "microphone", "screen", "screen_audio" (docs/protocol.md)
    frames: int = 0
    first_frame_at: float | None = None
    last_frame: Any = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _new_frame: asyncio.Condition = field(default_factory=asyncio.Condition)
    _task: asyncio.Task[None] | None = None
    on_frame: Callable[[Any], None] | None = None
    #: encoded mode only: the receiver's hook (see :meth:`add_tap`) and the negotiated codec
    ingress: Any = None
    codec: str = ""

    def add_tap(self, tap: Any) -> None:
        """Encoded mode: ``tap`` (a :class:`media.taps.EncodedTap`) gets this track's encoded
        frames and sender reports (a keyframe is requested for video), ``on_end`` at the end."""
        if self.ingress is None:
            raise RuntimeError("encoded taps need RoomClient(..., encoded=True)")
        self.ingress.add_tap(tap)

    def remove_tap(self, tap: Any) -> None:
        if self.ingress is not None:
            self.ingress.remove_tap(tap)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._consume())

    async def _consume(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                self.frames += 1
                if self.first_frame_at is None:
                    self.first_frame_at = time.perf_counter()
                self.last_frame = frame
                if self.on_frame is not None:
                    self.on_frame(frame)
                async with self._new_frame:
                    self._new_frame.notify_all()
        except (MediaStreamError, asyncio.CancelledError):
            pass
        finally:
            self.ended.set()
            async with self._new_frame:
                self._new_frame.notify_all()

    async def next_frame(self, timeout: float = 10.0) -> Any:
        """Wait for a frame newer than the ones seen so far."""
        seen = self.frames
        async with self._new_frame:
            await asyncio.wait_for(
                self._new_frame.wait_for(lambda: self.frames > seen or self.ended.is_set()),
                timeout,
            )
        if self.frames == seen:
            raise MediaStreamError("track ended")
        return self.last_frame

    async def wait_frames(self, count: int, timeout: float = 10.0) -> None:
        async with self._new_frame:
            await asyncio.wait_for(
                self._new_frame.wait_for(lambda: self.frames >= count or self.ended.is_set()),
                timeout,
            )
        if self.frames < count:
            raise MediaStreamError(f"track ended after {self.frames} frames")

    async def stop(self) -> None:
        if self.ingress is not None and self.ingress.track_sid == self.track_sid:
            self.ingress.end()  # taps get on_end; a reused receiver starts with none
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _prefer_codec(transceiver: Any, mime: str) -> None:
    """Offer only ``mime`` (and RTX) on a sending transceiver: aiortc packetizes a pre-encoded
    packet as whatever codec is negotiated, and would negotiate its default (VP8) first."""
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    chosen = [c for c in capabilities if c.mimeType.lower() == mime.lower()]
    if not chosen:
        raise ClientError("unsupported_codec", f"aiortc cannot send {mime}")
    rtx = [c for c in capabilities if c.mimeType.lower().endswith("/rtx")]
    transceiver.setCodecPreferences(chosen + rtx)


class RoomClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        room: str | None = None,
        sdp_filter: SdpFilter | None = None,
        encoded: bool = False,
        on_track: Callable[[RemoteTrack], None] | None = None,
    ) -> None:
        """``encoded``: subscribe without decoding (see the module doc); ``on_track`` is called
        with every new :class:`RemoteTrack` (before its media flows)."""
        self.url = url
        self._token = token
        self._room = room
        self._sdp_filter = sdp_filter or (lambda sdp: sdp)
        self.sio = socketio.AsyncClient(reconnection=False)
        self.joined: dict[str, Any] = {}
        self.identity: str = ""
        self.participants: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, Any]] = []
        self.remote_tracks: dict[str, RemoteTrack] = {}  # by track sid
        self.own_tracks: dict[str, str] = {}  # publish mid -> track sid
        self.closed_reason: str | None = None
        self.publish_answer: str = ""
        self.disconnected = asyncio.Event()
        self._replay: asyncio.Task[None] | None = None
        # room events that arrive before the join reply (joining subscribes a newcomer to the
        # tracks already published, and that offer may be sent first), in arrival order;
        # None once the reply is applied and they have been replayed on top of its snapshot
        self._held: list[tuple[str, Any]] | None = []
        self._changed = asyncio.Condition()
        self._ice: list[RTCIceServer] = []
        self._pub: RTCPeerConnection | None = None
        self._sub: RTCPeerConnection | None = None
        self._sub_map: dict[str, dict[str, Any]] = {}
        self._sub_lock = asyncio.Lock()
        self._players: list[Any] = []
        self._closed = False
        self._encoded = encoded
        self._on_track = on_track
        self._ingress: dict[int, Any] = {}  # encoded mode: Ingress by id(receiver)
        self._register()

    # connection ----------------------------------------------------------------------------
    async def __aenter__(self) -> RoomClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> dict[str, Any]:
        auth: dict[str, Any] = {"token": self._token}
        if self._room:
            auth["room"] = self._room
        refused: dict[str, Any] = {}

        @self.sio.event
        async def connect_error(data: Any) -> None:
            if isinstance(data, dict):
                refused.update(data.get("data") or {"message": data.get("message")})

        try:
            await self.sio.connect(self.url, auth=auth, transports=["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError as exc:
            raise ClientError(
                refused.get("code", "connect_failed"), refused.get("message", str(exc))
            ) from None
        try:
            self.joined = await self.request("join")
        except BaseException:
            self._held = None
            await self.sio.disconnect()  # nothing may stay waiting on a room not joined
            raise
        self.identity = self.joined["participant"]["identity"]
        self._ice = [RTCIceServer(**s) for s in self.joined.get("ice_servers", [])]
        for p in self.joined["participants"]:
            self.participants[p["identity"]] = p
        await self._notify()
        # the held events are replayed once connect() has returned, so its caller has taken in
        # the join (room, identity) before any callback (on_track) runs
        self._replay = asyncio.get_running_loop().create_task(self._replay_held())
        return self.joined

    async def _replay_held(self) -> None:
        held = self._held or []
        while held:  # events arriving during the replay join the end of the same queue
            name, data = held.pop(0)
            await self._apply(name, data)
        self._held = None

    async def _room_event(self, name: str, data: Any) -> None:
        """Apply a room event, or hold it (in order) until the join reply is applied, so it
        lands on top of the join's snapshot with the identity and room known (an
        ``on_track`` callback may need them)."""
        if self._held is not None:
            self._held.append((name, data))
            return
        await self._apply(name, data)

    async def _apply(self, name: str, data: Any) -> None:
        self.events.append((name, data))
        if name == "subscribe.offer":
            try:
                await self._on_subscribe_offer(data)
            except Exception:
                log.exception("subscribe offer failed identity=%s", self.identity)
            return
        if name == "participant.joined":
            self.participants[data["participant"]["identity"]] = data["participant"]
        elif name == "participant.left":
            self.participants.pop(data["identity"], None)
        elif name == "track.published":
            if data["identity"] == self.identity and data.get("mid") is not None:
                self.own_tracks[data["mid"]] = data["track"]["sid"]
            elif data["identity"] in self.participants:
                self.participants[data["identity"]].setdefault("tracks", []).append(data["track"])
        elif name == "track.unpublished" and data.get("identity") in self.participants:
            tracks = self.participants[data["identity"]].get("tracks") or []
            self.participants[data["identity"]]["tracks"] = [
                t for t in tracks if t.get("sid") != data.get("track_sid")
            ]
        await self._notify()

    async def request(self, event: str, payload: Any = None, timeout: float = 20) -> Any:
        reply = await self.sio.call(event, {} if payload is None else payload, timeout=timeout)
        if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            raise ClientError(reply["error"]["code"], reply["error"]["message"])
        return reply

    def _config(self) -> RTCConfiguration:
        # explicit list: aiortc would otherwise use a public STUN server. max-bundle as the
        # server offers it: with aiortc's default (balanced) policy, a re-offer that adds two
        # video m-lines at once gives the second one the first one's pre-bundle transport,
        # which is then discarded, so that receiver never starts and its packets are routed
        # to the other video receiver.
        return RTCConfiguration(iceServers=list(self._ice), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)

    # publishing ----------------------------------------------------------------------------
    async def publish(self, *tracks: MediaStreamTrack, source: str | None = None) -> dict[str, str]:
        """Publish tracks; returns {publish mid: track sid} once the server announced them.
        ``source``: what these tracks show ("screen" for a shared screen, shown and recorded
        apart from the camera); None: camera and microphone."""
        if self._pub is None:
            self._pub = RTCPeerConnection(self._config())
            self._watch(self._pub, "publish")
        for track in tracks:
            transceiver = self._pub.addTransceiver(track, direction="sendonly")
            mime = getattr(track, "mime_type", None)
            if mime:  # already encoded packets (file_player): offer only their codec
                _prefer_codec(transceiver, mime)
        offer = await self._pub.createOffer()
        await self._pub.setLocalDescription(offer)
        local = self._pub.localDescription
        message: dict[str, Any] = {"sdp": self._sdp_filter(local.sdp), "type": "offer"}
        if source is not None:
            message["sources"] = {
                t.mid: source
                for t in self._pub.getTransceivers()
                if t.sender.track in tracks and t.mid is not None
            }
        answer = await self.request("publish.offer", message)
        self.publish_answer = answer["sdp"]  # as sent (aiortc re-serializes without b= lines)
        await self._pub.setRemoteDescription(RTCSessionDescription(**answer))
        mids = [
            t.mid
            for t in self._pub.getTransceivers()
            if t.sender.track in tracks and t.mid is not None  # set by the local description
        ]
        await self.wait_until(lambda: all(m in self.own_tracks for m in mids))
        return {m: self.own_tracks[m] for m in mids}

    async def publish_file(
        self, path: str, *, decode: bool = False, loop: bool = True
    ) -> dict[str, str]:
        """Publish a media file's audio and video. With ``decode=False`` the file's encoded
        packets (VP8 / H264 / Opus) are sent as they are, without re-encoding, and ``loop``
        keeps their timestamps going (:mod:`vidconsult.file_player`)."""
        player: Any = (
            MediaPlayer(path, decode=True, loop=loop)
            if decode
            else EncodedFilePlayer(path, loop=loop)
        )
        self._players.append(player)
        tracks = [t for t in (player.audio, player.video) if t is not None]
        return await self.publish(*tracks)

    async def set_muted(self, track_sid: str, muted: bool) -> None:
        await self.request("track.mute", {"track_sid": track_sid, "muted": muted})

    # subscribing ---------------------------------------------------------------------------
    async def _on_subscribe_offer(self, data: dict[str, Any]) -> None:
        async with self._sub_lock:
            if self._closed:
                return  # an offer that crossed our leaving
            if self._sub is None:
                self._sub = RTCPeerConnection(self._config())
                self._watch(self._sub, "subscribe")
                if self._encoded:
                    self._sub.on("track", self._install_ingress)
            self._sub_map = dict(data.get("tracks") or {})
            await self._sub.setRemoteDescription(
                RTCSessionDescription(sdp=data["sdp"], type="offer")
            )
            answer = await self._sub.createAnswer()
            await self._sub.setLocalDescription(answer)
            await self._reconcile_tracks()
            try:
                await self.request(
                    "subscribe.answer",
                    {"sdp": self._sdp_filter(self._sub.localDescription.sdp), "type": "answer"},
                )
            except ClientError as exc:
                log.warning("subscribe answer refused: %s", exc)
        await self._notify()

    def _install_ingress(self, track: MediaStreamTrack) -> None:
        """The subscribe connection's ``track`` event: inside setRemoteDescription, before the
        receiver starts, the one moment its decoder queue can be replaced."""
        from media import compat
        from media.ingress import Ingress

        assert self._sub is not None
        for transceiver in self._sub.getTransceivers():
            receiver = transceiver.receiver
            if receiver.track is track and id(receiver) not in self._ingress:
                self._ingress[id(receiver)] = Ingress(
                    receiver, transceiver.kind, compat.transceiver_codecs(transceiver), decode=False
                )

    @staticmethod
    def _primary_codec(transceiver: Any) -> str:
        from media import compat

        for codec in compat.transceiver_codecs(transceiver):
            if not codec.mimeType.lower().endswith("/rtx"):
                return str(codec.mimeType)
        return ""

    async def _reconcile_tracks(self) -> None:
        """Match receivers to the offer's mid map. The server reuses an idle transceiver (same
        mid, same receiver track) for a later subscription, so ``track`` events alone do not
        say what a receiver carries: every offer's map does."""
        assert self._sub is not None
        carried: dict[str, tuple[MediaStreamTrack, dict[str, Any]]] = {}
        receivers: dict[str, Any] = {}
        for transceiver in self._sub.getTransceivers():
            info = self._sub_map.get(transceiver.mid or "")
            track = transceiver.receiver.track
            if info is not None and track is not None:
                carried[info["track_sid"]] = (track, info)
                receivers[info["track_sid"]] = transceiver
        for sid, remote in list(self.remote_tracks.items()):
            now = carried.get(sid)
            if now is None or now[0] is not remote.track:
                await remote.stop()
                del self.remote_tracks[sid]
        for sid, (track, info) in carried.items():
            if sid not in self.remote_tracks:
                remote = RemoteTrack(
                    publisher=info["publisher"],
                    track_sid=sid,
                    kind=info["kind"],
                    track=track,
                    source=str(info.get("source", "")),
                )
                if self._encoded:
                    transceiver = receivers[sid]
                    ingress = self._ingress.get(id(transceiver.receiver))
                    if ingress is not None:
                        ingress.track_sid = sid
                        ingress.taps_muted = False
                        remote.ingress = ingress
                    remote.codec = self._primary_codec(transceiver)
                self.remote_tracks[sid] = remote
                remote.start()
                if self._on_track is not None:
                    try:
                        self._on_track(remote)
                    except Exception:
                        log.exception("on_track callback failed track=%s", sid)

    async def wait_for_track(
        self, publisher: str, kind: str, timeout: float = 15, *, source: str | None = None
    ) -> RemoteTrack:
        def find() -> RemoteTrack | None:
            for remote in self.remote_tracks.values():
                if (
                    remote.publisher == publisher
                    and remote.kind == kind
                    and source in (None, remote.source)
                ):
                    return remote
            return None

        await self.wait_until(lambda: find() is not None, timeout)
        found = find()
        assert found is not None
        return found

    # events --------------------------------------------------------------------------------
    def _register(self) -> None:
        sio = self.sio

        @sio.on("*")
        async def any_event(event: str, data: Any = None) -> None:
            # every room event (subscribe offers, participants, tracks, mutes, chat...) in
            # arrival order, held until the join reply is applied
            await self._room_event(event, data)

        for name in ("removed", "room.ended"):

            @sio.on(name)
            async def closing(data: dict[str, Any], _name: str = name) -> None:
                self.events.append((_name, data))
                self.closed_reason = data.get("reason")
                await self._notify()

        @sio.event
        async def disconnect(*args: Any) -> None:
            self.disconnected.set()
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float | None = 15) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def wait_event(
        self, event: str, predicate: Callable[[Any], bool] = lambda d: True, timeout: float = 15
    ) -> Any:
        def found() -> bool:
            return any(e == event and predicate(d) for e, d in self.events)

        await self.wait_until(found, timeout)
        return next(d for e, d in self.events if e == event and predicate(d))

    def _watch(self, pc: RTCPeerConnection, direction: str) -> None:
        @pc.on("connectionstatechange")
        async def on_state() -> None:
            log.debug(
                "client pc identity=%s direction=%s state=%s",
                self.identity,
                direction,
                pc.connectionState,
            )
            await self._notify()

    @property
    def publish_state(self) -> str:
        return self._pub.connectionState if self._pub else "new"

    @property
    def subscribe_state(self) -> str:
        return self._sub.connectionState if self._sub else "new"

    # leaving -------------------------------------------------------------------------------
    async def leave(self) -> None:
        if self.sio.connected:
            with contextlib.suppress(ClientError, socketio.exceptions.TimeoutError):
                await self.request("leave", timeout=5)
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._replay is not None and not self._replay.done():
            self._replay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replay
        for remote in list(self.remote_tracks.values()):
            await remote.stop()
        for pc in (self._pub, self._sub):
            if pc is not None:
                await pc.close()
        for player in self._players:
            for t in (player.audio, player.video):
                if t is not None:
                    t.stop()
        if self.sio.connected:
            await self.sio.disconnect()
