"""The Python client relay-only (``RoomClient(relay_only=True)``), as the room page's relay-only
option: against Debian's coturn (tests/coturn.py) on loopback, both of its media connections
gather relayed candidates only and the pair each one uses is a relayed one on coturn; the other
participant's media still reaches it and its own reaches the other. Without a TURN server in
the join answer it refuses with a reason instead of a connection that could never carry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from tests.coturn import Coturn, coturn
from tests.helpers import SECRET, ServerHandle
from vidconsult.client import ClientError, RoomClient
from vidconsult.config import Settings

pytestmark = [pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def turn_server() -> Iterator[Coturn]:
    with coturn() as server:
        yield server


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The live server with the coturn's UDP URL, unless the test asks for none."""
    if request.node.get_closest_marker("no_turn"):
        return Settings.from_env(
            {}, host="127.0.0.1", port=0, data_dir=tmp_path / "var", secret=SECRET
        )
    server: Coturn = request.getfixturevalue("turn_server")
    return Settings.from_env(
        {"VIDCONSULT_TURN_SECRET": server.secret},
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "var",
        secret=SECRET,
        turn_urls=server.urls["udp"],
    )


async def test_relay_only_client_uses_relayed_pairs_only(
    live_server: ServerHandle, turn_server: Coturn
) -> None:
    room = await live_server.create_room("Relay-only kiosk")
    rid = room["id"]
    kiosk = RoomClient(
        live_server.url, live_server.mint("kiosk-7", "patient", room=rid), relay_only=True
    )
    expert = RoomClient(live_server.url, live_server.mint("dr-expert", "expert", room=rid))
    try:
        await expert.connect()
        await expert.publish(VideoStreamTrack(), AudioStreamTrack())
        await kiosk.connect()
        await kiosk.publish(VideoStreamTrack(), AudioStreamTrack())
        # media both ways
        assert (await (await kiosk.wait_for_track("dr-expert", "video")).next_frame(20)).width
        assert (await (await expert.wait_for_track("kiosk-7", "video")).next_frame(20)).width

        pairs = kiosk.selected_pairs()
        assert set(pairs) == {"publish", "subscribe"}, pairs
        relay_low, relay_high = turn_server.relay_ports
        for direction, pair in pairs.items():
            # the kiosk's side of each pair is an address coturn relays from, over UDP
            assert pair["local_type"] == "relay", (direction, pairs)
            host, port = pair["local"]
            assert host == turn_server.host and relay_low <= port <= relay_high, pairs
        # nothing but relayed candidates was gathered (no host address was offered)
        for pc in (kiosk._pub, kiosk._sub):
            assert pc is not None
            gathered = [
                c.type
                for t in pc.getTransceivers()
                if t.sender.transport
                for c in t.sender.transport.transport.iceGatherer.getLocalCandidates()
            ]
            assert gathered and set(gathered) == {"relay"}, gathered
        # coturn saw the kiosk's allocations, under its own TURN username
        assert ":kiosk-7" in turn_server.log_text()
        # the one without the option is not relayed
        assert {p["local_type"] for p in expert.selected_pairs().values()} == {"host"}
    finally:
        await kiosk.close()
        await expert.close()


@pytest.mark.no_turn
async def test_relay_only_without_a_turn_server_is_refused_with_the_reason(
    live_server: ServerHandle,
) -> None:
    room = await live_server.create_room("No TURN here")
    kiosk = RoomClient(
        live_server.url, live_server.mint("kiosk-8", "patient", room=room["id"]), relay_only=True
    )
    try:
        with pytest.raises(ClientError) as refused:
            await kiosk.connect()
        assert refused.value.code == "relay_unavailable"
        # it left: the room does not hold a seat for it
        _, view = await live_server.api("GET", f"/api/v1/rooms/{room['id']}")
        assert view["participants"] == []
    finally:
        await kiosk.close()
