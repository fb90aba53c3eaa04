"""``restore-db demo``: generate and load the synthetic demo region."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from restore_db.cli._common import err


def demo(
    pixel_size: float = typer.Option(1000.0, "--pixel-size", help="Grid pixel size in metres (250 for ~6 M cells)."),
    name: str = typer.Option("demo", "--name", help="Study-area name."),
    seed: int = typer.Option(20230010, "--seed", help="Random seed (the region is deterministic per seed)."),
    workdir: Path = typer.Option(None, "--workdir", help="Where the generated files go (default: demo-data in the "
                                 "restore-db home folder, where `db up` puts the database)."),
    replace: bool = typer.Option(False, "--replace", help="Delete an existing study area of that name first."),
) -> None:
    """Generate a synthetic region (~200 counties, 3 provinces) and load it with the public loaders."""
    from restore_db import config
    from restore_db.load import demo as demo_mod

    started = time.perf_counter()
    workdir = workdir or config.home() / "demo-data"
    summary = demo_mod.run(name=name, pixel_size=pixel_size, seed=seed, workdir=workdir, replace=replace,
                           log=lambda msg: err.print(msg))
    err.print(f"demo study area {name!r} ready in {time.perf_counter() - started:.1f} s: " + summary)
