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

Reconnection (``reconnect=True``, the default): when the signaling connection drops without
the server having ended the session (no ``removed``, no ``room.ended``), when the address
this machine reaches the server from goes away (hotel Wi-Fi handing out a new one; checked
every ``address_poll`` seconds), or when a media connection fails, the client rejoins by itself: a
new connection with the same token (same identity and role; the server replaces the old
session without telling the room that anyone left), the same tracks published again, the
same mutes and audio-only choice, and a subscription to everyone, as the server gives every
joiner. Events ``rejoining`` and ``rejoined`` (with ``seconds``) are added to ``events``;
``rejoins`` counts them. A refusal that will not change (token expired or revoked, room ended)
ends it: ``closed_reason`` says which and ``disconnected`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import socketio
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaPlayer, MediaRelay
from aiortc.mediastreams import MediaStreamError

from vidconsult.file_player import EncodedFilePlayer

log = logging.getLogger(__name__)

SdpFilter = Callable[[str], str]
# refusals a rejoin cannot overcome: the client stops trying
FINAL_REFUSALS = frozenset(
    {
        "token_expired",
        "token_revoked",
        "token_invalid",
        "token_missing",
        "room_ended",
        "not_found",
        "wrong_room",
        "room_required",
        "forbidden",
    }
)
REJOIN_DELAY_MAX = 4.0
CLOSE_TIMEOUT = 3.0


def route_address(url: str) -> str | None:
    """The local address this machine sends from to reach ``url``'s host (a connected UDP
    socket: the kernel picks the route, nothing is sent)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(address)
            return str(probe.getsockname()[0])
    except OSError:
        return None


def local_addresses() -> frozenset[str]:
    """This machine's non-loopback IP addresses (ifaddr, as aioice gathers them)."""
    import ifaddr

    found: set[str] = set()
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            if address not in ("127.0.0.1", "::1"):
                found.add(address)
    return frozenset(found)


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


def _is_turn(server: RTCIceServer) -> bool:
    urls = [server.urls] if isinstance(server.urls, str) else server.urls
    return any(url.startswith(("turn:", "turns:")) for url in urls)


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
        reconnect: bool = True,
        address_poll: float = 1.0,
        name: str | None = None,
        consent: bool | None = None,
        lobby_timeout: float | None = None,
        relay_only: bool = False,
    ) -> None:
        """``encoded``: subscribe without decoding (see the module doc); ``on_track`` is called
        with every new :class:`RemoteTrack` (before its media flows). ``reconnect``: rejoin by
        itself after a drop or an address change (module doc); ``address_poll``: seconds
        between looks at this machine's addresses (0: never). ``name``: the display name (else
        the token's); ``consent``: the answer to the recording consent question (None: not
        asked). In a room with a waiting room, :meth:`connect` waits there until admitted (at
        most ``lobby_timeout`` seconds; None: as long as it takes) and raises
        :class:`ClientError` ``lobby_declined`` when turned away, ``closed`` when
        :meth:`close` is called meanwhile (at once: nothing is left running). ``relay_only``: the
        media connections gather and use relayed candidates only (aioice's relay transport
        policy, as a browser's ``iceTransportPolicy: "relay"``): every packet goes through the
        TURN server of the join answer, none straight to the server, and this machine's
        addresses are not sent; :meth:`connect` leaves and raises :class:`ClientError`
        ``relay_unavailable`` when the join answer lists no TURN server."""
        self.url = url
        self._token = token
        self._room = room
        self._sdp_filter = sdp_filter or (lambda sdp: sdp)
        self._reconnect = reconnect
        self._relay_only = relay_only
        self._address_poll = address_poll
        self._refused: dict[str, Any] = {}
        self.rejoins = 0
        self._rejoin_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._leaving = False
        # published tracks and what they show, published again on a rejoin
        self._sources: list[tuple[MediaStreamTrack, str | None]] = []
        self._relay: MediaRelay | None = None
        self._route_address: str | None = None  # where we reach the server from
        self._muted: dict[str, bool] = {}  # kind -> muted, applied again on rejoin
        self._audio_only: bool | None = None
        self._old_sockets: set[asyncio.Task[None]] = set()
        self.sio = self._new_socket()
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
        self._join_payload: dict[str, Any] = {}
        if name is not None:
            self._join_payload["name"] = name
        if consent is not None:
            self._join_payload["consent"] = consent
        self._lobby_timeout = lobby_timeout
        self.lobby: dict[str, Any] | None = None  # the place in the waiting room, while there
        self.waiting: list[dict[str, Any]] = []  # who waits (for a participant who may admit)
        self._lobby_answer: asyncio.Future[tuple[str, Any]] | None = None
        # requests awaiting the server's answer, each with the socket it went out on, and why
        # the ones that cannot be answered any more were ended (_end_calls)
        self._calls: dict[asyncio.Future[Any], socketio.AsyncClient] = {}
        self._call_ends: dict[asyncio.Future[Any], str] = {}

    # connection ----------------------------------------------------------------------------
    async def __aenter__(self) -> RoomClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _new_socket(self) -> socketio.AsyncClient:
        # python-socketio's own reconnection is off: a reconnect must join again (the server
        # forgets a participant whose connection dropped), which _rejoin does
        sio = socketio.AsyncClient(reconnection=False)
        self._register(sio)
        return sio

    async def connect(self) -> dict[str, Any]:
        joined = await self._connect_and_join()
        if self._reconnect and self._address_poll > 0 and self._watch_task is None:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch_addresses())
        return joined

    async def _connect_and_join(self) -> dict[str, Any]:
        auth: dict[str, Any] = {"token": self._token}
        if self._room:
            auth["room"] = self._room
        refused = self._refused = {}
        try:
            await self.sio.connect(self.url, auth=auth, transports=["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError as exc:
            raise ClientError(
                refused.get("code", "connect_failed"), refused.get("message", str(exc))
            ) from None
        try:
            self.joined = await self._join()
            if self._closed:  # close() while the join was answered: not joined after all
                raise ClientError("closed", "the client was closed while joining")
        except BaseException:
            self._held = None
            await self.sio.disconnect()  # nothing may stay waiting on a room not joined
            raise
        self.identity = self.joined["participant"]["identity"]
        self._route_address = await asyncio.to_thread(route_address, self.url)
        self.waiting = list(self.joined.get("waiting") or [])
        self._ice = [RTCIceServer(**s) for s in self.joined.get("ice_servers", [])]
        if self._relay_only and not any(_is_turn(server) for server in self._ice):
            await self.leave()  # a relay-only connection could never carry anything
            raise ClientError(
                "relay_unavailable", "relay_only, but the join answer lists no TURN server"
            )
        for p in self.joined["participants"]:
            self.participants[p["identity"]] = p
        await self._notify()
        # the held events are replayed once connect() has returned, so its caller has taken in
        # the join (room, identity) before any callback (on_track) runs
        self._replay = asyncio.get_running_loop().create_task(self._replay_held())
        return self.joined

    async def _join(self) -> dict[str, Any]:
        """Send ``join``; in a waiting room, wait to be admitted and send it again."""
        self._lobby_answer = asyncio.get_running_loop().create_future()
        if self._closed:
            raise ClientError("closed", "the client was closed while joining")
        reply: dict[str, Any] = await self.request("join", self._join_payload)
        if "lobby" not in reply:
            return reply
        self.lobby = reply["lobby"]
        await self._notify()
        event, data = await asyncio.wait_for(self._lobby_answer, self._lobby_timeout)
        self.lobby = None
        if event == "closed":
            raise ClientError("closed", "the client was closed while waiting in the waiting room")
        if event == "lobby.declined":
            raise ClientError("lobby_declined", "not admitted from the waiting room")
        if event != "lobby.admitted":
            raise ClientError(str(data.get("reason") or "disconnected"), f"{event} while waiting")
        return await self._join()

    def _lobby_event(self, event: str, data: Any) -> None:
        answer = self._lobby_answer
        if answer is not None and not answer.done():
            answer.set_result((event, data if isinstance(data, dict) else {}))

    # the admin's controls (a participant with the admin grant) ---------------------------
    async def admit(self, identity: str) -> dict[str, Any]:
        """Let ``identity`` in from the waiting room."""
        result: dict[str, Any] = await self.request("admin.admit", {"identity": identity})
        return result

    async def decline(self, identity: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("admin.decline", {"identity": identity})
        return result

    async def remove(self, identity: str) -> dict[str, Any]:
        """Remove ``identity`` for good (its link is revoked)."""
        result: dict[str, Any] = await self.request("admin.remove", {"identity": identity})
        return result

    async def request_mute(self, identity: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("admin.mute", {"identity": identity})
        return result

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
        if name == "lobby.waiting" and isinstance(data, dict):
            self.waiting = list(data.get("waiting") or [])
        elif name in ("participant.joined", "participant.reconnected"):
            self.participants[data["participant"]["identity"]] = data["participant"]
        elif name == "participant.reconnecting" and data.get("identity") in self.participants:
            self.participants[data["identity"]]["reconnecting"] = True
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
        """Send ``event`` and return the server's answer; :class:`ClientError` with the
        server's code, ``closed`` when :meth:`close` ends the wait, ``disconnected`` when the
        socket it went out on closes first (a closed socket never brings the answer: the call
        would otherwise wait out ``timeout``)."""
        if self._closed:
            raise ClientError("closed", f"{event}: the client is closed")
        sio = self.sio
        call = asyncio.ensure_future(
            sio.call(event, {} if payload is None else payload, timeout=timeout)
        )
        self._calls[call] = sio
        try:
            reply = await call
        except asyncio.CancelledError:
            ended = self._call_ends.get(call)
            me = asyncio.current_task()
            if call.cancelled() and ended and (me is None or not me.cancelling()):
                raise ClientError(ended, f"{event}: no answer ({ended})") from None
            raise
        finally:
            self._calls.pop(call, None)
            self._call_ends.pop(call, None)
        if isinstance(reply, dict) and isinstance(reply.get("error"), dict):
            raise ClientError(reply["error"]["code"], reply["error"]["message"])
        return reply

    def _config(self) -> RTCConfiguration:
        # explicit list: aiortc would otherwise use a public STUN server. max-bundle as the
        # server offers it: with aiortc's default (balanced) policy, a re-offer that adds two
        # video m-lines at once gives the second one the first one's pre-bundle transport,
        # which is then discarded, so that receiver never starts and its packets are routed
        # to the other video receiver.
        return RTCConfiguration(
            iceServers=list(self._ice),
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            iceTransportPolicy=(
                RTCIceTransportPolicy.RELAY if self._relay_only else RTCIceTransportPolicy.ALL
            ),
        )

    def selected_pairs(self) -> dict[str, dict[str, Any]]:
        """The candidate pair each connected media connection uses ("publish", "subscribe"):
        ``local_type`` and ``remote_type`` ("host", "srflx", "prflx", "relay"), ``local`` and
        ``remote`` (host, port) and ``transport`` ("udp", "tcp"). aiortc has no public way to
        it: the ICE transport's aioice connection and its nominated pair (component 1)."""
        pairs: dict[str, dict[str, Any]] = {}
        for direction, pc in (("publish", self._pub), ("subscribe", self._sub)):
            if pc is None:
                continue
            dtls = [t.sender.transport for t in pc.getTransceivers() if t.sender.transport]
            connection = getattr(dtls[0].transport, "_connection", None) if dtls else None
            pair = getattr(connection, "_nominated", {}).get(1)
            if pair is None:
                continue
            local, remote = pair.local_candidate, pair.remote_candidate
            pairs[direction] = {
                "local_type": local.type,
                "remote_type": remote.type,
                "local": (local.host, local.port),
                "remote": (remote.host, remote.port),
                "transport": local.transport.lower(),
            }
        return pairs

    # publishing ----------------------------------------------------------------------------
    async def publish(self, *tracks: MediaStreamTrack, source: str | None = None) -> dict[str, str]:
        """Publish tracks; returns {publish mid: track sid} once the server announced them.
        ``source``: what these tracks show ("screen" for a shared screen, shown and recorded
        apart from the camera); None: camera and microphone."""
        known = {id(t) for t, _ in self._sources}
        self._sources.extend((t, source) for t in tracks if id(t) not in known)
        return await self._publish(tracks, source)

    async def _publish(
        self, tracks: tuple[MediaStreamTrack, ...], source: str | None
    ) -> dict[str, str]:
        if self._pub is None:
            self._pub = RTCPeerConnection(self._config())
            self._watch(self._pub, "publish")
        # each connection sends a relay of the source: aiortc stops a sender's track when its
        # connection closes, and a rejoin publishes the same sources on a new connection
        if self._relay is None:
            self._relay = MediaRelay()
        sent: list[MediaStreamTrack] = []
        for track in tracks:
            mime = getattr(track, "mime_type", None)
            # encoded packets must all arrive (buffered); raw frames: the latest is enough
            proxy = self._relay.subscribe(track, buffered=bool(mime))
            transceiver = self._pub.addTransceiver(proxy, direction="sendonly")
            sent.append(proxy)
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
                if t.sender.track in sent and t.mid is not None
            }
        answer = await self.request("publish.offer", message)
        self.publish_answer = answer["sdp"]  # as sent (aiortc re-serializes without b= lines)
        await self._pub.setRemoteDescription(RTCSessionDescription(**answer))
        mids = [
            t.mid
            for t in self._pub.getTransceivers()
            if t.sender.track in sent and t.mid is not None  # set by the local description
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
        kind = self._own_kind(track_sid)
        if kind:
            self._muted[kind] = muted

    async def set_audio_only(self, enabled: bool) -> None:
        """Receive audio only (video subscriptions held), e.g. on a poor link."""
        await self.request("subscribe.audio_only", {"enabled": enabled})
        self._audio_only = enabled

    def _own_kind(self, track_sid: str) -> str | None:
        if self._pub is None:
            return None
        for transceiver in self._pub.getTransceivers():
            if self.own_tracks.get(transceiver.mid or "") == track_sid:
                return str(transceiver.kind)
        return None

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
    def _register(self, sio: socketio.AsyncClient) -> None:
        @sio.event
        async def connect_error(data: Any) -> None:
            if isinstance(data, dict):
                self._refused.update(data.get("data") or {"message": data.get("message")})

        @sio.on("*")
        async def any_event(event: str, data: Any = None) -> None:
            if sio is not self.sio:
                return  # late events of the connection a rejoin replaced
            # every room event (subscribe offers, participants, tracks, mutes, chat...) in
            # arrival order, held until the join reply is applied
            await self._room_event(event, data)

        for name in ("removed", "room.ended"):

            @sio.on(name)
            async def closing(data: dict[str, Any], _name: str = name) -> None:
                if sio is not self.sio:
                    return  # the connection a rejoin replaced (e.g. its duplicate_identity)
                self.events.append((_name, data))
                self.closed_reason = data.get("reason")
                self._lobby_event(_name, data)
                await self._notify()

        for name in ("lobby.admitted", "lobby.declined"):

            @sio.on(name)
            async def lobby_answer(data: Any = None, _name: str = name) -> None:
                if sio is not self.sio:
                    return
                self.events.append((_name, data))
                if _name == "lobby.declined":
                    self.closed_reason = "declined"
                self._lobby_event(_name, data)
                await self._notify()

        @sio.event
        async def disconnect(*args: Any) -> None:
            self._end_calls("disconnected", sio)
            if sio is not self.sio:
                return  # the connection a rejoin replaced
            self._lobby_event("disconnect", {"reason": "disconnected"})
            if self._may_rejoin():
                self._start_rejoin("disconnected")
                return
            self.disconnected.set()
            await self._notify()

    def _end_calls(self, reason: str, sio: socketio.AsyncClient | None = None) -> None:
        """End the requests awaiting an answer (those sent on ``sio``; None: all) with
        :class:`ClientError` ``reason``: their socket is closed, no answer will come."""
        for call, on in list(self._calls.items()):
            if (sio is None or on is sio) and not call.done() and call not in self._call_ends:
                self._call_ends[call] = reason  # the first reason stands
                call.cancel()

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
            if pc.connectionState == "failed" and pc in (self._pub, self._sub):
                if self._may_rejoin():
                    self._start_rejoin(f"{direction} connection failed")
            await self._notify()

    @property
    def publish_state(self) -> str:
        return self._pub.connectionState if self._pub else "new"

    @property
    def subscribe_state(self) -> str:
        return self._sub.connectionState if self._sub else "new"

    # leaving -------------------------------------------------------------------------------
    async def leave(self) -> None:
        self._leaving = True  # the server's disconnect after the leave is no drop
        if self.sio.connected:
            with contextlib.suppress(ClientError, socketio.exceptions.TimeoutError):
                await self.request("leave", timeout=5)
        await self.close()

    async def close(self) -> None:
        """Leave nothing running: a :meth:`connect` waiting in the waiting room ends at once
        with :class:`ClientError` ``closed`` (not at its ``lobby_timeout``)."""
        self._closed = True
        self._lobby_event("closed", {"reason": "closed"})
        self._end_calls("closed")
        for task in (self._watch_task, self._rejoin_task):
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
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
        for track, _ in self._sources:  # the connections stopped only their relays
            track.stop()
        if self.sio.connected:
            await self.sio.disconnect()
        for task in list(self._old_sockets):
            with contextlib.suppress(Exception):
                await task

    # reconnection --------------------------------------------------------------------------
    def _may_rejoin(self) -> bool:
        return (
            self._reconnect
            and not self._closed
            and not self._leaving
            and self.closed_reason is None
            and bool(self.joined)
        )

    @property
    def rejoining(self) -> bool:
        return self._rejoin_task is not None and not self._rejoin_task.done()

    def _start_rejoin(self, reason: str) -> None:
        if self.rejoining:
            return
        self._rejoin_task = asyncio.get_running_loop().create_task(self._rejoin(reason))

    async def _watch_addresses(self) -> None:
        """A look every ``address_poll`` s at whether the address this machine reaches the
        server from still exists (what a browser's network-change notifier does): a socket or
        an ICE pair on an address that is gone would only notice after its timeouts (20 s,
        30 s). Addresses that come and go elsewhere (a VPN, a container bridge) are no reason
        to rejoin."""
        while not self._closed:
            await asyncio.sleep(self._address_poll)
            used = self._route_address
            if used is None or used in ("127.0.0.1", "::1") or not self._may_rejoin():
                continue
            if used not in await asyncio.to_thread(local_addresses):
                log.info("address gone identity=%s address=%s", self.identity, used)
                self._start_rejoin(f"address gone: {used}")

    async def _rejoin(self, reason: str) -> None:
        """Join again on a new connection with the same token; publish the same tracks."""
        started = time.monotonic()
        log.info("rejoining identity=%s reason=%s", self.identity, reason)
        self.events.append(("rejoining", {"reason": reason}))
        await self._notify()
        old, self.sio = self.sio, self._new_socket()
        self._drop_socket(old)
        await self._drop_media()
        delay = 0.25
        while not self._closed:
            self._held = []
            try:
                await self._connect_and_join()
                break
            except ClientError as exc:
                if exc.code in FINAL_REFUSALS:
                    log.warning("rejoin refused identity=%s code=%s", self.identity, exc.code)
                    self.closed_reason = exc.code
                    self.disconnected.set()
                    await self._notify()
                    return
                log.info("rejoin failed identity=%s error=%s", self.identity, exc)
            except Exception as exc:  # a network still settling: try again
                log.info("rejoin failed identity=%s error=%r", self.identity, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, REJOIN_DELAY_MAX)
        if self._closed:
            return
        try:
            for source in dict.fromkeys(src for _, src in self._sources):
                await self._publish(tuple(t for t, src in self._sources if src == source), source)
            for kind, muted in self._muted.items():
                sid = next(
                    (
                        self.own_tracks.get(t.mid or "")
                        for t in (self._pub.getTransceivers() if self._pub else [])
                        if t.kind == kind and t.mid in self.own_tracks
                    ),
                    None,
                )
                if sid and muted:
                    await self.request("track.mute", {"track_sid": sid, "muted": True})
            if self._audio_only is not None:
                await self.request("subscribe.audio_only", {"enabled": self._audio_only})
        except Exception:
            log.exception("republishing after a rejoin failed identity=%s", self.identity)
        self.rejoins += 1
        seconds = round(time.monotonic() - started, 3)
        log.info("rejoined identity=%s seconds=%s reason=%s", self.identity, seconds, reason)
        self.events.append(("rejoined", {"reason": reason, "seconds": seconds}))
        await self._notify()

    def _drop_socket(self, sio: socketio.AsyncClient) -> None:
        """Let go of a connection that may be dead: its close must not hold the rejoin up."""

        async def drop() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sio.eio.disconnect(abort=True), CLOSE_TIMEOUT)

        task = asyncio.get_running_loop().create_task(drop())
        self._old_sockets.add(task)
        task.add_done_callback(self._old_sockets.discard)

    async def _drop_media(self) -> None:
        """Close both peer connections and forget what they carried."""
        if self._replay is not None and not self._replay.done():
            self._replay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replay
        async with self._sub_lock:
            for remote in list(self.remote_tracks.values()):
                await remote.stop()
            self.remote_tracks.clear()
            pcs = [pc for pc in (self._pub, self._sub) if pc is not None]
            self._pub = self._sub = None
            self._sub_map = {}
            self._ingress = {}
        self.own_tracks.clear()
        self.participants.clear()
        for pc in pcs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pc.close(), CLOSE_TIMEOUT)
