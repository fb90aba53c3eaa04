"""``restore-db study-area``: create and list study areas."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from restore_db.errors import InputError
from restore_db.cli._common import confirm, err, session

app = typer.Typer(help="Create, list and delete study areas (reference grids).", no_args_is_help=True)


@app.command()
def create(
    name: str = typer.Argument(..., help="Study-area name: lower-case letters, digits and '_'."),
    crs: str = typer.Option(..., "--srid", "--crs", help="Projected CRS in metres: EPSG code, 'EPSG:32650', PROJ or WKT."),
    pixel_size: float = typer.Option(..., "--pixel-size", help="Pixel size in metres."),
    from_boundaries: Path = typer.Option(None, "--from-boundaries", help="Cover the extent of this vector file."),
    layer: str = typer.Option(None, "--layer", help="Layer of --from-boundaries."),
    bbox: str = typer.Option(None, "--bbox", help="xmin,ymin,xmax,ymax in the grid CRS (or --bbox-crs)."),
    bbox_crs: str = typer.Option(None, "--bbox-crs", help="CRS of --bbox, e.g. EPSG:4326."),
    margin: float = typer.Option(0.0, "--margin", help="Extra metres around the extent."),
    tile_size: int = typer.Option(256, "--tile-size", help="Tile width and height in pixels."),
    title: str = typer.Option(None, "--title"),
) -> None:
    """Create a study area and its reference grid."""
    from restore_db.grid import studyarea

    if (from_boundaries is None) == (bbox is None):
        raise InputError("give exactly one of --from-boundaries FILE or --bbox xmin,ymin,xmax,ymax")
    target = studyarea.parse_crs(int(crs) if crs.isdigit() else crs, "--srid")
    bounds_crs = None
    if not math.isfinite(margin):
        raise InputError(f"--margin must be a finite number of metres, got {margin}")
    if bbox is not None:
        bounds = studyarea.parse_bbox(bbox)
        bounds_crs = studyarea.parse_crs(bbox_crs, "--bbox-crs") if bbox_crs else None
    else:
        studyarea.require_projected_metres(target, f"study area {name!r}")
        bounds = studyarea.bounds_of_vector(from_boundaries, layer, target)
    if margin:
        if bounds_crs is not None:
            raise InputError("--margin is in metres of the grid CRS; give --bbox in the grid CRS to use it")
        bounds = (bounds[0] - margin, bounds[1] - margin, bounds[2] + margin, bounds[3] + margin)
    with session() as conn, conn.transaction():
        area = studyarea.create(conn, name, target.to_wkt() if target.to_epsg() is None else target.to_epsg(),
                                pixel_size, bounds, tile_size, title, bounds_crs)
    g = area.grid
    err.print(f"study area {name}: SRID {g.srid}, {g.width} x {g.height} cells of {g.pixel_size:g} m, "
              f"{g.tiles_x * g.tiles_y} tiles of {g.tile_size}")


@app.command("list")
def list_() -> None:
    """List study areas."""
    with session(start=False) as conn:     # read-only: never starts the embedded database
        for name, srid, px, w, h in conn.execute(
            "SELECT name, srid, pixel_size, width, height FROM core.study_area ORDER BY name"
        ).fetchall():
            typer.echo(f"{name}\tSRID {srid}\t{px:g} m\t{w}x{h}")


@app.command()
def delete(name: str, yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Delete a study area with all its layers, boundaries, parameters and runs."""
    from restore_db.grid import studyarea

    if not yes:
        confirm("study-area delete", f"Delete study area {name} and everything in it?", "nothing deleted")
    with session() as conn, conn.transaction():
        studyarea.delete(conn, studyarea.get(conn, name))
    err.print(f"study area {name} deleted")
