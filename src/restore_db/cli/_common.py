"""Shared CLI pieces: stderr console, database session, study-area option.

Like every module of :mod:`restore_db.cli`, this one imports only typer, rich and light parts of restore-db at
start: psycopg, numpy, pandas, the stages and the publishing modules are imported by the commands that use them
(``tests/cli/test_startup.py`` holds this), so that ``restore-db --help`` and quick commands start at once.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    import psycopg


def _console() -> Console:
    """The stderr console. On a terminal, rich wraps to its width; otherwise (a pipe, a file, a CI log)
    lines are never wrapped, and tables take the width they need (or ``COLUMNS`` when it is set)."""
    if sys.stderr.isatty():
        return Console(stderr=True)
    columns = os.environ.get("COLUMNS", "")
    return Console(stderr=True, soft_wrap=True, width=int(columns) if columns.isdigit() and int(columns) > 0
                   else 1000)


err = _console()

StudyAreaOption = typer.Option(None, "--study-area", "-a", help="Study area name (default: the only one).")


WorkersOption = typer.Option(None, "--workers", min=1,
                             help="Connections that compute tiles at once, and processes of the pattern's searches "
                                  "(default: RESTORE_DB_WORKERS, else the server's cores).")


def can_ask(command: str) -> None:
    """Refuse ``command`` (which would ask before deleting) when nobody can answer: no terminal on stdin (a script,
    CI, a pipe, a closed stdin). A command calls it before it opens the database, so a refusal changes nothing.

    Raises:
        InputError: stdin is not a terminal (one line naming ``--yes``; exit status 1).
    """
    from restore_db.errors import InputError

    if sys.stdin is None or not sys.stdin.isatty():
        raise InputError(f"{command} asks before it deletes, and standard input is not a terminal: "
                         "give --yes to go on")


def confirm(command: str, question: str, declined: str) -> None:
    """Ask ``question`` on stderr before ``command`` deletes something; return when the user says yes.

    A "no" (or end of input, or Ctrl-C, at the question) prints ``not confirmed: <declined>`` and ends the command
    with status 1.

    Raises:
        InputError: stdin is not a terminal (:func:`can_ask`).
        typer.Exit: the user did not confirm.
    """
    can_ask(command)
    try:
        answer = typer.confirm(question, err=True)
    except typer.Abort:
        answer = False
    if not answer:
        err.print(f"not confirmed: {declined}", highlight=False)
        raise typer.Exit(1)


@contextlib.contextmanager
def session(start: bool = True, workers: int | bool | None = False) -> Iterator[psycopg.Connection]:
    """A connection to the prepared database; the runs started through it are recorded as failed when the
    command fails (:func:`restore_db.stages.runs.recording`). ``start``: start a stopped embedded cluster (read-only
    commands pass False); no command but ``db up`` creates one. ``workers``: computing commands pass their
    ``--workers`` (None: the server's cores) to open a pool of tile workers (:func:`restore_db.db.workers.scope`);
    the tables those workers made are dropped when the command fails."""
    from restore_db import db
    from restore_db.stages import runs

    if workers is False:
        with db.session(start=start) as conn, runs.recording(conn):
            yield conn
        return
    from restore_db.db import workers as tile_workers

    with db.session(start=start) as conn, tile_workers.scope(conn, workers), runs.recording(conn):
        yield conn
