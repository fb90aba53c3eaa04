"""Load county statistics (population, GDP, grain output ...) keyed by code and year."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psycopg

from ..errors import InputError
from ..studyarea import StudyArea
from .common import code_text, existing_file, short_list
from .params import read_csv

DESCRIPTIVE = {"name", "county", "city", "province", "district", "level"}


@dataclass
class StatsInfo:
    rows: int
    variables: list[str]
    years: list[int]
    unmatched_codes: list[str] = field(default_factory=list)


def load_stats(conn: psycopg.Connection, area: StudyArea, path: str | Path, year: int | None = None,
               code_column: str = "code", year_column: str = "year",
               columns: dict[str, str] | None = None, replace: bool = False,
               source: str | None = None) -> StatsInfo:
    """Load a wide CSV (one row per county and year) into ``src.county_stat``.

    ``columns`` maps CSV column -> variable (e.g. ``{"人口数_合计": "population"}``);
    without it every non-descriptive column must be a known variable.
    """
    path = existing_file(path, "statistics file")
    frame = read_csv(path, dtype={code_column: str})
    if code_column not in frame.columns:
        raise InputError(f"{path}: no code column {code_column!r} (columns: {short_list(frame.columns, 30)})")
    catalogue = dict(conn.execute("SELECT name, unit FROM param.stat_variable").fetchall())
    if columns:
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise InputError(f"{path}: column(s) {short_list(absent)} not found (columns: {short_list(frame.columns, 30)})")
        mapping = dict(columns)
    else:
        skip = {code_column, year_column} | {c for c in frame.columns if c.lower() in DESCRIPTIVE}
        mapping = {c: c for c in frame.columns if c not in skip}
    unknown = [v for v in mapping.values() if v not in catalogue]
    if unknown:
        raise InputError(f"{path}: unknown variable(s) {short_list(unknown)}; known: {short_list(sorted(catalogue), 40)}")
    if not mapping:
        raise InputError(f"{path}: no statistics column to load")
    codes = [code_text(c) for c in frame[code_column]]
    if any(c is None for c in codes):
        raise InputError(f"{path}: {sum(c is None for c in codes)} row(s) without a code in column {code_column!r}")
    if year_column in frame.columns:
        years = pd.to_numeric(frame[year_column], errors="coerce")
        if years.isna().any():
            raise InputError(f"{path}: column {year_column!r} has rows without a valid year")
        years = years.astype(int).tolist()
    elif year is not None:
        years = [int(year)] * len(frame)
    else:
        raise InputError(f"{path}: no {year_column!r} column; give the year with --year")
    keys = pd.Series([f"{c}/{y}" for c, y in zip(codes, years)])
    dup = keys[keys.duplicated()]
    if len(dup):
        raise InputError(f"{path}: duplicate code/year row(s): {short_list(sorted(set(dup)))}")
    rows = []
    for col, var in mapping.items():
        raw = frame[col]
        values = pd.to_numeric(raw, errors="coerce")
        bad = raw.notna() & values.isna()
        if bad.any():
            detail = short_list(f"{codes[i]}: {raw.iloc[i]!r}" for i in bad[bad].index)
            raise InputError(f"{path}: non-numeric value(s) in column {col!r}: {detail}")
        for code, yr, value in zip(codes, years, values):
            if not pd.isna(value):
                rows.append((area.study_area_id, code, yr, var, float(value), catalogue[var], source or str(path.name)))
    existing = conn.execute(
        "SELECT count(*) FROM src.county_stat WHERE study_area_id = %s AND variable = ANY(%s) AND year = ANY(%s)",
        (area.study_area_id, list(set(mapping.values())), sorted(set(years))),
    ).fetchone()[0]
    if existing and not replace:
        raise InputError(f"study area {area.name!r} already has statistics for these variables and years; use --replace")
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO src.county_stat (study_area_id, code, year, variable, value, unit, source)
               VALUES (%s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (study_area_id, code, year, variable) DO UPDATE
               SET value = EXCLUDED.value, unit = EXCLUDED.unit, source = EXCLUDED.source, loaded_at = now()""",
            rows,
        )
    known = {r[0] for r in conn.execute("SELECT code FROM core.admin_unit WHERE study_area_id = %s",
                                        (area.study_area_id,)).fetchall()}
    unmatched = sorted(set(codes) - known) if known else []
    return StatsInfo(len(rows), sorted(set(mapping.values())), sorted(set(years)), unmatched)
