"""The embedded cluster: passwords, a port that never moves, one rule to find it, `db destroy` deleting only
what restore-db made, and paths that never reach a shell.

Every test starts private clusters with the project's own Cluster class or the real CLI (`db up`), in
temporary folders, with RESTORE_DB_HOME and RESTORE_DB_URL unset and HOME / XDG_DATA_HOME pointing into
those folders, and deletes them afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest

from helpers import check_bad_input, run_cli
from restore_db.db.cluster import Cluster
from restore_db.errors import InputError

HOSTILE = "a q'b \"c\" $(touch x) `touch y`"
"""A folder name with a space, both quotes and two command substitutions."""


def open_folder(prefix: str) -> Path:
    """A fresh temporary folder the server user (postgres, when we are root) can enter."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    return path


def user_env(base: Path, **extra: str) -> dict:
    """Environment of a user whose HOME and XDG_DATA_HOME are below ``base``, with no RESTORE_DB_* set."""
    (base / "home").mkdir(exist_ok=True)
    return {"HOME": str(base / "home"), "XDG_DATA_HOME": str(base / "xdg"), "RESTORE_DB_HOME": "",
            "RESTORE_DB_URL": "", **extra}


def cli(env: dict, cwd: Path, *args):
    """The CLI in this process (no interpreter start-up), run from ``cwd`` with ``env``; click's Result
    (``exception`` holds a RestoreDbError: the error line is what ``main`` prints of it)."""
    from typer.testing import CliRunner

    from restore_db.cli import app

    here = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, [str(a) for a in args], env=env)
    finally:
        os.chdir(here)


def one_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    return lines[0]


def with_login(url: str, user: str, password: str | None) -> str:
    parts = urlsplit(url)
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password is not None else "")
    return urlunsplit((parts.scheme, f"{auth}@{parts.hostname}:{parts.port}", parts.path, "", ""))


def refused(url: str) -> str:
    """The server's refusal of ``url`` (the test fails when it lets the connection in)."""
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(url, connect_timeout=10, sslmode="disable").close()
    return str(info.value)


def accepted_as(url: str) -> str:
    with psycopg.connect(url, connect_timeout=10, sslmode="disable") as conn:
        return conn.execute("SELECT current_user").fetchone()[0]


@pytest.fixture(scope="module")
def cluster():
    """A running throw-away cluster made with Cluster (no schema)."""
    base = open_folder("restore-db-cluster-")
    cl = Cluster(base / "state", throwaway=True)
    try:
        cl.start()
        yield cl
    finally:
        cl.destroy()
        shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------------ 1. authentication


def test_password_needed_over_tcp(cluster):
    url = cluster.url("postgres")
    assert "password authentication failed" in refused(with_login(url, "postgres", "wrong"))
    assert "no password supplied" in refused(with_login(url, "postgres", None) + "?passfile=/dev/null")
    assert "no password supplied" in refused(with_login(url, "mallory", None) + "?passfile=/dev/null")
    assert accepted_as(url) == "postgres"
    password = cluster.password()
    assert password and len(password) >= 40
    assert "password authentication failed" in refused(with_login(url, "mallory", password))
    hba = (cluster.pgdata / "pg_hba.conf").read_text()
    assert "trust" not in [word for line in hba.splitlines() for word in line.split("#", 1)[0].split()]
    assert cluster.auth_method() == "scram-sha-256"


def test_secret_file_private(cluster):
    info = cluster.secret_file.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.getuid()
    assert stat.S_IMODE(cluster.socket_dir.stat().st_mode) == 0o700
    assert not list(cluster.data_root.rglob(".initdb-password"))


def test_password_percent_encoded_in_url(cluster):
    """A password with URL-special characters still makes a working URL."""
    real = cluster.secret_file.read_text()
    odd = "p@ss:/?#[]% w'\"rd"
    with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
        conn.execute(f"ALTER ROLE postgres PASSWORD '{odd.replace(chr(39), chr(39) * 2)}'")
    try:
        cluster.secret_file.write_text(odd + "\n")
        assert urlsplit(cluster.url()).password == quote(odd, safe="")
        assert accepted_as(cluster.url("postgres")) == "postgres"
    finally:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as conn:
            conn.execute(f"ALTER ROLE postgres PASSWORD '{real.strip()}'")
        cluster.secret_file.write_text(real)


def test_trust_cluster_refused_then_secured_by_db_up(tmp_path):
    """A cluster made by an older restore-db (trust, no secret, socket folder 0775): commands refuse it in one
    line that says what to do; `db up` sets a password, rewrites pg_hba.conf and names the login roles left
    without a password; BI roles keep their passwords."""
    base = open_folder("restore-db-trust-")
    cl = Cluster(base / "state", throwaway=True)
    try:
        cl.start()
        with psycopg.connect(cl.url("postgres"), autocommit=True) as conn:
            conn.execute("CREATE ROLE old_bi LOGIN PASSWORD 'old-pw'")
            conn.execute("CREATE ROLE old_nopw LOGIN")
            conn.execute("ALTER ROLE postgres PASSWORD NULL")
        cl._write_server_file(cl.pgdata / "pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n")
        cl.secret_file.unlink()
        os.chmod(cl.socket_dir, 0o775)
        cl.stop()
        cl.start()
        assert cl.auth_method() == "trust"
        assert accepted_as(with_login(cl.url("postgres"), "postgres", "anything")) == "postgres"
        env = user_env(tmp_path, RESTORE_DB_HOME=str(cl.state_dir))
        proc = run_cli(env, "status", cwd=tmp_path)
        assert proc.returncode == 3 and "trust" in one_line(proc) and "restore-db db up" in one_line(proc)
        assert json.loads(cli(env, tmp_path, "db", "status", "--json").stdout)["authentication"] == "trust"

        result = cli(env, tmp_path, "db", "up")
        assert result.exit_code == 0, result.output
        assert "old_nopw" in result.stderr and str(cl.secret_file) in result.stderr
        assert cl.auth_method() == "scram-sha-256"
        assert stat.S_IMODE(cl.secret_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(cl.socket_dir.stat().st_mode) == 0o700
        url = cl.url("postgres")
        assert accepted_as(url) == "postgres"
        assert "password authentication failed" in refused(with_login(url, "postgres", "wrong"))
        assert "no password supplied" in refused(with_login(url, "postgres", None) + "?passfile=/dev/null")
        restore = cl.url("restore")    # a role that is not a superuser reaches the restore database only
        assert accepted_as(with_login(restore, "old_bi", "old-pw")) == "old_bi"
        assert "password authentication failed" in refused(with_login(restore, "old_bi", "nope"))
        assert cl.secure() == []
    finally:
        cl.destroy()
        shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------------ 2. the port stays


def idle_client(cluster: Cluster) -> psycopg.Connection:
    """A client (say QGIS) that stays connected while the server stops: its half-closed connection keeps the
    server's port busy for up to a minute."""
    conn = psycopg.connect(cluster.url("postgres"), autocommit=True)
    conn.execute("SELECT 1")
    return conn


def test_port_stays_across_restarts(cluster):
    port = cluster.port
    conf = (cluster.pgdata / "postgresql.conf").read_text()
    assert f"port = {port}\n" in conf
    for _ in range(3):
        client = idle_client(cluster)
        try:
            cluster.stop()
            cluster.start()
        finally:
            client.close()
        assert cluster.port == port
        assert json.loads(cluster.state_file.read_text())["port"] == port
        assert accepted_as(cluster.url("postgres")) == "postgres"


def test_port_stays_after_kill(cluster):
    port = cluster.port
    for _ in range(2):
        client = idle_client(cluster)
        try:
            pid = int((cluster.pgdata / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not cluster.running()
            cluster.start()
        finally:
            client.close()
        assert cluster.port == port
        assert json.loads(cluster.state_file.read_text())["port"] == port
        assert accepted_as(cluster.url("postgres")) == "postgres"


def test_port_of_postgresql_conf_wins_over_a_stale_cluster_json(cluster):
    """An older restore-db could leave cluster.json naming another port than postgresql.conf: the server's own
    port wins and cluster.json is corrected."""
    port = cluster.port
    cluster.stop()
    state = json.loads(cluster.state_file.read_text())
    cluster.state_file.write_text(json.dumps({**state, "port": port + 1}))
    cluster.start()
    assert cluster.port == port
    assert json.loads(cluster.state_file.read_text())["port"] == port
    assert urlsplit(cluster.url()).port == port
    assert accepted_as(cluster.url("postgres")) == "postgres"


def test_port_taken_names_the_process(cluster, tmp_path):
    port = cluster.port
    cluster.stop()
    env = user_env(tmp_path, RESTORE_DB_HOME=str(cluster.state_dir))
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the port may be in TIME_WAIT
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            line = check_bad_input(None, env, "db", "up", exit_code=3, cwd=tmp_path, unchanged=False,
                                   match=[f"port {port}", f"PID {os.getpid()}"])
            assert str(cluster.state_dir) in line
            assert not cluster.running()
            assert json.loads(cluster.state_file.read_text())["port"] == port
    finally:
        cluster.start()
    assert cluster.port == port


# ------------------------------------------------------------------ 3. finding the database


def tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


@pytest.mark.parametrize("args", [
    ["export", "raster", "lulc", "out.tif"],
    ["status"],
    ["db", "url"],
])
def test_no_database_nothing_created(tmp_path, args):
    """Run outside any project with RESTORE_DB_HOME unset: one line saying there is no database and how to make
    one; no folder, file or server is created anywhere."""
    work = tmp_path / "work"
    work.mkdir()
    env = user_env(tmp_path)
    before = tree(tmp_path)
    var_lib = tree(Path("/var/lib/restore-db")) if Path("/var/lib/restore-db").exists() else set()
    line = check_bad_input(None, env, *args, exit_code=3, cwd=work, unchanged=False,
                           match=["no restore-db database", "restore-db db up"])
    assert str(tmp_path / "xdg" / "restore-db") in line
    assert tree(tmp_path) == before
    assert (tree(Path("/var/lib/restore-db")) if Path("/var/lib/restore-db").exists() else set()) == var_lib


def test_db_status_says_which_and_why(tmp_path):
    work = tmp_path / "work"
    (work / "deep" / "er").mkdir(parents=True)
    env = user_env(tmp_path)
    before = tree(tmp_path)
    info = json.loads(cli(env, work, "db", "status", "--json").stdout)
    assert (info["database"], info["source"], info["exists"]) == ("embedded", "default", False)
    assert info["folder"] == str(tmp_path / "xdg" / "restore-db")
    (work / ".restore-db").mkdir()
    info = json.loads(cli(env, work / "deep" / "er", "db", "status", "--json").stdout)
    assert (info["source"], info["folder"]) == ("parent", str(work / ".restore-db"))
    info = json.loads(cli({**env, "RESTORE_DB_HOME": str(tmp_path / "elsewhere")}, work / "deep",
                          "db", "status", "--json").stdout)
    assert (info["source"], info["folder"]) == ("env", str(tmp_path / "elsewhere"))
    result = cli({**env, "RESTORE_DB_URL": "postgresql://u:topsecret@127.0.0.1:1/x"}, work, "db", "status")
    assert "RESTORE_DB_URL is set" in result.stderr and "topsecret" not in result.stderr
    assert tree(tmp_path) == before | {"work/.restore-db"}


@pytest.fixture(scope="module")
def project():
    """A project folder with a hostile name holding a `.restore-db` folder, whose database the real CLI made
    with `db up` run from a (world-writable) subfolder: (env, project folder, subfolder, Cluster)."""
    base = open_folder("restore-db-project-")
    root = base / HOSTILE
    sub = root / "sub"
    sub.mkdir(parents=True)
    os.chmod(root, 0o755)
    os.chmod(sub, 0o777)  # the server user could create ./x here if a shell ever ran a $(...)
    (root / ".restore-db").mkdir()
    env = user_env(base)
    cl = Cluster(root / ".restore-db")
    try:
        proc = run_cli(env, "db", "up", cwd=sub)
        assert proc.returncode == 0, proc.stderr
        yield env, root, sub, cl
    finally:
        cl.destroy()
        shutil.rmtree(base, ignore_errors=True)


def test_db_up_finds_project_folder(project):
    env, root, sub, cl = project
    assert cl.running() and cl.secured()
    deeper = sub / "a" / "b"
    deeper.mkdir(parents=True, exist_ok=True)
    info = json.loads(cli(env, deeper, "db", "status", "--json").stdout)
    assert (info["source"], info["folder"], info["running"]) == ("parent", str(root / ".restore-db"), True)
    assert info["authentication"] == "scram-sha-256" and info["schema_version"] == info["schema_head"]
    assert not (Path(env["XDG_DATA_HOME"]) / "restore-db").exists()


def test_hostile_path_never_reaches_a_shell(project):
    env, root, sub, cl = project
    assert cl.pgdata == root / ".restore-db" / "pgdata"  # the hostile path itself, not a fallback folder
    for folder in (sub, root, root.parent, Path.cwd()):
        assert not (folder / "x").exists() and not (folder / "y").exists(), folder
    with psycopg.connect(cl.url("postgres")) as conn:
        assert conn.execute("SHOW data_directory").fetchone()[0] == str(cl.pgdata)
        sockets = conn.execute("SHOW unix_socket_directories").fetchone()[0]
    assert str(cl.socket_dir).replace('"', '""') in sockets
    assert (cl.socket_dir / f".s.PGSQL.{cl.port}").is_socket()


def test_db_url_works_and_hides_password_on_request(project):
    env, root, sub, cl = project
    proc = run_cli(env, "db", "url", cwd=sub)
    assert proc.returncode == 0, proc.stderr
    url = proc.stdout.strip()
    assert urlsplit(url).password == quote(cl.password(), safe="")
    assert accepted_as(url) == "postgres"
    bare = cli(env, sub, "db", "url", "--no-password").stdout.strip()
    assert urlsplit(bare).password is None and cl.password() not in bare
    assert "no password supplied" in refused(bare + "?passfile=/dev/null")
    assert "password" in cli(env, sub, "db", "url", "--help").stdout


def test_bi_user_needs_its_password(project):
    env, root, sub, cl = project
    url = cl.url("restore")
    result = cli(env, sub, "db", "bi-user", "viewer", "--password", "right-pw")
    assert result.exit_code == 0, result.output
    assert accepted_as(with_login(url, "viewer", "right-pw")) == "viewer"
    assert "password authentication failed" in refused(with_login(url, "viewer", "wrong-pw"))
    assert "no password supplied" in refused(with_login(url, "viewer", None) + "?passfile=/dev/null")
    result = cli(env, sub, "db", "bi-user", "viewer2")
    assert result.exit_code == 0, result.output
    generated = result.stdout.strip()
    assert len(generated) >= 20
    assert accepted_as(with_login(url, "viewer2", generated)) == "viewer2"
    # a BI role reaches the restore database only, not the cluster's other databases
    for other in ("postgres", "template1"):
        assert "permission denied for database" in refused(with_login(cl.url(other), "viewer", "right-pw"))


def test_read_only_commands_never_start_it(project):
    env, root, sub, cl = project
    assert cli(env, sub, "db", "down").exit_code == 0
    try:
        line = check_bad_input(None, env, "export", "raster", "lulc", sub / "out.tif", exit_code=3, cwd=sub,
                               unchanged=False, match=["not running", "restore-db db up"])
        assert str(root / ".restore-db") in line
        for args in (["status"], ["db", "url"], ["db", "status"], ["study-area", "list"],
                     ["export", "raster", "lulc", sub / "out.tif"]):
            result = cli(env, sub, *args)
            assert not cl.running(), args
            if args != ["db", "status"]:
                assert "not running" in str(result.exception), (args, result.output)
    finally:
        result = cli(env, sub, "db", "up")
    assert result.exit_code == 0, result.output
    assert cl.running()


# ------------------------------------------------------------------ 4. db destroy


def test_destroy_deletes_only_what_restore_db_made(tmp_path):
    """A cluster in the per-user default location (below a 0700 home, so its data lives in
    /var/lib/restore-db/<hash>): `db destroy --yes` deletes the data, cluster.json, the secret and demo-data,
    and keeps the user's own files."""
    work = tmp_path / "work"
    work.mkdir()
    env = user_env(tmp_path)
    home = tmp_path / "xdg" / "restore-db"
    cl = Cluster(home, throwaway=True)
    try:
        cl.start()
        data_root = cl.data_root
        (home / "notes.txt").write_text("mine")
        (home / "my-data").mkdir()
        (home / "my-data" / "region.gpkg").write_text("mine too")
        (home / "demo-data" / "demo-1000m-1").mkdir(parents=True)
        (home / "demo-data" / "demo-1000m-1" / "lulc.tif").write_text("generated")
        # without --yes and without a terminal to answer: refused, nothing deleted
        result = cli(env, work, "db", "destroy")
        assert isinstance(result.exception, InputError), result.output
        assert str(result.exception) == ("db destroy asks before it deletes, and standard input is not a terminal: "
                                         "give --yes to go on")
        assert cl.running() and (home / "demo-data" / "demo-1000m-1" / "lulc.tif").exists()
        result = cli(env, work, "db", "destroy", "--yes")
        assert result.exit_code == 0, result.output
        assert not cl.running()
        assert sorted(p.name for p in home.iterdir()) == ["my-data", "notes.txt"]
        assert (home / "notes.txt").read_text() == "mine"
        assert (home / "my-data" / "region.gpkg").read_text() == "mine too"
        if data_root != home:
            assert not data_root.exists()
        result = cli(env, work, "db", "destroy", "--yes")
        assert result.exit_code == 0 and "nothing to delete" in result.stderr
    finally:
        cl.destroy()


# ------------------------------------------------------------------ a .restore-db of someone else


def test_a_folder_of_another_user_is_never_taken(tmp_path):
    """A `.restore-db` planted in a parent folder by another user (or writable by others) is not the database:
    its cluster.json could name the programs to run. Nothing it names is run, nothing is created."""
    base = open_folder("restore-db-planted-")
    try:
        shared = base / "shared"
        work = shared / "work"
        work.mkdir(parents=True)
        os.chmod(shared, 0o777)
        planted = shared / ".restore-db"
        planted.mkdir()
        evil = base / "bin"
        evil.mkdir()
        marker = base / "ran"
        for tool in ("pg_ctl", "initdb", "postgres"):
            script = evil / tool
            script.write_text(f"#!/bin/sh\ntouch '{marker}'\n")
            script.chmod(0o755)
        (planted / "cluster.json").write_text(json.dumps({"data_root": str(planted), "port": 55999,
                                                          "bindir": str(evil)}))
        (planted / "pgdata").mkdir()
        (planted / "pgdata" / "PG_VERSION").write_text("15\n")
        env = user_env(base)
        for owner, mode in ((65534, 0o755), (os.geteuid(), 0o777)):   # another user's; anybody's to write
            os.chown(planted, owner, -1)
            os.chmod(planted, mode)
            info = json.loads(cli(env, work, "db", "status", "--json").stdout)
            assert info["source"] == "default", info
            cli(env, work, "status")
            assert not marker.exists()
        # the same folder, made private and our own, is taken; its bindir is still not run
        os.chown(planted, os.geteuid(), -1)
        os.chmod(planted, 0o755)
        info = json.loads(cli(env, work, "db", "status", "--json").stdout)
        assert (info["source"], info["folder"]) == ("parent", str(planted))
        assert not marker.exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)
