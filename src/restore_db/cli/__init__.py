"""The ``restore-db`` command line: a thin layer over the library.

One command group per module: db, study-area, load, compute, export, demo, status, report.
Human messages and progress go to stderr; ``--json`` output goes to stdout.

Every error ends in one line on stderr and an exit status: 1 for bad input,
2 for a usage error (typer's own message), 3 for a database error (the
server's message and SQLSTATE), 4 for an internal error. ``--debug`` (or
``RESTORE_DB_DEBUG=1``) prints the traceback before that line.
"""

from __future__ import annotations

import os
import sys
import traceback

import typer
from rich.markup import escape

from restore_db.errors import DATABASE_EXIT_CODE, INPUT_EXIT_CODE, INTERNAL_EXIT_CODE, RestoreDbError, database_cause, database_message, one_line
from restore_db.cli import compute as compute_cmd
from restore_db.cli import db as db_cmd
from restore_db.cli import demo as demo_cmd
from restore_db.cli import export as export_cmd
from restore_db.cli import load as load_cmd
from restore_db.cli import report as report_cmd
from restore_db.cli import runs as runs_cmd
from restore_db.cli import status as status_cmd
from restore_db.cli import study_area as study_area_cmd
from restore_db.cli._common import err

DEBUG_ENV = "RESTORE_DB_DEBUG"
_options = {"debug": False}

app = typer.Typer(
    name="restore-db",
    help="Ecosystem-service supply and demand, resilience and restoration zoning in PostGIS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _global_options(
    debug: bool = typer.Option(False, "--debug", envvar=DEBUG_ENV,
                               help=f"Print the traceback of an error (also {DEBUG_ENV}=1)."),
) -> None:
    """Ecosystem-service supply and demand, resilience and restoration zoning in PostGIS."""
    _options["debug"] = debug


app.add_typer(db_cmd.app, name="db")
app.add_typer(study_area_cmd.app, name="study-area")
app.add_typer(load_cmd.app, name="load")
app.add_typer(compute_cmd.app, name="compute")
app.add_typer(export_cmd.app, name="export")
app.add_typer(runs_cmd.app, name="runs")
app.command("demo")(demo_cmd.demo)
app.command("status")(status_cmd.status)
app.command("report")(report_cmd.report)


def _debugging() -> bool:
    """Whether --debug was given or RESTORE_DB_DEBUG is set (to anything but '', 0, false, no, off)."""
    return _options["debug"] or os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def _is_crs_error(exc: BaseException) -> bool:
    """pyproj could not read a CRS the user gave (an option or a file's declaration)."""
    crs_error = getattr(sys.modules.get("pyproj.exceptions"), "CRSError", None)
    return crs_error is not None and isinstance(exc, crs_error)


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit status of an exception that ended a command.

    Args:
        exc: the exception.
    Returns:
        (message, exit status): 1 for an :class:`~restore_db.errors.InputError` or an unreadable CRS,
        3 for a :class:`~restore_db.errors.DatabaseError` or any error of the database server or
        connection, the error's own status for other restore-db errors, 4 for anything else.
    """
    if isinstance(exc, RestoreDbError):
        return one_line(str(exc)), exc.exit_code
    if database_cause(exc) is not None:
        return f"database: {database_message(exc)}", DATABASE_EXIT_CODE
    if _is_crs_error(exc):
        return f"cannot read CRS: {one_line(str(exc))}", INPUT_EXIT_CODE
    what = one_line(str(exc))
    return (f"internal error: {type(exc).__name__}{': ' + what if what else ''} "
            "(run with --debug for the traceback)"), INTERNAL_EXIT_CODE


def main() -> None:
    """Entry point of ``restore-db``: run the command; turn any error into one line and an exit status."""
    try:
        app()
    except Exception as exc:
        message, code = describe(exc)
        if _debugging():
            traceback.print_exc(file=sys.stderr)
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
        sys.exit(code)
