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


async def test_a_dead_nodes_running_export_is_marked_failed(rec_server: ServerHandle) -> None:
    """The exports a dead node was running fail at once (``export_interrupted``): the
    coordinator's dashboard stops waiting and the export can be started again. This node's
    own running job and a finished job of the dead node are left as they are."""
    store = rec_server.app[recordings_api.RECORDINGS].store
    mine = rec_server.app[recordings_api.EXPORTS].node_id

    def job(job_id: str, node: str, status: str = "running") -> dict[str, object]:
        return {
            "id": job_id,
            "room_id": "rm_elsewhere",
            "status": status,
            "progress": 0.4 if status == "running" else 1.0,
            "created_by": "coordinator",
            "created_at": datetime(2026, 1, 1, 10, tzinfo=UTC).isoformat(),
            "node_id": node,
            "files": ["rec_000000000001"],
            "error": None,
            "error_code": None,
            "duration_s": None,
            "speed": None,
        }

    await store.save_export(job("exp_00000000gone", "node-gone"))
    await store.save_export(job("exp_00000000done", "node-gone", "done"))
    await store.save_export(job("exp_000000000run", mine))

    await rec_server.app[LIVE].bus.publish(
        CLUSTER_TOPIC, {"type": NODE_DOWN, "node": "node-gone", "reason": "expired"}
    )
    deadline = time.monotonic() + 10
    while True:
        status, gone = await rec_server.api("GET", "/api/v1/exports/exp_00000000gone")
        assert status == 200, gone
        if gone["status"] != "running":
            break
        assert time.monotonic() < deadline, "not marked"
        await asyncio.sleep(0.05)  # the handler runs on the bus's task: poll the API
    assert gone["status"] == "failed" and gone["error_code"] == "export_interrupted", gone
    assert "node-gone" in gone["error"]
    _, done = await rec_server.api("GET", "/api/v1/exports/exp_00000000done")
    assert done["status"] == "done" and done["error_code"] is None, done
    _, running = await rec_server.api("GET", "/api/v1/exports/exp_000000000run")
    assert running["status"] == "running", running
