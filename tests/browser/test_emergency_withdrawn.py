"""A withdrawn emergency, as the people in its room meet it, in headless Chromium against the
real server (aiortc media, recording on, SQLite): the calling clinic's page is in the room and
publishing (so the consultation records); the emergency is withdrawn, by a coordinator of the
centre or by the clinic's own doctor; the page closes at once and says, in English or Chinese,
that the emergency was withdrawn and by whom (no raw code, no instant), the recording is
finalised as at a normal end, and the expert's link opened afterwards is refused with the same
sentence. Each page is screenshotted (artifacts under $VIDCONSULT_ARTIFACTS/consult-room) and
checked with axe-core."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_consult_room import (  # noqa: F401 (open_room: a fixture)
    PHONE,
    Opener,
    link,
    open_room,
    table,
)
from tests.helpers import SECRET, ServerHandle
from tests.workflow.helpers import case_body
from tests.workflow.test_paging import PASSWORD, account
from vidconsult.config import Settings
from vidconsult.domain.emergency import Withdrawal
from web.keys import ROOMS
from web.recordings_api import RECORDINGS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(240)]

WAIT = 30  # a bound for the polls below, never a synchronisation


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {},
        host="127.0.0.1",
        port=0,
        data_dir=tmp_path / "var",
        secret=SECRET,
        centre_phone=PHONE,
    )


async def ok(server: ServerHandle, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    status, got = await server.api(method, path, body, **kw)
    assert status in (200, 201), (method, path, status, got)
    return got


async def emergency_on_duty(server: ServerHandle) -> dict[str, Any]:
    """Unit vil-1 and cardiologist zhou on duty now (a rota override around this instant); the
    emergency the clinic filed: its case, room and links."""
    await ok(
        server,
        "POST",
        "/api/v1/units",
        {
            "id": "vil-1",
            "name": "Anda Village Clinic",
            "tier": "village",
            "consult_rooms": ["first-consult room"],
        },
    )
    await ok(
        server,
        "POST",
        "/api/v1/experts",
        {
            "id": "zhou",
            "name": "Dr Zhou",
            "specialties": ["cardiology"],
            "languages": ["zh"],
            "time_zone": "Asia/Shanghai",
            "institution": {"id": "pumch", "name": "PUMCH", "kind": "domestic"},
        },
    )
    now = datetime.now(UTC)
    await ok(
        server,
        "POST",
        "/api/v1/rota/overrides",
        {
            "specialty": "cardiology",
            "expert_id": "zhou",
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=2)).isoformat(),
        },
    )
    return dict(await ok(server, "POST", "/api/v1/emergencies", case_body()))


def token_of(opened: dict[str, Any], kind: str) -> str:
    return next(str(x["token"]) for x in opened["links"] if x["kind"] == kind)


async def recording_of(server: ServerHandle, room_id: str, done: Any) -> dict[str, Any]:
    """The room's recording once ``done(recording)`` (polled as the dashboard does)."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        listing = await ok(server, "GET", f"/api/v1/recordings?room_id={room_id}")
        found = [r for r in listing["recordings"] if done(r)]
        if found:
            return dict(found[0])
        assert asyncio.get_running_loop().time() < deadline, listing
        await asyncio.sleep(0.2)


async def media_written(server: ServerHandle, recording_id: str, size: int = 20_000) -> None:
    """The recorder has the clinic's media in its file (its header, then some seconds of it):
    the consultation really recorded before it is withdrawn."""
    service = server.app[RECORDINGS]
    rec = await service.store.get_recording(recording_id)
    path = service.archive.resolve(rec.path)

    def written() -> int:
        return path.stat().st_size if path.is_file() else 0

    deadline = asyncio.get_running_loop().time() + WAIT
    while await asyncio.to_thread(written) < size:
        assert asyncio.get_running_loop().time() < deadline, path
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(("lang", "by"), [("en", "centre"), ("zh", "unit")])
async def test_a_withdrawn_emergency_closes_the_page_says_by_whom_and_refuses_late_links(
    live_server: ServerHandle,
    open_room: Opener,  # noqa: F811
    settings: Settings,
    lang: str,
    by: str,  # noqa: F811
) -> None:
    words = table(lang)["errors"]
    sentence = words[f"emergency_withdrawn_by_{by}"]
    opened = await emergency_on_duty(live_server)
    case_id, room_id = opened["case"]["id"], opened["room"]["id"]

    # the clinic's first-consult room joins from its page and publishes: the room records
    clinic = await open_room(
        f"clinic-{lang}", link(live_server, room_id, token_of(opened, "unit")), lang=lang
    )
    assert await clinic.wait_state("prejoin") == "prejoin"
    await clinic.page.click("[data-testid=join-button]:enabled")
    assert await clinic.wait_state("joined") == "joined"
    recording = await recording_of(live_server, room_id, lambda r: r["status"] == "recording")
    await media_written(live_server, recording["id"])

    # withdrawn: by a coordinator (the case cancelled), or by the clinic's own doctor
    if by == "centre":
        await ok(live_server, "POST", f"/api/v1/cases/{case_id}/cancel", {"reason": "duplicate"})
    else:
        await account(settings, "vil.doctor", "doctor", unit_id="vil-1")
        login = await ok(
            live_server,
            "POST",
            "/api/v1/auth/login",
            {"username": "vil.doctor", "password": PASSWORD},
            token="",
        )
        await ok(
            live_server,
            "POST",
            f"/api/v1/emergencies/{case_id}/withdraw",
            {"reason": "patient stable"},
            token=login["token"],
        )

    # the page closes now (no timer) and says why and by whom, in its language
    assert await clinic.wait_state("ended") == "ended"
    await clinic.page.wait_for_selector("[data-testid=blocked]", state="visible")
    assert await clinic.text("blocked-reason") == sentence
    assert PHONE in await clinic.text("blocked-call")
    await clinic.shot(f"emergency-withdrawn-by-{by}-in-room-{lang}", lang)

    # the recording is finalised as at a normal end: completed, hashed, with its length
    done = await recording_of(
        live_server, room_id, lambda r: r["id"] == recording["id"] and r["status"] != "recording"
    )
    assert done["status"] == "completed", done
    assert done["duration_ms"] > 0 and done["sha256"], done

    # the expert's link, opened late: refused with the same sentence, the camera never opens
    late = await open_room(
        f"late-{lang}", link(live_server, room_id, token_of(opened, "expert")), lang=lang
    )
    assert await late.wait_state("blocked") == "blocked"
    assert await late.text("blocked-reason") == sentence
    assert await late.page.evaluate("window.__gumCalls") == 0
    await late.shot(f"emergency-withdrawn-by-{by}-late-link-{lang}", lang)


@pytest.mark.parametrize(("lang", "outcome"), [("en", "given_back"), ("zh", "withdrawn")])
async def test_a_join_during_a_withdrawal_waits_on_a_busy_room_and_meets_the_outcome(
    live_server: ServerHandle,
    open_room: Opener,  # noqa: F811
    lang: str,
    outcome: str,
) -> None:
    """The expert clicks join while a withdrawal holds the room (its outcome not known yet).
    The page says the room is busy and asks again by itself, never "withdrawn" before it is:
    the withdrawal fails (its hold given back) and the expert is in the consultation; or it
    closes the room and the page says who withdrew it."""
    words = table(lang)
    opened = await emergency_on_duty(live_server)
    case_id, room_id = opened["case"]["id"], opened["room"]["id"]
    rooms = live_server.app[ROOMS]
    # a withdrawal's first step on the room's node, its case not cancelled yet
    await rooms.hold_for_end(room_id, Withdrawal.BY_CENTRE.value, lambda people: None, hold="t")

    expert = await open_room(
        f"busy-{lang}", link(live_server, room_id, token_of(opened, "expert")), lang=lang
    )
    assert await expert.wait_state("prejoin") == "prejoin"
    await expert.page.click("[data-testid=join-button]:enabled")
    await expert.page.wait_for_function(
        "(t) => document.querySelector('[data-testid=status]').textContent === t",
        arg=words["roomBusyRetrying"],
        timeout=WAIT * 1000,
    )
    await expert.shot(f"emergency-room-busy-{lang}", lang)
    if outcome == "given_back":
        rooms.release_hold(room_id, "t")
        assert await expert.wait_state("joined") == "joined"
    else:
        await ok(live_server, "POST", f"/api/v1/cases/{case_id}/cancel", {"reason": "duplicate"})
        assert await expert.wait_state("blocked") == "blocked"
        sentence = words["errors"]["emergency_withdrawn_by_centre"]
        assert await expert.text("blocked-reason") == sentence
        assert await expert.page.evaluate("window.vidconsult.state") == "blocked"
