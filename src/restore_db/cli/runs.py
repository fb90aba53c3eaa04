"""``restore-db runs``: list the runs of a study area with the space they take, drop one, prune the rest."""

from __future__ import annotations

import json

import typer

from restore_db.cli._common import StudyAreaOption, can_ask, confirm, err, session
from restore_db.stages import prune as prune_mod

app = typer.Typer(help="List, drop and prune runs (each keeps its result layers).", no_args_is_help=True)

YesOption = typer.Option(False, "--yes", help="Do not ask.")


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


@app.command("list")
def list_(
    study_area: str = StudyAreaOption,
    stage: str = typer.Option(None, "--stage", help="Only the runs of this stage."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
) -> None:
    """Every run of the study area: stage, state, label, start, size of its layers, published, depended on."""
    from restore_db.grid import studyarea

    with session(start=False) as conn:      # read-only: never starts the embedded database
        area = studyarea.get(conn, study_area)
        found = prune_mod.list_runs(conn, area, stage)
    if as_json:
        typer.echo(json.dumps({"study_area": area.name, "runs": [r.as_json() for r in found]}, indent=2,
                              ensure_ascii=False, default=str))
        return
    if not found:
        err.print(f"study area {area.name}: no {stage + ' ' if stage else ''}run")
        return
    from rich.table import Table

    table = Table("run", "stage", "state", "label", "started", "layers", "size", "published", "depended on by")
    for r in found:
        table.add_row(str(r.run_id), r.stage, r.state, r.label or "", _when(r.started_at), str(r.layers),
                      prune_mod.size_text(r.bytes), "yes" if r.published else "",
                      ", ".join(map(str, r.dependants)))
    err.print(table)
    err.print(f"{len(found)} run(s), {prune_mod.size_text(sum(r.bytes for r in found))} of layers", highlight=False)


@app.command()
def drop(
    run_id: int = typer.Argument(..., help="The run to drop."),
    study_area: str = StudyAreaOption,
    yes: bool = YesOption,
) -> None:
    """Drop one run with its result layers and records.

    Refused when the run is published, read by another run, the parent of other runs, or running.
    """
    from restore_db.grid import studyarea

    if not yes:
        can_ask("runs drop")                                         # before the database is opened
    with session() as conn:
        area = studyarea.get(conn, study_area) if study_area else None
        with conn.transaction():
            _, info = prune_mod.check_drop(conn, area, run_id)      # refused before asking
        if not yes:
            confirm("runs drop", f"Drop {info.stage} run {run_id} and its {info.layers} layer(s) "
                                 f"({prune_mod.size_text(info.bytes)})?", "nothing dropped")
        with conn.transaction():
            info = prune_mod.drop(conn, area, run_id)
    err.print(f"dropped {info.stage} run {run_id} ({info.state}) and its {info.layers} layer(s): "
              f"{prune_mod.size_text(info.bytes)} freed", highlight=False)


@app.command()
def prune(
    study_area: str = StudyAreaOption,
    keep: int = typer.Option(prune_mod.DEFAULT_KEEP, "--keep",
                             help="Succeeded runs kept per stage besides the published ones and what they read."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be dropped."),
    yes: bool = YesOption,
) -> None:
    """Drop the runs nothing needs with their layers, in one transaction.

    Kept: the published runs (the current analysis in bi, runs of stored QGIS projects), the newest --keep
    succeeded runs of each stage, running runs, and every run these read or belong to. Dropped: the rest (older
    analyses with their bi rows, failed and interrupted runs too).
    """
    from restore_db.grid import studyarea

    if not yes and not dry_run:
        can_ask("runs prune")                                        # before the database is opened
    with session() as conn:
        area = studyarea.get(conn, study_area)
        with conn.transaction():
            plan = prune_mod.plan_prune(conn, area, keep)
        if plan.dropped and not dry_run and not yes:
            confirm("runs prune", f"Drop {len(plan.dropped)} run(s) of study area {area.name} "
                                  f"({prune_mod.size_text(plan.bytes)} of layers)?", "nothing dropped")
        if not dry_run and plan.dropped:
            with conn.transaction():
                plan = prune_mod.prune(conn, area, keep)
    verb = "would drop" if dry_run else "dropped"
    for r in plan.dropped:
        err.print(f"{verb} {r.stage} run {r.run_id} ({r.state}{', ' + r.label if r.label else ''}): "
                  f"{r.layers} layer(s), {prune_mod.size_text(r.bytes)}", highlight=False)
    err.print(f"study area {area.name}: {verb} {len(plan.dropped)} run(s), kept {len(plan.kept)}; "
              f"{prune_mod.size_text(plan.bytes)} of layers {'would be ' if dry_run else ''}freed", highlight=False)
    if plan.orphans:
        err.print(f"{len(plan.orphans)} table(s) in schema result belong to no layer and are left alone "
                  f"({prune_mod.size_text(sum(b for _, b in plan.orphans))}): "
                  + ", ".join(name for name, _ in plan.orphans), highlight=False)
