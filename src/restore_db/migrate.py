"""Schema migrations: Alembic revisions that apply the numbered files of ``sql/``.

Each revision names the SQL files it applies (see ``migrations/versions``).
Files that define tables are applied once, by the revision that introduces
them; files of functions and views use ``CREATE OR REPLACE`` and a later
revision re-applies a file when it changes.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from .config import sqlalchemy_url
from .resources import migrations_dir, sql_dir

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
    database-level rights of the BI role (``bi.secure_database()``: a copy of a database does not inherit them)."""
    if not (revision == "head" and current(url) == head()):
        command.upgrade(alembic_config(url), revision)
    if revision == "head":
        import psycopg

        with psycopg.connect(url, autocommit=False) as conn:
            from .engine import sync_kernel_modules

            sync_kernel_modules(conn)
            conn.execute("SELECT bi.secure_database()")


def sync_kernels(connection) -> None:
    """Store the kernel modules from an Alembic connection (revision 0003 and later)."""
    from .engine import sync_kernel_modules

    sync_kernel_modules(connection.connection.dbapi_connection)


def apply_sql_files(connection, *names: str, frozen: str | None = None) -> None:
    """Execute SQL files of ``sql/`` on an Alembic connection (one transaction).

    With ``frozen`` (a revision id), the files are read from
    ``migrations/frozen/<revision>/`` instead: the version of a file that the
    revision applied when it was written, kept because ``sql/`` has moved on.
    """
    raw = connection.connection.dbapi_connection
    folder = migrations_dir() / "frozen" / frozen if frozen else sql_dir()
    for name in names:
        text = (folder / name).read_text(encoding="utf-8")
        with raw.cursor() as cur:
            cur.execute(text)
