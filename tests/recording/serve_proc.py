"""The real server with recording installed, as a process a test can SIGKILL:
``python -m tests.recording.serve_proc DATA_DIR SECRET`` prints its URL and serves forever."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from vidconsult import areas, event_loop
from vidconsult.app import run_server
from vidconsult.config import Settings


async def main(data_dir: str, secret: str) -> None:
    settings = Settings.from_env(
        {},
        host="127.0.0.1",
        port=0,
        data_dir=Path(data_dir),
        secret=secret,
        media_mode="passthrough",
    )
    async with run_server(settings, installers=[areas.install_recordings]) as server:
        print(server.url, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    event_loop.run(main(sys.argv[1], sys.argv[2]))  # the product's loop
