"""Several nodes share one recordings index, each file on its own node's disk: a starting node
closes only its own files cut off by a crash (not another node's live recordings), a node
that learns another died marks that node's files interrupted, and the dead node, started
again, closes and hashes them so that they verify."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from tests.recording.fakes import FakeNotifier, FakeRooms, MemoryRecordingStore
from vidconsult.domain.recordings import Recording, RecordingStatus
from vidconsult.domain.rooms import Room
from vidconsult.ports import SystemClock
from vidconsult.services.recordings import NODE_LOST, RecordingService
from vidconsult.store.recording_files import ArchiveFiles, verify

KEY = b"k" * 32
T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def node(root: Path, store: MemoryRecordingStore, node_id: str) -> RecordingService:
    return RecordingService(
        store=store,
        archive=ArchiveFiles(root, KEY),
        recorder=None,
        rooms=FakeRooms(Room(id="room1", name="R", created_at=T0)),
        notifier=FakeNotifier(),
        clock=SystemClock(),
        node_id=node_id,
    )


def live_file(root: Path, i: int, who: str, node_id: str) -> Recording:
    rid = f"rec_{i:012d}"
    rec = Recording(
        id=rid,
        room_id="room1",
        case_id=None,
        identity=who,
        role="doctor",
        path=f"2026/01/01/room1/{who}-{rid}.webm",
        started_at=T0,
        session_id="rs_1",
        node_id=node_id,
    )
    (root / rec.path).parent.mkdir(parents=True, exist_ok=True)
    (root / rec.path).write_bytes(f"bytes of {who}".encode())
    return rec


async def test_each_node_recovers_its_own_and_a_dead_nodes_files_stay_verifiable(
    tmp_path: Path,
) -> None:
    store = MemoryRecordingStore()
    root_a, root_b = tmp_path / "a", tmp_path / "b"
    on_a = live_file(root_a, 1, "alice", "node-a")
    on_b = live_file(root_b, 2, "bob", "node-b")
    legacy = live_file(root_a, 3, "carol", "")  # written before nodes had ids
    for rec in (on_a, on_b, legacy):
        await store.add_recording(rec)

    a = node(root_a, store, "node-a")
    found = await a.recover()  # node a (re)starts while b records
    assert {r.id for r in found} == {on_a.id, legacy.id}
    assert store.recs[on_b.id].status is RecordingStatus.RECORDING  # b's live file untouched
    assert store.recs[on_a.id].status is RecordingStatus.INTERRUPTED

    # b dies; a hears of it (the live state's node.down) and marks b's files
    assert [r.id for r in await a.node_down("node-b")] == [on_b.id]
    marked = store.recs[on_b.id]
    assert marked.status is RecordingStatus.INTERRUPTED
    assert (marked.error or "").startswith(NODE_LOST)
    assert marked.sha256 == ""  # its bytes are on b's disk
    assert await a.node_down("node-b") == []  # every node hears it: idempotent
    assert await a.node_down("node-a") == []  # never its own

    b = node(root_b, store, "node-b")  # b starts again with the same node id
    assert [r.id for r in await b.recover()] == [on_b.id]
    closed = store.recs[on_b.id]
    assert closed.status is RecordingStatus.INTERRUPTED
    assert closed.error == "server stopped while recording"
    assert closed.sha256 == hashlib.sha256(b"bytes of bob").hexdigest()
    assert verify(b.archive, KEY)[1] == []
    assert verify(a.archive, KEY)[1] == []
    assert await b.recover() == []  # nothing left to close
    assert dataclasses.replace(closed) == store.recs[on_b.id]
    await a.close()
    await b.close()
