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
    service: list[str] = typer.Option(None, "--service", help="Service to compute (repeatable; default all)."),
    run_label: str = typer.Option(None, "--run-label", help="A label for the run."),
    params: str = typer.Option(None, "--params", help="Land-use parameter set (default: the one that fits)."),
    scalars: str = typer.Option(None, "--scalars", help="Scalar parameter set (default: newest, then defaults)."),
    study_area: str = StudyAreaOption,
) -> None:
    """Supply of the ecosystem services per pixel and per county."""
    with session() as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        with Progress(TextColumn("{task.description:12}"), BarColumn(), TextColumn("{task.completed}/{task.total} tiles"),
                      TimeElapsedColumn(), console=err, transient=True) as bar:
            tasks = {}

            def progress(name, n, total):
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total)
                bar.advance(tasks[name], n)

            run_id, results = compute_services(conn, area, service or None, run_label, params, scalars, progress)
    for r in results:
        err.print(f"{r.service:12} {r.stats.cells:>12,} cells {r.stats.seconds:7.2f} s "
                  f"{r.stats.cells_per_second / 1e6:6.1f} M cells/s  ({r.counties} counties)")
    err.print(f"run {run_id} succeeded")
