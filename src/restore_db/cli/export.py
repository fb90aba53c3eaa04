"""``restore-db export``: stored layers to files (GeoTIFF)."""

from __future__ import annotations

from pathlib import Path

import typer

from restore_db import db
from restore_db.grid import studyarea
from restore_db.publish.export import export_raster
from restore_db.cli._common import StudyAreaOption, err

app = typer.Typer(help="Export layers to files (read-only).", no_args_is_help=True)


@app.command()
def raster(
    layer: str = typer.Argument(..., help="A source layer (lulc, dem ...) or a computed one (c_storage ...)."),
    file: Path = typer.Argument(..., help="Output GeoTIFF, e.g. lulc.tif."),
    run: int = typer.Option(None, "--run", help="Run of a computed layer (default: the source layer of that name, "
                                                "else the newest succeeded run holding it)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    study_area: str = StudyAreaOption,
) -> None:
    """Write a layer as a GeoTIFF on the study-area grid (exact values, stored pixel type and nodata)."""
    with db.session(start=False) as conn, conn.transaction():  # never creates nor starts the embedded database
        area = studyarea.get(conn, study_area)
        info = export_raster(conn, area, layer, file, run_id=run, overwrite=overwrite)
    err.print(info.summary(), highlight=False, soft_wrap=True)
