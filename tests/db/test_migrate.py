"""Migrations replay exactly: a database migrated step by step from the first revision, one migrated at once, and
one built from ``sql/`` have the same schema (``pg_dump --schema-only``) and the same catalogue rows."""

from __future__ import annotations

import os
import re
import subprocess

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from psycopg import sql

from restore_db.db import migrate
from restore_db.db.cluster import find_bindir
from restore_db.config import with_dbname

SCHEMAS = ("core", "param", "src", "calc", "result", "bi")


@pytest.fixture
def new_db(server_url):
    """Factory of empty databases (dropped afterwards)."""
    made = []

    def make(tag: str) -> str:
        name = f"restore_migrate_{os.getpid()}_{tag}"
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        made.append(name)
        return with_dbname(server_url, name)

    yield make
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def revisions() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config("postgresql://x/y"))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def schema_dump(url: str) -> str:
    """``pg_dump --schema-only`` without the lines that name the database or the dump itself."""
    conninfo = psycopg.conninfo.conninfo_to_dict(url)
    env = dict(os.environ)
    env.update({"PGHOST": str(conninfo.get("host", "")), "PGPORT": str(conninfo.get("port", 5432)),
                "PGUSER": str(conninfo.get("user", "")), "PGPASSWORD": str(conninfo.get("password", "")),
                "PGDATABASE": str(conninfo["dbname"])})
    out = subprocess.run([str(find_bindir() / "pg_dump"), "--schema-only", "--no-owner"], env=env,
                         capture_output=True, text=True, check=True).stdout
    skip = re.compile(r"-- (Dumped|Name:|PostgreSQL database dump)|\\(un)?restrict ")   # per dump, random key
    lines = [line for line in out.splitlines() if not skip.match(line)]
    return "\n".join(lines)


def catalogue_rows(url: str) -> dict[str, list]:
    """The rows of every restore-db table (the catalogues a migration seeds), without time stamps."""
    out = {}
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE c.relkind IN ('r', 'm') AND n.nspname = ANY(%s) ORDER BY 1, 2""", (list(SCHEMAS),)).fetchall()
        for schema, table in tables:
            cols = [r[0] for r in conn.execute(
                """SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0
                   AND NOT attisdropped AND atttypid NOT IN ('timestamptz'::regtype, 'timestamp'::regtype)
                   ORDER BY attnum""", (f"{schema}.{table}",)).fetchall()]
            query = sql.SQL("SELECT {} FROM {}.{}").format(sql.SQL(", ").join(map(sql.Identifier, cols)),
                                                          sql.Identifier(schema), sql.Identifier(table))
            out[f"{schema}.{table}"] = sorted(repr(row) for row in conn.execute(query).fetchall())
    return out


def test_revisions_are_frozen():
    """Every revision applies only files it froze: editing ``sql/`` never changes what an old revision does."""
    root = migrate.migrations_dir()
    for path in sorted((root / "versions").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        rev = re.search(r'^revision = "(\w+)"', text, re.M).group(1)
        names = re.findall(r'"(\d{3}_\w+\.sql)"', text)
        assert names, f"{path.name} applies no SQL file"
        for name in names:
            assert (root / "frozen" / rev / name).is_file(), f"{path.name}: {name} is not frozen in frozen/{rev}"
        assert "sql_dir" not in text


def test_step_by_step_at_once_and_sql_agree(new_db):
    revs = revisions()
    assert revs[0] == "0001" and revs[-1] == migrate.head()

    stepwise = new_db("steps")
    cfg = migrate.alembic_config(stepwise)
    for rev in revs:   # one command per revision, as a database upgraded by each release in turn
        command.upgrade(cfg, rev)
        assert migrate.current(stepwise) == rev
    migrate.upgrade(stepwise)

    at_once = new_db("once")
    command.upgrade(migrate.alembic_config(at_once), "head")
    migrate.upgrade(at_once)

    fresh = new_db("fresh")
    migrate.upgrade(fresh)   # an empty database is built from sql/
    assert migrate.current(fresh) == migrate.head()

    dumps = {name: schema_dump(url) for name, url in
             (("step by step", stepwise), ("at once", at_once), ("sql/", fresh))}
    assert "CREATE TABLE core.admin_unit_version" in dumps["sql/"]
    for name in ("step by step", "at once"):
        assert dumps[name] == dumps["sql/"], _first_difference(dumps[name], dumps["sql/"], name)

    rows = {url: catalogue_rows(url) for url in (stepwise, at_once, fresh)}
    assert rows[fresh]["param.indicator"] and rows[fresh]["param.zone_type"]
    for url in (stepwise, at_once):
        for table, values in rows[fresh].items():
            assert rows[url][table] == values, f"{table} differs from sql/"


def test_install_is_one_transaction(new_db, monkeypatch, tmp_path):
    """A schema file that fails leaves an empty database, not half a schema."""
    url = new_db("broken")
    files = migrate.schema_files()
    broken = tmp_path / "999_broken.sql"
    broken.write_text("SELECT no_such_function();", encoding="utf-8")
    monkeypatch.setattr(migrate, "schema_files", lambda: files + [broken])
    with pytest.raises(psycopg.errors.UndefinedFunction):
        migrate.install(url)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regnamespace('core')").fetchone()[0] is None
    assert migrate.current(url) is None


def _first_difference(a: str, b: str, name: str) -> str:
    import difflib

    diff = list(difflib.unified_diff(b.splitlines(), a.splitlines(), "sql/", name, lineterm="", n=2))
    return "schemas differ:\n" + "\n".join(diff[:80])


def test_revision_0007_updates_references_but_keeps_a_users_edit(new_db):
    """Upgrading a database of revision 0006: the seeded references cite the model pages, a reference the user
    edited stays, and the grid functions refuse a tile off the grid."""
    url = new_db("r0007")
    cfg = migrate.alembic_config(url)
    command.upgrade(cfg, "0006")
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE param.indicator SET reference = 'county survey 2024' "
                     "WHERE indicator_set = 'default' AND indicator = 'pd'")
    command.upgrade(cfg, "0007")
    with psycopg.connect(url) as conn:
        refs = dict(conn.execute("SELECT indicator, reference FROM param.indicator "
                                 "WHERE indicator_set = 'default'").fetchall())
        assert refs.pop("pd") == "county survey 2024"
        assert refs and all(r.startswith("docs/models/") for r in refs.values()), refs
        stale = conn.execute("""SELECT count(*) FROM (SELECT reference FROM param.coefficient UNION ALL
                                SELECT reference FROM param.scalar_def) r
                                WHERE reference LIKE '%%domain.md%%'""").fetchone()[0]
        assert stale == 0
        conn.execute("INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height, tile_size)"
                     " VALUES ('g', 32650, 0, 1000, 10, 30, 20, 16)")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="tile 6 is not on the grid"):
            conn.execute("SELECT core.tile_envelope(core.study_area_id('g'), 6)")


def test_revision_0014_counts_the_classes_of_layers_loaded_before(new_db):
    """Upgrading a database of revision 0013 that holds a categorical layer: its class counts are stored, equal to
    ST_ValueCount of its tiles; a continuous layer and a computed layer get none, and a registered layer whose
    tile table is missing does not stop the upgrade."""
    url = new_db("r0014")
    cfg = migrate.alembic_config(url)
    command.upgrade(cfg, "0013")
    with psycopg.connect(url) as conn:
        (area_id,) = conn.execute(
            "INSERT INTO core.study_area (name, srid, origin_x, origin_y, pixel_size, width, height, tile_size)"
            " VALUES ('m', 32650, 0, 40, 10, 20, 4, 16) RETURNING study_area_id").fetchone()
        for table, pixel_type in (("m__lulc", "16BSI"), ("m__dem", "32BF")):
            conn.execute(sql.SQL("CREATE TABLE src.{} (tile_id integer PRIMARY KEY, rast raster NOT NULL)").format(
                sql.Identifier(table)))
            # two tiles: 16 x 4 with values in its first 4 columns, and the cut edge tile 4 x 4 (rows of values)
            for tile_id, x0, width, values in ((0, 0, 16, "ARRAY[[1,1,2,7],[7,7,-32768,2],[1,1,1,1],[2,2,2,2]]"),
                                               (1, 160, 4, "ARRAY[[7,7],[7,7],[5,5],[-32768,-32768]]")):
                conn.execute(sql.SQL(
                    "INSERT INTO src.{} SELECT %s, ST_SetValues(ST_AddBand(ST_MakeEmptyRaster(%s, 4, %s, 40, 10, -10,"
                    " 0, 0, 32650), %s::text, -32768::double precision, -32768::double precision), 1, 1, 1, "
                    + values + "::double precision[][])").format(
                    sql.Identifier(table)), (tile_id, width, x0, pixel_type))
        conn.execute("INSERT INTO core.run (study_area_id, stage) VALUES (%s, 'services')", (area_id,))
        conn.execute(
            """INSERT INTO core.layer (study_area_id, name, kind, unit, pixel_type, nodata, table_schema, table_name,
                   run_id) VALUES
               (%(a)s, 'lulc', 'categorical', 'class', '16BSI', -32768, 'src', 'm__lulc', NULL),
               (%(a)s, 'dem', 'continuous', 'm', '32BF', -32768, 'src', 'm__dem', NULL),
               (%(a)s, 'gone', 'categorical', 'class', '16BSI', -32768, 'src', 'm__gone', NULL),
               (%(a)s, 'zones', 'categorical', 'class', '16BSI', -32768, 'src', 'm__lulc_copy',
                (SELECT max(run_id) FROM core.run))""", {"a": area_id})
    command.upgrade(cfg, "0014")
    with psycopg.connect(url) as conn:
        counts = conn.execute("""SELECT l.name, c.code, c.cells FROM core.layer_class_count c JOIN core.layer l
                                 USING (layer_id) ORDER BY 1, 2""").fetchall()
        scanned = conn.execute("""SELECT 'lulc', value::integer, sum(count)::bigint
                                  FROM src.m__lulc, ST_ValueCount(rast, 1, true) GROUP BY 2 ORDER BY 2""").fetchall()
    assert counts == scanned == [("lulc", 1, 6), ("lulc", 2, 6), ("lulc", 5, 2), ("lulc", 7, 7)]
