"""Webhooks end to end: registered over REST, fed by the app's EventBus, delivered by the
background worker to a receiver on 127.0.0.1 that checks the signature."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from tests.helpers import ServerHandle
from tests.installed import serve
from tests.webhooks.receiver import Receiver, receiving
from vidconsult import areas
from vidconsult.app import EVENTS
from vidconsult.config import Settings
from vidconsult.domain.webhooks import Destinations, RetryPolicy
from vidconsult.services.webhooks import WebhooksConfig

# short real backoff: the test awaits the receiver, never a sleep
# the receiver listens on loopback, which webhooks may reach only when an operator allows it
LOOPBACK = Destinations.parse("127.0.0.0/8")
CONFIG = WebhooksConfig(
    retry=RetryPolicy(max_attempts=3, base_delay=0.02, max_delay=0.1),
    timeout=5.0,
    destinations=LOOPBACK,
)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[ServerHandle]:
    async with serve(settings, [areas.webhooks_installer(CONFIG)]) as handle:
        yield handle


async def register(server: ServerHandle, url: str, events: list[str], **kw) -> dict:
    status, hook = await server.api(
        "POST", "/api/v1/webhooks", {"url": url, "events": events, **kw}
    )
    assert status == 201, hook
    return hook


async def test_matching_events_arrive_signed(server: ServerHandle) -> None:
    async with receiving(Receiver()) as rx:
        hook = await register(server, rx.url, ["case.*"])
        assert hook["secret"].startswith("whsec_")
        bus = server.app[EVENTS]
        await bus.publish("room.opened", {"room_id": "rm_1"})  # not subscribed
        await bus.publish("case.created", {"case_id": "c-42", "specialty": "cardiology"})
        [got] = await rx.wait_for(1)
        assert got.signature_valid(hook["secret"])
        assert not got.signature_valid("another secret")
        assert abs(int(got.headers["X-Vidconsult-Timestamp"]) - time.time()) < 60
        assert got.headers["X-Vidconsult-Event"] == "case.created"
        assert got.headers["Content-Type"] == "application/json"
        body = got.json
        assert set(body) == {"id", "event", "created_at", "data"}
        assert body["event"] == "case.created"
        assert body["data"] == {"case_id": "c-42", "specialty": "cardiology"}
        # a later event is delivered only after the earlier round is recorded, so the log
        # shows the first one done once the second arrives
        await bus.publish("case.closed", {"case_id": "c-42"})
        await rx.wait_for(2)
        status, log = await server.api("GET", f"/api/v1/webhooks/{hook['id']}/deliveries")
        assert status == 200
        first = log["deliveries"][-1]
        assert first["id"] == got.headers["X-Vidconsult-Delivery"]
        assert (first["event"], first["status"], first["attempts"], first["last_status"]) == (
            "case.created",
            "succeeded",
            1,
            200,
        )
        assert [r.json["event"] for r in rx.requests] == ["case.created", "case.closed"]


async def test_a_500_is_retried_in_the_background(server: ServerHandle) -> None:
    async with receiving(Receiver([500, 200])) as rx:
        hook = await register(server, rx.url, ["emergency.*"], secret="s" * 24)
        await server.app[EVENTS].publish("emergency.raised", {"case_id": "c-1"})
        first, second = await rx.wait_for(2)
        assert first.headers["X-Vidconsult-Delivery"] == second.headers["X-Vidconsult-Delivery"]
        assert second.signature_valid("s" * 24)
        assert hook["id"]


async def test_the_publisher_never_waits_for_a_receiver(server: ServerHandle) -> None:
    rx = Receiver()
    async with receiving(rx):
        rx.hang = asyncio.Event()
        await register(server, rx.url, ["*"])
        bus = server.app[EVENTS]
        # the receiver holds the first request open; publishing still returns at once
        await asyncio.wait_for(bus.publish("case.created", {}), 1.0)
        await rx.wait_for(1)
        await asyncio.wait_for(bus.publish("case.updated", {}), 1.0)
        rx.hang.set()


async def test_registration_rules(server: ServerHandle) -> None:
    for bad in (
        {"url": "ftp://127.0.0.1/x", "events": ["*"]},
        {"url": "127.0.0.1/x", "events": ["*"]},
        {"url": "http://user:pw@127.0.0.1/x", "events": ["*"]},
        {"url": "http://127.0.0.1/x", "events": []},
        {"url": "http://127.0.0.1/x", "events": ["case.*; drop"]},
        {"url": "http://127.0.0.1/x", "events": ["*"], "secret": "short"},
    ):
        status, err = await server.api("POST", "/api/v1/webhooks", bad)
        assert status == 400, (bad, err)
    body = {"url": "http://127.0.0.1:9/hook", "events": ["case.*"]}
    expert = server.mint("zhao", "expert")
    assert (await server.api("POST", "/api/v1/webhooks", body, token=expert))[0] == 403
    assert (await server.api("POST", "/api/v1/webhooks", body, token=""))[0] == 401
    hook = await register(server, **body)
    status, listing = await server.api("GET", "/api/v1/webhooks")
    assert [h["id"] for h in listing["webhooks"]] == [hook["id"]]
    assert "secret" not in listing["webhooks"][0]
    assert (await server.api("GET", "/api/v1/webhooks", token=expert))[0] == 403
    assert (await server.api("DELETE", f"/api/v1/webhooks/{hook['id']}"))[0] == 200
    assert (await server.api("DELETE", f"/api/v1/webhooks/{hook['id']}"))[0] == 404
    assert (await server.api("GET", f"/api/v1/webhooks/{hook['id']}/deliveries"))[0] == 404
