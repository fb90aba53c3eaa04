"""Connections, database preparation and the schema version.

Every command goes through :func:`database_url` (embedded cluster or
``RESTORE_DB_URL``) and :func:`prepare` (extensions present, schema migrated to
head). Only ``restore-db db up`` creates the embedded cluster; read-only
commands never start it either. Loaders then work inside one transaction of a psycopg connection, so a
failure leaves the database exactly as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
from psycopg import sql

from restore_db import config
from restore_db.db.cluster import Cluster
from restore_db.errors import DatabaseError

REQUIRED_EXTENSIONS = {
    "postgis": "PostGIS 3 (Debian: apt-get install postgresql-15-postgis-3)",
    "postgis_raster": "PostGIS raster, shipped with PostGIS 3 (postgresql-15-postgis-3)",
}
OPTIONAL_EXTENSIONS = {
    "plpython3u": "PL/Python, for in-database numpy kernels (apt-get install postgresql-plpython3-15 python3-numpy)",
}


def database_url(start: bool = True, create: bool = False) -> str:
    """The URL to use: ``RESTORE_DB_URL``, else the embedded cluster's (with its password).

    Args:
        start: start the embedded cluster when it exists but is stopped (read-only commands pass False).
        create: create the embedded cluster when there is none (only ``db up`` does).

    Raises:
        DatabaseError: no embedded cluster (and not ``create``), it is stopped (and not ``start``),
            it still uses trust authentication, or it fails to start.
    """
    url = config.external_url()
    if url:
        return url
    home = config.locate()
    cluster = Cluster(home.path)
    if not cluster.exists():
        if not create:
            raise DatabaseError(
                f"no restore-db database in {home.path} ({home.reason()}): `restore-db db up` creates one there; "
                f"set {config.ENV_HOME} or {config.ENV_URL} to use another"
            )
        cluster.start()
    elif cluster.initialised() and not cluster.secured():
        raise DatabaseError(
            f"the embedded database in {home.path} was made by an older restore-db with trust authentication "
            "(every local user may connect as its superuser): run `restore-db db up` once to switch it to passwords"
        )
    elif not cluster.running():
        if not start:
            raise DatabaseError(f"the embedded database in {home.path} is not running: `restore-db db up` starts it")
        cluster.start()
    ensure_database(cluster.url("postgres"), config.DEFAULT_DBNAME)
    return cluster.url(config.DEFAULT_DBNAME)


def ensure_database(maintenance_url: str, dbname: str) -> None:
    """Create database ``dbname`` of the embedded cluster if absent, and keep the cluster's own databases
    ``postgres`` and ``template1`` closed to roles that are not superusers (a BI role reaches ``dbname`` only;
    PUBLIC may connect to both by default). Databases a user made are left as they are.

    Raises:
        DatabaseError: the server cannot be reached or refuses.
    """
    with connect(maintenance_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        for (other,) in conn.execute("SELECT datname FROM pg_database WHERE datname IN ('postgres', 'template1') "
                                     "AND datname <> %s AND has_database_privilege('public', oid, 'CONNECT')",
                                     (dbname,)).fetchall():
            conn.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(other)))


def connect(url: str, **kwargs) -> psycopg.Connection:
    """``psycopg.connect``.

    Raises:
        DatabaseError: the server refuses the connection (one line, without the password).
    """
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise DatabaseError(f"cannot connect to the database: {detail}") from exc


def check_extensions(conn: psycopg.Connection) -> dict[str, str | None]:
    """Installed version of each extension we use; raise when a required one is unavailable."""
    rows = conn.execute(
        "SELECT name, installed_version FROM pg_available_extensions WHERE name = ANY(%s)",
        (list(REQUIRED_EXTENSIONS) + list(OPTIONAL_EXTENSIONS),),
    ).fetchall()
    found = {name: version for name, version in rows}
    missing = [name for name in REQUIRED_EXTENSIONS if name not in found]
    if missing:
        detail = "\n".join(f"  - {name}: {REQUIRED_EXTENSIONS[name]}" for name in missing)
        raise DatabaseError(f"the server lacks extensions restore-db needs:\n{detail}")
    return found


def prepare(url: str) -> None:
    """Make the database ready: required extensions available, schema at head."""
    from restore_db.db import migrate

    with connect(url, autocommit=True) as conn:
        check_extensions(conn)
    migrate.upgrade(url)


@contextlib.contextmanager
def session(url: str | None = None, migrate: bool = True, start: bool = True) -> Iterator[psycopg.Connection]:
    """A prepared connection; the caller opens transactions as needed.

    Args:
        url: the database (default :func:`database_url`, which never creates the embedded cluster).
        migrate: bring the schema to head first.
        start: start a stopped embedded cluster (read-only commands pass False).

    Raises:
        DatabaseError: see :func:`database_url`, :func:`prepare` and :func:`connect`.
    """
    url = url or database_url(start=start)
    if migrate:
        prepare(url)
    with connect(url) as conn:
        yield conn
