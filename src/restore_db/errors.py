"""Error types shared by loaders, computations and the CLI, and their one-line messages.

An :class:`InputError` is a problem with what the user gave us (a file, a
parameter, a name). The CLI prints its message and exits with status 1; the
database is left as it was because every loader runs in one transaction.
A :class:`DatabaseError`, and any error the database server reports, exits
with status 3. Anything else is an internal error (status 4).
"""

from __future__ import annotations

import re
import sys

INPUT_EXIT_CODE = 1
DATABASE_EXIT_CODE = 3
INTERNAL_EXIT_CODE = 4


class RestoreDbError(Exception):
    """Base class of all errors restore-db reports to the user."""

    exit_code = DATABASE_EXIT_CODE


class InputError(RestoreDbError):
    """Bad input: a file, layer, code or parameter that cannot be used."""

    exit_code = INPUT_EXIT_CODE


class SettingsError(InputError):
    """Settings that cannot work for this study area (e.g. a corridor grid coarser than it). Unlike missing inputs,
    which leave an optional stage out of ``compute all``, they stop it."""


class DatabaseError(RestoreDbError):
    """The database is unreachable, lacks an extension, or is not migrated."""

    exit_code = DATABASE_EXIT_CODE


def one_line(message: str) -> str:
    """``message`` on one line: its non-blank lines stripped and joined with '; ' (with ' ' after a
    line ending in ':').

    Args:
        message: any text, possibly over several lines.
    Returns:
        The text without line breaks.
    """
    out = ""
    for line in (part.strip() for part in str(message).splitlines()):
        if not line:
            continue
        out += ("" if not out else " " if out.endswith(":") else "; ") + line
    return out


def _condition_name(sqlstate: str) -> str | None:
    """PostgreSQL's condition name of a SQLSTATE (``55P03`` -> ``lock_not_available``), if psycopg knows it."""
    from psycopg import errors

    try:
        cls = errors.lookup(sqlstate)
    except KeyError:
        return None
    return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()


def database_message(exc: BaseException) -> str:
    """One line for an error the database (or the connection to it) raised.

    Args:
        exc: a ``psycopg.Error``, or an exception wrapping one (SQLAlchemy's ``DBAPIError``).
    Returns:
        The server's primary message (or psycopg's message when the server sent none), followed by
        the SQLSTATE and its condition name when there is one, e.g.
        ``canceling statement due to lock timeout (SQLSTATE 55P03 lock_not_available)``.
    """
    exc = database_cause(exc) or exc
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    text = one_line(primary or str(exc)) or type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        name = _condition_name(sqlstate)
        text += f" (SQLSTATE {sqlstate}{' ' + name if name else ''})"
    return text


def database_cause(exc: BaseException) -> BaseException | None:
    """The ``psycopg.Error`` behind ``exc``: ``exc`` itself, the ``orig`` of a SQLAlchemy ``DBAPIError``
    (the migrations connect through SQLAlchemy), or None.

    Args:
        exc: any exception.
    Returns:
        The psycopg error, or None when ``exc`` does not come from the database.
    """
    psycopg = sys.modules.get("psycopg")   # not imported (yet): exc cannot come from it; do not load it for this
    if psycopg is None:
        return None
    for candidate in (exc, getattr(exc, "orig", None)):
        if isinstance(candidate, psycopg.Error):
            return candidate
    return None
