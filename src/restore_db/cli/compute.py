"""``restore-db compute``: ecosystem services (later: ratios, resilience, zoning)."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .. import studyarea
from ..compute import compute_services
from ._common import StudyAreaOption, err, session

app = typer.Typer(help="Run computations (each run is recorded in core.run).", no_args_is_help=True)


@app.command()
def services(
    service: list[str] = typer.Option(None, "--service", help="Service to compute (repeatable; default all five)."),
    run_label: str = typer.Option(None, "--run-label", help="A label for the run."),
    params: list[str] = typer.Option(None, "--params", help="Land-use parameter set(s) to prefer, in order "
                                     "(repeatable; default: the one table that holds the coefficients)."),
    scalars: str = typer.Option(None, "--scalars", help="Scalar parameter set (default: newest, then defaults)."),
    year: int = typer.Option(None, "--year", help="Year of the county statistics (default: newest)."),
    engine: str = typer.Option(None, "--engine", help="auto (default), server (PL/Python) or client.",
                               envvar="RESTORE_DB_ENGINE"),
    side: list[str] = typer.Option(None, "--side", help="supply and/or demand (repeatable; default both)."),
    steps: bool = typer.Option(False, "--steps", help="Also print the time of every step."),
    study_area: str = StudyAreaOption,
) -> None:
    """Supply and demand of the ecosystem services per pixel and per county."""
    with session() as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        with Progress(TextColumn("{task.description:28}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            tasks = {}

            def progress(name, n, total):
                if name not in tasks:
                    tasks[name] = bar.add_task(name[:28], total=total)
                bar.advance(tasks[name], n)

            run_id, results = compute_services(conn, area, service or None, run_label, params or None, scalars, progress,
                                               engine, year, tuple(side or ("supply", "demand")))
        warnings = conn.execute("SELECT timings->'warnings', timings->>'engine' FROM core.run WHERE run_id = %s",
                                (run_id,)).fetchone()
    for r in results:
        counties = ", ".join(f"{k} {v}" for k, v in r.counties.items())
        err.print(f"{r.service:11} {r.cells:>12,} cells {r.seconds:7.2f} s "
                  f"{r.cells_per_second / 1e6:7.1f} M cells/s  (counties: {counties})")
        if steps:
            for s in r.steps:
                rate = f"{s.cells_per_second / 1e6:7.1f} M cells/s" if s.cells else ""
                err.print(f"    {s.label:44} {s.seconds:7.2f} s {rate}")
    for w in warnings[0] or []:
        err.print(f"[yellow]warning:[/] {w}")
    err.print(f"run {run_id} succeeded ({warnings[1]} engine)")
