"""Contract: rooms and the recordings archive's index, on SQLite and PostgreSQL (the suites
of the other areas are in the other test_*_contract modules)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.store.record_backends import Backend, backend_fixture
from vidconsult.domain.recordings import Recording, RecordingPolicy, RecordingStatus
from vidconsult.domain.rooms import ChatLine, Room, RoomKind, RoomStatus
from vidconsult.errors import Conflict
from vidconsult.store.pg.recordings import PgRecordingStore
from vidconsult.store.pg.records import PgRoomStore
from vidconsult.store.sqlite_recordings import SQLiteRecordingStore
from vidconsult.store.sqlite_rooms import SQLiteRoomStore

ROOMS = {"sqlite": SQLiteRoomStore, "postgres": PgRoomStore}
RECORDINGS = {"sqlite": SQLiteRecordingStore, "postgres": PgRecordingStore}
backend = backend_fixture()
T0 = datetime(2026, 12, 5, 9, tzinfo=UTC)


async def test_rooms_are_kept_listed_newest_first_and_ended(backend: Backend) -> None:
    store = await backend.open(ROOMS[backend.kind])
    a = Room("rm_a", "Ward 3", T0, case_id="case_1", max_video_kbps=300)
    b = Room("rm_b", "Lecture", T0 + timedelta(minutes=1), kind=RoomKind.LECTURE, lobby=True)
    await store.create_room(a)
    await store.create_room(b)
    with pytest.raises(Conflict):
        await store.create_room(a)
    a.end(T0 + timedelta(hours=1), "done")
    await store.save_room(a)
    store = await backend.open(ROOMS[backend.kind])  # a restart loses nothing
    assert await store.get_room("rm_a") == a
    assert await store.get_room("nope") is None
    assert [r.id for r in await store.list_rooms()] == ["rm_b", "rm_a"]
    assert [r.id for r in await store.list_rooms(RoomStatus.ENDED)] == ["rm_a"]
    assert [r.id for r in await store.list_rooms(limit=1)] == ["rm_b"]
    assert (await store.get_room("rm_b")).lobby is True
    b.lobby = False
    await store.save_room(b)
    assert (await store.get_room("rm_b")).lobby is False


def line(i: int, name: str | None = "Dr Li") -> ChatLine:
    return ChatLine(f"msg_{i}", "dr-li", name, f"line {i} 心电图", T0 + timedelta(seconds=i))


async def test_a_live_rooms_admissions_and_chat_outlive_the_node_until_it_ends(
    backend: Backend,
) -> None:
    store = await backend.open(ROOMS[backend.kind])
    await store.add_admitted("rm_a", "pt-wang", T0)
    await store.add_admitted("rm_a", "pt-wang", T0 + timedelta(minutes=1))  # again: ignored
    await store.add_admitted("rm_a", "pt-zhao", T0)
    await store.add_admitted("rm_b", "pt-liu", T0)
    for i in range(5):
        await store.add_chat_line("rm_a", line(i, None if i == 2 else "Dr Li"), keep=3)
    await store.add_chat_line("rm_a", line(4), keep=3)  # the same id again: ignored
    await store.add_chat_line("rm_b", line(9), keep=3)
    store = await backend.open(ROOMS[backend.kind])  # another node, or a restart
    assert await store.admitted("rm_a") == {"pt-wang", "pt-zhao"}
    assert await store.admitted("nope") == set()
    # the last three, oldest first, as they were written
    assert await store.chat_lines("rm_a") == [line(2, None), line(3), line(4)]
    assert await store.chat_lines("rm_b") == [line(9)]
    await store.forget_live("rm_a")  # the room ended
    assert await store.admitted("rm_a") == set() and await store.chat_lines("rm_a") == []
    assert await store.admitted("rm_b") == {"pt-liu"}
    assert await store.chat_lines("rm_b") == [line(9)]


async def test_a_live_rooms_raised_hands_keep_their_order_until_lowered_or_the_room_ends(
    backend: Backend,
) -> None:
    store = await backend.open(ROOMS[backend.kind])
    await store.set_hand("rm_a", "st-zhao", T0 + timedelta(seconds=5))
    await store.set_hand("rm_a", "st-wang", T0 + timedelta(seconds=2))
    await store.set_hand("rm_a", "st-liu", T0 + timedelta(seconds=2))  # the same instant
    await store.set_hand("rm_a", "st-wang", T0 + timedelta(seconds=9))  # again: keeps its place
    await store.set_hand("rm_b", "st-he", T0)
    store = await backend.open(ROOMS[backend.kind])  # another node, or a restart
    # in the order they went up (the same instant: the order they were written)
    assert await store.hands("rm_a") == [
        ("st-wang", T0 + timedelta(seconds=2)),
        ("st-liu", T0 + timedelta(seconds=2)),
        ("st-zhao", T0 + timedelta(seconds=5)),
    ]
    await store.set_hand("rm_a", "st-liu", None)  # lowered
    await store.set_hand("rm_a", "nobody", None)  # not raised: nothing happens
    assert [i for i, _ in await store.hands("rm_a")] == ["st-wang", "st-zhao"]
    await store.forget_live("rm_a")  # the room ended
    assert await store.hands("rm_a") == []
    assert await store.hands("rm_b") == [("st-he", T0)]


def recording(i: int, room: str = "rm_a", case: str | None = "case_1") -> Recording:
    return Recording(
        f"rec_{i}",
        room,
        case,
        f"user{i}",
        "expert",
        f"{room}/rec_{i}.mkv",
        T0 + timedelta(minutes=i),
        kinds=["audio", "video"],
        codecs=["opus", "vp8"],
        session_id="s1",
        node_id="node-a" if i % 2 == 0 else "node-b",
    )


async def test_an_exports_outcome_is_written_only_while_it_runs_under_its_node(
    backend: Backend,
) -> None:
    """finish_export: the first verdict on a running job stands. A node declared down (n1)
    whose job another node marked failed may still finish it: its "done" is refused."""
    store = await backend.open(RECORDINGS[backend.kind])
    job = {"id": "ex1", "room_id": "rm_a", "status": "running", "node_id": "n1", "progress": 0.2}
    await store.save_export(job)
    done = {**job, "status": "done", "progress": 1.0, "duration_s": 14.0}
    assert await store.finish_export(done, node_id="n2") is False  # not n2's job
    assert await store.get_export("ex1") == job
    failed = {**job, "status": "failed", "error_code": "export_interrupted"}
    assert await store.finish_export(failed, node_id="n1") is True  # n2 marks n1's job
    assert await store.finish_export(done, node_id="n1") is False  # n1 finishes it late
    store = await backend.open(RECORDINGS[backend.kind])  # as a restart reads it
    assert await store.get_export("ex1") == failed
    assert await store.list_exports(status="running") == []
    # a job kept before jobs named their node is node ""'s
    await store.save_export({"id": "ex2", "room_id": "rm_a", "status": "running"})
    old = {"id": "ex2", "room_id": "rm_a", "status": "done"}
    assert await store.finish_export(old, node_id="") is True
    assert await store.get_export("ex2") == old
    ghost = {"id": "nope", "room_id": "rm_a", "status": "done"}
    assert await store.finish_export(ghost, node_id="n1") is False
    assert await store.get_export("nope") is None
    # the late "done" and the "interrupted" at the same moment: exactly one is written
    await store.save_export({**job, "id": "ex3"})
    wins = await asyncio.gather(
        store.finish_export({**done, "id": "ex3"}, node_id="n1"),
        store.finish_export({**failed, "id": "ex3"}, node_id="n1"),
    )
    assert sorted(wins) == [False, True]
    kept = await store.get_export("ex3")
    assert kept == ({**done, "id": "ex3"} if wins[0] else {**failed, "id": "ex3"})


async def test_recordings_index_policies_holds_and_exports(backend: Backend) -> None:
    store = await backend.open(RECORDINGS[backend.kind])
    for i in range(3):
        await store.add_recording(recording(i, room="rm_a" if i < 2 else "rm_b"))
    done = replace(
        recording(1),
        status=RecordingStatus.COMPLETED,
        ended_at=T0 + timedelta(minutes=9),
        size=1234,
        sha256="ab" * 32,
        duration_ms=480_000,
        kinds=["audio"],
        missing=["video"],  # the camera's picture never reached the file: the row says so
    )
    await store.save_recording(done)
    await store.save_policy(RecordingPolicy("rm_a", True, "case_1", True, "dr", T0, "asked"))
    await store.save_policy(RecordingPolicy("rm_a", False, "case_1", False, "dr", T0, "no"))
    await store.set_case_hold("case_1", True, "admin", T0)
    await store.set_case_hold("case_2", True, "admin", T0)
    await store.set_case_hold("case_2", False, "admin", T0)
    await store.save_export({"id": "ex1", "room_id": "rm_a", "state": "queued"})
    await store.save_export({"id": "ex1", "room_id": "rm_a", "state": "done", "n": [1, 2]})
    # recovery finds the jobs left running, by the node that runs them (no node: "")
    await store.save_export({"id": "ex2", "room_id": "rm_a", "status": "running"})
    await store.save_export({"id": "ex3", "room_id": "rm_a", "status": "running", "node_id": "n1"})
    await store.save_export({"id": "ex4", "room_id": "rm_a", "status": "done", "node_id": "n1"})

    store = await backend.open(RECORDINGS[backend.kind])
    assert await store.get_recording("rec_1") == done
    assert await store.get_recording("nope") is None
    assert [r.id for r in await store.list_recordings(room_id="rm_a")] == ["rec_0", "rec_1"]
    assert [r.id for r in await store.list_recordings(newest_first=True, limit=2)] == [
        "rec_2",
        "rec_1",
    ]
    assert [r.id for r in await store.list_recordings(status="completed")] == ["rec_1"]
    # several nodes share the index: each recovers (and is recovered for) its own files
    assert [r.id for r in await store.list_recordings(node_id="node-a")] == ["rec_0", "rec_2"]
    assert [r.id for r in await store.list_recordings(node_id="node-b")] == ["rec_1"]
    assert await store.list_recordings(node_id="node-c") == []
    assert [
        r.id
        for r in await store.list_recordings(
            since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=2)
        )
    ] == ["rec_1"]
    assert await store.get_policy("rm_a") == RecordingPolicy(
        "rm_a", False, "case_1", False, "dr", T0, "no"
    )
    assert await store.get_policy("rm_z") is None
    assert await store.held_cases() == {"case_1"}
    assert await store.get_export("ex1") == {
        "id": "ex1",
        "room_id": "rm_a",
        "state": "done",
        "n": [1, 2],
    }
    assert await store.get_export("ex5") is None
    running = await store.list_exports(status="running")
    assert [j["id"] for j in running] == ["ex2", "ex3"]
    assert running[1] == {"id": "ex3", "room_id": "rm_a", "status": "running", "node_id": "n1"}
    assert [j["id"] for j in await store.list_exports(status="running", node_id="n1")] == ["ex3"]
    assert [j["id"] for j in await store.list_exports(status="running", node_id="")] == ["ex2"]
    assert [j["id"] for j in await store.list_exports(node_id="n1")] == ["ex3", "ex4"]
    assert await store.list_exports(status="failed") == []
