"""The join reply hands each participant its own TURN credentials (TURN REST API scheme),
valid for its token's life; the secret shared with the TURN server never leaves the server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from tests.helpers import SECRET, ServerHandle
from tests.sio import RawClient
from vidconsult.config import Settings

TURN_SECRET = "turn-shared-secret-" + "q" * 24
STATIC = [{"urls": ["stun:stun.example.org:3478"]}]
URLS = [
    "turn:turn.example.org:3478?transport=udp",
    "turn:turn.example.org:3478?transport=tcp",
    "turns:turn.example.org:443?transport=tcp",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {"VIDCONSULT_TURN_SECRET": TURN_SECRET, "VIDCONSULT_ICE_SERVERS": json.dumps(STATIC)},
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "var",
        secret=SECRET,
        turn_urls=",".join(URLS),
    )


async def test_join_reply_carries_per_participant_turn_credentials(
    app_server: ServerHandle,
) -> None:
    room = await app_server.create_room()
    replies = {}
    for identity, ttl in (("dr-li", 600), ("pt-wang", 7200)):
        token = app_server.mint(identity, "doctor", room=room["id"], ttl=ttl)
        client = RawClient()
        try:
            await client.connect(app_server.url, token)
            replies[identity] = (await client.request("join"), token)
        finally:
            await client.close()
    for identity, (reply, token) in replies.items():
        static, turn = reply["ice_servers"]
        assert static == STATIC[0]
        assert turn["urls"] == URLS
        expiry, who = turn["username"].split(":", 1)
        assert who == identity
        # valid for exactly the token's life
        assert int(expiry) == int(app_server.signer.verify(token).expires_at.timestamp())
        digest = hmac.new(TURN_SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest()
        assert turn["credential"] == base64.b64encode(digest).decode()
        assert TURN_SECRET not in json.dumps(reply)
    # each participant's credentials are its own
    assert replies["dr-li"][0]["ice_servers"][1] != replies["pt-wang"][0]["ice_servers"][1]
