"""Run records: each computation stores its parameters, input checksums, code
version, timings and status in ``core.run``.

A run's identity (``core.run.input_hash``) is the SHA-256 of its stage, its
parameters and the checksums of everything it read (layers, parameter sets,
boundaries, statistics, the runs of earlier stages). A stage whose identity
matches a succeeded run is skipped and that run is reused.
"""

from __future__ import annotations

import hashlib
import json

import psycopg

from . import __version__
from .studyarea import StudyArea


def input_checksums(conn: psycopg.Connection, area: StudyArea, layers: list[str], param_sets: list[str]) -> dict:
    """Checksums of the source layers and parameter sets a computation reads."""
    out = {"layers": {}, "param_sets": {}}
    for name, sha, loaded in conn.execute(
        "SELECT name, source_sha256, loaded_at FROM core.layer WHERE study_area_id = %s AND run_id IS NULL"
        " AND name = ANY(%s) ORDER BY name", (area.study_area_id, layers)).fetchall():
        out["layers"][name] = sha or loaded.isoformat()
    for name, sha, loaded in conn.execute(
        "SELECT name, source_sha256, loaded_at FROM param.param_set WHERE study_area_id = %s AND name = ANY(%s)"
        " ORDER BY name", (area.study_area_id, param_sets)).fetchall():
        out["param_sets"][name] = sha or loaded.isoformat()
    return out


def boundary_checksum(conn: psycopg.Connection, area: StudyArea) -> str | None:
    """MD5 of the area's administrative units (codes, names, parents and geometry)."""
    return conn.execute(
        """SELECT md5(string_agg(concat_ws('|', level, code, name, parent_code, province_code, md5(ST_AsBinary(geom))),
                                 ',' ORDER BY level, code))
           FROM core.admin_unit WHERE study_area_id = %s""", (area.study_area_id,)).fetchone()[0]


def stats_checksum(conn: psycopg.Connection, area: StudyArea) -> str | None:
    """MD5 of the area's county statistics."""
    return conn.execute(
        """SELECT md5(string_agg(concat_ws('|', code, year, variable, value, unit), ',' ORDER BY code, year, variable))
           FROM src.county_stat WHERE study_area_id = %s""", (area.study_area_id,)).fetchone()[0]


def digest(stage: str, params, inputs) -> str:
    return hashlib.sha256(json.dumps([stage, params, inputs], sort_keys=True, default=str).encode()).hexdigest()


def find_succeeded(conn: psycopg.Connection, area: StudyArea, stage: str, params, inputs) -> int | None:
    """The newest succeeded run of ``stage`` with this identity, if any."""
    row = conn.execute(
        """SELECT run_id FROM core.run WHERE study_area_id = %s AND stage = %s AND status = 'succeeded'
           AND input_hash = %s ORDER BY run_id DESC LIMIT 1""",
        (area.study_area_id, stage, digest(stage, params, inputs))).fetchone()
    return row[0] if row else None


def start(conn: psycopg.Connection, area: StudyArea, stage: str, label: str | None, params: dict,
          inputs: dict, identity=None, parent_run_id: int | None = None, upstream: dict[str, int] | None = None) -> int:
    """Record a running run; ``identity`` (default ``params``) is what, with ``inputs``, makes its hash."""
    (run_id,) = conn.execute(
        """INSERT INTO core.run (study_area_id, stage, label, params, inputs, input_hash, code_version, parent_run_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING run_id""",
        (area.study_area_id, stage, label, json.dumps(params, default=str), json.dumps(inputs, default=str),
         digest(stage, params if identity is None else identity, inputs), __version__, parent_run_id),
    ).fetchone()
    for up_stage, up_run in (upstream or {}).items():
        conn.execute("INSERT INTO core.run_input (run_id, stage, input_run_id) VALUES (%s, %s, %s)",
                     (run_id, up_stage, up_run))
    return run_id


def finish(conn: psycopg.Connection, run_id: int, timings: dict, status: str = "succeeded") -> None:
    conn.execute(
        "UPDATE core.run SET status = %s, finished_at = clock_timestamp(), timings = %s WHERE run_id = %s",
        (status, json.dumps(timings, default=str), run_id),
    )
