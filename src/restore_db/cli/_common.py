"""Shared CLI pieces: stderr console, database session, study-area option."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import psycopg
import typer
from rich.console import Console

from restore_db import db
from restore_db.stages import runs


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


@contextlib.contextmanager
def session(start: bool = True) -> Iterator[psycopg.Connection]:
    """A connection to the prepared database; the runs started through it are recorded as failed when the
    command fails (:func:`restore_db.stages.runs.recording`). ``start``: start a stopped embedded cluster (read-only
    commands pass False); no command but ``db up`` creates one."""
    with db.session(start=start) as conn, runs.recording(conn):
        yield conn
