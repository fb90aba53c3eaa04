"""The ``bi`` schema for BI tools: refreshing its materialized views and creating BI users.

The views themselves are SQL (``sql/080_bi_views.sql``). Two of them are
materialized (county shapes and dissolved zone polygons); :func:`refresh`
brings them up to date after a zoning run. ``REFRESH MATERIALIZED VIEW
CONCURRENTLY`` works inside a transaction (and sees its uncommitted rows), so
the pipeline may refresh in the transaction that wrote the run; readers keep
seeing the old rows until it commits.

BI users are login roles that are members of ``restore_bi``, the read-only
group role created by the migration: it may read the ``bi`` views and nothing
else (no rights on core, src, param, calc, result; no writes anywhere).
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

from .errors import InputError

BI_ROLE = "restore_bi"

# The public objects of schema bi (views and materialized views), first column = key.
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
)
MATVIEWS = ("county_shape", "zone_map")  # in refresh order

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def refresh(conn: psycopg.Connection) -> list[tuple[str, int, bool]]:
    """Refresh the bi materialized views (``bi.refresh()``), concurrently when populated.

    Runs in the caller's transaction when one is open (as a savepoint),
    otherwise in its own, committed. Returns (view, row count, concurrent) per view.
    """
    with conn.transaction():
        return [tuple(row) for row in conn.execute("SELECT matview, row_count, concurrent FROM bi.refresh()")]


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
