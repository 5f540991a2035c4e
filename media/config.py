"""Settings of the aiortc media engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

FORWARD_MODES = frozenset({"passthrough", "reencode"})


@dataclass(frozen=True, slots=True)
class MediaConfig:
    """``ice_servers`` are RTCIceServer-like dicts ``{"urls", "username"?, "credential"?}``.

    An empty list means host candidates only. It is always handed to aiortc as an explicit
    list: aiortc falls back to Google's public STUN server only when it gets ``None``.
    """

    ice_servers: list[dict[str, Any]] = field(default_factory=list)
    #: "passthrough" (encoded RTP forwarded, media/passthrough.py) or "reencode" (media/relay.py)
    forward_mode: str = "passthrough"
    #: video bitrate cap (kbit/s) every publisher is asked to obey (b=AS/TIAS in the publish
    #: answer, REMB); 0 = none. Rooms and participants can lower it at runtime.
    video_bitrate_kbps: int = 0
    #: seconds a listener callback may take before the engine logs it and moves on
    listener_timeout: float = 10.0
    #: remote SDPs larger than this are rejected as ``invalid_sdp``
    max_sdp_bytes: int = 128 * 1024

    def __post_init__(self) -> None:
        if self.forward_mode not in FORWARD_MODES:
            raise ValueError(
                f"forward_mode {self.forward_mode!r} is not supported "
                f"(supported: {', '.join(sorted(FORWARD_MODES))})"
            )
        if self.video_bitrate_kbps < 0:
            raise ValueError("video_bitrate_kbps must be >= 0")
        for server in self.ice_servers:
            urls = server.get("urls") if isinstance(server, dict) else None
            if not urls or not isinstance(urls, str | list):
                raise ValueError(f"ICE server needs 'urls': {server!r}")
            unknown = set(server) - {"urls", "username", "credential"}
            if unknown:
                raise ValueError(f"unknown ICE server keys {sorted(unknown)}")

    def ice_server_objects(self) -> list[RTCIceServer]:
        return [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in self.ice_servers
        ]

    def rtc_configuration(self) -> RTCConfiguration:
        """An aiortc configuration that never falls back to aiortc's default STUN server."""
        return RTCConfiguration(
            iceServers=self.ice_server_objects(),  # a list, never None
            bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
        )
