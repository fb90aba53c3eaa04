"""Schema: ``sql/`` defines the current schema; Alembic revisions bring an older database to it.

- ``sql/NNN_*.sql``, numbered by dependency, declare the schema of the newest
  revision (head). A new database is built from them in one transaction and
  stamped at head (:func:`install`).
- ``migrations/versions/NNNN_*.py`` are the revisions. Each applies SQL files
  frozen in ``migrations/frozen/NNNN/``: exactly what it applied when it was
  written, never today's ``sql/``. A database made by an old release therefore
  replays the same steps as every other one.
- A schema change edits ``sql/`` and adds a revision whose frozen files take an
  older database there (``ALTER TABLE`` for tables; a re-applied file for
  functions and views, which use ``CREATE OR REPLACE``). ``tests/db/test_migrate.py``
  holds the two together: step by step from the first revision, all at once, and
  ``sql/`` must give the same schema and catalogue rows.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from restore_db.config import sqlalchemy_url
from restore_db.resources import migrations_dir, sql_dir

VERSION_TABLE = "alembic_version"
VERSION_SCHEMA = "public"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_current_head()


def current(url: str) -> str | None:
    engine = create_engine(sqlalchemy_url(url))
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "version_table_schema": VERSION_SCHEMA}
            )
            return ctx.get_current_revision()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate to ``revision``; at head, also bring the stored kernel modules up to date and set the
    database-level rights of the BI role (``bi.secure_database()``: a copy of a database does not inherit them).

    A database without the restore-db schema is built from ``sql/`` at head (:func:`install`); one at an older
    revision replays the revisions after it.
    """
    if revision == "head" and current(url) is None and not _has_schema(url):
        install(url)
    elif not (revision == "head" and current(url) == head()):
        command.upgrade(alembic_config(url), revision)
    if revision == "head":
        import psycopg

        with psycopg.connect(url, autocommit=False) as conn:
            from restore_db.grid.engine import sync_kernel_modules

            sync_kernel_modules(conn)
            conn.execute("SELECT bi.secure_database()")


def sync_kernels(connection) -> None:
    """Store the kernel modules from an Alembic connection (revision 0003 and later)."""
    from restore_db.grid.engine import sync_kernel_modules

    sync_kernel_modules(connection.connection.dbapi_connection)


def apply_revision_sql(connection, revision: str, *names: str) -> None:
    """Execute the files a revision froze, ``migrations/frozen/<revision>/<name>``, on an Alembic connection
    (in the revision's transaction).

    Raises:
        FileNotFoundError: a named file is not frozen with the revision.
    """
    raw = connection.connection.dbapi_connection
    folder = migrations_dir() / "frozen" / revision
    for name in names:
        text = (folder / name).read_text(encoding="utf-8")
        with raw.cursor() as cur:
            cur.execute(text)


def schema_files() -> list:
    """The files of ``sql/`` that declare the schema at head, in the order they apply (their numbers)."""
    return sorted(sql_dir().glob("[0-9][0-9][0-9]_*.sql"))


def _has_schema(url: str) -> bool:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT to_regnamespace('core') IS NOT NULL").fetchone()[0]


def install(url: str) -> None:
    """Build the schema of a new database from ``sql/`` and stamp it at head, in one transaction.

    Raises:
        psycopg.Error: the database refused a statement (nothing is left behind).
    """
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=False) as conn:
        for path in schema_files():
            conn.execute(path.read_text(encoding="utf-8"))
        # the version table exactly as Alembic creates it
        conn.execute(sql.SQL("CREATE TABLE {}.{} (version_num varchar(32) NOT NULL, "
                             "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
                     .format(sql.Identifier(VERSION_SCHEMA), sql.Identifier(VERSION_TABLE)))
        conn.execute(sql.SQL("INSERT INTO {}.{} (version_num) VALUES (%s)")
                     .format(sql.Identifier(VERSION_SCHEMA), sql.Identifier(VERSION_TABLE)), (head(),))
