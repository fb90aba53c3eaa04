"""Locate the project's SQL files and Alembic migrations.

In a wheel they are packaged as ``restore_db/_sql``, ``restore_db/_migrations`` and
``restore_db/_docs`` (the model pages, quoted by the report); in a source checkout
(editable install) they are the top-level ``sql/``, ``migrations/`` and ``docs/`` folders.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def _locate(name: str) -> Path:
    for candidate in (_PKG / f"_{name}", _PKG.parents[1] / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"restore-db installation is missing its {name}/ folder")


def sql_dir() -> Path:
    return _locate("sql")


def migrations_dir() -> Path:
    return _locate("migrations")


def docs_dir(*parts: str) -> Path:
    """A folder of the project's documentation shipped with it (``docs/models`` ...)."""
    for candidate in (_PKG / "_docs", _PKG.parents[1] / "docs"):
        if candidate.is_dir():
            return candidate.joinpath(*parts)
    raise FileNotFoundError("restore-db installation is missing its docs/ folder")


def package_data(*parts: str) -> Path:
    """A file shipped inside the package (``restore_db/data/...``)."""
    return _PKG.joinpath("data", *parts)
