"""Shared CLI pieces: stderr console, database session, study-area option."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import psycopg
import typer
from rich.console import Console

from .. import db

err = Console(stderr=True)

StudyAreaOption = typer.Option(None, "--study-area", "-a", help="Study area name (default: the only one).")


@contextlib.contextmanager
def session() -> Iterator[psycopg.Connection]:
    """A connection to the prepared database (embedded cluster started on demand)."""
    with db.session() as conn:
        yield conn
