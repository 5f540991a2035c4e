"""Room chat is kept with the case of the room, and read back through the case."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.helpers import ServerHandle
from tests.installed import serve
from tests.sio import RawClient
from vidconsult import areas
from vidconsult.config import Settings


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[ServerHandle]:
    async with serve(settings, [areas.install_records]) as handle:
        yield handle


async def joined(server: ServerHandle, room_id: str, identity: str, role: str) -> RawClient:
    token = (await server.join_token(room_id, identity, role))["token"]
    client = RawClient()
    await client.connect(server.url, token)
    reply = await client.request("join")
    assert reply["room"]["id"] == room_id, reply
    return client


async def test_chat_of_a_case_room_is_kept_with_the_case(server: ServerHandle) -> None:
    room = await server.create_room("Cardiology", case_id="case-7")
    loose = await server.create_room("No case")
    dr = await joined(server, room["id"], "dr-wang", "doctor")
    pt = await joined(server, room["id"], "pt-1", "patient")
    other = await joined(server, loose["id"], "dr-li", "doctor")
    try:
        for client, text in (
            (dr, "ECG shows ST elevation"),
            (pt, "chest pain since 6am"),
            (other, "not a case room"),
        ):
            assert (await client.request("chat.send", {"text": text}))["ok"] is True
    finally:
        for client in (dr, pt, other):
            await client.close()
    # read by the coordinator, and by any token of the case (even after the room)
    patient = (await server.join_token(room["id"], "pt-2", "patient"))["token"]
    for token in (server.coordinator_token, patient):
        status, body = await server.api("GET", "/api/v1/cases/case-7/chat", token=token)
        assert status == 200, body
        msgs = body["messages"]
        assert [(m["identity"], m["role"], m["text"]) for m in msgs] == [
            ("dr-wang", "doctor", "ECG shows ST elevation"),
            ("pt-1", "patient", "chest pain since 6am"),
        ]
        assert all(m["room_id"] == room["id"] and m["case_id"] == "case-7" for m in msgs)
    # nothing leaks into another case, and other cases' tokens cannot read it
    assert (await server.api("GET", "/api/v1/cases/case-8/chat"))[1] == {"messages": []}
    foreign = server.mint("x", "patient", room="rm_other", case="case-8")
    assert (await server.api("GET", "/api/v1/cases/case-7/chat", token=foreign))[0] == 403
