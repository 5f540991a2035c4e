"""The real server with emergency paging and webhooks, as a process a test can SIGKILL:
``python -m tests.workflow.serve_paging_proc DATA_DIR SECRET [--hold-after-paging]`` prints its
URL and serves forever, on the workflow tests' fake clock (Monday 09:00, the rota's hours) and
no media. ``--hold-after-paging``: once a paging change is stored, the pager holds before it
tells anyone (workspaces, the event bus) and prints ``held CASE_ID`` (the seam that keeps the
process between the paging's write and what used to be the second write, its deliveries,
until the kill)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from tests.fakes import FakeClock, NullMediaEngine
from tests.workflow.helpers import MONDAY_9AM
from vidconsult import event_loop
from vidconsult.app import run_server
from vidconsult.config import Settings
from vidconsult.services.paging import PagingService

# what tests/workflow/test_paging_outbox.py serves in process, as settings
OVERRIDES: dict[str, Any] = {
    "webhook_allowed_networks": "127.0.0.0/8",
    "webhook_backoff_base": 1.0,
    "scheduler_interval": 0,
    "paging_interval": 0,
    "paging_answer_seconds": 30,
}


async def _held_apply(self: PagingService, paging: Any, change: Any, by: str = "") -> None:
    print(f"held {paging.case_id}", flush=True)
    await asyncio.Event().wait()  # until the process is killed


async def main(data_dir: str, secret: str) -> None:
    settings = Settings.from_env(
        {}, host="127.0.0.1", port=0, data_dir=Path(data_dir), secret=secret, **OVERRIDES
    )
    async with run_server(settings, clock=FakeClock(MONDAY_9AM), media=NullMediaEngine()) as server:
        print(server.url, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    if "--hold-after-paging" in sys.argv[3:]:
        PagingService._apply = _held_apply  # type: ignore[method-assign]
    event_loop.run(main(sys.argv[1], sys.argv[2]))
