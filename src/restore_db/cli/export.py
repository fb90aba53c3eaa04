"""``restore-db export``: stored layers and results to files (GeoTIFF or COG, GeoPackage, CSV)."""

from __future__ import annotations

from pathlib import Path

import typer

from restore_db.cli._common import StudyAreaOption, err

app = typer.Typer(help="Export layers to files (read-only).", no_args_is_help=True)


@app.command()
def raster(
    layer: str = typer.Argument(..., help="A source layer (lulc, dem ...) or a computed one (c_storage ...)."),
    file: Path = typer.Argument(..., help="Output GeoTIFF, e.g. lulc.tif."),
    run: int = typer.Option(None, "--run", help="Run of a computed layer (default: the source layer of that name, "
                                                "else the newest succeeded run holding it)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    cog: bool = typer.Option(False, "--cog", help="Write a Cloud-Optimised GeoTIFF (with overviews)."),
    study_area: str = StudyAreaOption,
) -> None:
    """Write a layer as a GeoTIFF on the study-area grid (exact values, stored pixel type and nodata)."""
    from restore_db import db
    from restore_db.grid import studyarea
    from restore_db.publish.export import export_raster

    with db.session(start=False) as conn, conn.transaction():  # never creates nor starts the embedded database
        area = studyarea.get(conn, study_area)
        info = export_raster(conn, area, layer, file, run_id=run, overwrite=overwrite, cog=cog)
    err.print(info.summary(), highlight=False, soft_wrap=True)


ZoningRunOption = typer.Option(None, "--run", help="Zoning run of the analysis (default: the current one, "
                                                   "bi.current_run); its pattern run is the newest that read it.")


@app.command()
def gpkg(
    file: Path = typer.Argument(..., help="Output GeoPackage, e.g. results.gpkg."),
    run: int = ZoningRunOption,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
    study_area: str = StudyAreaOption,
) -> None:
    """Write every vector result of an analysis to one GeoPackage: counties, zones, sources, corridors, corridor
    areas, nodes, pinch and barrier areas, collaboration units, county links, restoration tasks (EPSG:4326)."""
    from restore_db import db
    from restore_db.grid import studyarea
    from restore_db.publish.export_tables import export_gpkg

    with db.session(start=False) as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        info = export_gpkg(conn, area, file, run_id=run, overwrite=overwrite)
    err.print(info.summary(), highlight=False, soft_wrap=True)


@app.command()
def csv(
    folder: Path = typer.Argument(..., help="Output folder (created when missing), e.g. results-csv."),
    run: int = ZoningRunOption,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing files."),
    study_area: str = StudyAreaOption,
) -> None:
    """Write the county tables of an analysis as CSV files (UTF-8 with BOM, for Excel), one per bi relation."""
    from restore_db import db
    from restore_db.grid import studyarea
    from restore_db.publish.export_tables import export_csv

    with db.session(start=False) as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        info = export_csv(conn, area, folder, run_id=run, overwrite=overwrite)
    err.print(info.summary(), highlight=False, soft_wrap=True)


@app.command()
def qgis(
    file: Path = typer.Argument(None, help="Output QGIS project, e.g. demo.qgz (not with --db)."),
    to_db: bool = typer.Option(False, "--db", help="Store the project in the database instead (bi.qgis_projects, "
                                                   "named after the study area; QGIS: Project > Open From > "
                                                   "PostgreSQL, schema bi)."),
    run: int = typer.Option(None, "--run", help="Zoning run to show (default: the current analysis)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file, or a project saved from "
                                                              "QGIS under the study area's name (--db)."),
    study_area: str = StudyAreaOption,
) -> None:
    """Write a QGIS project of an analysis (default the current one): every bi layer filtered to it and styled, in
    groups by stage (counties, resilience, zoning, pattern, collaboration); no user or password is stored."""
    from restore_db import db
    from restore_db.errors import InputError
    from restore_db.grid import studyarea
    from restore_db.publish.qgis_project import store_project, write_project_file

    if to_db == (file is not None):
        raise InputError("export qgis: give either FILE.qgz or --db")
    with db.session(start=False) as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        info = (store_project(conn, area, run, overwrite) if to_db
                else write_project_file(conn, area, file, overwrite, zoning_run=run))
    err.print(info.summary(), highlight=False, soft_wrap=True)
