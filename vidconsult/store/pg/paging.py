"""Emergency pagings on PostgreSQL; the same contract as ``sqlite_paging``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert

from vidconsult.domain.paging import Paging, PagingState
from vidconsult.store.paging_codec import paging_doc, paging_from
from vidconsult.store.pg import tables as t
from vidconsult.store.pg.database import PostgresDatabase
from vidconsult.store.pg.rows import column


class PgPagingStore:
    """Implements PagingStore."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def save_paging(self, paging: Paging) -> None:
        values = {
            "case_id": paging.case_id,
            "opened_at": paging.opened_at,
            "state": paging.state.value,
            "doc": paging_doc(paging),
        }
        stmt = insert(t.pagings).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.pagings.c.case_id],
            set_={k: stmt.excluded[k] for k in ("opened_at", "state", "doc")},
        )
        async with self._db.begin() as conn:
            await conn.execute(stmt)

    async def list_pagings(self, *, since: datetime) -> list[Paging]:
        c = t.pagings.c
        stmt = (
            select(c.doc)
            .where(or_(c.state == PagingState.PAGING.value, c.opened_at >= since))
            .order_by(c.opened_at.desc(), c.case_id)
        )
        return await self._db.every(stmt, column(paging_from))
