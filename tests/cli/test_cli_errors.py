"""Every error of the CLI ends in one line and an exit status (1 input, 2 usage,
3 database, 4 internal); ``--debug`` or RESTORE_DB_DEBUG=1 adds the traceback;
messages are not wrapped when stderr is not a terminal."""

from __future__ import annotations

import socket
import sys
import threading
import time

import psycopg
import pytest

from helpers import check_bad_input, cli_argv, run_cli
from restore_db.load import demo
from restore_db.stages import runs


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_lock_conflict_is_a_database_error_in_one_line(db_url, conn, cli_env, tmp_path):
    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    with psycopg.connect(db_url) as holder:
        holder.execute("LOCK TABLE core.run IN EXCLUSIVE MODE")     # readers pass, a new run waits
        line = check_bad_input(conn, {**cli_env, "PGOPTIONS": "-c lock_timeout=300"},
                               "compute", "services", "-a", "demo", "--service", "carbon", exit_code=3,
                               match="error: database: canceling statement due to lock timeout "
                                     "(SQLSTATE 55P03 lock_not_available)")
    assert line.startswith("error: database:")


def test_a_server_that_is_not_there_is_a_database_error_in_one_line(conn, db_url):
    url = db_url.replace(f":{conn.info.port}/", f":{_free_port()}/")
    assert url != db_url
    check_bad_input(conn, {"RESTORE_DB_URL": url}, "status", exit_code=3, match="cannot connect to the database")


def test_a_connection_lost_while_computing_ends_in_one_line_and_a_failed_run(db_url, conn, cli_env, tmp_path):
    demo.run(name="demo", pixel_size=2000, workdir=tmp_path, url=db_url, log=lambda m: None)
    conn.rollback()
    seen: list[int] = []

    def cut() -> None:
        with psycopg.connect(db_url, autocommit=True) as watcher:
            deadline = time.monotonic() + 120
            while not seen and time.monotonic() < deadline:
                row = watcher.execute("SELECT run_id FROM core.run WHERE status = 'running'").fetchone()
                if row:
                    seen.append(row[0])
                else:
                    time.sleep(0.02)
            # the server ends the command's connection (as a restart or an administrator would)
            watcher.execute("""SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                               WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), %s)
                                 AND application_name <> %s""", (conn.info.backend_pid, runs.LEDGER_APPLICATION))

    thread = threading.Thread(target=cut)
    thread.start()
    line = check_bad_input(conn, cli_env, "compute", "services", "-a", "demo", exit_code=3, match="error: database: ",
                           unchanged=False)
    thread.join()
    assert seen, "the run was not seen running"
    (status, error) = conn.execute("SELECT status, error FROM core.run WHERE run_id = %s", seen).fetchone()
    assert status == "failed" and error and error in line, (status, error, line)


def test_ctrl_c_while_computing_ends_in_one_line_with_status_130(db_url, conn, cli_env, tmp_path):
    """SIGINT (Ctrl-C) while a run computes: one line on stderr, status 130, the run recorded as failed and none of
    its results kept."""
    import os
    import signal
    import subprocess

    demo.run(name="demo", pixel_size=2000, workdir=tmp_path, url=db_url, log=lambda m: None)
    conn.rollback()
    layers = conn.execute("SELECT count(*) FROM core.layer").fetchone()[0]
    conn.rollback()
    proc = subprocess.Popen(cli_argv("compute", "services", "-a", "demo"), env={**os.environ, **cli_env},
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = None
    with psycopg.connect(db_url, autocommit=True) as watcher:
        deadline = time.monotonic() + 120
        while seen is None and proc.poll() is None and time.monotonic() < deadline:
            row = watcher.execute("SELECT run_id FROM core.run WHERE status = 'running'").fetchone()
            if row:
                seen = row[0]
            else:
                time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
        assert seen is not None, "the run was not seen running"
        assert proc.returncode == 130, (proc.returncode, stderr)
        assert stderr.splitlines() == ["error: interrupted: what the command had not committed was rolled back"], stderr
        assert watcher.execute("SELECT status FROM core.run WHERE run_id = %s", (seen,)).fetchone()[0] == "failed"
        assert watcher.execute("SELECT count(*) FROM core.layer").fetchone()[0] == layers


def test_an_unexpected_error_is_one_line_unless_debugging(monkeypatch, capsys):
    from restore_db.cli import compute as compute_cli
    from restore_db.cli import main

    def broken(path):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(compute_cli.settings, "load", broken)
    monkeypatch.delenv("RESTORE_DB_DEBUG", raising=False)
    for argv, debug in ((["compute", "all"], False), (["--debug", "compute", "all"], True),
                        (["compute", "all"], "env")):
        if debug == "env":
            monkeypatch.setenv("RESTORE_DB_DEBUG", "1")
        monkeypatch.setattr(sys, "argv", ["restore-db", *argv])
        with pytest.raises(SystemExit) as info:
            main()
        assert info.value.code == 4
        err = capsys.readouterr().err
        lines = _lines(err)
        assert lines[-1] == ("error: internal error: ZeroDivisionError: float division by zero "
                             "(run with --debug for the traceback)"), err
        if debug:
            assert "Traceback (most recent call last)" in err and "broken" in err
        else:
            assert len(lines) == 1, err


_LOGGING_CLI = """
import logging, sys
from restore_db.cli import compute as compute_cli, main
def broken(path):
    logging.getLogger("psycopg").warning("error ignored in rollback of <psycopg.Transaction>: connection lost")
    raise ZeroDivisionError("float division by zero")
compute_cli.settings.load = broken
sys.argv = ["restore-db", *sys.argv[1:]]
main()
"""


def test_a_library_log_record_reaches_stderr_only_when_debugging(tmp_path):
    """psycopg logs "error ignored in rollback" when the server ends a connection inside a transaction; without
    --debug it must not add a line before the error (logging's last-resort handler would print it)."""
    import os
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "RESTORE_DB_DEBUG"}
    for flags, debug in (([], False), (["--debug"], True)):
        proc = subprocess.run([sys.executable, "-c", _LOGGING_CLI, *flags, "compute", "all"], env=env,
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 4, proc.stderr
        lines = _lines(proc.stderr)
        assert lines[-1].startswith("error: internal error: ZeroDivisionError"), proc.stderr
        if debug:
            assert proc.stderr.count("error ignored in rollback") == 1, proc.stderr
            assert "psycopg: WARNING: error ignored in rollback" in proc.stderr, proc.stderr
        else:
            assert len(lines) == 1, proc.stderr


@pytest.mark.parametrize("args, line", [
    (["compute", "all", "--no-such-option"],
     "error: usage: No such option: --no-such-option (see 'restore-db compute all --help')"),
    (["compute", "services", "--workers", "0"],
     "error: usage: Invalid value for '--workers': Input should be greater than or equal to 1 "
     "(see 'restore-db compute services --help')"),
    (["runs", "drop", "abc"], "error: usage: Invalid value for 'run_id'"),
    (["no-such-command"], "error: usage: No such command 'no-such-command'. (see 'restore-db --help')"),
])
def test_usage_errors_are_one_line_with_status_2(cli_env, args, line):
    """A usage error (click's message) ends in one line naming the option and the command's --help, status 2."""
    proc = run_cli(cli_env, *args)
    lines = _lines(proc.stderr)
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(line), proc.stderr
    assert proc.stdout == "", proc.stdout


def test_a_group_without_its_command_prints_its_help_with_status_2(cli_env):
    proc = run_cli(cli_env, "compute")
    assert proc.returncode == 2 and "restore-db compute [OPTIONS] COMMAND" in proc.stdout + proc.stderr, proc.stderr
    assert "error" not in proc.stderr.lower(), proc.stderr


def test_messages_are_not_wrapped_when_stderr_is_not_a_terminal(conn, cli_env, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    value = ",".join(["123456789.5"] * 3) + ",[bold]x" + "y" * 60
    line = check_bad_input(conn, cli_env, "study-area", "create", "wide", "--srid", "32650", "--pixel-size", "1000",
                           "--bbox", value, match=value)
    assert len(line) > 120


def test_tables_print_whole_rows_when_stderr_is_not_a_terminal(db_url, conn, cli_env, tmp_path, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    proc = run_cli(cli_env, "compute", "all", "-a", "demo")
    assert proc.returncode == 0, proc.stderr
    zones = conn.execute("SELECT display_code, zone_code, name_en, counties FROM result.zone z "
                         "JOIN bi.current_run c ON c.run_id = z.run_id").fetchall()
    assert zones
    lines = proc.stderr.splitlines()
    for display, code, name, counties in zones:     # one row per zone, its name whole
        assert any(display in line and code in line and name in line and str(counties) in line for line in lines), \
            (name, proc.stderr)
    proc = run_cli(cli_env, "status")
    assert proc.returncode == 0, proc.stderr
    layers = conn.execute("SELECT name, kind, unit, pixel_type FROM core.layer WHERE run_id IS NULL").fetchall()
    for name, kind, unit, pixel_type in layers:
        assert any(f" {name} " in line and kind in line and unit in line and pixel_type in line
                   for line in proc.stderr.splitlines()), (name, proc.stderr)


def test_a_settings_file_that_is_not_utf8_is_one_line(conn, cli_env, tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("[zoning]\nsmoothing = 'none' # réglage\n".encode("latin-1"))
    check_bad_input(conn, cli_env, "compute", "all", "--config", path, exit_code=1,
                    match=[str(path), "not UTF-8", "byte 0xe9 on line 2"])
