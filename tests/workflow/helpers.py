"""A workflow server handle: the real app with a controllable clock, and seed data."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from tests.fakes import FakeClock, NullMediaEngine
from tests.helpers import SECRET, ServerHandle
from vidconsult.app import EVENTS, run_server
from vidconsult.config import Settings
from vidconsult.domain.roles import Role
from vidconsult.tokens import TokenSigner

CST = ZoneInfo("Asia/Shanghai")
# Monday 9 March 2026, 09:00 in the centre's zone; the SLA deadline of a request now is the end
# of Thursday 12 March (Tue, Wed, Thu are the 3 working days after the request's date)
MONDAY_9AM = datetime(2026, 3, 9, 9, 0, tzinfo=CST)
MON, TUE, WED, THU, FRI = range(5)


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def cst(day: int, hour: int, minute: int = 0) -> datetime:
    """A March 2026 instant in the centre's zone."""
    return datetime(2026, 3, day, hour, minute, tzinfo=CST)


@dataclass
class WorkflowServer(ServerHandle):
    clock: FakeClock = None  # type: ignore[assignment]
    events: list[tuple[str, dict[str, Any]]] = None  # type: ignore[assignment]

    def mint(
        self, identity: str, role: Role | str, room: str | None = None, ttl: float = 3600, **kw: Any
    ) -> str:
        return self.signer.mint(
            identity=identity,
            role=Role(role),
            room=room,
            now=self.clock.now(),
            ttl=timedelta(seconds=ttl),
            **kw,
        )

    def verify(self, token: str) -> Any:
        return self.signer.verify(token, now=self.clock.now())

    def seen(self, event: str) -> list[dict[str, Any]]:
        return [data for name, data in self.events if name == event]

    async def ok(
        self, method: str, path: str, json: Any = None, status: int = 200, **kw: Any
    ) -> Any:
        got, body = await self.api(method, path, json, **kw)
        assert got == status, (got, body)
        return body

    # seed data ---------------------------------------------------------------------------
    async def unit(
        self, unit_id: str = "vil-1", tier: str = "village", **kw: Any
    ) -> dict[str, Any]:
        return await self.ok(
            "POST",
            "/api/v1/units",
            {
                "id": unit_id,
                "name": f"Unit {unit_id}",
                "tier": tier,
                "consult_rooms": ["first-consult room"],
                **kw,
            },
            status=201,
        )

    async def expert(
        self,
        expert_id: str,
        specialties: tuple[str, ...] = ("cardiology",),
        languages: tuple[str, ...] = ("zh",),
        time_zone: str = "Asia/Shanghai",
        international: bool = False,
    ) -> dict[str, Any]:
        inst = (
            {"id": "us-group", "name": "US Partner Group", "kind": "international", "country": "US"}
            if international
            else {"id": "pumch", "name": "PUMCH", "kind": "domestic"}
        )
        return await self.ok(
            "POST",
            "/api/v1/experts",
            {
                "id": expert_id,
                "name": f"Dr {expert_id}",
                "institution": inst,
                "specialties": list(specialties),
                "languages": list(languages),
                "time_zone": time_zone,
            },
            status=201,
        )

    async def roster(
        self, expert_id: str, *shifts: tuple[int, str, str], **kw: Any
    ) -> dict[str, Any]:
        return await self.ok(
            "PUT",
            f"/api/v1/experts/{expert_id}/roster",
            {"shifts": [{"weekday": d, "start": s, "end": e} for d, s, e in shifts], **kw},
        )

    async def case(
        self, unit: str = "vil-1", specialty: str = "cardiology", **kw: Any
    ) -> dict[str, Any]:
        return await self.ok("POST", "/api/v1/cases", case_body(unit, specialty, **kw), status=201)

    async def book(self, case_id: str, status: int = 201, **body: Any) -> Any:
        return await self.ok("POST", f"/api/v1/cases/{case_id}/booking", body, status=status)


async def cardiology_on_duty(server: WorkflowServer) -> None:
    """Unit vil-1, and two cardiologists on the Monday rota: zhou first, wang the backup."""
    await server.unit("vil-1")
    for expert in ("zhou", "wang"):
        await server.expert(expert)
    slots = [
        {"expert_id": e, "weekday": MON, "start": "08:00", "end": "20:00"} for e in ("zhou", "wang")
    ]
    await server.ok("PUT", "/api/v1/rota/cardiology", {"slots": slots})


def case_body(unit: str = "vil-1", specialty: str = "cardiology", **kw: Any) -> dict[str, Any]:
    return {
        "patient": {"name": "Zhang San", "sex": "male", "age_years": 35},
        "referring_unit_id": unit,
        "referring_doctor": "Dr Zhao",
        "specialty": specialty,
        "clinical_summary": "chest pain for two weeks",
        **kw,
    }


@contextlib.asynccontextmanager
async def workflow_server(
    settings: Settings, clock: FakeClock, **kw: Any
) -> AsyncIterator[WorkflowServer]:
    """The real server (REST + signaling) of ``settings`` on an ephemeral port, on a fake clock
    and no media, recording every event it publishes (``WorkflowServer.seen``); ``kw`` to
    ``run_server`` (``live``: a node of several)."""
    async with (
        run_server(settings, clock=clock, media=NullMediaEngine(), **kw) as server,
        aiohttp.ClientSession() as session,
    ):
        events: list[tuple[str, dict[str, Any]]] = []

        async def record(event: str, data: dict[str, Any]) -> None:
            events.append((event, data))

        server.app[EVENTS].subscribe(record)
        yield WorkflowServer(
            url=server.url,
            signer=TokenSigner(SECRET.encode()),
            app=server.app,
            session=session,
            clock=clock,
            events=events,
        )
