"""``vidconsult import units|experts FILE.csv``: all rows or none, bad rows by line number."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vidconsult.app import make_storage
from vidconsult.cli import main
from vidconsult.config import Settings

UNITS = """id,name,tier,time_zone,parent_id,consult_rooms
cty-1,Huanan County Hospital,county,,,Consult room 1;Consult room 2
vil-1,Xinglong Village Clinic,village,,cty-1,First-consult room
"""
EXPERTS = """id,name,institution_id,institution_name,institution_kind,specialties,languages,\
time_zone,country
wang,Prof. Wang,pumch,PUMCH,domestic,cardiology;cardiac_surgery,zh,Asia/Shanghai,
smith,Dr Smith,us-group,US Partner Group,international,neurology,en;zh,America/New_York,US
"""


def stored(data_dir: Path) -> tuple[list, list]:
    return asyncio.run(_stored(data_dir))


async def _stored(data_dir: Path) -> tuple[list, list]:
    storage = make_storage(Settings.from_env({}, data_dir=str(data_dir)))
    await storage.db.open()
    try:
        return (
            await storage.workflow.units.list_units(),
            await storage.workflow.experts.list_experts(),
        )
    finally:
        await storage.db.close()


def run(tmp_path: Path, kind: str, text: str) -> int:
    path = tmp_path / f"{kind}.csv"
    path.write_text(text, encoding="utf-8")
    return main(["import", kind, str(path), "--data-dir", str(tmp_path / "var"), "--no-progress"])


def test_imports_good_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, "units", UNITS) == 0
    assert run(tmp_path, "experts", EXPERTS) == 0
    assert "imported 2 experts" in capsys.readouterr().out
    units, experts = stored(tmp_path / "var")
    assert [(u.id, u.parent_id, u.consult_rooms) for u in units] == [
        ("cty-1", None, ("Consult room 1", "Consult room 2")),
        ("vil-1", "cty-1", ("First-consult room",)),
    ]
    smith = next(e for e in experts if e.id == "smith")
    assert smith.is_international and smith.languages == {"en", "zh"}
    assert smith.time_zone == "America/New_York"


def test_a_bad_row_imports_nothing_and_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    bad = UNITS + "vil-2,Hamlet,hamlet,,,\nvil-1,Twice,village,,,\nvil-3,Lost,village,,nowhere,\n"
    assert run(tmp_path, "units", bad) == 1
    err = capsys.readouterr().err
    assert "line 4: unknown unit tier 'hamlet'" in err
    assert "line 5: duplicate id vil-1 (first on line 3)" in err
    assert "nothing imported" in err
    assert stored(tmp_path / "var") == ([], [])
    # row checks pass, the parent check does not: still nothing
    assert run(tmp_path, "units", UNITS + "vil-3,Lost,village,,nowhere,\n") == 1
    assert "unknown parent nowhere" in capsys.readouterr().err
    assert (stored(tmp_path / "var"))[0] == []

    experts = (
        EXPERTS + "li,Dr Li,pumch,PUMCH,domestic,astrology,zh,Asia/Shanghai,\n"
        "ma,Dr Ma,pumch,PUMCH,domestic,neurology,zh,Mars/Base,\n"
    )
    assert run(tmp_path, "experts", experts) == 1
    err = capsys.readouterr().err
    assert "line 4: unknown specialty 'astrology'" in err
    assert "line 5: unknown time zone 'Mars/Base'" in err
    assert stored(tmp_path / "var") == ([], [])


def test_missing_columns(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(tmp_path, "experts", "id,name\nx,y\n") == 1
    assert "line 1: missing column(s) institution_id" in capsys.readouterr().err
