"""Connections, database preparation and the schema version.

Every command goes through :func:`database_url` (embedded cluster or
``RESTORE_DB_URL``) and :func:`prepare` (extensions present, schema migrated to
head). Loaders then work inside one transaction of a psycopg connection, so a
failure leaves the database exactly as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg

from . import config
from .cluster import Cluster
from .errors import DatabaseError

REQUIRED_EXTENSIONS = {
    "postgis": "PostGIS 3 (Debian: apt-get install postgresql-15-postgis-3)",
    "postgis_raster": "PostGIS raster, shipped with PostGIS 3 (postgresql-15-postgis-3)",
}
OPTIONAL_EXTENSIONS = {
    "plpython3u": "PL/Python, for in-database numpy kernels (apt-get install postgresql-plpython3-15 python3-numpy)",
}


def embedded_cluster() -> Cluster:
    return Cluster(config.home())


def database_url(start: bool = True) -> str:
    """The URL to use: ``RESTORE_DB_URL`` or the embedded cluster (started on demand)."""
    url = config.external_url()
    if url:
        return url
    cluster = embedded_cluster()
    if not cluster.running():
        if not start:
            raise DatabaseError("the embedded database is not running: run `restore-db db up`")
        cluster.start()
    ensure_database(cluster.url("postgres"), config.DEFAULT_DBNAME)
    return cluster.url(config.DEFAULT_DBNAME)


def ensure_database(maintenance_url: str, dbname: str) -> None:
    """Create database ``dbname`` on the server of ``maintenance_url`` if absent."""
    with psycopg.connect(maintenance_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')


def connect(url: str, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        raise DatabaseError(f"cannot connect to the database: {exc}".strip()) from exc


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
    from . import migrate

    with connect(url, autocommit=True) as conn:
        check_extensions(conn)
    migrate.upgrade(url)


@contextlib.contextmanager
def session(url: str | None = None, migrate: bool = True) -> Iterator[psycopg.Connection]:
    """A prepared connection; the caller opens transactions as needed."""
    url = url or database_url()
    if migrate:
        prepare(url)
    with connect(url) as conn:
        yield conn
