"""pgTAP tests of the SQL in ``sql/``: every file of ``sql/tests`` runs in a fresh migrated database.

Each file (``BEGIN; SELECT plan(N); ... SELECT * FROM finish(); ROLLBACK;``) tests the
tables, functions and views of the ``sql/`` file with the same number. The runner
creates the pgtap extension in the test database (the migrations never do), then
runs the file with ``pg_prove`` (package libtap-parser-sourcehandler-pgtap-perl),
or, when pg_prove is absent, with ``psql`` and reads the TAP itself. The connection
goes to psql in PG* environment variables, never on a command line.
``RESTORE_DB_PGTAP_RUNNER=psql`` forces the psql reader.

    make test-sql                                   # only these
    .venv/bin/pytest -q tests/test_sql_pgtap.py -k 080   # one file
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[1]
SQL_TESTS = ROOT / "sql" / "tests"
FILES = sorted(p.name for p in SQL_TESTS.glob("[0-9]*.sql"))
TIMEOUT = 600  # seconds per file

# libpq connection keywords and the environment variables psql reads them from
LIBPQ_ENV = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
    "password": "PGPASSWORD", "passfile": "PGPASSFILE", "channel_binding": "PGCHANNELBINDING",
    "service": "PGSERVICE", "options": "PGOPTIONS", "application_name": "PGAPPNAME", "sslmode": "PGSSLMODE",
    "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "sslrootcert": "PGSSLROOTCERT", "sslcrl": "PGSSLCRL",
    "sslcrldir": "PGSSLCRLDIR", "sslsni": "PGSSLSNI", "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION", "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE", "krbsrvname": "PGKRBSRVNAME", "gsslib": "PGGSSLIB",
    "connect_timeout": "PGCONNECT_TIMEOUT", "client_encoding": "PGCLIENTENCODING",
    "target_session_attrs": "PGTARGETSESSIONATTRS", "load_balance_hosts": "PGLOADBALANCEHOSTS",
}
PSQL_ARGS = ["--no-psqlrc", "--no-align", "--quiet", "--tuples-only", "--pset", "pager=off",
             "--set", "ON_ERROR_STOP=1"]


def libpq_env(url: str) -> dict[str, str]:
    """The environment for psql/pg_prove: this process's, without its PG* variables, plus the URL's parameters."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, value in conninfo_to_dict(url).items():
        if key not in LIBPQ_ENV:
            raise ValueError(f"connection parameter {key!r} has no libpq environment variable")
        env[LIBPQ_ENV[key]] = str(value)
    env["PGCLIENTENCODING"] = env.get("PGCLIENTENCODING", "UTF8")
    return env


def tap_failures(tap: str) -> list[str]:
    """The ``not ok`` lines of TAP output with the ``#`` diagnostics that follow each."""
    out: list[str] = []
    keep = False
    for line in tap.splitlines():
        stripped = line.strip()
        if stripped.startswith("not ok"):
            keep = "# TODO" not in stripped
            if keep:
                out.append(stripped)
        elif stripped.startswith("#") and keep:
            out.append("    " + stripped)
        elif stripped.startswith("ok"):
            keep = False
    return out


def plan_problem(tap: str) -> str | None:
    """Why the TAP of one file does not keep its plan (None when it does)."""
    plan = re.search(r"^\s*1\.\.(\d+)", tap, re.MULTILINE)
    if not plan:
        return "no plan (1..N) in the output"
    ran = len(re.findall(r"^\s*(?:not )?ok \d+", tap, re.MULTILINE))
    if ran != int(plan.group(1)):
        return f"planned {plan.group(1)} tests but ran {ran}"
    return None


def run_pg_prove(path: Path, env: dict) -> tuple[bool, str, str]:
    psql = shutil.which("psql", path=env.get("PATH")) or "psql"
    argv = ["pg_prove", "--verbose", "--psql-bin", psql, str(path)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    return done.returncode == 0, done.stdout, done.stderr


def run_psql(path: Path, env: dict) -> tuple[bool, str, str]:
    argv = ["psql", *PSQL_ARGS, "--file", str(path)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    problem = plan_problem(done.stdout)
    ok = done.returncode == 0 and problem is None and not tap_failures(done.stdout)
    stderr = done.stderr + (f"\n{problem}" if problem else "")
    return ok, done.stdout, stderr


def use_pg_prove() -> bool:
    forced = os.environ.get("RESTORE_DB_PGTAP_RUNNER", "").strip().lower()
    if forced not in ("", "pg_prove", "psql"):
        raise ValueError(f"RESTORE_DB_PGTAP_RUNNER must be pg_prove or psql, not {forced!r}")
    if forced == "psql":
        return False
    found = shutil.which("pg_prove") is not None
    if forced == "pg_prove" and not found:
        pytest.fail("RESTORE_DB_PGTAP_RUNNER=pg_prove but pg_prove is not installed "
                    "(apt-get install libtap-parser-sourcehandler-pgtap-perl)")
    return found


@dataclass(frozen=True)
class Database:
    """Where psql connects: its PG* environment (kept out of repr, so no password lands in a report)."""

    name: str
    env: dict = field(repr=False)


@pytest.fixture
def pgtap_db(db_url):
    """A fresh migrated database with the pgtap extension (skips when the server has no pgTAP)."""
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed (apt-get install postgresql-client)")
    with psycopg.connect(db_url, autocommit=True) as conn:
        major = conn.info.server_version // 10000
        if not conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pgtap'").fetchone():
            pytest.skip(f"the server has no pgTAP extension (Debian: apt-get install postgresql-{major}-pgtap)")
        try:
            conn.execute("CREATE EXTENSION pgtap")
        except psycopg.errors.InsufficientPrivilege as exc:
            pytest.skip(f"cannot create the pgtap extension in the test database: {exc}")
        name = conn.info.dbname
    return Database(name, libpq_env(db_url))


def test_sql_tests_exist():
    assert FILES, f"no pgTAP files in {SQL_TESTS}"


def test_migrations_leave_pgtap_out(db_url):
    """pgtap belongs to test databases: a migrated database does not have it."""
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pgtap'").fetchone()[0] == 0


@pytest.mark.parametrize("name", FILES)
def test_pgtap_file(name, pgtap_db):
    path = SQL_TESTS / name
    text = path.read_text(encoding="utf-8")
    for needle in ("BEGIN;", "SELECT plan(", "SELECT * FROM finish();", "ROLLBACK;"):
        if needle not in text:
            pytest.fail(f"sql/tests/{name} lacks {needle!r}: a pgTAP file is "
                        "BEGIN; SELECT plan(N); ... SELECT * FROM finish(); ROLLBACK;", pytrace=False)
    runner = run_pg_prove if use_pg_prove() else run_psql
    ok, stdout, stderr = runner(path, pgtap_db.env)
    if ok:
        return
    failures = tap_failures(stdout)
    lines = [f"sql/tests/{name}: pgTAP failed ({runner.__name__})"]
    lines += failures or ["(no 'not ok' line: see the output below)"]
    if stderr.strip():
        lines += ["stderr:", *stderr.strip().splitlines()[-30:]]
    if not failures:
        lines += ["stdout:", *stdout.strip().splitlines()[-30:]]
    pytest.fail("\n".join(lines), pytrace=False)
