"""Helpers shared by the loaders: checksums, code normalisation."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from ..errors import InputError


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


def code_text(value) -> str | None:
    """An administrative code as text: 110101, 110101.0 and '110101' are all '110101'."""
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].lstrip("-").isdigit():
        text = text[:-2]
    return text or None


def short_list(items, limit: int = 10) -> str:
    items = [str(i) for i in items]
    more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more
