"""The ``restore-db`` command line: a thin layer over the library.

One command group per module: db, study-area, load, compute, export, runs, demo, status, report.
Human messages and progress go to stderr; ``--json`` output goes to stdout.

Start-up is quick: the command modules import typer, rich and light parts of restore-db only, and each command
imports what it needs (psycopg, numpy, pandas, the stages ...) when it runs; ``tests/cli/test_startup.py`` holds
this. A group whose module must import heavy packages at start (``runs``: its option defaults come from
:mod:`restore_db.stages.prune`) is registered by name in :data:`LAZY_GROUPS`: ``restore-db --help`` lists it with
the help line given there, and its module is imported only when the group is run or its help is asked for.

Every error ends in one line on stderr and an exit status: 1 for bad input, 2 for a usage error (an unknown
command or option, a bad option value: click's message, the option and the command's --help), 3 for a database
error (the server's message and SQLSTATE), 4 for an internal error, 130 when interrupted (Ctrl-C). ``--debug`` (or
``RESTORE_DB_DEBUG=1``) prints the traceback before that line.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback

import typer
from rich.markup import escape
from typer.core import TyperGroup

from restore_db.errors import DATABASE_EXIT_CODE, INPUT_EXIT_CODE, INTERNAL_EXIT_CODE, RestoreDbError, database_cause, database_message, one_line
from restore_db.cli import compute as compute_cmd
from restore_db.cli import db as db_cmd
from restore_db.cli import demo as demo_cmd
from restore_db.cli import export as export_cmd
from restore_db.cli import load as load_cmd
from restore_db.cli import report as report_cmd
from restore_db.cli import status as status_cmd
from restore_db.cli import study_area as study_area_cmd
from restore_db.cli._common import err

DEBUG_ENV = "RESTORE_DB_DEBUG"
USAGE_EXIT_CODE = 2
INTERRUPTED_EXIT_CODE = 130
_options = {"debug": False}

#: Command groups imported when they run: name -> (module with a typer ``app``, its help line). The help line is
#: the group's own (``typer.Typer(help=...)`` of the module); tests/cli/test_startup.py holds the two equal.
LAZY_GROUPS: dict[str, tuple[str, str]] = {
    "runs": ("restore_db.cli.runs", "List, drop and prune runs (each keeps its result layers)."),
}


class _RootGroup(TyperGroup):
    """The ``restore-db`` group: a group of :data:`LAZY_GROUPS` stands in the command list as a placeholder that
    only carries its name and help line, and is replaced by the module's group when the command line names it."""

    def resolve_command(self, ctx, args):
        if args and getattr(self.commands.get(args[0]), "lazy_placeholder", False):
            self.commands[args[0]] = load_group(args[0])
        return super().resolve_command(ctx, args)


class _Placeholder(TyperGroup):
    """What ``restore-db --help`` shows of a lazy group before its module is imported."""

    lazy_placeholder = True


def _add_lazy_group(name: str) -> None:
    app.add_typer(typer.Typer(cls=_Placeholder), name=name, help=LAZY_GROUPS[name][1])


def load_group(name: str) -> TyperGroup:
    """The click group of the lazy command group ``name``: its module is imported now."""
    module = importlib.import_module(LAZY_GROUPS[name][0])
    group = typer.main.get_group(module.app)
    group.name = name
    return group


app = typer.Typer(
    name="restore-db",
    help="Ecosystem-service supply and demand, resilience and restoration zoning in PostGIS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=_RootGroup,
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
_add_lazy_group("runs")
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


class _DebugOnlyHandler(logging.StreamHandler):
    """Prints a log record to stderr only when --debug (or RESTORE_DB_DEBUG) is in force; the flag is read when
    the record comes, after the command line has been parsed."""

    def emit(self, record: logging.LogRecord) -> None:
        if _debugging():
            super().emit(record)


def _route_library_logs() -> None:
    """Log records of the libraries (psycopg's "error ignored in rollback" when the server ends a connection,
    for one) and Python warnings (a numpy RuntimeWarning, for one) would reach stderr through logging's last-resort
    handler or the warnings module and break the one-line rule: they are printed only under --debug; otherwise
    the error that ends the command says what happened, and what a run could not compute is in its warnings.
    Processes the command starts (the pattern's search processes) report through their results, not stderr."""
    root = logging.getLogger()
    if not root.handlers:
        handler = _DebugOnlyHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(levelname)s: %(message)s"))
        root.addHandler(handler)
        logging.captureWarnings(True)


def _click_error(exc: typer.TyperException) -> str:
    """The one line of an error of the command line itself: a usage error (unknown command or option, a bad
    option value) names the option and the command's --help; another (an unreadable file argument) says what."""
    message = one_line(exc.format_message())
    ctx = getattr(exc, "ctx", None)
    if exc.exit_code == USAGE_EXIT_CODE and ctx is not None:
        return f"usage: {message} (see '{ctx.command_path} --help')"
    return message


def main() -> None:
    """Entry point of ``restore-db``: run the command; turn any error into one line and an exit status."""
    try:
        _route_library_logs()
        code = app(prog_name="restore-db", standalone_mode=False)
    except typer.TyperException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":      # a group without its command: the help, exit status 2
            if exc.format_message().strip():
                typer.echo(exc.format_message(), err=True)
            sys.exit(exc.exit_code)
        if _debugging():
            traceback.print_exc(file=sys.stderr)
        err.print(f"[bold red]error:[/] {escape(_click_error(exc))}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("[bold red]error:[/] aborted", highlight=False)
        sys.exit(INPUT_EXIT_CODE)
    except Exception as exc:
        message, code = describe(exc)
        if _debugging():
            traceback.print_exc(file=sys.stderr)
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
        sys.exit(code)
    if code == INTERRUPTED_EXIT_CODE:             # Ctrl-C: typer ends the command with 130 (128 + SIGINT)
        err.print("[bold red]error:[/] interrupted: what the command had not committed was rolled back",
                  highlight=False)
    sys.exit(code if isinstance(code, int) else 0)
