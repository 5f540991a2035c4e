"""The specialty catalogue's stored entries on PostgreSQL; the same contract as
``sqlite_specialties``."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from vidconsult.domain.specialties import SpecialtyEntry
from vidconsult.store.pg import tables as t
from vidconsult.store.pg.database import PostgresDatabase
from vidconsult.store.pg.rows import RowMap

SPECIALTIES = RowMap(SpecialtyEntry, t.specialties)


class PgSpecialtyStore:
    """Implements SpecialtyStore."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def list_specialties(self) -> list[SpecialtyEntry]:
        stmt = select(t.specialties).order_by(t.specialties.c.slug)
        return await self._db.every(stmt, SPECIALTIES.load)

    async def save_specialty(self, entry: SpecialtyEntry) -> None:
        stmt = insert(t.specialties).values(SPECIALTIES.values(entry))
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.specialties.c.slug],
            set_={k: stmt.excluded[k] for k in ("name_en", "name_zh", "retired")},
        )
        async with self._db.begin() as conn:
            await conn.execute(stmt)
