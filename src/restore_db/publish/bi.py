"""The ``bi`` schema for BI tools: publishing zoning runs, refreshing, and creating BI users.

The relations themselves are SQL (``sql/080_bi_views.sql``). Those with a
geometry are keyed tables or materialized views, which QGIS opens without a
key picked by hand: :func:`publish` writes a zoning run's rows of
``bi.county`` and its dissolved zones in ``bi.zone_map`` once, when the run is
made, and refreshes ``bi.county_current``; :func:`refresh` follows the
boundaries (the boundary loader calls it) and repairs everything. All of them run in the caller's transaction, so readers keep
seeing the old rows until it commits.

BI users are login roles that are members of ``restore_bi``, the read-only
group role created by the migration: it may read the ``bi`` views and nothing
else (no rights on core, src, param, calc, result; no writes anywhere).
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

from restore_db.errors import InputError

BI_ROLE = "restore_bi"

# The public relations of schema bi (views, materialized views and tables), first column = key.
VIEWS = (
    "current_run",
    "county",
    "county_current",
    "county_shape",
    "county_ratio_long",
    "county_indicator_long",
    "county_dimension_long",
    "indicator_weight",
    "balance_class",
    "zone_summary",
    "zone_map",
    "pattern_run",
    "pattern_source",
    "pattern_corridor",
    "pattern_corridor_area",
    "pattern_node",
    "pattern_collab_unit",
    "pattern_county_link",
    "pattern_crossing",
    "pattern_member",
    "pattern_partner",
    "pattern_rollup_partner",
    "pattern_task",
    "pattern_pinch",
    "pattern_barrier",
)
MATVIEWS = ("county_shape", "county_current")
# written by bi.publish() (zoning runs) and bi.publish_pattern() (pattern runs)
TABLES = ("county", "zone_map", "pattern_source", "pattern_corridor", "pattern_corridor_area", "pattern_node",
          "pattern_collab_unit", "pattern_county_link", "pattern_task", "pattern_pinch", "pattern_barrier")

# QGIS projects stored in the database (sql/084_bi_qgis_project.sql): QGIS's own table, keyed by name, written by
# restore_db.publish.qgis_project (and by QGIS when the owner saves a project), read by restore_bi.
PROJECTS = ("qgis_projects",)

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def publish(conn: psycopg.Connection, zoning_run_id: int) -> int:
    """Write the ``bi.county`` and ``bi.zone_map`` rows of a succeeded zoning run (``bi.publish``) and
    refresh ``bi.county_current``; returns the number of county rows. Its cost depends on that run only."""
    with conn.transaction():
        return conn.execute("SELECT bi.publish(%s)", (zoning_run_id,)).fetchone()[0]


def publish_pattern(conn: psycopg.Connection, pattern_run_id: int) -> int:
    """Write the bi rows of a succeeded pattern run (``bi.publish_pattern``: sources, corridors, corridor areas,
    nodes, collaboration units, county links); returns the number of source rows."""
    with conn.transaction():
        return conn.execute("SELECT bi.publish_pattern(%s)", (pattern_run_id,)).fetchone()[0]


def refresh_current(conn: psycopg.Connection) -> int:
    """Refresh ``bi.county_current`` (after runs are deleted); returns its row count."""
    with conn.transaction():
        return conn.execute("SELECT row_count FROM bi.refresh_matview('county_current')").fetchone()[0]


def refresh(conn: psycopg.Connection) -> list[tuple[str, int, bool | None]]:
    """Bring bi up to date (``bi.refresh()``, ``bi.refresh_pattern()``) after boundaries changed or changes made by
    hand: county shapes, the zones of runs whose counties are gone, every succeeded zoning or pattern run not yet
    published, the current analysis.

    Runs in the caller's transaction when one is open (as a savepoint),
    otherwise in its own, committed. Returns (relation, row count, concurrent)
    per relation (concurrent is None for tables).
    """
    with conn.transaction():
        rows = [tuple(row) for row in conn.execute("SELECT relation, row_count, concurrent FROM bi.refresh()")]
        conn.execute("SELECT bi.refresh_pattern()")
        return rows + [(f"bi.{t}", conn.execute(f"SELECT count(*) FROM bi.{t}").fetchone()[0], None)
                       for t in TABLES if t.startswith("pattern_")]


def create_user(conn: psycopg.Connection, name: str, password: str | None = None) -> None:
    """Create login role ``name``, a member of ``restore_bi`` (read-only access to schema bi).

    The password, when given, is sent as a SCRAM verifier computed by libpq,
    never in clear text. The role's defaults: ``search_path = bi, public`` and
    read-only transactions. Raises :class:`InputError` for a bad or taken name,
    or when ``restore_bi`` does not exist.
    """
    if not _ROLE_NAME.match(name or ""):
        raise InputError(
            f"invalid role name {name!r}: use lowercase letters, digits and underscores, starting with a letter "
            "or underscore (at most 63 characters)"
        )
    if name.startswith("pg_") or name == BI_ROLE:
        raise InputError(f"role name {name!r} is reserved")
    with conn.transaction():
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (BI_ROLE,)).fetchone():
            raise InputError(
                f"role {BI_ROLE} does not exist: migrate the database as a role with CREATEROLE "
                "(or re-apply sql/080_bi_views.sql as one)"
            )
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
            raise InputError(f"role {name!r} already exists")
        role = sql.Identifier(name)
        stmt = sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(role, sql.Identifier(BI_ROLE))
        if password is not None:
            if not password:
                raise InputError("empty password")
            verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256")
            stmt = stmt + sql.SQL(" PASSWORD {}").format(sql.Literal(verifier.decode()))
        try:
            conn.execute(stmt)
        except psycopg.errors.InsufficientPrivilege as exc:
            raise InputError(f"cannot create role {name!r}: {exc.diag.message_primary} (needs CREATEROLE)") from exc
        except psycopg.errors.DuplicateObject as exc:
            raise InputError(f"role {name!r} already exists") from exc
        conn.execute(sql.SQL("ALTER ROLE {} SET search_path = bi, public").format(role))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role))
