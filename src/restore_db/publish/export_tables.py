"""Export the results of an analysis as tables: one GeoPackage for GIS tools, CSV files for spreadsheets.

Both read the published ``bi`` relations (``sql/080_bi_views.sql``, ``sql/082_bi_pattern.sql``) of one analysis
of a study area: its zoning run (the current one of ``bi.current_run``, or the one given) and its pattern run, the
newest succeeded pattern run that read that zoning run (as ``bi.current_run.pattern_run_id`` defines it; none when
the pattern was not computed: the pattern layers and files are then written empty). Every read happens in the
caller's transaction; nothing is written to the database.

:func:`export_gpkg` writes every relation with a geometry as a layer named like the ``bi`` relation
(:data:`GPKG_LAYERS`): ``county``, ``zone_map``, ``pattern_source``, ``pattern_corridor``,
``pattern_corridor_area``, ``pattern_node``, ``pattern_pinch``, ``pattern_barrier``, ``pattern_collab_unit``,
``pattern_county_link``, ``pattern_task``, plus two tables without geometry: ``analysis_run`` (the runs of the
analysis) and ``pattern_run`` (its pattern run's measures). Geometries keep the SRID of their ``bi`` column
(EPSG:4326), written as the layer's CRS.

:func:`export_csv` writes the county tables, one CSV file each, named like the ``bi`` relation (:data:`CSV_TABLES`).

Columns are those of the ``bi`` relation, in its order, except (:data:`DROPPED`):

- ``geom_geojson_4326`` and ``geom_wkt_simpl``: simplified text copies of the geometry for BI tools that cannot
  read one (Power BI), never exported; ``geom`` is exported at full precision in the GeoPackage, and left out of
  the CSV files (``lon``, ``lat`` of a point inside each shape stay);
- ``pattern_node.corridors``, ``pattern_partner.corridor_list`` and ``pattern_partner.source_list`` (integer
  arrays, which neither format has): the same lists are in the text columns ``corridor_ids`` / ``source_ids``.

Field types follow the database: ``smallint`` / ``integer`` / ``bigint`` as 16-, 32- and 64-bit integers,
``double precision`` as 64-bit reals, ``boolean`` as booleans, ``text`` as UTF-8 text, ``timestamp with time zone``
as UTC date-times (the GeoPackage stores milliseconds; CSV keeps microseconds); NULL stays empty. Rows are ordered
by the relation's key (its first column).

Files are written under a temporary name in the target folder and renamed at the end, so a failure leaves no
partial file; an existing file is replaced only with ``overwrite``.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pyogrio
import shapely
from psycopg import sql

from restore_db.errors import InputError
from restore_db.grid import studyarea
from restore_db.grid.studyarea import StudyArea
from restore_db.publish.analysis import Analysis
from restore_db.publish.analysis import resolve as _resolve
from restore_db.publish.files import check_target, size_text
from restore_db.store.layers import area_of

# columns of the bi relations that are never exported (see the module docstring)
DROPPED = {
    "*": ("geom_geojson_4326", "geom_wkt_simpl"),
    "pattern_node": ("corridors",),
    "pattern_partner": ("corridor_list", "source_list"),
}


@dataclass(frozen=True)
class Table:
    """One exported table: its layer or file name, the ``bi`` relation it comes from, and which run of the
    analysis (``zoning`` or ``pattern``) its ``run_id`` column is compared with."""

    name: str
    relation: str
    run: str


_ANALYSIS_RUN = Table("analysis_run", "", "zoning")   # read by _ANALYSIS_SQL, not from a bi relation

# GeoPackage layers: name = bi relation; analysis_run and pattern_run have no geometry
GPKG_LAYERS = (
    _ANALYSIS_RUN,
    Table("county", "county", "zoning"),
    Table("zone_map", "zone_map", "zoning"),
    Table("pattern_run", "pattern_run", "pattern"),
    Table("pattern_source", "pattern_source", "pattern"),
    Table("pattern_corridor", "pattern_corridor", "pattern"),
    Table("pattern_corridor_area", "pattern_corridor_area", "pattern"),
    Table("pattern_node", "pattern_node", "pattern"),
    Table("pattern_pinch", "pattern_pinch", "pattern"),
    Table("pattern_barrier", "pattern_barrier", "pattern"),
    Table("pattern_collab_unit", "pattern_collab_unit", "pattern"),
    Table("pattern_county_link", "pattern_county_link", "pattern"),
    Table("pattern_task", "pattern_task", "pattern"),
)

# CSV files: name.csv = bi relation, without geometry
CSV_TABLES = (
    _ANALYSIS_RUN,
    Table("county", "county", "zoning"),
    Table("county_ratio_long", "county_ratio_long", "zoning"),
    Table("county_indicator_long", "county_indicator_long", "zoning"),
    Table("county_dimension_long", "county_dimension_long", "zoning"),
    Table("zone_summary", "zone_summary", "zoning"),
    Table("indicator_weight", "indicator_weight", "zoning"),
    Table("balance_class", "balance_class", "zoning"),
    Table("pattern_run", "pattern_run", "pattern"),
    Table("pattern_member", "pattern_member", "pattern"),
    Table("pattern_partner", "pattern_partner", "pattern"),
    Table("pattern_rollup_partner", "pattern_rollup_partner", "pattern"),
    Table("pattern_county_link", "pattern_county_link", "pattern"),
    Table("pattern_collab_unit", "pattern_collab_unit", "pattern"),
    Table("pattern_crossing", "pattern_crossing", "pattern"),
    Table("pattern_task", "pattern_task", "pattern"),
)

# the runs of one zoning run, as bi.current_run has them for the current one
_ANALYSIS_SQL = """
SELECT a.study_area_id, a.name AS study_area, a.title, r.run_id, r.label, r.finished_at,
       r.ratios_run_id, r.resilience_run_id, r.services_run_id, r.pipeline_run_id,
       %(pattern)s::integer AS pattern_run_id
FROM result.analysis_run r
JOIN core.study_area a ON a.study_area_id = r.study_area_id
WHERE r.run_id = %(zoning)s"""

# pandas dtypes of the PostgreSQL types found in bi (psycopg type names); others are refused
_INTEGERS = {"int2": "Int16", "int4": "Int32", "int8": "Int64"}
_REALS = {"float4": np.float32, "float8": np.float64, "numeric": np.float64}
_TEXTS = ("text", "varchar", "bpchar", "name")
_GEOMETRY_TYPES = {"POINT": "Point", "LINESTRING": "LineString", "POLYGON": "Polygon", "MULTIPOINT": "MultiPoint",
                   "MULTILINESTRING": "MultiLineString", "MULTIPOLYGON": "MultiPolygon", "GEOMETRY": "Unknown"}


@dataclass
class TablesExportInfo:
    """What an export wrote, and how long it took (seconds: reading the database, writing the files, in all)."""

    path: Path
    kind: str
    study_area: str
    zoning_run_id: int
    pattern_run_id: int | None
    rows: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    read_seconds: float = 0.0
    write_seconds: float = 0.0
    seconds: float = 0.0

    def summary(self) -> str:
        pattern = f"pattern run {self.pattern_run_id}" if self.pattern_run_id is not None else "no pattern run"
        return (f"{self.path}: {len(self.rows)} {self.kind}, {sum(self.rows.values()):,} rows, study area "
                f"{self.study_area!r}, zoning run {self.zoning_run_id}, {pattern}, {size_text(self.bytes)}, "
                f"{self.seconds:.2f} s (database {self.read_seconds:.2f} s, files {self.write_seconds:.2f} s)")


# ---------------------------------------------------------------- the analysis


def resolve_analysis(conn: psycopg.Connection, area: StudyArea, run_id: int | None = None) -> Analysis:
    """The zoning run to export (``run_id``, or the current one of ``bi.current_run``) and its pattern run
    (:func:`restore_db.publish.analysis.resolve`).

    Raises:
        InputError: as :func:`restore_db.publish.analysis.resolve`.
    """
    return _resolve(conn, area, run_id)


def run_of(analysis: Analysis, table: Table) -> int | None:
    """The run whose rows ``table`` holds for ``analysis``: its zoning run or its pattern run."""
    return analysis.zoning_run_id if table.run == "zoning" else analysis.pattern_run_id


# ---------------------------------------------------------------- reading


def _crs(conn: psycopg.Connection, srid: int) -> str:
    """The CRS of an SRID for GDAL: ``EPSG:n`` for an EPSG code, else the WKT stored in ``spatial_ref_sys``."""
    crs = studyarea.crs_of_srid(conn, srid)
    if srid < studyarea.CUSTOM_SRID_BASE and crs.to_epsg() == srid:
        return f"EPSG:{srid}"
    return crs.to_wkt()


def _geometry_column(conn: psycopg.Connection, relation: str) -> tuple[str, int, str] | None:
    """(column, SRID, geometry type) of the geometry column of ``bi.<relation>`` (geometry_columns), or None."""
    row = conn.execute("SELECT f_geometry_column, srid, type FROM geometry_columns "
                       "WHERE f_table_schema = 'bi' AND f_table_name = %s", (relation,)).fetchone()
    return tuple(row) if row else None


def _dropped(table: Table) -> set[str]:
    return set(DROPPED["*"]) | set(DROPPED.get(table.relation, ()))


def _series(values: list, type_name: str) -> np.ndarray | pd.api.extensions.ExtensionArray:
    if type_name in _INTEGERS:
        return pd.array(values, dtype=_INTEGERS[type_name])
    if type_name in _REALS:
        return np.array([np.nan if v is None else float(v) for v in values], dtype=_REALS[type_name])
    if type_name == "bool":
        return pd.array(values, dtype="boolean")
    if type_name in _TEXTS:
        return np.array(values, dtype=object)
    if type_name in ("timestamptz", "timestamp"):
        stamps = pd.to_datetime(pd.Series(values, dtype=object), utc=type_name == "timestamptz")
        return stamps.astype("datetime64[us, UTC]" if type_name == "timestamptz" else "datetime64[us]").array
    raise TypeError(f"cannot export a column of type {type_name}")


def read_table(conn: psycopg.Connection, table: Table, analysis: Analysis, geometry: bool) -> pd.DataFrame:
    """Rows of ``table`` for ``analysis``, ordered by key, as a DataFrame with the dtypes of the module docstring.

    With ``geometry`` and a relation that has one, a GeoDataFrame: geometry from ``ST_AsBinary`` with the CRS of
    the column's SRID (``geometry_columns``; when it is 0, the single SRID of the rows), and
    ``attrs["geometry_type"]`` (``MultiPolygon``, ``LineString``, ``Point`` ...). ``attrs["description"]`` holds
    the relation's comment.
    """
    run_id = run_of(analysis, table)
    if table is _ANALYSIS_RUN:
        cur = conn.execute(_ANALYSIS_SQL, {"zoning": run_id, "pattern": analysis.pattern_run_id})
        description = ("The runs of the analysis: the zoning run, the ratios, resilience and services runs it read, "
                       "the pipeline run, and the pattern run that read it")
        geom = None
    else:
        rel = sql.Identifier("bi", table.relation)
        columns = [name for (name,) in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum", (f"bi.{table.relation}",))]
        geom = _geometry_column(conn, table.relation)
        dropped = _dropped(table) | ({geom[0]} if geom and not geometry else set())
        select = [sql.SQL("ST_AsBinary({0}) AS {0}").format(sql.Identifier(c)) if geom and c == geom[0]
                  else sql.Identifier(c) for c in columns if c not in dropped]
        key = sql.Identifier(columns[0])
        if "run_id" not in columns:
            raise InputError(f"bi.{table.relation} has no column run_id: migrate the database (`restore-db db migrate`)")
        where = sql.Identifier("run_id")
        cur = conn.execute(sql.SQL("SELECT {} FROM {} WHERE {} = %s ORDER BY {}").format(
            sql.SQL(", ").join(select), rel, where, key), (run_id,))
        (description,) = conn.execute("SELECT obj_description(%s::regclass, 'pg_class')",
                                      (f"bi.{table.relation}",)).fetchone()
        geom = geom if geometry else None
    rows = cur.fetchall()
    names = [d.name for d in cur.description]
    types = [getattr(conn.adapters.types.get(d.type_code), "name", str(d.type_code)) for d in cur.description]
    data, wkb = {}, None
    for i, (name, type_name) in enumerate(zip(names, types)):
        values = [r[i] for r in rows]
        if geom and name == geom[0]:
            wkb = values
            continue
        try:
            data[name] = _series(values, type_name)
        except TypeError as exc:
            raise TypeError(f"bi.{table.relation}.{name}: {exc}") from None
    frame = pd.DataFrame(data, columns=[n for n in names if not (geom and n == geom[0])])
    if geom:
        column, srid, geom_type = geom
        if srid == 0:
            srids = {s for (s,) in conn.execute(
                sql.SQL("SELECT DISTINCT ST_SRID({}) FROM {} WHERE run_id = %s").format(
                    sql.Identifier(column), sql.Identifier("bi", table.relation)), (run_id,))}
            if len(srids) > 1:
                raise InputError(f"bi.{table.relation}.{column} mixes SRIDs {sorted(srids)}")
            srid = srids.pop() if srids else 4326
        shapes = shapely.from_wkb([None if v is None else bytes(v) for v in wkb])
        frame = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(shapes, crs=_crs(conn, srid)).rename(column))
        frame.attrs["geometry_type"] = _GEOMETRY_TYPES.get(geom_type.upper(), "Unknown")
    frame.attrs["description"] = description or ""
    return frame


def _read_all(conn: psycopg.Connection, tables: tuple[Table, ...], analysis: Analysis,
              geometry: bool) -> dict[str, pd.DataFrame]:
    return {t.name: read_table(conn, t, analysis, geometry) for t in tables}


# ---------------------------------------------------------------- writing


def _remove(path: Path) -> None:
    for p in (path, *(path.with_name(path.name + s) for s in ("-journal", "-wal", "-shm"))):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


@contextlib.contextmanager
def _sqlite_unsynchronised():
    """GDAL's SQLite writes without a sync per transaction (4x faster for a GeoPackage of many layers); the file is
    a temporary one, synced once (:func:`_fsync`) before it is renamed."""
    before = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": before})


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def export_gpkg(conn: psycopg.Connection, area: StudyArea | str | None, path: str | Path,
                run_id: int | None = None, overwrite: bool = False) -> TablesExportInfo:
    """Write every vector result of an analysis of ``area`` to one GeoPackage (the layers of :data:`GPKG_LAYERS`).

    ``run_id``: the zoning run (default: the current analysis of ``bi.current_run``); its pattern run is the newest
    succeeded pattern run that read it. Geometries are those of ``bi`` at full precision, in the CRS of their SRID
    (EPSG:4326); layers without geometry are GeoPackage attribute tables. Each layer's description is the comment
    of its ``bi`` relation.

    Raises:
        InputError: the file name does not end in ``.gpkg``, is a folder, exists without ``overwrite``, or its
        folder is missing or not writable; the analysis cannot be resolved (:func:`resolve_analysis`); GDAL cannot
        write the file. Nothing is written then.
    """
    started = time.perf_counter()
    area = area_of(conn, area)
    what = f"GeoPackage of study area {area.name!r}"
    target = check_target(Path(path), overwrite, what, example="results.gpkg")
    if target.suffix.lower() != ".gpkg":
        raise InputError(f"{what}: output {target} must end in .gpkg")
    analysis = resolve_analysis(conn, area, run_id)
    frames = _read_all(conn, GPKG_LAYERS, analysis, geometry=True)
    read_done = time.perf_counter()
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex[:12]}.tmp.gpkg")
    try:
        with _sqlite_unsynchronised():
            for name, frame in frames.items():
                options = {"DESCRIPTION": frame.attrs["description"]}
                extra = {"geometry_type": frame.attrs["geometry_type"]} if isinstance(frame, gpd.GeoDataFrame) else {}
                pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", layer_options=options, **extra)
        _fsync(tmp)
        os.replace(tmp, target)
    except (OSError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            pyogrio.errors.FieldError, pyogrio.errors.GeometryError) as exc:
        raise InputError(f"{what}: cannot write {target}: {exc}") from exc
    finally:
        _remove(tmp)
    done = time.perf_counter()
    return TablesExportInfo(target, "layers", analysis.study_area, analysis.zoning_run_id, analysis.pattern_run_id,
                            {n: len(f) for n, f in frames.items()}, target.stat().st_size,
                            read_done - started, done - read_done, done - started)


def _check_folder(folder: Path, what: str) -> tuple[Path, list[Path]]:
    """(``folder`` as an absolute path, the folders to create for it, outermost first)."""
    folder = Path(folder).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{what}: output {folder} is a file, not a folder")
    missing = []
    existing = folder
    while not existing.exists():
        missing.insert(0, existing)
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{what}: cannot create folder {folder}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{what}: cannot write in {existing}: the folder is not writable")
    return folder, missing


def export_csv(conn: psycopg.Connection, area: StudyArea | str | None, folder: str | Path,
               run_id: int | None = None, overwrite: bool = False) -> TablesExportInfo:
    """Write the county tables of an analysis of ``area`` as CSV files in ``folder`` (:data:`CSV_TABLES`,
    ``NAME.csv`` each), without geometry.

    The files are UTF-8 with a byte-order mark (``utf-8-sig``, so that Excel reads Chinese names), comma-separated,
    with a header row, ``\\n`` line ends, NULL (and an empty text) as an empty field, reals at full precision
    (they read back exactly), booleans as ``True`` / ``False`` and date-times as ISO 8601 with their UTC offset.
    ``folder`` is created when missing. Every target is checked before anything is written, each file is written
    under a temporary name, and all are renamed at the end.

    Raises:
        InputError: ``folder`` is a file or cannot be created or written; a target file exists without
        ``overwrite`` (all are named); the analysis cannot be resolved (:func:`resolve_analysis`). Nothing is
        written then.
    """
    started = time.perf_counter()
    area = area_of(conn, area)
    what = f"CSV files of study area {area.name!r}"
    folder, missing = _check_folder(Path(folder), what)
    targets = {t.name: folder / f"{t.name}.csv" for t in CSV_TABLES}
    taken = [p.name for p in targets.values() if p.exists() or p.is_symlink()]
    if [p for p in targets.values() if p.is_dir()]:
        raise InputError(f"{what}: {', '.join(p.name for p in targets.values() if p.is_dir())} in {folder} "
                         "is a folder")
    if taken and not overwrite:
        named = ", ".join(taken[:3]) + (f" and {len(taken) - 3} more" if len(taken) > 3 else "")
        raise InputError(f"{what}: {folder} already holds {named}; use --overwrite to replace them")
    analysis = resolve_analysis(conn, area, run_id)
    frames = _read_all(conn, CSV_TABLES, analysis, geometry=False)
    read_done = time.perf_counter()
    tag = uuid.uuid4().hex[:12]
    tmps = {name: folder / f".{name}.{tag}.tmp.csv" for name in targets}
    try:
        for new in missing:
            new.mkdir()
        for name, frame in frames.items():
            frame.to_csv(tmps[name], index=False, encoding="utf-8-sig", lineterminator="\n")
            _fsync(tmps[name])
        for name, target in targets.items():
            os.replace(tmps[name], target)
    except OSError as exc:
        for tmp in tmps.values():
            _remove(tmp)
        for new in reversed(missing):
            with contextlib.suppress(OSError):
                new.rmdir()
        raise InputError(f"{what}: cannot write in {folder}: {exc}") from exc
    finally:
        for tmp in tmps.values():
            _remove(tmp)
    done = time.perf_counter()
    return TablesExportInfo(folder, "files", analysis.study_area, analysis.zoning_run_id, analysis.pattern_run_id,
                            {f"{n}.csv": len(f) for n, f in frames.items()},
                            sum(p.stat().st_size for p in targets.values()),
                            read_done - started, done - read_done, done - started)
