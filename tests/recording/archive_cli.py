"""``vidconsult archive recover`` run as an operator runs it: the CLI in its own process, on a
data directory (tests/recording/test_export_recovery.py and test_service_edges.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import SECRET

ROOT_DIR = Path(__file__).resolve().parents[2]


def archive_recover(data: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The CLI's ``archive recover`` on ``data`` (its output and exit code; not checked)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "vidconsult.archive_cli",
            "archive",
            "--data-dir",
            str(data),
            "--secret",
            SECRET,
            "recover",
        ],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
