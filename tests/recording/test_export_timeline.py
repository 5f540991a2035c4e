"""Where each file goes on a composite's timeline (pure: no media)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from vidconsult.domain.recordings import Recording, RecordingStatus
from vidconsult.services.exports import SESSION_GAP, composite_inputs
from vidconsult.store.recording_files import ArchiveFiles

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def rec(
    rid: str,
    session: str,
    start_s: float,
    offset_ms: int,
    duration_ms: int,
    status: RecordingStatus = RecordingStatus.COMPLETED,
) -> Recording:
    return Recording(
        id=rid,
        room_id="rm_1",
        case_id=None,
        identity=rid,
        role="doctor",
        path=f"rm_1/{rid}.webm",
        started_at=T0 + timedelta(seconds=start_s),
        status=status,
        duration_ms=duration_ms,
        offset_ms=offset_ms,
        session_id=session,
    )


def test_offsets_inside_a_session_and_long_pauses_cut(tmp_path: Path) -> None:
    archive = ArchiveFiles(tmp_path, b"k" * 32)
    recs = [
        rec("a1", "s1", 0.0, 0, 10_000),
        rec("b1", "s1", 0.0, 3_000, 5_000),  # joined 3 s late
        rec("a2", "s2", 600.0, 0, 4_000),  # recording restarted ten minutes later
        rec("b2", "s2", 600.0, 500, 3_000),
        rec("c3", "s3", 604.5, 0, 2_000),  # restarted 0.5 s after s2 ended: pause kept
        rec("x", "s4", 700.0, 0, 0),  # empty file: nothing to show
        rec("y", "s5", 800.0, 0, 5_000, RecordingStatus.RECORDING),  # still being written
    ]
    placed = {i.label.split(" ")[0]: i.offset for i in composite_inputs(recs, archive)}
    assert placed == {
        "a1": 0.0,
        "b1": 3.0,
        "a2": 10.0 + SESSION_GAP,
        "b2": 10.0 + SESSION_GAP + 0.5,
        "c3": 10.0 + SESSION_GAP + 4.5,
    }
