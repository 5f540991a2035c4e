"""Rows and domain objects on PostgreSQL: one mapping instead of a constructor per table.

A domain dataclass kept column for field (an account, a room, a recording...) gets a
:class:`RowMap`: ``values(obj)`` gives the columns to insert or update, ``load(row)`` builds the
object back. The conversions follow the dataclass' annotations: an enum is stored by its value,
a ``str`` subclass (a specialty's slug) as text, a tuple or list as an array, ``bytes`` as
bytea; columns the dataclass has no field for (a sequence number) are left to the database. A
field the table lacks (and that has no default) fails when the map is made, at import, not at
the first query.

Reading and creating go through :class:`~vidconsult.store.pg.database.PostgresDatabase`'s
``first`` (one row or None), ``every`` (all rows) and ``insert_new`` (a duplicate key is the
repository's Conflict); ``column(load)`` adapts a loader of one selected column (the JSON
documents of the workflow tables)."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import Table

T = TypeVar("T")
V = TypeVar("V")


def _unoptional(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _loader(hint: Any) -> Callable[[Any], Any] | None:
    hint = _unoptional(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint
    if isinstance(hint, type) and issubclass(hint, str) and hint is not str:
        return hint  # a str of a kind of its own (a specialty's slug)
    if typing.get_origin(hint) is tuple:
        return tuple
    if typing.get_origin(hint) is list:
        return list
    if hint is bytes:
        return bytes
    return None


def _dumper(hint: Any) -> Callable[[Any], Any] | None:
    hint = _unoptional(hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return lambda v: v.value
    if isinstance(hint, type) and issubclass(hint, str) and hint is not str:
        return str
    if typing.get_origin(hint) in (tuple, list):
        return list
    return None


class RowMap(Generic[T]):
    """A dataclass ``cls`` kept in ``table``, a column per field of the same name."""

    def __init__(self, cls: type[T], table: Table) -> None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} is not a dataclass")
        hints = typing.get_type_hints(cls)
        columns = set(table.c.keys())
        self._cls = cls
        self._table = table
        self.fields: tuple[str, ...] = ()
        self._load: dict[str, Callable[[Any], Any]] = {}
        self._dump: dict[str, Callable[[Any], Any]] = {}
        names = []
        for f in dataclasses.fields(cls):
            if f.name not in columns:
                if (
                    f.init
                    and f.default is dataclasses.MISSING
                    and (f.default_factory is dataclasses.MISSING)
                ):
                    raise TypeError(f"{table.name} has no column for {cls.__name__}.{f.name}")
                continue
            names.append(f.name)
            if (load := _loader(hints[f.name])) is not None:
                self._load[f.name] = load
            if (dump := _dumper(hints[f.name])) is not None:
                self._dump[f.name] = dump
        self.fields = tuple(names)

    def values(self, obj: T, *only: str) -> dict[str, Any]:
        """The columns of ``obj`` (all its fields, or ``only`` these), ready for the database."""
        out: dict[str, Any] = {}
        for name in only or self.fields:
            value = getattr(obj, name)
            dump = self._dump.get(name)
            out[name] = value if value is None or dump is None else dump(value)
        return out

    def load(self, row: Any) -> T:
        """The object of a row selected from the table (its other columns are ignored)."""
        kwargs: dict[str, Any] = {}
        for name in self.fields:
            value = getattr(row, name)
            load = self._load.get(name)
            kwargs[name] = value if value is None or load is None else load(value)
        return self._cls(**kwargs)


def column(load: Callable[[Any], V]) -> Callable[[Any], V]:
    """A row loader from a loader of the one column a statement selects (``select(t.x.c.doc)``)."""
    return lambda row: load(row[0])
