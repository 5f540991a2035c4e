"""The server wiring: when the live state announces that another node died, this node marks
that node's recordings interrupted (the recording service follows the cluster topic)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from tests.helpers import ServerHandle
from vidconsult.cluster.ports import CLUSTER_TOPIC, NODE_DOWN
from vidconsult.domain.recordings import Recording, RecordingStatus
from web import recordings_api
from web.keys import LIVE


async def test_a_dead_nodes_recording_is_marked_interrupted(rec_server: ServerHandle) -> None:
    service = rec_server.app[recordings_api.RECORDINGS]
    other = Recording(
        id="rec_000000000001",
        room_id="rm_elsewhere",
        case_id=None,
        identity="dr-li",
        role="doctor",
        path="2026/01/01/rm_elsewhere/dr-li-rec_000000000001.webm",
        started_at=datetime(2026, 1, 1, 10, tzinfo=UTC),
        node_id="node-gone",
    )
    await service.store.add_recording(other)
    mine = await service.store.get_recording(other.id)
    assert mine is not None and mine.status is RecordingStatus.RECORDING

    await rec_server.app[LIVE].bus.publish(
        CLUSTER_TOPIC, {"type": NODE_DOWN, "node": "node-gone", "reason": "expired"}
    )
    deadline = time.monotonic() + 10
    while (rec := await service.store.get_recording(other.id)) is not None and (
        rec.status is RecordingStatus.RECORDING
    ):
        assert time.monotonic() < deadline, "not marked"
        await asyncio.sleep(0.05)  # the handler runs on the bus's task: poll the store
    assert rec is not None
    assert rec.status is RecordingStatus.INTERRUPTED
    assert "node-gone" in (rec.error or "")
