"""``export csv``: every file, read back with pandas (``encoding="utf-8-sig"``), equals its bi relation read with
psycopg: the same rows by key, the same columns in order, every value exactly (reals are written at full precision
and parse back to the same float64; date-times keep microseconds); NULL, and an empty text, is an empty field.
"""

from __future__ import annotations

import os

import pandas as pd
import psycopg
import pytest
from typer.testing import CliRunner

import bi_rows
from restore_db.errors import InputError
from restore_db.publish.export_tables import export_csv

BOM = b"\xef\xbb\xbf"
# file -> (bi relation, run it is filtered on); written out here, not taken from the module
FILES = {
    "analysis_run": ("current_run", "zoning"),
    "county": ("county", "zoning"),
    "county_ratio_long": ("county_ratio_long", "zoning"),
    "county_indicator_long": ("county_indicator_long", "zoning"),
    "county_dimension_long": ("county_dimension_long", "zoning"),
    "zone_summary": ("zone_summary", "zoning"),
    "indicator_weight": ("indicator_weight", "zoning"),
    "balance_class": ("balance_class", "zoning"),
    "pattern_run": ("pattern_run", "pattern"),
    "pattern_member": ("pattern_member", "pattern"),
    "pattern_partner": ("pattern_partner", "pattern"),
    "pattern_rollup_partner": ("pattern_rollup_partner", "pattern"),
    "pattern_county_link": ("pattern_county_link", "pattern"),
    "pattern_collab_unit": ("pattern_collab_unit", "pattern"),
    "pattern_crossing": ("pattern_crossing", "pattern"),
    "pattern_task": ("pattern_task", "pattern"),
}


@pytest.fixture
def demo(computed_demo):
    with psycopg.connect(computed_demo) as conn:
        yield conn


@pytest.fixture(scope="module")
def exported(computed_demo, tmp_path_factory):
    """(folder, info) of the CSV files of the demo's current analysis, written into a folder to be created."""
    folder = tmp_path_factory.mktemp("csv") / "new" / "results"
    with psycopg.connect(computed_demo) as conn, conn.transaction():
        info = export_csv(conn, "demo", folder)
    return folder, info


def read(path, text_columns=()) -> pd.DataFrame:
    """A CSV file as pandas reads it; ``text_columns`` as text (codes such as 110101 would read as numbers)."""
    return pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False, na_values=[""],
                       dtype={c: str for c in text_columns})


def test_files(exported):
    folder, info = exported
    assert sorted(os.listdir(folder)) == sorted(f"{name}.csv" for name in FILES)  # nothing else, no temporary file
    assert info.path == folder and set(info.rows) == {f"{name}.csv" for name in FILES}
    assert info.bytes == sum((folder / f"{name}.csv").stat().st_size for name in FILES)
    for name in FILES:
        data = (folder / f"{name}.csv").read_bytes()
        assert data.startswith(BOM) and not data[3:].startswith(BOM), name
        data[3:].decode("utf-8")


@pytest.mark.parametrize("name", list(FILES))
def test_file_round_trip(demo, exported, name):
    folder, info = exported
    relation, run = FILES[name]
    zoning, pattern = bi_rows.current_runs(demo)
    run_id = zoning if run == "zoning" else pattern
    cols = bi_rows.exported_columns(demo, relation, geometry=False)
    if name == "analysis_run":
        cur = demo.execute("SELECT * FROM bi.current_run WHERE run_id = %s", (run_id,))
        names = [d.name for d in cur.description]
        want = {r[0]: dict(zip(names, r)) for r in cur.fetchall()}
    else:
        want = bi_rows.rows(demo, relation, run_id)
    assert want, f"bi.{relation} has no rows: the comparison would be empty"
    frame = read(folder / f"{name}.csv", [n for n, t in cols if t == "text"])
    assert list(frame.columns) == [n for n, _ in cols]   # no geometry, no BI text copy, no array
    assert len(frame) == len(want) == info.rows[f"{name}.csv"]
    key = cols[0][0]
    got = {int(r[key]): r for r in frame.to_dict("records")}
    assert set(got) == set(want)
    for k, row in want.items():
        for col, pg_type in cols:
            value = got[k][col]
            if pg_type == "boolean" and isinstance(value, str):  # a column with NULLs reads as text
                value = {"True": True, "False": False}[value]
            want_value = None if row[col] == "" else row[col]  # CSV: an empty text is an empty field, as NULL
            assert bi_rows.same_value(value, want_value, pg_type), (name, k, col, got[k][col], row[col])
    # ordered by key
    assert list(frame[key]) == sorted(frame[key])


def test_chinese_names(demo, exported):
    folder, _ = exported
    zoning, _ = bi_rows.current_runs(demo)
    want = dict(demo.execute("SELECT id, zone_name_zh FROM bi.zone_summary WHERE run_id = %s",
                             (zoning,)).fetchall())
    assert any("区" in v for v in want.values())
    frame = read(folder / "zone_summary.csv", ["zone_name_zh"])
    assert dict(zip(frame["id"], frame["zone_name_zh"])) == want
    text = (folder / "county.csv").read_bytes()[3:].decode("utf-8")
    assert all(v in text for v in want.values() if v)


def test_existing_files_need_overwrite(demo, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "zone_summary.csv").write_text("precious", encoding="utf-8")
    (folder / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InputError) as exc, demo.transaction():
        export_csv(demo, "demo", folder)
    message = str(exc.value)
    assert str(folder) in message and "zone_summary.csv" in message and "--overwrite" in message
    assert sorted(os.listdir(folder)) == ["notes.txt", "zone_summary.csv"]  # nothing written
    assert (folder / "zone_summary.csv").read_text(encoding="utf-8") == "precious"
    with demo.transaction():
        info = export_csv(demo, "demo", folder, overwrite=True)
    assert sorted(os.listdir(folder)) == sorted([f"{n}.csv" for n in FILES] + ["notes.txt"])
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert len(read(folder / "zone_summary.csv")) == info.rows["zone_summary.csv"] > 0


def test_bad_inputs_write_nothing(demo, tmp_path):
    services = demo.execute("SELECT max(run_id) FROM core.run WHERE stage = 'services'").fetchone()[0]
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    cases = [
        (dict(folder=tmp_path / "out", run_id=424242), ["no run 424242", "'demo'"]),
        (dict(folder=tmp_path / "out", run_id=services), [f"run {services}", "services run, not a zoning run"]),
        (dict(folder=a_file), [str(a_file), "is a file, not a folder"]),
        (dict(folder=a_file / "sub"), [str(a_file), "is a file"]),
    ]
    for kwargs, parts in cases:
        with pytest.raises(InputError) as exc, demo.transaction():
            export_csv(demo, "demo", **kwargs)
        message = str(exc.value)
        assert "\n" not in message
        for part in parts:
            assert part in message, (part, message)
    assert os.listdir(tmp_path) == ["a_file"]  # no folder created
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(InputError, match="not writable"), demo.transaction():
            export_csv(demo, "demo", locked / "out")


def test_cli_csv(computed_demo, tmp_path, monkeypatch):
    from restore_db.cli import app

    monkeypatch.setenv("RESTORE_DB_URL", computed_demo)
    out = tmp_path / "csv"
    result = CliRunner().invoke(app, ["export", "csv", str(out), "-a", "demo"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert str(out) in text and f"{len(FILES)} files" in text and " rows" in text and " s (database" in text
    assert sorted(os.listdir(out)) == sorted(f"{n}.csv" for n in FILES)
    result = CliRunner().invoke(app, ["export", "csv", str(out)])
    assert isinstance(result.exception, InputError) and "--overwrite" in str(result.exception)
    result = CliRunner().invoke(app, ["export", "csv", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
