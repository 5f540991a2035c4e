"""Two nodes on one PostgreSQL store page an unanswered emergency's next step once: only the
holder of the scheduler's lease escalates, on the store's latest copy of the paging, whichever
node started it or loaded it at start (each node used to escalate its own copy)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from tests.fakes import FakeClock
from tests.postgres import PostgresServer
from tests.workflow.helpers import WorkflowServer, cardiology_on_duty, case_body, workflow_server
from vidconsult.config import Settings
from web.workflow_keys import PAGING


@contextlib.asynccontextmanager
async def node(
    settings: Settings, clock: FakeClock, url: str, data_dir: Path, **kw: Any
) -> AsyncIterator[WorkflowServer]:
    settings = settings.model_copy(
        update={
            "store": "postgres",
            "database_url": SecretStr(url),
            "database_pool_size": 3,
            "data_dir": data_dir,
            "scheduler_interval": 0,
            "paging_interval": 0,
            "paging_answer_seconds": 20,  # inside the lease's 30 s: the holder keeps it
        }
    )
    async with workflow_server(settings, clock, **kw) as server:
        yield server


def sent(nodes: tuple[WorkflowServer, ...], case_id: str) -> list[str]:
    """Whom the nodes paged for ``case_id`` (their page.sent events), sorted."""
    return sorted(
        e["target"]["id"] for n in nodes for e in n.seen("page.sent") if e["case_id"] == case_id
    )


async def test_an_unanswered_page_escalates_once_with_two_nodes(
    settings: Settings, clock: FakeClock, postgres: PostgresServer, tmp_path: Path
) -> None:
    url = postgres.new_database()
    async with node(settings, clock, url, tmp_path / "a") as a:
        await cardiology_on_duty(a)
        first = (await a.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"]
        # b starts after it: b loads the open paging from the store, as a has it in memory
        async with node(settings, clock, url, tmp_path / "b") as b:
            assert first["id"] in {p.case_id for p in b.app[PAGING].pagings()}
            # b takes the lease first (nothing is due yet): b is the one that escalates
            assert await b.app[PAGING].tick() == 0
            clock.advance(seconds=20)
            for _ in range(3):  # both nodes check, again and again, at once
                await asyncio.gather(a.app[PAGING].tick(), b.app[PAGING].tick())
            assert sent((a, b), first["id"]) == ["wang", "zhou"]  # wang paged once
            assert [e["target"]["id"] for e in b.seen("page.sent")] == ["wang"]
            # a did not send it, and its board shows it all the same (read from the store)
            board = await a.ok("GET", "/api/v1/paging")
            (mine,) = [p for p in board["pagings"] if p["case_id"] == first["id"]]
            assert [(p["target"]["id"], p["status"]) for p in mine["pages"]] == [
                ("zhou", "unanswered"),
                ("wang", "ringing"),
            ]

            # an emergency filed on a after b started: b escalates it from the store
            second = (await a.ok("POST", "/api/v1/emergencies", case_body(), status=201))["case"]
            pages_before = sent((a, b), second["id"])
            assert len(pages_before) == 1
            clock.advance(seconds=20)
            for _ in range(3):
                await asyncio.gather(a.app[PAGING].tick(), b.app[PAGING].tick())
            assert len(sent((a, b), second["id"])) == 2
            assert [e["case_id"] for e in b.seen("page.sent")].count(second["id"]) == 1
            # the first one's backup ran out too: the coordinators, once
            assert sent((a, b), first["id"]) == ["coordinators", "wang", "zhou"]
            for case, unanswered in ((first, 2), (second, 1)):
                got = await a.ok("GET", f"/api/v1/cases/{case['id']}")
                actions = [row["action"] for row in got["audit"]]
                assert actions.count("page.unanswered") == unanswered, actions
                assert actions.count("page.sent") == unanswered + 1, actions
            # the page b sent is answered through a (whose own copy never had it)
            await a.ok("POST", f"/api/v1/pages/{first['id']}.p2/accept")
            got = await b.ok("GET", f"/api/v1/cases/{first['id']}")
            assert "page.accepted" in [row["action"] for row in got["audit"]]
