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

Every command prepares its database (:func:`upgrade`), so the check of a database already at head is cheap: it
imports neither Alembic nor SQLAlchemy (:func:`current` reads the version table with psycopg, :func:`head` reads
the revision files), nor the tile engine when the stored kernel modules are those of the installed package.
Alembic is imported only to apply revisions.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from restore_db.config import sqlalchemy_url
from restore_db.resources import migrations_dir, sql_dir

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "alembic_version"
VERSION_SCHEMA = "public"

#: The modules :func:`restore_db.grid.engine.sync_kernel_modules` stores in ``calc.kernel_module``, in load order:
#: the names of ``grid.engine.KERNEL_MODULES`` (tests/cli/test_startup.py holds the two equal).
KERNEL_MODULE_NAMES = ("restore_db.kernels.wkb", "restore_db.kernels.formulas", "restore_db.kernels.catalog",
                       "restore_db.kernels.tiles")


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def head() -> str:
    """The newest revision: the one no other revision names as its ``down_revision``, read from the files of
    ``migrations/versions`` without importing them; Alembic's answer when the revisions are not one plain line
    (a merge, branch labels, dependencies, a value that is not a literal)."""
    found = _linear_head(migrations_dir() / "versions")
    if found is not None:
        return found
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://x/y")).get_current_head()


def _linear_head(folder: Path) -> str | None:
    """The last revision of the revision files in ``folder`` when they form one line, else None."""
    import ast

    down_of: dict[str, str | None] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith(("__init__", ".#")):      # the files Alembic skips
            continue
        values = {}
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = (node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1
                      else node.target if isinstance(node, ast.AnnAssign) and node.value is not None else None)
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision", "branch_labels",
                                                              "depends_on"):
                try:
                    values[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    return None
        rev, down = values.get("revision"), values.get("down_revision")
        if (not isinstance(rev, str) or not (down is None or isinstance(down, str)) or rev in down_of
                or values.get("branch_labels") or values.get("depends_on")):
            return None
        down_of[rev] = down
    heads = set(down_of) - set(down_of.values())
    if len(heads) != 1:
        return None
    last = rev = heads.pop()
    seen = set()
    while rev is not None and rev in down_of and rev not in seen:     # one line: from the head down to the first
        seen.add(rev)
        rev = down_of[rev]
    return last if rev is None and len(seen) == len(down_of) else None


def current(url: str) -> str | None:
    """The revision of the database: the one row of its version table; None without the table or a row (Alembic's
    ``MigrationContext.get_current_revision``, read with psycopg).

    Raises:
        DatabaseError: the version table holds several revisions (restore-db's revisions are one line).
    """
    import psycopg
    from psycopg import sql

    from restore_db.errors import DatabaseError

    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass(%s)", (f"{VERSION_SCHEMA}.{VERSION_TABLE}",)).fetchone()[0] is None:
            return None
        rows = conn.execute(sql.SQL("SELECT version_num FROM {}.{}").format(
            sql.Identifier(VERSION_SCHEMA), sql.Identifier(VERSION_TABLE))).fetchall()
    if len(rows) > 1:
        raise DatabaseError(f"the schema version table {VERSION_SCHEMA}.{VERSION_TABLE} holds several revisions "
                            f"({', '.join(sorted(r[0] for r in rows))}); restore-db expects one")
    return rows[0][0] if rows else None


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate to ``revision``; at head, also bring the stored kernel modules up to date and set the
    database-level rights of the BI role (``bi.secure_database()``: a copy of a database does not inherit them).

    A database without the restore-db schema is built from ``sql/`` at head (:func:`install`); one at an older
    revision replays the revisions after it.
    """
    at = current(url) if revision == "head" else None
    if revision == "head" and at is None and not _has_schema(url):
        install(url)
    elif not (revision == "head" and at == head()):
        from alembic import command

        command.upgrade(alembic_config(url), revision)
    if revision == "head":
        import psycopg

        with psycopg.connect(url, autocommit=False) as conn:
            _sync_kernel_modules(conn)
            conn.execute("SELECT bi.secure_database()")


def _sync_kernel_modules(conn) -> None:
    """:func:`restore_db.grid.engine.sync_kernel_modules`; the engine (numpy, pyproj ...) is not imported when the
    stored modules are already those of the installed package (then it would change nothing)."""
    have = dict(conn.execute("SELECT name, sha256 FROM calc.kernel_module").fetchall())
    if set(have) == set(KERNEL_MODULE_NAMES) and all(have[name] == _source_sha256(name)
                                                     for name in KERNEL_MODULE_NAMES):
        return
    from restore_db.grid.engine import sync_kernel_modules

    sync_kernel_modules(conn)


def _source_sha256(module: str) -> str:
    """sha256 of a module's source as ``grid.engine.kernel_sources`` hashes it, without importing the module."""
    source = Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8")
    return hashlib.sha256(source.encode()).hexdigest()


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
