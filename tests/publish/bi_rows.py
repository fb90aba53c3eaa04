"""The rows of the bi relations as the database has them, read with psycopg only: what the GeoPackage and CSV
exports must give back (tests/publish/test_export_vector.py, test_export_csv.py)."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import psycopg

# text copies of the geometry for BI tools: never exported
HELPER_COLUMNS = {"geom_geojson_4326", "geom_wkt_simpl"}


def current_runs(conn: psycopg.Connection, area: str = "demo") -> tuple[int, int | None]:
    """(zoning run, pattern run) of the current analysis of ``area`` (bi.current_run)."""
    return conn.execute("SELECT run_id, pattern_run_id FROM bi.current_run WHERE study_area = %s",
                        (area,)).fetchone()


def columns(conn: psycopg.Connection, relation: str) -> list[tuple[str, str]]:
    """(name, type) of the columns of ``bi.<relation>`` in order, type as format_type without modifiers."""
    return [tuple(r) for r in conn.execute(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attnum > 0 AND NOT attisdropped ORDER BY attnum", (f"bi.{relation}",))]


def exported_columns(conn: psycopg.Connection, relation: str, geometry: bool) -> list[tuple[str, str]]:
    """The columns an export keeps: no BI text copies, no arrays, the geometry only with ``geometry``."""
    return [(n, t) for n, t in columns(conn, relation)
            if n not in HELPER_COLUMNS and not t.endswith("[]") and (geometry or t != "geometry")]


def rows(conn: psycopg.Connection, relation: str, run_id: int | None) -> dict:
    """Rows of ``bi.<relation>`` of ``run_id`` by key (first column), each a dict; geometry as WKB bytes."""
    cols = columns(conn, relation)
    select = ", ".join(f"ST_AsBinary({n}) AS {n}" if t == "geometry" else n for n, t in cols)
    cur = conn.execute(f"SELECT {select} FROM bi.{relation} WHERE run_id = %s", (run_id,))
    names = [d.name for d in cur.description]
    return {r[0]: {n: (bytes(v) if isinstance(v, memoryview) else v) for n, v in zip(names, r)}
            for r in cur.fetchall()}


def is_null(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def same_value(got, want, pg_type: str, timestamp_tolerance: timedelta = timedelta(0)) -> bool:
    """Whether a value read from a file equals the database's: NULL as None/NaN/NaT; numbers exactly (float64 in
    both formats), integers whatever the reader's dtype, date-times within ``timestamp_tolerance``."""
    if want is None:
        return is_null(got)
    if is_null(got):
        return False
    if pg_type in ("integer", "smallint", "bigint"):
        return float(got) == want and int(got) == want
    if pg_type == "double precision":
        return float(got) == want and np.float64(got) == np.float64(want)
    if pg_type == "boolean":
        return bool(got) is want and got in (0, 1, True, False)
    if pg_type == "text":
        return got == want
    if pg_type == "timestamp with time zone":
        stamp = pd.Timestamp(got)
        assert stamp.tzinfo is not None, got
        return abs(stamp.to_pydatetime() - want) <= timestamp_tolerance
    raise AssertionError(f"no comparison for type {pg_type}")
