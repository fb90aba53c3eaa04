"""Checksums of everything a study area's computations wrote, to show that a change of the code leaves the
results identical: take them before the change and after it, on databases built the same way from empty.

    .venv/bin/python scripts/result_checksums.py --url URL --study-area NAME [--json out.json]
    .venv/bin/python scripts/result_checksums.py --compare before.json after.json

One line per object, with its row (or tile) count and the MD5 of its content:

  table S.T        every table and materialized view of the schemas result and bi, and core.run_input (not
                   the tile tables of computed layers): every column but time stamps and the key ``id``, the
                   rows of the study area (by study_area_id, by run_id through core.run, or by the study
                   area's name), sorted by their text
  raster NAME@RUN  every computed layer (core.layer.run_id set): md5 of its tiles' md5(ST_AsBinary(rast)) in
                   tile_id order, and (meta) its core.layer row without ids and time stamps
  run ID           each run: stage, label, status, params, inputs, input_hash, error and parent run (not the
                   code version, times or timings; a load time in inputs is masked, and then input_hash too)

Run ids are kept: two databases built the same way from empty number their runs alike. Values compare by
their text (a float's is PostgreSQL's shortest round-trip form, a geometry's its EWKB in hex). --compare
prints what differs between two --json files and exits with 1 if anything does.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import psycopg
from psycopg import sql

TABLES = """
    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
      AND (n.nspname IN ('result', 'bi') OR (n.nspname, c.relname) = ('core', 'run_input'))
      AND NOT EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.oid AND a.atttypid = 'raster'::regtype)
    ORDER BY 1, 2"""
COLUMNS = """
    SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped
      AND attname <> 'id' AND atttypid NOT IN ('timestamp'::regtype, 'timestamptz'::regtype)
    ORDER BY attnum"""
AREA_RUNS = sql.SQL("run_id IN (SELECT run_id FROM core.run WHERE study_area_id = %(area_id)s)")
# a parameter set without a source checksum enters a run's inputs (and input_hash) by its load time
LOAD_TIME = r"""'"\d{4}-\d\d-\d\dT[\d:.]+[+-]\d\d:\d\d"'"""
RUN_FIELDS = (f"stage, label, status, params, regexp_replace(inputs::text, {LOAD_TIME}, '\"load time\"', 'g'), "
              f"CASE WHEN inputs::text !~ {LOAD_TIME} THEN input_hash END, error, parent_run_id")


def digest(conn: psycopg.Connection, rows: sql.Composable, area: dict) -> tuple[int, str]:
    """Count and MD5 of the text values ``r`` that the query ``rows`` returns, sorted bytewise."""
    query = sql.SQL("SELECT count(*), md5(coalesce(string_agg(r, E'\\n' ORDER BY r COLLATE \"C\"), '')) "
                    "FROM ({}) s").format(rows)
    return conn.execute(query, area).fetchone()


def area_filter(columns: list[str]) -> sql.Composable:
    """The WHERE clause keeping a table's rows of the study area (none: every row)."""
    if "study_area_id" in columns:
        return sql.SQL("WHERE study_area_id = %(area_id)s")
    if "run_id" in columns:
        return sql.SQL("WHERE ") + AREA_RUNS
    if "study_area" in columns:
        return sql.SQL("WHERE study_area = %(area)s")
    return sql.SQL("")


def columns_of(conn: psycopg.Connection, relation: str) -> list[str]:
    """A relation's columns but time stamps and ``id``."""
    return [r[0] for r in conn.execute(COLUMNS, (relation,)).fetchall()]


def row_text(columns: list[str]) -> sql.Composable:
    """The text of a row made of ``columns``."""
    return sql.SQL("ROW({})::text").format(sql.SQL(", ").join(map(sql.Identifier, columns)))


def table_checksums(conn: psycopg.Connection, area: dict) -> dict[str, dict]:
    """One entry per result table: its rows of the study area and their MD5."""
    out = {}
    for schema, table in conn.execute(TABLES).fetchall():
        columns = columns_of(conn, f'"{schema}"."{table}"')
        rows = sql.SQL("SELECT {} AS r FROM {} {}").format(
            row_text(columns), sql.Identifier(schema, table), area_filter(columns))
        count, md5 = digest(conn, rows, area)
        out[f"table {schema}.{table}"] = {"rows": count, "md5": md5}
    return out


def raster_checksums(conn: psycopg.Connection, area: dict) -> dict[str, dict]:
    """One entry per computed layer: MD5 of its tiles in tile_id order, and of its core.layer row."""
    meta = row_text([c for c in columns_of(conn, "core.layer") if c not in ("layer_id", "study_area_id")])
    layers = conn.execute(sql.SQL("SELECT name, run_id, table_schema, table_name, md5({}) FROM core.layer "
                                  "WHERE {} ORDER BY name, run_id").format(meta, AREA_RUNS), area).fetchall()
    out = {}
    for name, run_id, schema, table, meta_md5 in layers:
        count, md5 = conn.execute(sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(md5(ST_AsBinary(rast)), '' ORDER BY tile_id), '')) "
            "FROM {}").format(sql.Identifier(schema, table))).fetchone()
        out[f"raster {name}@{run_id}"] = {"rows": count, "md5": md5, "meta": meta_md5}
    return out


def run_checksums(conn: psycopg.Connection, area: dict) -> dict[str, dict]:
    """One entry per run of the study area: its stage and the MD5 of what identifies its result."""
    runs = conn.execute(f"SELECT run_id, stage, md5(ROW({RUN_FIELDS})::text) FROM core.run "
                        "WHERE study_area_id = %(area_id)s ORDER BY run_id", area).fetchall()
    return {f"run {run_id}": {"stage": stage, "md5": md5} for run_id, stage, md5 in runs}


def checksums(url: str, name: str) -> dict[str, dict]:
    """Every object's checksum for the study area ``name`` of the database at ``url``."""
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT study_area_id FROM core.study_area WHERE name = %s", (name,)).fetchone()
        if found is None:
            sys.exit(f"no study area {name!r}")
        area = {"area_id": found[0], "area": name}
        return {**table_checksums(conn, area), **raster_checksums(conn, area), **run_checksums(conn, area)}


def line(key: str, entry: dict) -> str:
    """An object's printed line."""
    return f"{key:<48} " + "  ".join(f"{k}={v}" for k, v in entry.items())


def compare(path_a: str, path_b: str) -> int:
    """Print the objects that differ between two checksum files; 1 if any does, else 0."""
    a, b = (json.loads(Path(p).read_text(encoding="utf-8"))["objects"] for p in (path_a, path_b))
    differ = 0
    for key in sorted(a.keys() | b.keys()):
        if a.get(key) != b.get(key):
            differ += 1
            print(f"{key}\n  {path_a}: {a.get(key, 'absent')}\n  {path_b}: {b.get(key, 'absent')}")
    print(f"{len(a)} / {len(b)} objects, {differ} differ")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="database URL (restore-db db url)")
    parser.add_argument("--study-area", help="study area name")
    parser.add_argument("--json", help="also write the checksums to this file")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two --json files")
    args = parser.parse_args()
    if args.compare:
        return compare(*args.compare)
    if not (args.url and args.study_area):
        parser.error("--url and --study-area are required (or --compare A B)")
    objects = checksums(args.url, args.study_area)
    for key, entry in objects.items():
        print(line(key, entry))
    if args.json:
        Path(args.json).write_text(json.dumps({"study_area": args.study_area, "objects": objects}, indent=1,
                                              sort_keys=True), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
