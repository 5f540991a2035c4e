"""Contract: the specialty catalogue's stored entries, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

from tests.store.record_backends import Backend, backend_fixture
from vidconsult.domain.specialties import Specialty, SpecialtyEntry
from vidconsult.store.pg.specialties import PgSpecialtyStore
from vidconsult.store.sqlite_specialties import SQLiteSpecialtyStore

STORES = {"sqlite": SQLiteSpecialtyStore, "postgres": PgSpecialtyStore}
backend = backend_fixture()


async def test_entries_are_upserted_and_kept_by_slug(backend: Backend) -> None:
    store = await backend.open(STORES[backend.kind])
    assert await store.list_specialties() == []
    sports = SpecialtyEntry(Specialty("sports_medicine"), "Sports medicine", "运动医学科")
    cardio = SpecialtyEntry(Specialty.CARDIOLOGY, "Cardiology (adult)", "心内科", retired=True)
    await store.save_specialty(sports)
    await store.save_specialty(cardio)
    renamed = replace(sports, name_en="Sport and exercise medicine")
    await store.save_specialty(renamed)
    store = await backend.open(STORES[backend.kind])  # a restart loses nothing
    got = await store.list_specialties()
    assert got == [cardio, renamed]
    assert isinstance(got[0].slug, Specialty) and got[0].slug == Specialty.CARDIOLOGY
