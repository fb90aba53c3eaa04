"""Locate the project's SQL files and Alembic migrations.

In a wheel they are packaged as ``restore_db/_sql`` and ``restore_db/_migrations``;
in a source checkout (editable install) they are the top-level ``sql/`` and
``migrations/`` folders.
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


def package_data(*parts: str) -> Path:
    """A file shipped inside the package (``restore_db/data/...``)."""
    return _PKG.joinpath("data", *parts)
