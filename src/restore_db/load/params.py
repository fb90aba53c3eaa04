"""Load parameter tables: land-use lookup tables (InVEST CSV columns unchanged)
and scalar parameter lists, each checked against the catalogues of
``param.coefficient`` / ``param.scalar_def`` (known names, units, bounds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psycopg
from psycopg import sql

from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea, check_name
from restore_db.load.common import existing_file, lock_name, must_load, sha256, short_list
from restore_db.store import layers

DESCRIPTIVE = {"description", "lulc_name", "name", "lulc_desc", "desc", "source", "class", "class_name"}
SCALAR_COLUMNS = {"name", "value", "unit", "source", "description"}


@dataclass
class ParamInfo:
    name: str
    kind: str
    rows: int
    columns: list[str]
    unchanged: bool = False  # the set was loaded with the same content: nothing written


def read_csv(path: Path, **kwargs) -> pd.DataFrame:
    try:  # utf-8-sig: tables saved by Excel start with a byte-order mark (InVEST reads them the same way)
        frame = pd.read_csv(path, encoding="utf-8-sig", **kwargs)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason}); save the CSV as UTF-8") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputError(f"cannot read CSV {path}: {exc}") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _numeric(series: pd.Series, path: Path, column: str, keys) -> pd.Series:
    values = pd.to_numeric(series, errors="coerce")
    bad = series.notna() & values.isna()
    if bad.any():
        detail = short_list(f"{k}: {v!r}" for k, v in zip(keys[bad], series[bad]))
        raise InputError(f"{path}: non-numeric value(s) in column {column!r}: {detail}")
    return values


def class_counts(conn: psycopg.Connection, area: StudyArea, layer: str) -> dict[int, int] | None:
    """{class code: cells} of the categorical source layer ``layer`` (nodata excluded), or None when the layer is
    absent.

    Read from ``core.layer_class_count``, where the raster loader stores them: no tile is read. A layer whose
    counts are not stored (written by other means than the loader) is counted once with ``ST_ValueCount`` and
    its counts stored. Raises InputError for a continuous layer.
    """
    rows = conn.execute(
        """SELECT l.layer_id, l.table_schema, l.table_name, l.kind, c.code, c.cells
           FROM core.layer l LEFT JOIN core.layer_class_count c USING (layer_id)
           WHERE l.study_area_id = %s AND l.name = %s AND l.run_id IS NULL ORDER BY c.code""",
        (area.study_area_id, layer)).fetchall()
    if not rows:
        return None
    layer_id, schema, table, kind = rows[0][:4]
    if kind != "categorical":
        raise InputError(f"layer {layer!r} of study area {area.name!r} is not categorical")
    if rows[0][4] is not None:
        return {code: cells for *_, code, cells in rows}
    counts = dict(conn.execute(
        sql.SQL("""SELECT value::integer, sum(count)::bigint FROM {}.{}, ST_ValueCount(rast, 1, true)
                   GROUP BY 1 ORDER BY 1""").format(sql.Identifier(schema), sql.Identifier(table))).fetchall())
    if counts:
        from restore_db.load.raster import store_class_counts

        store_class_counts(conn, layer_id, counts)
    return counts


def lulc_codes_in_layer(conn: psycopg.Connection, area: StudyArea, layer: str) -> list[int] | None:
    """Distinct class codes present in a categorical layer (:func:`class_counts`), or None when the layer is
    absent."""
    counts = class_counts(conn, area, layer)
    return None if counts is None else sorted(counts)


def check_classes_cover_layer(conn, area: StudyArea, codes: set[int], what: str, layer: str | None = None) -> None:
    """Raise InputError naming ``what`` when a class of the land-use layer ``layer`` is not in ``codes``.

    ``layer`` None is the layer ``lulc`` when it is loaded (a table loaded before the land use is checked when
    it is used). A ``layer`` given by name must be loaded and categorical: InputError otherwise.
    """
    present = lulc_codes_in_layer(conn, area, layer or "lulc")
    if present is None:
        if layer is None:
            return
        loaded = layers.source_names(conn, area, "categorical")
        raise InputError(f"{what}: study area {area.name!r} has no layer {layer!r} to check the land-use classes "
                         f"against (--lulc-layer); categorical layers: {short_list(loaded) if loaded else 'none'}")
    layer = layer or "lulc"
    missing = sorted(set(present) - codes)
    if missing:
        raise InputError(
            f"{what}: land-use class(es) {short_list(missing)} present in layer {layer!r} of study area "
            f"{area.name!r} are missing from the table"
        )


def default_set_name(path: Path) -> str:
    name = re.sub(r"[^a-z0-9_]+", "_", path.stem.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = "p_" + name
    return name[:40]


def load_params(conn: psycopg.Connection, area: StudyArea, path: str | Path, name: str | None = None,
                citation: str | None = None, replace: bool = False, lulc_layer: str | None = None) -> ParamInfo:
    """Load a land-use lookup table (has ``lucode``) or a scalar list (``name``, ``value``) as parameter set
    ``name`` (default: from the file name) of ``area`` (caller's transaction).

    ``citation`` is the source of values without their own; ``lulc_layer`` the categorical layer whose classes a
    lookup table must cover (default: ``lulc`` when loaded). Follows the reload rule of
    :mod:`restore_db.load.common`: a set of that name loaded from the same file (checksum) with the same
    citation is left as it is (``ParamInfo.unchanged``); other content needs ``replace``. Returns a
    :class:`ParamInfo`. Raises InputError naming the file for an unreadable table, unknown columns or
    parameters, values outside the catalogue's bounds or in another unit, classes of the land-use layer
    missing from the table, a ``lulc_layer`` that is not loaded, and a set of that name with other content
    without ``replace``.
    """
    path = existing_file(path, "parameter file")
    frame = read_csv(path)
    columns = {c.lower(): c for c in frame.columns}
    name = check_name(name or default_set_name(path), "parameter-set name")
    if "lucode" in columns:
        kind = "lulc"
        parsed = _parse_lulc(conn, path, frame, columns)
        check_classes_cover_layer(conn, area, set(parsed["codes"]), str(path), lulc_layer)
    elif {"name", "value"} <= set(columns):
        kind = "scalar"
        parsed = _parse_scalars(conn, path, frame, columns)
    else:
        raise InputError(
            f"{path}: not a parameter table: it needs a 'lucode' column (land-use lookup table) or "
            f"'name' and 'value' columns (scalar parameters); columns are {short_list(frame.columns, 30)}"
        )
    checksum = sha256(path)
    columns_loaded = parsed["coefficients"] if kind == "lulc" else [p[0] for p in parsed]
    rows = len(parsed["codes"]) if kind == "lulc" else len(parsed)
    if not _must_write(conn, area, name, replace,
                       lambda row: (row["kind"], row["source_sha256"], row["citation"]) == (kind, checksum, citation)):
        return ParamInfo(name, kind, rows, columns_loaded, unchanged=True)
    (set_id,) = conn.execute(
        """INSERT INTO param.param_set (study_area_id, name, kind, source_path, source_sha256, citation)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING param_set_id""",
        (area.study_area_id, name, kind, str(path.resolve()), checksum, citation),
    ).fetchone()
    with conn.cursor() as cur:
        if kind == "lulc":
            cur.executemany("INSERT INTO param.lulc_class (param_set_id, lucode, description) VALUES (%s, %s, %s)",
                            [(set_id, c, d) for c, d in zip(parsed["codes"], parsed["descriptions"])])
            cur.executemany(
                "INSERT INTO param.lulc_value (param_set_id, lucode, coefficient, value, source) VALUES (%s, %s, %s, %s, %s)",
                [(set_id, *row, parsed["sources"].get(row[0]) or citation) for row in parsed["values"]],
            )
            return ParamInfo(name, kind, len(parsed["codes"]), parsed["coefficients"])
        cur.executemany("INSERT INTO param.scalar (param_set_id, name, value, unit, source) VALUES (%s, %s, %s, %s, %s)",
                        [(set_id, n, v, u, s or citation) for n, v, u, s in parsed])
        return ParamInfo(name, kind, len(parsed), [p[0] for p in parsed])


def _must_write(conn, area: StudyArea, name: str, replace: bool, same) -> bool:
    """The reload rule (:func:`restore_db.load.common.must_load`) for parameter set ``name``: True when the set
    is to be written (a set of that name with other content is deleted first), False when ``same(row)`` says
    the loaded set (a dict of its param.param_set row) holds the same content. Raises InputError for other
    content without ``replace``."""
    lock_name(conn, area.study_area_id, "parameter set", name)
    cur = conn.execute("SELECT * FROM param.param_set WHERE study_area_id = %s AND name = %s",
                       (area.study_area_id, name))
    row = cur.fetchone()
    if row is not None:
        row = dict(zip([d.name for d in cur.description], row))
    loaded = None if row is None else f"{row['kind']}, loaded from {Path(row['source_path'] or '?').name}"
    if not must_load(area.name, "a parameter set", name, loaded, row is not None and same(row), replace):
        return False
    if row is not None:
        conn.execute("DELETE FROM param.param_set WHERE param_set_id = %s", (row["param_set_id"],))
    return True


def _catalogue(conn, table: str) -> dict[str, tuple]:
    rows = conn.execute(sql.SQL("SELECT name, unit, min_value, max_value FROM param.{}").format(sql.Identifier(table))).fetchall()
    return {r[0]: r[1:] for r in rows}


def _check_bounds(path: Path, label: str, value: float, unit: str, lo, hi) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InputError(
            f"{path}: {label} = {value:g} is outside the allowed range "
            f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}] {unit}"
        )


def _parse_lulc(conn, path: Path, frame: pd.DataFrame, columns: dict[str, str]) -> dict:
    catalogue = _catalogue(conn, "coefficient")
    coefs = [c for c in columns if c not in DESCRIPTIVE and c != "lucode"]
    unknown = [columns[c] for c in coefs if c not in catalogue]
    if unknown:
        raise InputError(
            f"{path}: unknown column(s) {short_list(unknown)}; known coefficients are {short_list(sorted(catalogue), 40)} "
            f"and descriptive columns {short_list(sorted(DESCRIPTIVE))}"
        )
    if not coefs:
        raise InputError(f"{path}: the table has 'lucode' but no coefficient column")
    raw_codes = frame[columns["lucode"]]
    codes = pd.to_numeric(raw_codes, errors="coerce")
    bad = codes.isna() | (codes != codes.round())
    if bad.any():
        raise InputError(f"{path}: 'lucode' must hold integer class codes; bad value(s) {short_list(raw_codes[bad])}")
    codes = codes.astype(int)
    dup = codes[codes.duplicated()]
    if len(dup):
        raise InputError(f"{path}: duplicate lucode(s) {short_list(sorted(set(dup)))}")
    desc_col = next((columns[c] for c in ("description", "lulc_name", "name", "lulc_desc", "desc", "class_name")
                     if c in columns), None)
    descriptions = [None if pd.isna(d) else str(d) for d in frame[desc_col]] if desc_col else [None] * len(codes)
    sources = {}
    if "source" in columns:
        sources = {int(c): (None if pd.isna(s) else str(s)) for c, s in zip(codes, frame[columns["source"]])}
    values = []
    for coef in coefs:
        unit, lo, hi = catalogue[coef]
        series = _numeric(frame[columns[coef]], path, columns[coef], codes)
        for code, value in zip(codes, series):
            if pd.isna(value):
                continue
            _check_bounds(path, f"{coef} of lucode {code}", float(value), unit, lo, hi)
            values.append((int(code), coef, float(value)))
    return {"codes": [int(c) for c in codes], "descriptions": descriptions, "values": values,
            "coefficients": coefs, "sources": sources}


def _parse_scalars(conn, path: Path, frame: pd.DataFrame, columns: dict[str, str]) -> list[tuple]:
    extra = [columns[c] for c in columns if c not in SCALAR_COLUMNS]
    if extra:
        raise InputError(f"{path}: unknown column(s) {short_list(extra)}; a scalar table has columns "
                         f"{', '.join(sorted(SCALAR_COLUMNS))}")
    catalogue = _catalogue(conn, "scalar_def")
    names = [str(n).strip() for n in frame[columns["name"]]]
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        raise InputError(f"{path}: unknown parameter(s) {short_list(unknown)}; known: {short_list(sorted(catalogue), 40)}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InputError(f"{path}: parameter(s) listed twice: {short_list(dup)}")
    values = _numeric(frame[columns["value"]], path, "value", pd.Series(names))
    rows = []
    for i, n in enumerate(names):
        unit, lo, hi = catalogue[n]
        if pd.isna(values.iloc[i]):
            raise InputError(f"{path}: parameter {n!r} has no value")
        given_unit = frame[columns["unit"]].iloc[i] if "unit" in columns else None
        if given_unit is not None and not pd.isna(given_unit) and str(given_unit).strip() != unit:
            raise InputError(f"{path}: parameter {n!r} is given in {str(given_unit).strip()!r} but must be in {unit!r}")
        _check_bounds(path, n, float(values.iloc[i]), unit, lo, hi)
        source = frame[columns["source"]].iloc[i] if "source" in columns else None
        rows.append((n, float(values.iloc[i]), unit, None if source is None or pd.isna(source) else str(source)))
    return rows


def insert_scalars(conn, area: StudyArea, name: str, values: dict[str, float], source: str,
                   replace: bool = False) -> ParamInfo:
    """Store scalars given as a mapping (e.g. InVEST datastack args) as scalar parameter set ``name``.

    ``source`` (a file) is the source of every value. Follows the reload rule of
    :mod:`restore_db.load.common`: a scalar set of that name holding the same values is left as it is
    (``ParamInfo.unchanged``); other content needs ``replace``. Returns a :class:`ParamInfo`. Raises
    InputError for a value outside the catalogue's bounds and for other content without ``replace``.
    """
    catalogue = _catalogue(conn, "scalar_def")
    values = {key: float(value) for key, value in values.items()}
    for key, value in values.items():
        unit, lo, hi = catalogue[key]
        _check_bounds(Path(source), key, value, unit, lo, hi)

    def same(row: dict) -> bool:
        stored = dict(conn.execute("SELECT name, value FROM param.scalar WHERE param_set_id = %s",
                                   (row["param_set_id"],)).fetchall())
        return row["kind"] == "scalar" and stored == values

    info = ParamInfo(name, "scalar", len(values), list(values))
    if not _must_write(conn, area, name, replace, same):
        info.unchanged = True
        return info
    (set_id,) = conn.execute(
        "INSERT INTO param.param_set (study_area_id, name, kind, source_path, citation) VALUES (%s, %s, 'scalar', %s, %s) RETURNING param_set_id",
        (area.study_area_id, name, source, source),
    ).fetchone()
    for key, value in values.items():
        conn.execute("INSERT INTO param.scalar (param_set_id, name, value, unit, source) VALUES (%s, %s, %s, %s, %s)",
                     (set_id, key, value, catalogue[key][0], source))
    return info
