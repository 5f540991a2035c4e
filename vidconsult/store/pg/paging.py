"""Emergency pagings on PostgreSQL; the same contract as ``sqlite_paging`` (each write a
compare-and-set on the paging's revision, one statement, and the change's webhook deliveries
queued in the same transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert

from vidconsult.domain.paging import Paging, PagingState
from vidconsult.domain.webhooks import Delivery
from vidconsult.store.paging_codec import paging_doc, paging_from
from vidconsult.store.pg import tables as t
from vidconsult.store.pg.accounts import insert_deliveries
from vidconsult.store.pg.database import PostgresDatabase


def _load(row: Any) -> Paging:
    paging = paging_from(row.doc)
    paging.revision = int(row.revision)
    return paging


class PgPagingStore:
    """Implements PagingStore."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def save_paging(self, paging: Paging, outbox: Sequence[Delivery] = ()) -> bool:
        c = t.pagings.c
        seen = paging.revision
        values = {
            "opened_at": paging.opened_at,
            "state": paging.state.value,
            "doc": paging_doc(paging),
        }
        if seen == 0:
            stmt: Any = (
                insert(t.pagings)
                .values(case_id=paging.case_id, revision=1, **values)
                .on_conflict_do_nothing(index_elements=[c.case_id])
            )
        else:
            stmt = (
                update(t.pagings)
                .where(c.case_id == paging.case_id, c.revision == seen)
                .values(revision=c.revision + 1, **values)
            )
        async with self._db.begin() as conn:
            landed = (await conn.execute(stmt)).rowcount == 1
            if landed:  # with the change, in its transaction, or not at all
                await insert_deliveries(conn, list(outbox))
        if landed:
            paging.revision = seen + 1
        return landed

    async def get_paging(self, case_id: str) -> Paging | None:
        c = t.pagings.c
        stmt = select(c.doc, c.revision).where(c.case_id == case_id)
        return await self._db.first(stmt, _load)

    async def list_pagings(self, *, since: datetime) -> list[Paging]:
        c = t.pagings.c
        stmt = (
            select(c.doc, c.revision)
            .where(or_(c.state == PagingState.PAGING.value, c.opened_at >= since))
            .order_by(c.opened_at.desc(), c.case_id)
        )
        return await self._db.every(stmt, _load)
