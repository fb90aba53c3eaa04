"""Run records: each computation stores its parameters, input checksums, code
version, timings and status in ``core.run``."""

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


def start(conn: psycopg.Connection, area: StudyArea, stage: str, label: str | None, params: dict,
          inputs: dict) -> int:
    digest = hashlib.sha256(json.dumps([stage, params, inputs], sort_keys=True, default=str).encode()).hexdigest()
    (run_id,) = conn.execute(
        """INSERT INTO core.run (study_area_id, stage, label, params, inputs, input_hash, code_version)
           VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING run_id""",
        (area.study_area_id, stage, label, json.dumps(params, default=str), json.dumps(inputs, default=str),
         digest, __version__),
    ).fetchone()
    return run_id


def finish(conn: psycopg.Connection, run_id: int, timings: dict, status: str = "succeeded") -> None:
    conn.execute(
        "UPDATE core.run SET status = %s, finished_at = clock_timestamp(), timings = %s WHERE run_id = %s",
        (status, json.dumps(timings), run_id),
    )
