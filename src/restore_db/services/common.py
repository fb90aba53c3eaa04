"""Pieces shared by the services: lookup tables, class checks, county sums."""

from __future__ import annotations

import numpy as np
import psycopg
from psycopg import sql

from ..errors import InputError
from ..load.common import short_list
from ..load.params import lulc_codes_in_layer
from ..studyarea import StudyArea


def lookup_table(conn: psycopg.Connection, area: StudyArea, param_set: str, coefficients: list[str],
                 lulc_layer: str = "lulc") -> dict[str, np.ndarray]:
    """Coefficient arrays indexed by land-use code (NaN for codes without a value).

    Fails before any computation when the set is missing, a coefficient column is
    absent, or a class present in the land-use layer has no value (domain.md 0.2).
    """
    row = conn.execute("SELECT param_set_id, kind FROM param.param_set WHERE study_area_id = %s AND name = %s",
                       (area.study_area_id, param_set)).fetchone()
    if row is None:
        raise InputError(f"study area {area.name!r} has no parameter set {param_set!r}; load it with `load params`")
    if row[1] != "lulc":
        raise InputError(f"parameter set {param_set!r} is not a land-use lookup table")
    values = conn.execute("SELECT lucode, coefficient, value FROM param.lulc_value WHERE param_set_id = %s",
                          (row[0],)).fetchall()
    present = lulc_codes_in_layer(conn, area, lulc_layer)
    if present is None:
        raise InputError(f"study area {area.name!r} has no land-use layer {lulc_layer!r}")
    size = max([v[0] for v in values] + present + [0]) + 1
    if min(present + [0]) < 0:
        raise InputError(f"layer {lulc_layer!r} has negative class codes; lookup tables need codes >= 0")
    out = {}
    for coef in coefficients:
        lut = np.full(size, np.nan)
        for code, name, value in values:
            if name == coef:
                lut[code] = value
        missing = [c for c in present if np.isnan(lut[c])]
        if len(missing) == len(present):
            raise InputError(f"parameter set {param_set!r} has no column {coef!r}")
        if missing:
            raise InputError(f"parameter set {param_set!r}: {coef!r} has no value for land-use class(es) "
                             f"{short_list(missing)} present in layer {lulc_layer!r}")
        out[coef] = lut
    return out


def apply_lut(codes: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """Per-pixel coefficient for float land-use codes (NaN = nodata stays NaN)."""
    out = np.full(codes.shape, np.nan)
    valid = ~np.isnan(codes)
    out[valid] = lut[codes[valid].astype(np.int64)]
    return out


def scalar(conn: psycopg.Connection, area: StudyArea, name: str, param_set: str | None = None) -> tuple[float, str]:
    """A scalar parameter: from ``param_set`` when given, else the newest set defining it, else the default."""
    q = """SELECT s.value, s.source FROM param.scalar s JOIN param.param_set p USING (param_set_id)
           WHERE p.study_area_id = %s AND s.name = %s AND (%s::text IS NULL OR p.name = %s)
           ORDER BY p.loaded_at DESC LIMIT 1"""
    row = conn.execute(q, (area.study_area_id, name, param_set, param_set)).fetchone()
    if row:
        return float(row[0]), row[1] or param_set or "parameter set"
    if param_set is not None:
        raise InputError(f"parameter set {param_set!r} does not define {name!r}")
    row = conn.execute("SELECT default_value, reference FROM param.scalar_def WHERE name = %s", (name,)).fetchone()
    if row is None or row[0] is None:
        raise InputError(f"no value for parameter {name!r}: load a scalar table that defines it")
    return float(row[0]), f"default ({row[1]})"


def aggregate_counties(conn: psycopg.Connection, area: StudyArea, run_id: int, service: str, side: str,
                       layer_table: tuple[str, str], layer: str, unit: str, scale: float) -> int:
    """Sum a computed layer per county (exact at county edges: ST_Clip, pixel-centre rule).

    total = scale * sum of pixel values; density = total / valid area in km2.
    """
    schema, table = layer_table
    px_km2 = area.grid.pixel_area_m2 / 1e6
    query = sql.SQL("""
        INSERT INTO result.county_service (run_id, unit_id, service, side, layer, total, unit, mean, density_km2, valid_cells)
        SELECT %(run)s, unit_id, %(service)s, %(side)s, %(layer)s, (s).sum * %(scale)s, %(unit)s, (s).mean,
               (s).sum * %(scale)s / nullif((s).count * %(px_km2)s, 0), (s).count
        FROM (SELECT u.unit_id, ST_SummaryStatsAgg(ST_Clip(r.rast, 1, u.geom, true), 1, true) AS s
              FROM core.admin_unit u JOIN {}.{} r ON ST_Intersects(r.rast, u.geom)
              WHERE u.study_area_id = %(area)s AND u.level = 'county'
              GROUP BY u.unit_id) z
        WHERE (s).count > 0""").format(sql.Identifier(schema), sql.Identifier(table))
    cur = conn.execute(query, dict(run=run_id, service=service, side=side, layer=layer, scale=scale, unit=unit,
                                   px_km2=px_km2, area=area.study_area_id))
    return cur.rowcount
