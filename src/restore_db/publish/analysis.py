"""Which runs a published product shows: one zoning run (the current one of ``bi.current_run``, or one given) and
the pattern run that read it. The report, the exports and the QGIS project all resolve their analysis here, so
they agree on what "the analysis" is.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea
from restore_db.stages import runs as run_records

# the pattern run of a zoning run: the definition of bi.current_run.pattern_run_id
PATTERN_RUN_SQL = """
SELECT max(i.run_id) FROM core.run_input i JOIN core.run p ON p.run_id = i.run_id
WHERE i.stage = 'zoning' AND i.input_run_id = %s AND p.stage = 'pattern' AND p.status = 'succeeded'"""


@dataclass(frozen=True)
class Analysis:
    """The runs a product reads: the zoning run and its pattern run (None when there is none)."""

    study_area: str
    zoning_run_id: int
    pattern_run_id: int | None


def resolve(conn: psycopg.Connection, area: StudyArea, run_id: int | None = None, what: str = "") -> Analysis:
    """The zoning run to show (``run_id``, or the current one of ``bi.current_run``) and its pattern run.

    Args:
        what: the product, prefixed to error messages ("report", "export gpkg" ...).
    Raises:
        InputError: the area has no succeeded zoning run; ``run_id`` is not a run of the area, not a zoning run,
            or did not succeed; the zoning run has no rows in ``bi.county`` (not published).
    """
    prefix = f"{what}: " if what else ""
    hint = f"`restore-db status -a {area.name}` lists the runs"
    if run_id is None:
        row = conn.execute("SELECT run_id FROM bi.current_run WHERE study_area_id = %s",
                           (area.study_area_id,)).fetchone()
        if row is None:
            raise InputError(f"{prefix}study area {area.name!r} has no succeeded zoning run; run `restore-db compute "
                             f"all -a {area.name}` first")
        run_id = row[0]
    else:
        row = conn.execute("SELECT stage FROM core.run WHERE run_id = %s AND study_area_id = %s",
                           (run_id, area.study_area_id)).fetchone()
        if row is None:
            raise InputError(f"{prefix}no run {run_id} in study area {area.name!r}; {hint}")
        if row[0] != "zoning":
            raise InputError(f"{prefix}run {run_id} of study area {area.name!r} is a {row[0]} run, not a zoning "
                             f"run; {hint}")
        try:
            run_records.require(conn, area, run_id, "zoning")
        except InputError as exc:
            raise InputError(f"{prefix}study area {area.name!r}: {exc}; {hint}") from None
    if conn.execute("SELECT 1 FROM bi.county WHERE run_id = %s LIMIT 1", (run_id,)).fetchone() is None:
        raise InputError(f"{prefix}zoning run {run_id} of study area {area.name!r} is not published in bi (no rows "
                         "in bi.county); `restore-db db refresh-views` publishes it")
    (pattern,) = conn.execute(PATTERN_RUN_SQL, (run_id,)).fetchone()
    return Analysis(area.name, run_id, pattern)
