"""Reading polygon layers (GeoJSON, GeoPackage, Shapefile ...) and preparing
them for the study-area CRS: codes, duplicate check, validity, MultiPolygon.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from ..errors import InputError
from .common import code_text, existing_file, short_list

CODE_CANDIDATES = ("code", "adcode", "district_adcode", "ws_id", "subws_id", "gb", "id")
NAME_CANDIDATES = ("name", "district_name", "short_name", "ws_name")


def read_vector(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    path = existing_file(path, "vector file")
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:
        raise InputError(f"cannot read vector file {path}: {exc}") from exc
    if layer is not None and layer not in layers:
        raise InputError(f"vector file {path} has no layer {layer!r} (layers: {short_list(layers)})")
    if layer is None and len(layers) > 1:
        raise InputError(f"vector file {path} has several layers ({short_list(layers)}): choose one with --layer")
    try:
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:
        raise InputError(f"cannot read vector file {path}: {exc}") from exc


@dataclass
class Polygons:
    """Prepared polygons: codes, names, other fields and MultiPolygon geometries."""

    frame: gpd.GeoDataFrame  # columns code, name, + requested fields, geometry
    repaired: list[str]


def pick_field(frame, given: str | None, candidates, what: str, path: Path, required: bool) -> str | None:
    fields = [c for c in frame.columns if c != frame.geometry.name]
    if given is not None:
        if given not in fields:
            raise InputError(f"{path}: field {given!r} for the {what} not found (fields: {short_list(fields, 30)})")
        return given
    lower = {c.lower(): c for c in fields}
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    if required:
        raise InputError(f"{path}: no {what} field found; name it with an option (fields: {short_list(fields, 30)})")
    return None


def prepare_polygons(frame: gpd.GeoDataFrame, path: Path, target_crs: CRS, code_field: str | None,
                     name_field: str | None = None, extra_fields: dict[str, str | None] | None = None,
                     repair: bool = True, src_crs: str | None = None, what: str = "unit") -> Polygons:
    """Codes, validity, duplicates and CRS of a polygon layer, checked and repaired."""
    if frame.empty:
        raise InputError(f"{path}: the layer has no features")
    if frame.crs is None:
        if src_crs is None:
            raise InputError(f"{path}: the layer declares no CRS; give it with --src-crs (e.g. EPSG:4326)")
        frame = frame.set_crs(src_crs)
    code_col = pick_field(frame, code_field, CODE_CANDIDATES, "code", path, True)
    name_col = pick_field(frame, name_field, NAME_CANDIDATES, "name", path, False)
    # object columns: a missing code/name stays None (pandas' string dtype would turn it into NaN)
    codes = [code_text(v) for v in frame[code_col]]
    out = gpd.GeoDataFrame(
        {"code": pd.Series(codes, dtype=object)}, geometry=frame.geometry.values, crs=frame.crs
    )
    names = [None if pd.isna(v) else str(v) for v in frame[name_col]] if name_col else [None] * len(codes)
    out["name"] = pd.Series(names, index=out.index, dtype=object)
    for key, field in (extra_fields or {}).items():
        if field is None:
            out[key] = None
        else:
            col = pick_field(frame, field, (), key.replace("_", " "), path, True)
            out[key] = pd.Series([code_text(v) for v in frame[col]], index=out.index, dtype=object)
    missing = [i for i, c in enumerate(codes) if c is None]
    if missing:
        raise InputError(f"{path}: feature(s) {short_list(missing)} have no {what} code in field {code_col!r}")
    counts = out["code"].value_counts()
    dups = counts[counts > 1]
    if len(dups):
        detail = short_list(f"{c} ({n} features)" for c, n in dups.items())
        raise InputError(f"{path}: duplicate {what} codes in field {code_col!r}: {detail}")
    geoms = out.geometry.values
    empty = [c for c, g in zip(out["code"], geoms) if g is None or g.is_empty]
    if empty:
        raise InputError(f"{path}: {what}(s) {short_list(empty)} have an empty geometry")
    kinds = shapely.get_type_id(geoms)
    bad = [c for c, k in zip(out["code"], kinds) if k not in (3, 6)]
    if bad:
        raise InputError(f"{path}: {what}(s) {short_list(bad)} are not polygons")
    repaired: list[str] = []
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        codes = list(out["code"][invalid])
        if not repair:
            reasons = [shapely.is_valid_reason(g) for g in geoms[invalid]]
            raise InputError(
                f"{path}: invalid geometry for {what}(s) "
                + short_list(f"{c} ({r})" for c, r in zip(codes, reasons))
                + "; load without --no-repair to repair them"
            )
        geoms = geoms.copy()
        geoms[invalid] = [_polygonal(shapely.make_valid(g)) for g in geoms[invalid]]
        repaired = codes
    out = out.set_geometry(geoms).to_crs(target_crs)
    geoms = out.geometry.values
    still = ~shapely.is_valid(geoms)
    if still.any():  # reprojection can create self-intersections on tight rings
        geoms = geoms.copy()
        geoms[still] = [_polygonal(shapely.make_valid(g)) for g in geoms[still]]
        repaired = sorted(set(repaired) | set(out["code"][still]))
    emptied = [c for c, g in zip(out["code"], geoms) if g is None or g.is_empty]
    if emptied:
        raise InputError(f"{path}: {what}(s) {short_list(emptied)} have no area left after repair")
    out = out.set_geometry([_multi(g) for g in geoms], crs=out.crs)
    return Polygons(out, repaired)


def _polygonal(geom):
    """The polygonal part of a repaired geometry (make_valid may add lines or points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _multi(geom):
    return shapely.MultiPolygon([geom]) if geom.geom_type == "Polygon" else geom


def insert_polygons(conn, table: str, columns: list[str], rows, srid: int) -> None:
    """Insert rows whose last value is a shapely geometry into ``table``."""
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}, geom) VALUES ({placeholders}, ST_SetSRID(ST_GeomFromWKB(%s), %s))"
    with conn.cursor() as cur:
        cur.executemany(sql, [(*r[:-1], shapely.to_wkb(r[-1]), srid) for r in rows])


def overlaps_extent(polys: Polygons, bounds) -> np.ndarray:
    box = shapely.box(*bounds)
    return shapely.intersects(polys.frame.geometry.values, box)
