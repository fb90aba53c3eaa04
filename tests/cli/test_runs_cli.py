"""``restore-db runs list | drop | prune`` through the real CLI on a copy of the computed demo."""

from __future__ import annotations

import json

import psycopg

from helpers import check_bad_input, db_fingerprint, run_cli, run_on_terminal


def test_runs_list_drop_and_prune(computed_demo_copy):
    env = {"RESTORE_DB_URL": computed_demo_copy}
    for _ in range(2):                                       # two services runs nothing reads
        proc = run_cli(env, "compute", "services", "--service", "carbon", "-a", "demo")
        assert proc.returncode == 0, proc.stderr
    with psycopg.connect(computed_demo_copy) as conn:
        ids = dict(conn.execute("SELECT stage, min(run_id) FROM core.run GROUP BY stage").fetchall())
        older, leaf = [r[0] for r in conn.execute(
            "SELECT run_id FROM core.run WHERE stage = 'services' ORDER BY run_id DESC LIMIT 2").fetchall()][::-1]

        # list: every run, its size, published or depended on
        proc = run_cli(env, "runs", "list", "--json")
        assert proc.returncode == 0, proc.stderr
        listed = {r["run_id"]: r for r in json.loads(proc.stdout)["runs"]}
        assert set(listed) == {r[0] for r in conn.execute("SELECT run_id FROM core.run").fetchall()}
        assert listed[ids["zoning"]]["published"] and listed[ids["pattern"]]["published"]
        assert ids["ratios"] in listed[ids["services"]]["dependants"]
        assert listed[leaf]["dependants"] == [] and listed[leaf]["bytes"] > 0 and listed[leaf]["state"] == "succeeded"
        proc = run_cli(env, "runs", "list", "--stage", "zoning")
        assert proc.returncode == 0 and f"{ids['zoning']}" in proc.stderr and "1 run(s)" in proc.stderr, proc.stderr

        # drop: a run another run read is refused in one line, naming them, and nothing changes
        check_bad_input(conn, env, "runs", "drop", str(ids["services"]), "--yes", exit_code=1,
                        match=[f"cannot drop services run {ids['services']}: it is read by run(s)",
                               f"{ids['ratios']} (ratios)"])
        # without --yes and without a terminal to answer, nothing is dropped, and the line says to give --yes
        for args in (["drop", str(leaf)], ["prune", "--keep", "0"]):
            check_bad_input(conn, env, "runs", *args, exit_code=1,
                            match=f"runs {args[0]} asks before it deletes, and standard input is not a terminal: "
                                  "give --yes to go on")
        # on a terminal: the question on stderr; "no", or end of input, drops nothing
        before = db_fingerprint(conn)
        for answer in ("n\n", ""):
            code, output = run_on_terminal(env, answer, "runs", "drop", str(leaf))
            assert code == 1 and "Traceback" not in output, output
            assert f"Drop services run {leaf} and its" in output and "not confirmed: nothing dropped" in output, output
        assert db_fingerprint(conn) == before
        tables = [r[0] for r in conn.execute("SELECT table_name FROM core.layer WHERE run_id = %s",
                                             (leaf,)).fetchall()]
        assert tables
        conn.rollback()
        proc = run_cli(env, "runs", "drop", str(leaf), "--yes")
        assert proc.returncode == 0, proc.stderr
        assert f"dropped services run {leaf}" in proc.stderr and "freed" in proc.stderr
        assert conn.execute("SELECT count(*) FROM core.run WHERE run_id = %s", (leaf,)).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'result' AND tablename = ANY(%s)",
                            (tables,)).fetchone()[0] == 0
        conn.rollback()

        # prune --dry-run says what it would drop and changes nothing
        before = db_fingerprint(conn)
        proc = run_cli(env, "runs", "prune", "--keep", "0", "--dry-run")
        assert proc.returncode == 0, proc.stderr
        assert f"would drop services run {older}" in proc.stderr and "would drop 1 run(s)" in proc.stderr
        assert db_fingerprint(conn) == before
        # prune: the older services run goes; the analysis and what it read stay
        proc = run_cli(env, "runs", "prune", "--keep", "0", "--yes")
        assert proc.returncode == 0, proc.stderr
        assert f"dropped services run {older}" in proc.stderr and "dropped 1 run(s)" in proc.stderr
        remaining = {r[0] for r in conn.execute("SELECT run_id FROM core.run").fetchall()}
        assert remaining == set(listed) - {older, leaf}
