"""The real server with recording installed, as a process a test can SIGKILL:
``python -m tests.recording.serve_proc DATA_DIR SECRET [--hold-exports]`` prints its URL and
serves forever. ``--hold-exports``: a composite export writes the start of its file, reports
half its progress and then holds (the seam that keeps a job running until the kill)."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidconsult import areas, event_loop
from vidconsult.app import run_server
from vidconsult.config import Settings


def _held_export(inputs: Any, out_path: str, progress: Callable[[float], None]) -> float:
    Path(out_path).with_suffix(".part.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom half")
    progress(0.5)
    threading.Event().wait()  # until the process is killed
    return 0.0


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
    if "--hold-exports" in sys.argv[3:]:
        from media.recording import composite

        composite.export_composite = _held_export  # read by areas.install_recordings
    event_loop.run(main(sys.argv[1], sys.argv[2]))  # the product's loop
