"""``restore-db load``: rasters, boundaries, parameter tables, statistics, InVEST datastacks.

Every load runs in one transaction: on any error nothing is written. The loaders (GDAL, geopandas, pandas) are
imported by the commands that use them.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from restore_db.errors import InputError
from restore_db.resources import package_data
from restore_db.cli._common import StudyAreaOption, err, session

app = typer.Typer(help="Load data into a study area (transactional).", no_args_is_help=True)


@app.command()
def raster(
    name: str = typer.Argument(..., help="Layer name, e.g. lulc, dem, precipitation."),
    file: Path = typer.Argument(..., help="Any GDAL-readable raster, any CRS."),
    kind: str = typer.Option(..., "--kind", help="categorical or continuous."),
    unit: str = typer.Option(..., "--unit", help="Unit of the values, e.g. mm/yr, m, class."),
    nodata: float = typer.Option(None, "--nodata", help="Nodata value when the file declares none."),
    resampling: str = typer.Option(None, "--resampling", help="nearest, mode, bilinear, average ... (default by kind)."),
    band: int = typer.Option(None, "--band", help="Band to load; required when the file has several."),
    src_crs: str = typer.Option(None, "--src-crs", help="CRS of a file that declares none or a local one "
                                "(e.g. EPSG:32650); wins over the file's."),
    replace: bool = typer.Option(False, "--replace", help="Replace a layer of that name loaded with other "
                                 "content (the same file and options again change nothing)."),
    allow_non_square: bool = typer.Option(False, "--allow-non-square", help="Warp files with non-square pixels."),
    overviews: bool = typer.Option(False, "--overviews/--no-overviews", help="Build overview tables, for viewing "
                                   "the layer in QGIS (a layer loaded already gets them without being written again)."),
    description: str = typer.Option(None, "--description"),
    study_area: str = StudyAreaOption,
) -> None:
    """Warp a raster onto the study-area grid and store it as tiles."""
    from restore_db.grid import studyarea
    from restore_db.load import raster as raster_mod

    started = time.perf_counter()
    with session() as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        info = raster_mod.load_raster(conn, area, name, file, kind, unit, nodata, resampling, band, replace,
                                      description, allow_non_square, overviews, src_crs)
    built = f"; overviews 1/{', 1/'.join(map(str, info.overviews))}" if overviews and info.overviews else ""
    if overviews and not info.overviews:     # a level must still cover a whole tile
        built = "; no overview: the layer has too few tiles for a coarser level to cover one"
    if info.unchanged:
        err.print(f"layer {name}: unchanged (already loaded from the same file with the same options); "
                  f"nothing written{built}", markup=False, highlight=False)
        return
    seconds = time.perf_counter() - started
    err.print(f"layer {name}: {info.tiles} tiles, {info.valid_cells} valid cells "
              f"({info.nodata_share:.1%} nodata), {info.resampling}{built}, {seconds:.2f} s")


@app.command()
def boundaries(
    file: Path = typer.Argument(..., help="GeoJSON, GeoPackage, Shapefile ..."),
    level: str = typer.Option(..., "--level", help="county, city or province."),
    layer: str = typer.Option(None, "--layer", help="Layer of a multi-layer file."),
    code_field: str = typer.Option(None, "--code-field", help="Field with the unit code (default: code/adcode ...)."),
    name_field: str = typer.Option(None, "--name-field"),
    parent_field: str = typer.Option(None, "--parent-field", help="Field with the parent unit's code."),
    province_field: str = typer.Option(None, "--province-field", help="Field with the province code."),
    src_crs: str = typer.Option(None, "--src-crs", help="CRS of a file that declares none."),
    no_repair: bool = typer.Option(False, "--no-repair", help="Reject invalid polygons instead of repairing them."),
    encoding: str = typer.Option(None, "--encoding",
                                 help="Text encoding of a shapefile without .cpg, e.g. GB18030 (GBK), cp1252."),
    replace: bool = typer.Option(False, "--replace"),
    study_area: str = StudyAreaOption,
) -> None:
    """Load administrative units of one level."""
    from restore_db.grid import studyarea
    from restore_db.load import boundaries as boundaries_mod

    with session() as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        info = boundaries_mod.load_boundaries(conn, area, file, level, layer, code_field, name_field, parent_field,
                                              province_field, not no_repair, replace, src_crs, encoding)
    if info.unchanged:
        err.print(f"the {info.count} {level} units are those already loaded: nothing changed")
        return
    err.print(f"{info.count} {level} units loaded"
              + (f"; {info.superseded} replaced units kept for the runs that used them" if info.superseded else ""))
    if info.detected_encoding:
        err.print(f"text read as {info.detected_encoding} (detected: the shapefile declares no encoding)")
    if info.dropped_dims:
        err.print(f"{info.dropped_dims} coordinates dropped: polygons stored in 2-D")
    if info.repaired:
        err.print(f"repaired invalid geometries: {', '.join(info.repaired)}")
    if info.outside:
        err.print(f"outside the study area, skipped: {boundaries_mod.describe_outside(info)}")


@app.command()
def params(
    file: Path = typer.Argument(..., help="CSV: land-use lookup (lucode, ...) or scalars (name, value, unit, source); "
                                "or a table shipped with restore-db: igbp_lulc (MODIS IGBP classes 0-16), "
                                "demo_lulc, demo_scalars."),
    name: str = typer.Option(None, "--name", help="Parameter-set name (default: file name)."),
    citation: str = typer.Option(None, "--citation", help="Source of the values."),
    lulc_layer: str = typer.Option(None, "--lulc-layer", help="Land-use layer whose classes the table must cover "
                                   "(default: lulc, when loaded)."),
    replace: bool = typer.Option(False, "--replace", help="Replace a parameter set of that name loaded with other "
                                 "content (the same file again changes nothing)."),
    study_area: str = StudyAreaOption,
) -> None:
    """Load a parameter table."""
    from restore_db.grid import studyarea
    from restore_db.load import params as params_mod

    with session() as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        shipped = package_data("params", f"{file}.csv")
        if not file.exists() and file.suffix == "" and shipped.is_file():
            file = Path(str(shipped))
            citation = citation or "restore-db shipped defaults (see the source column)"
        info = params_mod.load_params(conn, area, file, name, citation, replace, lulc_layer)
    if info.unchanged:
        err.print(f"parameter set {info.name}: unchanged (already loaded from the same file); nothing written",
                  markup=False, highlight=False)
        return
    err.print(f"parameter set {info.name} ({info.kind}): {info.rows} rows, {', '.join(info.columns)}")


def _print_codes(title: str, codes: list[str], names: dict[str, str]) -> None:
    """``title: n`` then every code (with its name), wrapped to the console width, never cut."""
    from rich.cells import cell_len

    err.print(f"{title}: {len(codes)}", markup=False, highlight=False)
    width = max(40, err.width - 1)
    line = ""
    for i, code in enumerate(codes):
        item = f"{code} {names[code]}" if names.get(code) else code
        item += "," if i < len(codes) - 1 else ""
        if line and cell_len(line) + 1 + cell_len(item) > width:
            err.print(line, markup=False, highlight=False, soft_wrap=True)
            line = ""
        line = f"{line} {item}" if line else f"  {item}"
    if line:
        err.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command()
def stats(
    file: Path = typer.Argument(..., help="CSV with one row per county (and year)."),
    year: int = typer.Option(None, "--year", help="Year of all rows when the file has no year column."),
    code_column: str = typer.Option("code", "--code-column"),
    year_column: str = typer.Option("year", "--year-column"),
    column: list[str] = typer.Option(None, "--column", help="CSV_COLUMN=variable, repeatable; loads only these."),
    crosswalk: Path = typer.Option(None, "--crosswalk", help="CSV old_code,new_code[,share][,note] mapping the "
                                   "file's codes to the boundary codes (renames, merges, splits; empty new_code "
                                   "drops the code)."),
    name_column: str = typer.Option(None, "--name-column", help="Column with unit names for the lists "
                                    "(default: name, county, district, 区县 ...)."),
    source: str = typer.Option(None, "--source"),
    replace: bool = typer.Option(False, "--replace", help="Replace all stored values of the file's variables and "
                                 "years by the file's (codes absent from the file lose their values)."),
    merge: bool = typer.Option(False, "--merge", help="Insert or update the file's codes only; the other codes "
                               "keep their values (e.g. one province after another)."),
    study_area: str = StudyAreaOption,
) -> None:
    """Load county statistics; list boundaries without statistics and statistics without boundary.

    Values of the file's variables and years already stored: the same values again change nothing; other
    values need --replace or --merge. Missing values (empty, NA, N/A, NaN, NULL, -, --, —) are reported per
    column."""
    from restore_db.grid import studyarea
    from restore_db.load import stats as stats_mod

    mapping = None
    if column:
        mapping = {}
        for item in column:
            if "=" not in item:
                raise InputError(f"--column must be CSV_COLUMN=variable, got {item!r}")
            src, var = item.split("=", 1)
            mapping[src] = var
    with session() as conn, conn.transaction():
        area = studyarea.get(conn, study_area)
        info = stats_mod.load_stats(conn, area, file, year, code_column, year_column, mapping, replace, source,
                                    crosswalk, name_column, merge)
    what = f"{info.rows} values of {', '.join(info.variables)} for {', '.join(map(str, info.years))}"
    if info.unchanged:
        err.print(f"{what}: unchanged (already stored); nothing written", markup=False, highlight=False)
    else:
        err.print(what + (" merged" if merge else ""), markup=False, highlight=False)
    for col, codes in info.missing.items():
        _print_codes(f"column {col}: missing values", codes, info.names)
    if crosswalk is not None:
        err.print(f"crosswalk {crosswalk.name}: {len(info.mapped_codes)} code(s) of the file mapped, "
                  f"{len(info.dropped_codes)} dropped", markup=False, highlight=False)
        if info.dropped_codes:
            _print_codes("dropped by the crosswalk", info.dropped_codes, info.names)
    if not info.has_boundaries:
        err.print(f"study area {area.name} has no county boundaries yet: codes not checked "
                  "(load boundaries, then the statistics again to list them)", markup=False, highlight=False)
        return
    _print_codes("county boundaries without statistics", info.boundaries_without_stats, info.names)
    _print_codes("statistics codes without boundary" + (" (after the crosswalk)" if crosswalk else ""),
                 info.stats_without_boundary, info.names)


@app.command()
def invest(
    datastack: Path = typer.Argument(..., help="InVEST parameter set JSON (annual_water_yield, carbon, sdr, habitat_quality)."),
    study_area: str = typer.Option(..., "--study-area", "-a", help="Study area (created from the LULC grid if new)."),
    replace: bool = typer.Option(False, "--replace", help="Replace layers, parameter sets and zone sets of the "
                                 "same names loaded with other content (those loaded the same are kept)."),
    encoding: str = typer.Option(None, "--encoding", help="Text encoding of a watershed shapefile that declares "
                                 "none (e.g. GB18030)."),
) -> None:
    """Import an InVEST model's inputs unchanged."""
    from restore_db.load import invest as invest_mod

    with session() as conn, conn.transaction():
        info = invest_mod.import_datastack(conn, datastack, study_area, replace=replace, encoding=encoding)
    err.print(f"InVEST {info.model} -> study area {info.study_area}{' (created)' if info.created_area else ''}: "
              f"{_loaded_and_kept('layers', info.layers, info.kept_layers)}; "
              f"{_loaded_and_kept('parameter sets', info.param_sets, info.kept_param_sets)}; "
              f"{_loaded_and_kept('zones', info.zone_sets, info.kept_zone_sets)}", markup=False, highlight=False)


def _loaded_and_kept(what: str, loaded: list[str], kept: list[str]) -> str:
    """``what`` loaded names, then the names kept because they were loaded the same already."""
    return f"{what} {', '.join(loaded) or '-'}" + (f"; kept {', '.join(kept)} (already loaded the same)" if kept else "")
