"""Output files of the published products: one check of a target path, one atomic write, one size format."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from restore_db.errors import InputError


def check_target(path: str | Path, overwrite: bool, what: str, example: str, suffix: str | None = None) -> Path:
    """``path`` as an absolute path, once checked.

    Args:
        what: the product, named in the messages ("report", "export qgis" ...).
        example: a file name suggested when ``path`` is a folder.
        suffix: the suffix the file must have (".qgz" ...), or None.
    Raises:
        InputError: ``path`` is a folder, lacks ``suffix``, exists without ``overwrite``, or its folder is missing
            or not writable.
    """
    path = Path(path).expanduser().absolute()
    if path.is_dir():
        raise InputError(f"{what}: output {path} is a directory; give a file name such as {path / example}")
    if suffix is not None and path.suffix.lower() != suffix:
        raise InputError(f"{what}: output {path} must end in {suffix}")
    if path.exists() and not overwrite:
        raise InputError(f"{what}: output {path} already exists; use --overwrite to replace it")
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"{what}: cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{what}: cannot write {path}: folder {parent} is not writable")
    return path


def temporary_beside(target: Path) -> Path:
    """A hidden temporary name in ``target``'s folder (same file system, so the final rename is atomic)."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")


def write_atomic(target: Path, content: bytes, what: str) -> None:
    """Write ``content`` to a temporary file beside ``target``, flush it to disk and rename it over ``target``:
    readers see the old file or the new one, never a part.

    Raises:
        InputError: the file cannot be written (disk full, permissions), naming ``what`` and ``target``.
    """
    tmp = temporary_beside(target)
    try:
        with open(tmp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"{what}: cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def size_text(n: int) -> str:
    """A byte count as people read it: 512 B, 4.2 kB, 1.7 MB (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover
