"""The ``restore-db`` command line: a thin layer over the library.

One command group per module: db, study-area, load, demo, status.
Human messages and progress go to stderr; ``--json`` output goes to stdout.
"""

from __future__ import annotations

import sys

import typer

from ..errors import RestoreDbError
from . import compute as compute_cmd
from . import db as db_cmd
from . import demo as demo_cmd
from . import export as export_cmd
from . import load as load_cmd
from . import status as status_cmd
from . import study_area as study_area_cmd
from ._common import err

app = typer.Typer(
    name="restore-db",
    help="Ecosystem-service supply and demand, resilience and restoration zoning in PostGIS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(study_area_cmd.app, name="study-area")
app.add_typer(load_cmd.app, name="load")
app.add_typer(compute_cmd.app, name="compute")
app.add_typer(export_cmd.app, name="export")
app.command("demo")(demo_cmd.demo)
app.command("status")(status_cmd.status)


def main() -> None:
    try:
        app()
    except RestoreDbError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        sys.exit(exc.exit_code)
