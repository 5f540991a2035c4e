"""Bulk import of the directory from CSV (``vidconsult import units|experts FILE.csv``).

Every row is validated first (with the domain's own rules); if any row is bad, the errors are
reported with their line numbers and nothing is imported. A good file is written in one
transaction, so an import is never half done.

units.csv:   id,name,tier[,time_zone,parent_id,consult_rooms]      (consult_rooms: "a;b")
experts.csv: id,name,institution_id,institution_name,institution_kind,specialties,languages,
             time_zone[,country]                                  (specialties, languages: "a;b")
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from vidconsult.domain.experts import Expert, Institution, InstitutionKind
from vidconsult.domain.specialties import SpecialtyCatalogue
from vidconsult.domain.units import DEFAULT_CENTRE_ZONE, Unit, parse_tier
from vidconsult.errors import InvalidInput

UNIT_COLUMNS = ("id", "name", "tier")
EXPERT_COLUMNS = (
    "id",
    "name",
    "institution_id",
    "institution_name",
    "institution_kind",
    "specialties",
    "languages",
    "time_zone",
)


@dataclass
class Parsed:
    items: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(";") if v.strip()]


def _cell(row: dict[str, str | None], name: str) -> str:
    return (row.get(name) or "").strip()


def unit_from_row(row: dict[str, str | None]) -> Unit:
    return Unit(
        id=_cell(row, "id"),
        name=_cell(row, "name"),
        tier=parse_tier(_cell(row, "tier")),
        time_zone=_cell(row, "time_zone") or DEFAULT_CENTRE_ZONE,
        parent_id=_cell(row, "parent_id") or None,
        consult_rooms=tuple(_split(row.get("consult_rooms"))),
    )


def expert_from_row(
    row: dict[str, str | None], catalogue: SpecialtyCatalogue | None = None
) -> Expert:
    """``catalogue``: the specialties an expert may name (default: the built-in ones)."""
    catalogue = catalogue or SpecialtyCatalogue()
    specialties = frozenset(catalogue.require(s) for s in _split(row.get("specialties")))
    kind = _cell(row, "institution_kind").lower()
    try:
        inst_kind = InstitutionKind(kind)
    except ValueError:
        raise InvalidInput(
            f"institution_kind must be domestic or international, not {kind!r}"
        ) from None
    return Expert(
        id=_cell(row, "id"),
        name=_cell(row, "name"),
        institution=Institution(
            _cell(row, "institution_id"),
            _cell(row, "institution_name"),
            inst_kind,
            _cell(row, "country") or "CN",
        ),
        specialties=specialties,
        languages=frozenset(_split(row.get("languages"))),
        time_zone=_cell(row, "time_zone"),
    )


def parse_csv(
    fh: TextIO,
    required: Iterable[str],
    build: Callable[[dict[str, str | None]], Any],
    *,
    progress: bool = True,
) -> Parsed:
    """Validate every row; the result holds the items or the errors (``line N: ...``)."""
    result = Parsed()
    reader = csv.DictReader(fh)
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        result.errors.append(f"line 1: missing column(s) {', '.join(missing)}")
        return result
    seen: dict[str, int] = {}
    rows: Iterator[dict[str, str | None]] = iter(reader)
    for row in tqdm(rows, desc="validating", unit="row", disable=not progress):
        line = reader.line_num
        if None in row:
            result.errors.append(f"line {line}: more cells than columns")
            continue
        try:
            item = build(row)
        except InvalidInput as exc:
            result.errors.append(f"line {line}: {exc.message}")
            continue
        if item.id in seen:
            result.errors.append(
                f"line {line}: duplicate id {item.id} (first on line {seen[item.id]})"
            )
            continue
        seen[item.id] = line
        result.items.append(item)
    return result


def check_parents(units: list[Unit], known: set[str]) -> list[str]:
    ids = known | {u.id for u in units}
    return [
        f"unit {u.id}: unknown parent {u.parent_id}"
        for u in units
        if u.parent_id and u.parent_id not in ids
    ]


def read(
    path: Path, kind: str, *, progress: bool = True, catalogue: SpecialtyCatalogue | None = None
) -> Parsed:
    required: Iterable[str]
    build: Callable[[dict[str, str | None]], Any]
    if kind == "units":
        required, build = UNIT_COLUMNS, unit_from_row
    else:
        required, build = EXPERT_COLUMNS, partial(expert_from_row, catalogue=catalogue)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return parse_csv(fh, required, build, progress=progress)


async def import_file(settings: Any, path: Path, kind: str, *, progress: bool = True) -> Parsed:
    """Validate ``path`` and, when every row is good, write it in one transaction."""
    from vidconsult.compose import make_storage

    storage = make_storage(settings)
    await storage.db.open()
    try:
        catalogue = SpecialtyCatalogue(await storage.specialties.list_specialties())
        parsed = read(path, kind, progress=progress, catalogue=catalogue)
        if parsed.errors:
            return parsed
        if kind == "units":
            known = {u.id for u in await storage.workflow.units.list_units()}
            parsed.errors = check_parents(parsed.items, known)
            if not parsed.errors:
                await storage.workflow.units.put_units(parsed.items)
        else:
            await storage.workflow.experts.put_experts(parsed.items)
    finally:
        await storage.db.close()
    return parsed
