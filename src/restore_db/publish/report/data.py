"""What the report shows, read from the database in one transaction.

Every figure of the report comes from the ``bi`` relations of one zoning run and the pattern run that read it
(the relations BI tools read, so the report and a dashboard never disagree), the stage runs' recorded settings
(``core.run.params``) and warnings (``core.run.timings -> 'warnings'``), and the parameter tables the services run
read. Geometries are in the study area's grid CRS (its SRID in ``spatial_ref_sys``): county, city and province
polygons from ``core.admin_unit`` as loaded, pattern geometries transformed from the EPSG:4326 of ``bi`` by
PostGIS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
import psycopg
import shapely

from restore_db.publish import analysis
from restore_db.grid.studyarea import StudyArea, crs_of_srid


@dataclass
class Runs:
    """The runs behind one analysis: ids (None when absent) and when the zoning run finished."""
    zoning: int
    ratios: int
    resilience: int
    services: int
    pattern: int | None
    finished_at: object = None
    label: str | None = None
    code_version: str | None = None


@dataclass
class ReportData:
    """Everything the report shows, as pandas / geopandas frames (geometry in the grid CRS)."""
    area: StudyArea
    crs: object                      # pyproj CRS of the grid
    runs: Runs
    counties: gpd.GeoDataFrame       # bi.county rows of the zoning run + polygon
    provinces: gpd.GeoDataFrame
    cities: gpd.GeoDataFrame
    dimensions: pd.DataFrame         # bi.county_dimension_long of the run
    weights: pd.DataFrame            # bi.indicator_weight of the run
    balance: pd.DataFrame            # bi.balance_class of the run
    zones: pd.DataFrame              # bi.zone_summary of the run
    zone_types: pd.DataFrame         # the zone types the zoning run recorded
    pattern: dict[str, gpd.GeoDataFrame | pd.DataFrame] = field(default_factory=dict)
    pattern_summary: dict | None = None
    params: dict[str, dict] = field(default_factory=dict)      # stage -> core.run.params
    warnings: list[tuple[str, int, str]] = field(default_factory=list)
    units: dict[str, tuple[str, str]] = field(default_factory=dict)   # service -> (supply unit, demand unit)
    scalars: pd.DataFrame | None = None
    coefficients: pd.DataFrame | None = None
    coefficient_values: pd.DataFrame | None = None


def _rows(conn: psycopg.Connection, query: str, args=()) -> pd.DataFrame:
    cur = conn.execute(query, args)
    return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def _geo(conn: psycopg.Connection, query: str, args, crs) -> gpd.GeoDataFrame:
    """Rows of ``query`` whose column ``wkb`` holds the geometry as WKB, as a GeoDataFrame."""
    frame = _rows(conn, query, args)
    geoms = shapely.from_wkb(frame.pop("wkb").to_numpy()) if len(frame) else []
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)


def resolve_runs(conn: psycopg.Connection, area: StudyArea, zoning_run: int | None = None) -> Runs:
    """The zoning run to report (``zoning_run`` or the current one of ``bi.current_run``, as
    :func:`restore_db.publish.analysis.resolve` finds it) and the runs it read.

    Raises:
        InputError: as :func:`restore_db.publish.analysis.resolve`.
    """
    found = analysis.resolve(conn, area, zoning_run, what="report")
    finished, label, version, runs = conn.execute(
        "SELECT finished_at, label, code_version, inputs -> 'runs' FROM core.run WHERE run_id = %s",
        (found.zoning_run_id,)).fetchone()
    return Runs(found.zoning_run_id, runs["ratios"], runs["resilience"], runs["services"], found.pattern_run_id,
                finished, label, version)


def read(conn: psycopg.Connection, area: StudyArea, zoning_run: int | None = None) -> ReportData:
    """Read the report's data of ``area`` for ``zoning_run`` (default: the current analysis).

    The counties are those the zoning run used (``core.admin_unit_version``: current or superseded since), every
    one of them; province and city outlines are the versions that were current when the run finished.

    Raises:
        InputError: as :func:`resolve_runs`.
    """
    runs = resolve_runs(conn, area, zoning_run)
    srid = area.grid.srid
    crs = crs_of_srid(conn, srid)
    counties = _geo(conn, """
        SELECT c.*, ST_AsBinary(u.geom) AS wkb
        FROM bi.county c JOIN core.admin_unit_version u USING (unit_id)
        WHERE c.run_id = %s ORDER BY c.county_code""", (runs.zoning,), crs)
    counties = counties.drop(columns=["geom", "geom_geojson_4326"], errors="ignore")
    units = """SELECT code, name, ST_AsBinary(geom) AS wkb FROM core.admin_unit_version
               WHERE study_area_id = %s AND level = %s AND loaded_at <= %s
                 AND (superseded_at IS NULL OR superseded_at > %s) ORDER BY code"""
    when = runs.finished_at
    zone_types, zone_set = conn.execute(
        "SELECT inputs -> 'zone_types', coalesce(params -> 'zoning' ->> 'zone_set', 'default') FROM core.run "
        "WHERE run_id = %s", (runs.zoning,)).fetchone()
    if not zone_types:   # a run that did not record them: the zone set as it is now
        zone_types = {r["code"]: r for r in _rows(conn, "SELECT * FROM param.zone_type WHERE zone_set = %s",
                                                  (zone_set,)).to_dict("records")}
    data = ReportData(
        area=area, crs=crs, runs=runs, counties=counties,
        provinces=_geo(conn, units, (area.study_area_id, "province", when, when), crs),
        cities=_geo(conn, units, (area.study_area_id, "city", when, when), crs),
        dimensions=_rows(conn, "SELECT * FROM bi.county_dimension_long WHERE run_id = %s", (runs.zoning,)),
        weights=_rows(conn, "SELECT * FROM bi.indicator_weight WHERE run_id = %s ORDER BY position",
                      (runs.zoning,)),
        balance=_rows(conn, "SELECT * FROM bi.balance_class WHERE run_id = %s ORDER BY level, service, rank",
                      (runs.zoning,)),
        zones=_rows(conn, "SELECT * FROM bi.zone_summary WHERE run_id = %s ORDER BY zone_code", (runs.zoning,)),
        zone_types=_zone_types(zone_types),
    )
    data.units = {s: (su, du) for s, su, du in conn.execute(
        "SELECT service, supply_unit, demand_unit FROM result.ratio_service WHERE run_id = %s", (runs.ratios,))}
    ids = [r for r in (runs.services, runs.ratios, runs.resilience, runs.zoning, runs.pattern) if r is not None]
    for run_id, stage, params, warns in conn.execute(
            "SELECT run_id, stage, params, timings -> 'warnings' FROM core.run WHERE run_id = ANY(%s) ORDER BY run_id",
            (ids,)).fetchall():
        data.params[stage] = params or {}
        for text in warns or []:
            data.warnings.append((stage, run_id, str(text)))
    if runs.pattern is not None:
        _read_pattern(conn, data, runs.pattern, srid, crs)
    _read_parameters(conn, data, runs.services)
    return data


def _zone_types(recorded: dict | None) -> pd.DataFrame:
    """The zone types the zoning run recorded (``core.run.inputs -> 'zone_types'``), one row per code, with the
    matching type and resilience class of the code, in the order I-1 ... IV-2."""
    rows = []
    for code, z in sorted((recorded or {}).items(), key=lambda kv: (_ROMAN.get(kv[1].get("roman"), 9), kv[0])):
        rows.append({"code": code, "matching_type": code.split("-")[0], "resilience": code.split("-")[-1],
                     **{k: z.get(k) for k in ("roman", "name_en", "name_zh", "strategy_name", "strategy",
                                              "strategy_name_zh", "strategy_zh")}})
    return pd.DataFrame(rows, columns=["code", "matching_type", "resilience", "roman", "name_en", "name_zh",
                                       "strategy_name", "strategy", "strategy_name_zh", "strategy_zh"])


_ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5}


# bi relation -> (key column order, has geometry)
PATTERN_RELATIONS = {
    "sources": ("pattern_source", "source_id", True),
    "corridors": ("pattern_corridor", "corridor_id", True),
    "corridor_areas": ("pattern_corridor_area", "corridor_id", True),
    "nodes": ("pattern_node", "node_id", True),
    "pinches": ("pattern_pinch", "rank", True),
    "barriers": ("pattern_barrier", "rank", True),
    "units": ("pattern_collab_unit", "unit_no", True),
    "tasks": ("pattern_task", "rank", False),
    "members": ("pattern_member", "county_code", False),
}


def _read_pattern(conn, data: ReportData, run_id: int, srid: int, crs) -> None:
    for key, (relation, order, geometric) in PATTERN_RELATIONS.items():
        if geometric:
            data.pattern[key] = _geo(conn, f"""
                SELECT *, ST_AsBinary(ST_Transform(geom, %s)) AS wkb FROM bi.{relation}
                WHERE run_id = %s ORDER BY {order}""", (srid, run_id), crs).drop(
                columns=["geom", "geom_geojson_4326"], errors="ignore")
        else:
            data.pattern[key] = _rows(conn, f"SELECT * FROM bi.{relation} WHERE run_id = %s ORDER BY {order}",
                                      (run_id,)).drop(columns=["geom", "geom_geojson_4326"], errors="ignore")
    summary = _rows(conn, "SELECT * FROM bi.pattern_run WHERE run_id = %s", (run_id,))
    data.pattern_summary = summary.iloc[0].to_dict() if len(summary) else None


def _read_parameters(conn, data: ReportData, services_run: int) -> None:
    """The scalar and land-use coefficient parameters of the parameter sets the services run read."""
    sets = conn.execute(
        """SELECT p.param_set_id, p.name, p.kind, p.citation FROM core.run r
           CROSS JOIN LATERAL jsonb_object_keys(r.inputs -> 'param_sets') AS s(name)
           JOIN param.param_set p ON p.name = s.name AND p.study_area_id = r.study_area_id
           WHERE r.run_id = %s ORDER BY p.kind, p.name""", (services_run,)).fetchall()
    scalar_sets = [s[0] for s in sets if s[2] == "scalar"]
    lulc_sets = [s[0] for s in sets if s[2] == "lulc"]
    data.scalars = _rows(conn, """
        SELECT d.name, coalesce(s.value, d.default_value) AS value, d.unit, d.description, d.used_by,
               CASE WHEN s.value IS NULL THEN 'default' ELSE ps.name END AS parameter_set,
               coalesce(nullif(s.source, ''), d.reference) AS source
        FROM param.scalar_def d
        LEFT JOIN param.scalar s ON s.name = d.name AND s.param_set_id = ANY(%s)
        LEFT JOIN param.param_set ps ON ps.param_set_id = s.param_set_id
        ORDER BY d.used_by, d.name""", (scalar_sets,))
    data.coefficients = _rows(conn, """
        SELECT c.name, c.unit, c.description, c.used_by, c.reference AS source
        FROM param.coefficient c
        WHERE EXISTS (SELECT 1 FROM param.lulc_value v WHERE v.coefficient = c.name AND v.param_set_id = ANY(%s))
        ORDER BY c.used_by, c.name""", (lulc_sets,))
    data.coefficient_values = _rows(conn, """
        SELECT v.lucode, k.description AS class, v.coefficient, v.value
        FROM param.lulc_value v
        LEFT JOIN param.lulc_class k ON k.param_set_id = v.param_set_id AND k.lucode = v.lucode
        WHERE v.param_set_id = ANY(%s) ORDER BY v.lucode, v.coefficient""", (lulc_sets,))
