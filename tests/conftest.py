"""Test fixtures: a real PostGIS server, a migrated template database, and a
fresh database per test cloned from it.

Server, in order of preference:
1. ``RESTORE_DB_TEST_URL`` (any PostGIS server where the user may create databases);
2. a Docker container via testcontainers, when a Docker engine answers;
3. a private throw-away cluster (initdb + pg_ctl) in a temporary folder.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from restore_db import db
from restore_db.config import with_dbname
from restore_db.db.cluster import Cluster

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TEMPLATE = "restore_test_template"
_counter = itertools.count()


def shared_data(*parts: str) -> Path:
    """A file of ../shared/data; the test is skipped when the folder is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


def _docker_url():
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return None, None
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer("postgis/postgis:15-3.4", driver=None)
    container.start()
    return container.get_connection_url(), container


@pytest.fixture(scope="session")
def server_url():
    """URL of a maintenance database on a real PostGIS server."""
    url = os.environ.get("RESTORE_DB_TEST_URL")
    if url:
        yield url
        return
    url, container = _docker_url()
    if url:
        yield url
        container.stop()
        return
    home = Path(tempfile.mkdtemp(prefix="restore-db-test-"))
    os.chmod(home, 0o755)
    cluster = Cluster(home / "state", throwaway=True)
    cluster.start()
    try:
        yield cluster.url("postgres")
    finally:
        cluster.destroy()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def template_url(server_url):
    """A database migrated to head, cloned by every test."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}"')
        conn.execute(f'CREATE DATABASE "{TEMPLATE}"')
    url = with_dbname(server_url, TEMPLATE)
    db.prepare(url)
    return url


def _clone(server_url: str, template: str, prefix: str):
    """URL of a new database copied from ``template``, dropped when the generator is closed."""
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield with_dbname(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(server_url, template_url):
    """A fresh, migrated database for one test (dropped afterwards)."""
    yield from _clone(server_url, TEMPLATE, "restore_test")


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url) as connection:
        yield connection


@pytest.fixture
def cli_env(db_url, monkeypatch):
    """Environment for CLI tests: RESTORE_DB_URL points at the test database."""
    monkeypatch.setenv("RESTORE_DB_URL", db_url)
    return {"RESTORE_DB_URL": db_url}


def snapshot(conn: psycopg.Connection) -> dict:
    """Every restore-db table and its row count: compare before/after a failed load."""
    conn.rollback()
    tables = conn.execute(
        """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'r' AND n.nspname IN ('core', 'param', 'src', 'calc', 'result', 'bi')
           ORDER BY 1, 2"""
    ).fetchall()
    out = {}
    for schema, table in tables:
        out[f"{schema}.{table}"] = conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
    out["spatial_ref_sys"] = conn.execute("SELECT count(*) FROM spatial_ref_sys").fetchone()[0]
    conn.rollback()
    return out


def pytest_terminal_summary(terminalreporter):
    """The totals of the bad inputs run through the real CLI (helpers.check_bad_input) in this session."""
    import helpers

    cases = helpers.BAD_INPUT_CASES
    if cases:
        one_line = sum(1 for c in cases if c["lines"] == 1 and not c["traceback"])
        unchanged = sum(1 for c in cases if c["unchanged"] is True)
        not_checked = sum(1 for c in cases if c["unchanged"] is None)
        terminalreporter.write_line(
            f"bad inputs through the CLI: {len(cases)} cases, {one_line} ending in one line, {unchanged} leaving the "
            f"database byte for byte unchanged ({not_checked} not compared: no database or a deliberate change)")


COMPUTED_DEMO = "restore_test_computed_demo"


@pytest.fixture(scope="session")
def computed_demo_home(tmp_path_factory):
    """RESTORE_DB_HOME of the ``compute all`` of :func:`computed_demo`: its report is in ``reports/``, and the
    command's stdout in ``compute_all.stdout``."""
    return tmp_path_factory.mktemp("computed_demo_home")


@pytest.fixture(scope="session")
def computed_demo(server_url, template_url, tmp_path_factory, computed_demo_home):
    """URL of a database holding the demo region (8 km cells) after ``compute all`` (with its report); shared by
    the whole session, so tests must only read it. A test that writes uses :func:`computed_demo_copy`."""
    from helpers import run_cli
    from restore_db.load import demo

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{COMPUTED_DEMO}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{COMPUTED_DEMO}" TEMPLATE "{TEMPLATE}"')
    url = with_dbname(server_url, COMPUTED_DEMO)
    demo.run(name="demo", pixel_size=8000, workdir=tmp_path_factory.mktemp("computed_demo"), url=url,
             log=lambda m: None)
    proc = run_cli({"RESTORE_DB_URL": url, "RESTORE_DB_HOME": str(computed_demo_home)}, "compute", "all", "-a", "demo")
    assert proc.returncode == 0, proc.stderr
    (computed_demo_home / "compute_all.stdout").write_text(proc.stdout, encoding="utf-8")
    yield url
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{COMPUTED_DEMO}" WITH (FORCE)')


@pytest.fixture
def computed_demo_copy(server_url, computed_demo):
    """URL of a private copy of :func:`computed_demo` for a test that writes (dropped afterwards)."""
    yield from _clone(server_url, COMPUTED_DEMO, "restore_test_demo_copy")
