"""Contract of AttachmentStore and ChatStore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.store.record_backends import Backend, backend_fixture
from vidconsult.domain.records import ChatMessage, new_attachment
from vidconsult.domain.roles import Role
from vidconsult.errors import Conflict
from vidconsult.store.base_records import CaseChatMessage
from vidconsult.store.pg.records import PgRecordStore
from vidconsult.store.sqlite_records import SQLiteRecordStore

STORES = {"sqlite": SQLiteRecordStore, "postgres": PgRecordStore}
backend = backend_fixture()
T0 = datetime(2026, 3, 9, 2, tzinfo=UTC)


def att(i: int, case_id: str = "case-1", **kw):
    return new_attachment(
        attachment_id=f"att_{i}",
        case_id=case_id,
        filename=f"r{i}.pdf",
        content_type="application/pdf",
        size_bytes=100 + i,
        uploaded_by="dr",
        uploaded_at=T0 + timedelta(minutes=i),
        sha256="ab" * 32,
        **kw,
    )


def chat(i: int, case_id: str = "case-1") -> CaseChatMessage:
    return CaseChatMessage(
        id=f"msg_{i}",
        case_id=case_id,
        sender_name="Dr Li",
        message=ChatMessage(
            room_id="rm_1",
            sender="dr",
            sender_role=Role.DOCTOR,
            text=f"hello {i}",
            sent_at=T0 + timedelta(seconds=i),
        ),
    )


async def test_attachments_round_trip_per_case_and_survive_reopen(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    for a in (att(2), att(1), att(3, case_id="case-2")):
        await store.add_attachment(a)
    with pytest.raises(Conflict):
        await store.add_attachment(att(1))
    store = await backend.open(STORES[backend.kind])
    assert await store.get_attachment("att_1") == att(1)
    assert await store.get_attachment("att_9") is None
    assert [a.id for a in await store.list_attachments("case-1")] == ["att_1", "att_2"]
    assert [a.id for a in await store.list_attachments("case-2")] == ["att_3"]
    assert await store.list_attachments("case-3") == []


async def test_chat_is_kept_per_case_in_order_once(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    for i in range(5):
        await store.add_chat_message(chat(i))
    await store.add_chat_message(chat(1))  # a repeated event is ignored
    await store.add_chat_message(chat(9, case_id="case-2"))
    store = await backend.open(STORES[backend.kind])
    got = await store.list_chat_messages("case-1")
    assert got == [chat(i) for i in range(5)]
    assert [m.id for m in await store.list_chat_messages("case-1", limit=2)] == ["msg_3", "msg_4"]
    assert [m.id for m in await store.list_chat_messages("case-2")] == ["msg_9"]
