"""The row mapping of the PostgreSQL store (vidconsult/store/pg/rows.py), without a database:
the conversions it derives from a dataclass' annotations, and a table that cannot hold a
dataclass refused when the map is made."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from types import SimpleNamespace

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table

from vidconsult.store.pg.rows import RowMap, column


class Slug(str):
    """A str of a kind of its own, as a specialty's slug is."""


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Thing:
    id: str
    colour: Colour
    tags: tuple[str, ...]
    blob: bytes
    slug: Slug
    shade: Colour | None = None
    notes: list[str] = field(default_factory=list)
    derived: int = 0  # not stored: has a default, so the table may lack it


TABLE = Table(
    "things",
    MetaData(),
    Column("seq", Integer),  # the database's own column: ignored when loading
    Column("id", String),
    Column("colour", String),
    Column("tags", String),
    Column("blob", LargeBinary),
    Column("slug", String),
    Column("shade", String),
    Column("notes", String),
)


def test_values_and_load_convert_by_annotation() -> None:
    things = RowMap(Thing, TABLE)
    thing = Thing("t1", Colour.RED, ("a", "b"), b"\x00", Slug("s"), shade=None, notes=["n"])
    values = things.values(thing)
    assert values == {
        "id": "t1",
        "colour": "red",
        "tags": ["a", "b"],
        "blob": b"\x00",
        "slug": "s",
        "shade": None,
        "notes": ["n"],
    }
    assert things.values(thing, "colour") == {"colour": "red"}
    row = SimpleNamespace(seq=7, **{**values, "blob": memoryview(b"\x00"), "shade": "blue"})
    loaded = things.load(row)
    assert loaded == Thing("t1", Colour.RED, ("a", "b"), b"\x00", Slug("s"), Colour.BLUE, ["n"])
    assert type(loaded.blob) is bytes and type(loaded.tags) is tuple
    assert type(loaded.slug) is Slug and type(values["slug"]) is str


def test_a_table_without_a_required_field_is_refused_at_once() -> None:
    @dataclass
    class Wider:
        id: str
        at: datetime

    with pytest.raises(TypeError, match="things has no column for Wider.at"):
        RowMap(Wider, TABLE)


def test_column_loads_the_one_selected_value() -> None:
    at = datetime(2026, 12, 5, tzinfo=UTC)
    assert column(lambda d: d["x"])((({"x": at}),)) == at
