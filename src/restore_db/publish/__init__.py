"""What leaves the database: the ``bi`` relations (:mod:`.bi`), raster and vector exports (:mod:`.export`) and the
status summary (:mod:`.status`).

:func:`after_run` is what the stage runner calls once a new run has succeeded: the stages whose runs are published
are listed here, not in the stages.
"""

from __future__ import annotations

import time

import psycopg


def _publish_zoning(conn: psycopg.Connection, run_id: int) -> None:
    from restore_db.publish import bi

    bi.publish(conn, run_id)


def _publish_pattern(conn: psycopg.Connection, run_id: int) -> None:
    from restore_db.publish import bi

    bi.publish_pattern(conn, run_id)


# stage -> what publishes a new succeeded run of it (in the run's transaction)
PUBLISHERS = {"zoning": _publish_zoning, "pattern": _publish_pattern}


def after_run(conn: psycopg.Connection, stage: str, run_id: int) -> float | None:
    """Publish a new succeeded run of ``stage``; returns the seconds it took, or None when the stage publishes
    nothing. Raises what the publisher raises (the caller's transaction then rolls back the run)."""
    publisher = PUBLISHERS.get(stage)
    if publisher is None:
        return None
    t0 = time.perf_counter()
    publisher(conn, run_id)
    return time.perf_counter() - t0
