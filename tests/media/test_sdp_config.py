"""SDP checks, configuration and the aiortc pin-check: no network."""

from __future__ import annotations

import aiortc
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import VideoStreamTrack

from media import AiortcMediaEngine, MediaCompatibilityError, MediaConfig
from media.sdp import parse_remote, strip_mdns_candidates
from tests.media.conftest import client_pc
from vidconsult.errors import InvalidInput

SECTION = (
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    "a=candidate:1 1 udp 2113937151 {addr} 5000 typ host\r\n"
    "a=candidate:2 1 udp 1677729535 203.0.113.9 5001 typ srflx raddr 0.0.0.0 rport 0\r\n"
    "a=end-of-candidates\r\n"
)


def test_mdns_candidates_are_stripped() -> None:
    sdp = "v=0\r\n" + SECTION.format(addr="a1b2.local")
    cleaned, dropped = strip_mdns_candidates(sdp)
    assert dropped == 1
    assert ".local" not in cleaned and "203.0.113.9" in cleaned
    assert "a=end-of-candidates" not in cleaned  # ICE keeps waiting for prflx


def test_sections_with_only_real_candidates_are_untouched() -> None:
    sdp = "v=0\r\n" + SECTION.format(addr="192.0.2.7")
    cleaned, dropped = strip_mdns_candidates(sdp)
    assert dropped == 0 and cleaned == sdp


async def offer_sdp() -> str:
    pc = client_pc()
    pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


@pytest.mark.parametrize(
    ("mangle", "type_"),
    [
        (lambda s: "garbage", "offer"),
        (lambda s: s, "answer"),
        (lambda s: s, "pranswer"),
        (lambda s: "", "offer"),
        (lambda s: s.split("m=")[0], "offer"),
        (lambda s: s.replace("a=ice-ufrag:", "a=x-ufrag:"), "offer"),
        (lambda s: s.replace("a=fingerprint:", "a=x-fingerprint:"), "offer"),
        (lambda s: s.replace("a=rtcp-mux", "a=x-mux"), "offer"),
        (lambda s: s.replace("a=mid:", "a=x-mid:"), "offer"),
        (lambda s: s.replace("VP8", "XYZ").replace("H264", "XYZ"), "offer"),
        (lambda s: s.replace("m=video", "m=application"), "offer"),
        (lambda s: s + "x" * 200_000, "offer"),
    ],
)
async def test_malformed_offers_are_invalid_sdp(mangle: object, type_: str) -> None:
    sdp = mangle(await offer_sdp())  # type: ignore[operator]
    with pytest.raises(InvalidInput) as err:
        parse_remote(sdp, type_, expected_type="offer", max_bytes=128 * 1024)
    assert err.value.code == "invalid_sdp"


async def test_valid_offer_parses() -> None:
    remote = parse_remote(await offer_sdp(), "offer", expected_type="offer", max_bytes=1 << 17)
    assert [m.kind for m in remote.parsed.media] == ["video"]


def test_config_never_uses_aiortc_default_stun() -> None:
    assert MediaConfig().rtc_configuration().iceServers == []
    turn = {"urls": ["turn:turn.example:3478"], "username": "u", "credential": "p"}
    servers = MediaConfig(ice_servers=[turn]).rtc_configuration().iceServers
    assert servers is not None and servers[0].username == "u"
    with pytest.raises(ValueError):
        MediaConfig(forward_mode="transcode")
    with pytest.raises(ValueError):
        MediaConfig(ice_servers=[{"url": "stun:x"}])


async def test_engine_gathers_host_candidates_only() -> None:
    pc = RTCPeerConnection(MediaConfig().rtc_configuration())
    pc.addTransceiver("video", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    candidates = [x for x in pc.localDescription.sdp.splitlines() if x.startswith("a=candidate")]
    await pc.close()
    assert candidates and all(" typ host" in x for x in candidates)


def test_pin_check_refuses_another_aiortc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "2.0.0")
    with pytest.raises(MediaCompatibilityError, match="aiortc 2.0.0"):
        AiortcMediaEngine(MediaConfig())
