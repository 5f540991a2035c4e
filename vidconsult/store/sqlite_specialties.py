"""The specialty catalogue's stored entries in SQLite."""

from __future__ import annotations

from vidconsult.domain.specialties import Specialty, SpecialtyEntry
from vidconsult.store.sqlite import SQLiteDatabase

MIGRATIONS = [
    """
    CREATE TABLE specialties (
        slug TEXT PRIMARY KEY,
        name_en TEXT NOT NULL,
        name_zh TEXT NOT NULL,
        retired INTEGER NOT NULL DEFAULT 0
    );
    """,
]


class SQLiteSpecialtyStore:
    """Implements SpecialtyStore."""

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        db.register("specialties", MIGRATIONS)

    async def list_specialties(self) -> list[SpecialtyEntry]:
        def op() -> list[SpecialtyEntry]:
            rows = self._db.conn.execute(
                "SELECT slug, name_en, name_zh, retired FROM specialties ORDER BY slug"
            )
            return [
                SpecialtyEntry(Specialty(r["slug"]), r["name_en"], r["name_zh"], bool(r["retired"]))
                for r in rows
            ]

        return await self._db.run(op)

    async def save_specialty(self, entry: SpecialtyEntry) -> None:
        def op() -> None:
            self._db.conn.execute(
                "INSERT INTO specialties(slug, name_en, name_zh, retired) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(slug) DO UPDATE SET name_en = excluded.name_en,"
                " name_zh = excluded.name_zh, retired = excluded.retired",
                (entry.slug.value, entry.name_en, entry.name_zh, int(entry.retired)),
            )

        await self._db.run(op)
