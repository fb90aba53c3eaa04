"""Helpers shared by the loaders: checksums, code normalisation, and the reload rule.

The reload rule of every loader (raster layers, parameter sets, statistics,
InVEST datastacks and the zone sets they bring): a name that is not loaded
yet is loaded; a name loaded with identical content (the same checksum of the
source file and the same options that change what is stored) is left as it is
and the load says so; a name loaded with other content is an error naming the
existing layer or set and the option that replaces it (``--replace``). Loads
of one name of a study area are serialised by a transaction-level advisory
lock taken before the existence check, so two concurrent loads of the same
name never collide: the second waits, then follows the rule.
"""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path

import psycopg

from restore_db.errors import InputError


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def existing_file(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist or is not a file")
    return path


DECIMAL_CODE_RE = re.compile(r"^-?\d+\.\d+$")


def cell_text(value) -> str | None:
    """The stripped text of a table cell, or None for an empty cell (None, NaN or blank)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value).strip() or None


def code_text(value) -> str | None:
    """An administrative code as text: 110101, 110101.0 and '110101' are all '110101'; None for an empty cell.

    Raises ValueError for a number with a fractional part (110101.5, '110101.50'): codes are integers or
    text codes without a decimal part. Callers name the file and field (see :func:`code_list`).
    """
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if not value.is_integer():
            raise ValueError(f"{value!r} has a decimal part")
        return str(int(value))
    text = cell_text(value)
    if text is None:
        return None
    if DECIMAL_CODE_RE.match(text):
        whole, fraction = text.split(".")
        if fraction.strip("0"):
            raise ValueError(f"{text!r} has a decimal part")
        text = whole
    return text


def code_list(values, what: str) -> list[str | None]:
    """:func:`code_text` of every value; ``what`` names the file and field in the message.

    Raises InputError listing the values with a decimal part.
    """
    out, bad = [], []
    for value in values:
        try:
            out.append(code_text(value))
        except ValueError:
            bad.append(value)
            out.append(None)
    if bad:
        raise InputError(f"{what}: code(s) {short_list(str(v).strip() for v in bad)} "
                         "have a decimal part; codes must be integers or text without a decimal part")
    return out


def short_list(items, limit: int = 10) -> str:
    items = [str(i) for i in items]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def lock_name(conn: psycopg.Connection, study_area_id: int, what: str, name: str) -> None:
    """Serialise loads of ``name`` (a layer, parameter set, zone set or statistics variable: ``what``) of one
    study area until the end of the caller's transaction (a transaction-level advisory lock).

    Take it before looking whether the name is loaded: a concurrent load of the same name then waits for the
    first to commit or roll back and sees its result.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('restore-db load'), hashtext(%s))",
                 (f"{study_area_id}/{what}/{name}",))


def must_load(area_name: str, what: str, name: str, loaded: str | None, same: bool, replace: bool,
              advice: str = "use --replace to replace it") -> bool:
    """The reload rule of every loader (module docstring).

    Takes the study area's name, what is loaded (``a layer``, ``a parameter set`` ...), its name, a
    description of what is loaded under that name now (None when nothing is), whether the new content is
    identical to it, whether ``--replace`` was given and the advice that ends the message (the option to
    pass). Returns True when the content must be written (nothing loaded yet, or other content with
    ``replace``), False when the loaded content is identical (nothing to write, with or without ``replace``).
    Raises InputError when other content is loaded and ``replace`` is False: the message names the study
    area, the existing layer or set, what it was loaded from, and the option.
    """
    if loaded is None:
        return True
    if same:
        return False
    if not replace:
        raise InputError(f"study area {area_name!r} already has {what} {name!r} ({loaded}) with other content; "
                         f"{advice}")
    return True

