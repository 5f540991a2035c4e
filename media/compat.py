"""Pin-check of the aiortc internals the engine relies on.

aiortc is pinned to one minor version (pyproject); this module fails loudly, at engine start,
if the installed version or the internals below changed, instead of misbehaving at runtime.
"""

from __future__ import annotations

import aiortc
from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc import sdp as aiortc_sdp
from aiortc.codecs import CODECS
from aiortc.rtcicetransport import RTCIceGatherer

SUPPORTED_AIORTC = "1.16."

#: name-mangled counters read by :func:`sender_counters` for the stats
SENDER_OCTETS = "_RTCRtpSender__octet_count"
SENDER_PACKETS = "_RTCRtpSender__packet_count"


class MediaCompatibilityError(RuntimeError):
    """The installed aiortc does not match what the media engine was written against."""


def check_aiortc() -> None:
    problems: list[str] = []
    version = getattr(aiortc, "__version__", "?")
    if not version.startswith(SUPPORTED_AIORTC):
        problems.append(
            f"aiortc {version} installed, the media engine supports {SUPPORTED_AIORTC}x"
        )
    names = RTCRtpSender.__init__.__code__.co_names
    for attr in (SENDER_OCTETS, SENDER_PACKETS):
        if attr not in names:
            problems.append(f"RTCRtpSender no longer has {attr}")
    direction = getattr(RTCRtpTransceiver, "direction", None)
    if not isinstance(direction, property) or direction.fset is None:
        problems.append("RTCRtpTransceiver.direction is not a settable property")
    for obj, attr in (
        (RTCRtpTransceiver, "setCodecPreferences"),
        (RTCRtpTransceiver, "currentDirection"),
        (aiortc_sdp.SessionDescription, "parse"),
        (RTCIceGatherer, "getDefaultIceServers"),
    ):
        if not hasattr(obj, attr):
            problems.append(f"{obj.__name__}.{attr} is missing")
    if not {"audio", "video"} <= set(CODECS):
        problems.append("aiortc.codecs.CODECS lacks audio or video")
    if problems:
        raise MediaCompatibilityError("; ".join(problems))


def sender_counters(sender: RTCRtpSender) -> tuple[int, int]:
    """(bytes, packets) of RTP payload a sender has sent; read without awaiting getStats()."""
    return getattr(sender, SENDER_OCTETS, 0), getattr(sender, SENDER_PACKETS, 0)
