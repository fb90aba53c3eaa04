"""Load county statistics (population, GDP, grain output ...) keyed by code and year.

Statistics tables and boundary sets rarely share one code list: Chinese county
codes are renumbered (the 2020 census has 130505 任泽区 where June-2020
boundaries still have 130526 任县), and yearbooks hold functional zones and
development areas (130171 石家庄高新区) that have no polygon. A *crosswalk*
maps the codes of the statistics file onto the codes of the boundaries before
the values are stored; every load lists what still does not match.

Crosswalk CSV (UTF-8, a byte-order mark is allowed), one row per (old, new) pair::

    old_code,new_code,share,note
    130505,130526,,任泽区 -> 任县 (rename)
    130171,130102,,高新区 merged into 长安区
    130102,130102,,长安区 itself (needed for the merge: see below)
    130521,130502,0.6,split
    130521,130503,0.4,split
    130973,,,functional zone dropped

* ``old_code`` is a code of the statistics file, ``new_code`` the code the value
  is stored under; codes are text (``110101.0`` = ``110101``, leading zeros kept).
* ``share`` (default 1) is the part of the old value that goes to the new code,
  in (0, 1]. An old code on several rows is a split: its shares must sum to 1
  (within 1e-9). Several old codes with one new code are a merge: their values
  are summed. A (old, new) pair may appear only once.
* An empty ``new_code`` drops that share of the old code (usually the whole
  code: a functional zone the user does not want to merge anywhere). The
  dropped shares count towards the sum of 1, so a code can also be dropped in
  part (``X,Y,0.7`` + ``X,,0.3``).
* ``note`` is free text; no other column is allowed.
* Codes of the statistics file that are not an ``old_code`` keep their code.
  Crosswalk rows whose old code is not in the file are ignored (one crosswalk
  can serve several provinces).
* The crosswalk is applied once, not transitively: ``A->B`` plus ``B->C`` moves
  A's values to B and B's values to C.
* A new code that is also an unmapped code of the file *in the same year* is an
  error: crosswalk ``130505->130526`` with a row 130526 of its own would
  silently add 任泽区 to 任县. To merge on purpose, list the code itself too
  (``130526,130526``); otherwise map it elsewhere.
* In a merge, an old code with a row but an empty value for a variable while
  the others have one is an error (the sum would be incomplete): fill it, or
  drop the code in the crosswalk.

All variables of ``param.stat_variable`` are extensive quantities (persons,
households, 1e4 CNY, t, ha, m3, t CO2, km2), so a split multiplies the value by
the share and a merge sums the values. Intensive quantities (rates, densities,
per-capita values) must not be loaded through a crosswalk.

Stored rows keep their provenance in ``src.county_stat.source``: a value that
came through the crosswalk reads e.g. ``census.csv via crosswalk cw.csv:
130105 + 130171`` or ``... via crosswalk cw.csv: 0.6 of 130521``.

Values: an empty cell, ``NA``, ``N/A``, ``NaN``, ``NULL`` (any case), ``-``,
``--`` or ``—`` is a missing value (nothing is stored; every load reports the
codes without a value, per column). Any other cell must be a finite number
(``1e400`` and ``inf`` are refused) and not negative, as every variable is a
count or amount. Codes are integers or text without a decimal part
(``110101.5`` is refused).

Loading variables and years that already have values: the same values again
change nothing; other values are refused unless ``--replace`` (all values of
those variables and years are replaced by the file's) or ``--merge`` (the
file's codes are inserted or updated, the other codes keep their values).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import psycopg

from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea
from restore_db.load.common import cell_text, code_list, existing_file, lock_name, must_load, short_list
from restore_db.load.params import read_csv

DESCRIPTIVE = {"name", "county", "city", "province", "district", "level"}
# columns taken as the unit name when no --name-column is given (first found, case-insensitive)
NAME_COLUMNS = ("name", "county_name", "district_name", "county", "district", "区县", "名称")
CROSSWALK_COLUMNS = ("old_code", "new_code", "share", "note")
# cell texts read as a missing value (compared in lower case after stripping blanks); anything else must be
# a finite number
MISSING_MARKERS = frozenset({"", "na", "n/a", "nan", "null", "-", "--", "—"})
MISSING_TEXT = "an empty cell, NA, N/A, NaN, NULL (any case), -, -- or —"
SHARE_TOLERANCE = 1e-9


@dataclass
class Crosswalk:
    """A parsed crosswalk: old code -> [(new code or None = dropped, share)]."""

    path: Path
    targets: dict[str, list[tuple[str | None, float]]]


@dataclass
class StatsInfo:
    rows: int
    variables: list[str]
    years: list[int]
    # county units of the study area with no value among the stored rows
    boundaries_without_stats: list[str] = field(default_factory=list)
    # codes of the stored rows (after the crosswalk) that match no unit of any level
    stats_without_boundary: list[str] = field(default_factory=list)
    has_boundaries: bool = False  # False: the study area has no county units yet, both lists are empty
    names: dict[str, str] = field(default_factory=dict)  # code -> name (boundaries, else the file's name column)
    mapped_codes: list[str] = field(default_factory=list)  # file codes the crosswalk renamed, merged or split
    dropped_codes: list[str] = field(default_factory=list)  # file codes (wholly or partly) dropped by the crosswalk
    missing: dict[str, list[str]] = field(default_factory=dict)  # column -> codes of its rows without a value
    unchanged: bool = False  # the values were stored already: nothing written


def read_crosswalk(path: str | Path) -> Crosswalk:
    """Parse and check a crosswalk CSV (format: see the module docstring)."""
    path = existing_file(path, "crosswalk file")
    frame = read_csv(path, dtype=str)
    frame.columns = [c.lower() for c in frame.columns]
    missing = [c for c in CROSSWALK_COLUMNS[:2] if c not in frame.columns]
    if missing:
        raise InputError(f"crosswalk {path}: no column(s) {', '.join(missing)} "
                         f"(expected old_code, new_code[, share][, note]; got {short_list(frame.columns)})")
    extra = [c for c in frame.columns if c not in CROSSWALK_COLUMNS]
    if extra:
        raise InputError(f"crosswalk {path}: unknown column(s) {short_list(extra)} "
                         f"(expected old_code, new_code[, share][, note])")
    if frame.empty:
        raise InputError(f"crosswalk {path}: no rows")
    targets: dict[str, list[tuple[str | None, float]]] = defaultdict(list)
    shares = frame["share"] if "share" in frame.columns else [None] * len(frame)
    olds = code_list(frame["old_code"], f"crosswalk {path}, column 'old_code'")
    news = code_list(frame["new_code"], f"crosswalk {path}, column 'new_code'")
    for line, (old, new, share_raw) in enumerate(zip(olds, news, shares), start=2):
        if old is None:
            raise InputError(f"crosswalk {path}: line {line} has no old_code")
        share_text = cell_text(share_raw)  # None for an empty cell
        if share_text is None:
            share = 1.0
        else:
            try:
                share = float(share_text)
            except ValueError:
                raise InputError(f"crosswalk {path}: {old} -> {new or '(dropped)'}: share {share_text!r} "
                                 "is not a number") from None
            if not (0.0 < share <= 1.0) or math.isnan(share):
                raise InputError(f"crosswalk {path}: {old} -> {new or '(dropped)'}: share {share_text} "
                                 "is not in (0, 1]")
        if any(n == new for n, _ in targets[old]):
            raise InputError(f"crosswalk {path}: duplicate row {old} -> {new or '(dropped)'}")
        targets[old].append((new, share))
    for old, parts in targets.items():
        total = math.fsum(s for _, s in parts)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise InputError(f"crosswalk {path}: the shares of {old} sum to {total:.12g}, not 1")
    return Crosswalk(path, dict(targets))


def _name_column(frame: pd.DataFrame, name_column: str | None, path: Path) -> str | None:
    if name_column:
        if name_column not in frame.columns:
            raise InputError(f"{path}: no name column {name_column!r} (columns: {short_list(frame.columns, 30)})")
        return name_column
    lower = {c.lower(): c for c in frame.columns}
    return next((lower[c] for c in NAME_COLUMNS if c in lower), None)


def _part(old: str, share: float) -> str:
    return old if share == 1.0 else f"{share:.6g} of {old}"


def _values(raw: pd.Series, codes: list[str], path: Path, column: str) -> tuple[list[float | None], list[str]]:
    """The numbers of one statistics column (None where missing) and the codes of the rows without a value.

    A cell holding one of MISSING_MARKERS (any case) is missing. Raises InputError naming the column and the
    codes for text that is not a number, a number that is not finite (1e400, inf) and a negative number (every
    variable is a count or amount: see the module docstring).
    """
    values: list[float | None] = []
    missing, bad, infinite, negative = [], [], [], []
    for code, cell in zip(codes, raw):
        text = cell_text(cell)
        if text is None or text.lower() in MISSING_MARKERS:
            values.append(None)
            missing.append(code)
            continue
        try:
            value = float(text) if "_" not in text else None
        except ValueError:
            value = None
        if value is None:
            bad.append(f"{code}: {text!r}")
        elif not math.isfinite(value):
            infinite.append(f"{code}: {text!r}")
        elif value < 0:
            negative.append(f"{code}: {text}")
        values.append(value)
    if bad:
        raise InputError(f"{path}: non-numeric value(s) in column {column!r}: {short_list(bad)} "
                         f"(missing values are written as {MISSING_TEXT})")
    if infinite:
        raise InputError(f"{path}: value(s) in column {column!r} are not finite numbers: {short_list(infinite)}")
    if negative:
        raise InputError(f"{path}: negative value(s) in column {column!r}: {short_list(negative)}; statistics are "
                         "counts or amounts (persons, t, ha, m3, CNY ...), never negative")
    return values, missing


def load_stats(conn: psycopg.Connection, area: StudyArea, path: str | Path, year: int | None = None,
               code_column: str = "code", year_column: str = "year",
               columns: dict[str, str] | None = None, replace: bool = False,
               source: str | None = None, crosswalk: str | Path | None = None,
               name_column: str | None = None, merge: bool = False) -> StatsInfo:
    """Load a wide CSV (one row per county and year) into ``src.county_stat`` (caller's transaction).

    ``columns`` maps CSV column -> variable (e.g. ``{"人口数_合计": "population"}``);
    without it every non-descriptive column must be a known variable. A cell
    holding one of MISSING_MARKERS is a missing value: nothing is stored for it,
    and ``StatsInfo.missing`` lists the codes per column.

    ``crosswalk`` is a CSV mapping the file's codes to the boundary codes (see
    the module docstring). All variables are extensive quantities (persons, t,
    ha, m3, CNY ...): a split multiplies by the share, a merge sums.

    ``name_column`` holds the unit names used in the returned lists (default: the
    first of name, county_name, district_name, county, district, 区县, 名称).

    Values of the loaded variables and years already stored follow the reload
    rule of :mod:`restore_db.load.common`: the same values (and sources) again
    change nothing (``StatsInfo.unchanged``); other values are an error unless
    ``replace`` (every stored value of those variables and years is deleted
    first, so codes renamed or dropped since an earlier load do not linger) or
    ``merge`` (the codes of this file are inserted or updated, the other codes
    keep their values: for loading provinces one file after another).

    The result lists, by code, the county units of the study area with no
    stored value and the stored codes that match no unit of any level.
    Raises InputError naming the file, column and codes for a bad file, column,
    code, year or value (see :func:`_values`), for ``replace`` with ``merge``,
    and for other values already stored without either.
    """
    if replace and merge:
        raise InputError("--replace and --merge exclude each other: --replace replaces every value of the loaded "
                         "variables and years, --merge updates the codes of the file")
    path = existing_file(path, "statistics file")
    cw = read_crosswalk(crosswalk) if crosswalk is not None else None
    frame = read_csv(path, dtype=str, keep_default_na=False)
    if code_column not in frame.columns:
        raise InputError(f"{path}: no code column {code_column!r} (columns: {short_list(frame.columns, 30)})")
    name_col = _name_column(frame, name_column, path)
    catalogue = dict(conn.execute("SELECT name, unit FROM param.stat_variable").fetchall())
    if columns:
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise InputError(f"{path}: column(s) {short_list(absent)} not found (columns: {short_list(frame.columns, 30)})")
        mapping = dict(columns)
    else:
        skip = {code_column, year_column, name_col} | {c for c in frame.columns if c.lower() in DESCRIPTIVE}
        mapping = {c: c for c in frame.columns if c not in skip}
    unknown = [v for v in mapping.values() if v not in catalogue]
    if unknown:
        raise InputError(f"{path}: unknown variable(s) {short_list(unknown)}; known: {short_list(sorted(catalogue), 40)}")
    if not mapping:
        raise InputError(f"{path}: no statistics column to load")
    dup_vars = sorted({v for v in mapping.values() if list(mapping.values()).count(v) > 1})
    if dup_vars:
        raise InputError(f"{path}: several columns load into variable(s) {', '.join(dup_vars)}")
    codes = code_list(frame[code_column], f"{path}, column {code_column!r}")
    if any(c is None for c in codes):
        raise InputError(f"{path}: {sum(c is None for c in codes)} row(s) without a code in column {code_column!r}")
    if year_column in frame.columns:
        years = pd.to_numeric(frame[year_column], errors="coerce")
        if years.isna().any() or (years != years.round()).any():
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
    values: dict[str, list[float | None]] = {}
    missing: dict[str, list[str]] = {}
    for col in mapping:
        values[col], gaps = _values(frame[col], codes, path, col)
        if gaps:
            missing[col] = gaps

    # old code -> [(new code, share)]; codes outside the crosswalk keep their code
    targets = cw.targets if cw else {}
    file_codes = set(codes)
    mapped = sorted(c for c in file_codes if c in targets and any(n is not None for n, _ in targets[c]))
    dropped = sorted(c for c in file_codes if c in targets and any(n is None for n, _ in targets[c]))
    # (new code, year) -> [(row index, old code, share)]
    contributions: dict[tuple[str, int], list[tuple[int, str, float]]] = defaultdict(list)
    for i, (code, yr) in enumerate(zip(codes, years)):
        for new, share in targets.get(code, [(code, 1.0)]):
            if new is not None:
                contributions[(new, yr)].append((i, code, share))
    if cw:
        for (new, yr), parts in contributions.items():
            if len(parts) > 1 and any(old not in targets for _, old, _ in parts):  # the new code's own row
                other = next(old for _, old, _ in parts if old != new)
                raise InputError(
                    f"crosswalk {cw.path} maps {other} to {new}, and {path} has its own row {new} ({yr}) "
                    f"that the crosswalk does not map: their values would be summed; add a row {new},{new} "
                    f"to merge them on purpose, or map {new} elsewhere")

    base = source or str(path.name)
    rows = []
    for (new, yr), parts in contributions.items():
        through = cw is not None and any(old in targets for _, old, _ in parts)
        for col, var in mapping.items():
            present = [(i, old, share) for i, old, share in parts if values[col][i] is not None]
            if not present:
                continue
            if len(present) < len(parts):
                gap = next(old for i, old, _ in parts if values[col][i] is None)
                raise InputError(
                    f"{path}: column {col!r} has no value for {gap} ({yr}), which crosswalk {cw.path.name} "
                    f"merges into {new} with {', '.join(o for _, o, _ in present)}: the sum would be incomplete; "
                    f"fill the value or drop {gap} in the crosswalk")
            value = math.fsum(values[col][i] * share for i, _, share in present)
            text = base
            if through:
                text = f"{base} via crosswalk {cw.path.name}: {' + '.join(_part(o, s) for _, o, s in present)}"
            rows.append((area.study_area_id, new, yr, var, value, catalogue[var], text))

    variables = sorted(set(mapping.values()))
    year_list = sorted(set(years))
    for var in variables:
        lock_name(conn, area.study_area_id, "statistic", var)
    stored_before = {(code, yr, var): (value, unit, text) for code, yr, var, value, unit, text in conn.execute(
        """SELECT code, year, variable, value, unit, source FROM src.county_stat
           WHERE study_area_id = %s AND variable = ANY(%s) AND year = ANY(%s)""",
        (area.study_area_id, variables, year_list)).fetchall()}
    new = {(code, yr, var): (value, unit, text) for _, code, yr, var, value, unit, text in rows}
    info = StatsInfo(len(rows), variables, year_list, mapped_codes=mapped, dropped_codes=dropped, missing=missing)
    if merge:
        info.unchanged = all(stored_before.get(key) == row for key, row in new.items())
        if not info.unchanged:
            with conn.cursor() as cur:
                cur.executemany(
                    """INSERT INTO src.county_stat (study_area_id, code, year, variable, value, unit, source)
                       VALUES (%s, %s, %s, %s, %s, %s, %s)
                       ON CONFLICT (study_area_id, code, year, variable) DO UPDATE
                       SET value = EXCLUDED.value, unit = EXCLUDED.unit, source = EXCLUDED.source,
                           loaded_at = now()""", rows)
    else:
        loaded = None
        if stored_before:
            loaded = (f"{len(stored_before)} values of {', '.join(sorted({k[2] for k in stored_before}))} for "
                      f"{', '.join(map(str, sorted({k[1] for k in stored_before})))}")
        info.unchanged = not must_load(
            area.name, "statistics", ", ".join(variables), loaded, stored_before == new, replace,
            advice="use --replace to replace all values of these variables and years, or --merge to insert or "
                   "update the codes of this file only")
        if not info.unchanged:
            conn.execute("DELETE FROM src.county_stat WHERE study_area_id = %s AND variable = ANY(%s) "
                         "AND year = ANY(%s)", (area.study_area_id, variables, year_list))
            with conn.cursor() as cur:
                cur.executemany(
                    """INSERT INTO src.county_stat (study_area_id, code, year, variable, value, unit, source)
                       VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                    rows,
                )

    units = conn.execute("SELECT code, level, name FROM core.admin_unit WHERE study_area_id = %s",
                         (area.study_area_id,)).fetchall()
    counties = {code: name for code, level, name in units if level == "county"}
    stored = {r[0] for r in conn.execute(
        "SELECT DISTINCT code FROM src.county_stat WHERE study_area_id = %s AND variable = ANY(%s) AND year = ANY(%s)",
        (area.study_area_id, variables, year_list)).fetchall()}
    if counties:
        info.has_boundaries = True
        info.boundaries_without_stats = sorted(set(counties) - stored)
        info.stats_without_boundary = sorted(stored - {code for code, _, _ in units})
    listed = set(info.boundaries_without_stats) | set(info.stats_without_boundary) | set(mapped) | set(dropped)
    listed |= {code for gaps in missing.values() for code in gaps}
    if name_col:  # the file's names, then the boundaries' names where both exist
        for code, name in zip(codes, frame[name_col]):
            if code in listed and str(name).strip():
                info.names[code] = str(name).strip()
    info.names.update({code: name for code, _, name in units if name and code in listed})
    return info
