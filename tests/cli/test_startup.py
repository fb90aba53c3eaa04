"""Start-up of the command line: ``restore-db --help`` and the quick commands import no heavy package.

Times depend on the machine and are measured, not tested; what a command imports is tested here, each in a
process of its own. The command modules import typer, rich and light parts of restore-db; a command imports what
it needs when it runs (restore_db.cli). On a database at head, ``status`` needs neither Alembic nor SQLAlchemy
(restore_db.db.migrate reads the version table and the revision files itself) nor the tile engine.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

# Third-party packages no start-up needs (psycopg: --help and the import of restore_db.cli only).
HEAVY = ("numpy", "pandas", "scipy", "geopandas", "shapely", "pyproj", "rasterio", "matplotlib", "alembic",
         "sqlalchemy", "mapclassify", "numba", "sklearn", "networkx", "pyflwdir")
# restore-db's own modules that import them (the packages themselves are light), and the light ones among them.
HEAVY_OWN = ("restore_db.grid", "restore_db.store", "restore_db.load", "restore_db.kernels.", "restore_db.publish.",
             "restore_db.stages.")
LIGHT_OWN = {"restore_db.stages.settings", "restore_db.stages.services", "restore_db.stages.runs",
             "restore_db.publish.status"}

# Run the real entry point with the given arguments; at exit, the imported modules go to stderr.
_RUN = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["restore-db", *sys.argv[1:]]
from restore_db.cli import main
main()
"""


def _heavy(modules, also=()) -> list[str]:
    """The packages (top-level names) and restore-db modules of ``modules`` that a quick start must not import."""
    tops = set(HEAVY) | set(also)
    found = {name.split(".")[0] for name in modules if name.split(".")[0] in tops}
    found |= {name for name in modules if name.startswith(HEAVY_OWN) and name not in LIGHT_OWN}
    return sorted(found)


def _run(*args, env: dict | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
    import os

    proc = subprocess.run([sys.executable, "-c", _RUN, *args], env={**os.environ, **(env or {})},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    marker = [line for line in proc.stderr.splitlines() if line.startswith("MODULES ")]
    assert marker, proc.stderr
    return proc, json.loads(marker[-1][len("MODULES "):])


def test_importing_the_cli_imports_no_heavy_package():
    proc = subprocess.run([sys.executable, "-c", "import json, sys, restore_db.cli; print(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout)
    assert _heavy(modules, also=("psycopg",)) == []


def test_help_lists_every_command_and_imports_no_heavy_package():
    from restore_db.cli import LAZY_GROUPS

    proc, modules = _run("--help", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert _heavy(modules, also=("psycopg",)) == []
    lines = {line.strip("│ ").split(" ")[0]: line for line in proc.stdout.splitlines() if line.startswith("│ ")}
    for name in ("db", "study-area", "load", "compute", "export", "runs", "demo", "status", "report"):
        assert name in lines, proc.stdout
    assert "Export layers to files (read-only)." in lines["export"]
    for name, (_, help_line) in LAZY_GROUPS.items():
        assert help_line in lines[name], proc.stdout


@pytest.mark.parametrize("group, commands", [("runs", ("list", "drop", "prune")),
                                             ("compute", ("all", "services", "ratios", "stages")),
                                             ("db", ("up", "url", "status"))])
def test_group_help(group, commands):
    proc, _ = _run(group, "--help", env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    assert f"Usage: restore-db {group} [OPTIONS] COMMAND [ARGS]..." in proc.stdout
    for command in commands:
        assert f"│ {command} " in proc.stdout, proc.stdout


def test_a_lazy_group_is_listed_with_its_own_help_line():
    from restore_db.cli import LAZY_GROUPS, load_group

    for name, (module, help_line) in LAZY_GROUPS.items():
        assert importlib.import_module(module).app.info.help == help_line
        group = load_group(name)
        assert group.name == name and group.commands


def test_the_kernel_modules_migrate_checks_are_those_the_engine_stores():
    from restore_db.db import migrate
    from restore_db.grid import engine

    assert migrate.KERNEL_MODULE_NAMES == tuple(name for name, _ in engine.KERNEL_MODULES)
    assert [migrate._source_sha256(name) for name in migrate.KERNEL_MODULE_NAMES] == [
        sha for _, _, _, sha in engine.kernel_sources()]


def test_head_is_alembics():
    from alembic.script import ScriptDirectory

    from restore_db.db import migrate

    assert migrate.head() == ScriptDirectory.from_config(migrate.alembic_config("postgresql://x/y")).get_current_head()


def _revision(folder, name, rev, down, extra=""):
    down = "None" if down is None else f'"{down}"'
    (folder / f"{name}.py").write_text(f'"""{name}."""\n\nrevision = "{rev}"\ndown_revision = {down}\n'
                                       f"branch_labels = None\ndepends_on = None\n{extra}", encoding="utf-8")


def test_head_read_from_the_files_only_for_one_line_of_revisions(tmp_path):
    from restore_db.db.migrate import _linear_head

    for rev, down in (("0001", None), ("0002", "0001"), ("0003", "0002")):
        _revision(tmp_path, f"{rev}_x", rev, down)
    (tmp_path / "__init__.py").write_text("", encoding="utf-8")
    assert _linear_head(tmp_path) == "0003"
    annotated = tmp_path / "0004_annotated.py"
    annotated.write_text('revision: str = "0004"\ndown_revision: str | None = "0003"\n', encoding="utf-8")
    assert _linear_head(tmp_path) == "0004"
    _revision(tmp_path, "0005_branch", "0005", "0003")           # two heads: Alembic decides
    assert _linear_head(tmp_path) is None
    (tmp_path / "0005_branch.py").unlink()
    _revision(tmp_path, "0005_merge", "0005", "0004", extra='branch_labels = ("b",)\n')
    assert _linear_head(tmp_path) is None
    _revision(tmp_path, "0005_merge", "0005", "0004", extra="depends_on = compute()\n")
    assert _linear_head(tmp_path) is None
    _revision(tmp_path, "0005_merge", "0005", "0009")            # names a revision that is not there
    assert _linear_head(tmp_path) is None


def test_current_reads_what_alembic_reads(db_url):
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    from restore_db.config import sqlalchemy_url
    from restore_db.db import migrate

    engine = create_engine(sqlalchemy_url(db_url))
    try:
        with engine.connect() as conn:
            alembic_answer = MigrationContext.configure(conn, opts={
                "version_table": migrate.VERSION_TABLE, "version_table_schema": migrate.VERSION_SCHEMA,
            }).get_current_revision()
    finally:
        engine.dispose()
    assert migrate.current(db_url) == alembic_answer == migrate.head()


def test_status_on_a_database_at_head_needs_no_alembic_nor_engine(cli_env):
    for args in (("status", "--json"), ("db", "url"), ("db", "status", "--json")):
        proc, modules = _run(*args, env=cli_env)
        assert proc.returncode == 0, proc.stderr
        assert _heavy(modules) == [], args
    proc, _ = _run("db", "status", "--json", env=cli_env)
    info = json.loads(proc.stdout)
    assert info["schema_version"] == info["schema_head"]


def test_prepare_brings_changed_kernel_modules_up_to_date(db_url):
    import psycopg

    from restore_db import db
    from restore_db.grid import engine

    wanted = [(name, order, sha) for name, order, _, sha in engine.kernel_sources()]
    with psycopg.connect(db_url, autocommit=True) as conn:
        def stored():
            return conn.execute("SELECT name, load_order, sha256 FROM calc.kernel_module ORDER BY load_order").fetchall()

        assert stored() == wanted
        for change in ("UPDATE calc.kernel_module SET sha256 = 'x' WHERE name = 'restore_db.kernels.tiles'",
                       "DELETE FROM calc.kernel_module WHERE name = 'restore_db.kernels.catalog'",
                       "INSERT INTO calc.kernel_module (name, load_order, source, sha256) VALUES ('gone', 9, '', 'y')"):
            conn.execute(change)
            db.prepare(db_url)
            assert stored() == wanted, change
