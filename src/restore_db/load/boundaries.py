"""Load administrative units (county, city, province) and other zone sets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from restore_db.publish.bi import refresh
from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea, crs_of_srid
from restore_db.load.common import lock_name, short_list
from restore_db.load.vector import insert_polygons, overlaps_extent, prepare_polygons, read_layer

LEVELS = ("county", "city", "province")


@dataclass
class BoundaryInfo:
    """What a load stored: level or zone set, unit count, repaired and skipped codes, and how the file was read."""

    level: str
    count: int
    repaired: list[str]
    outside: list[str]
    dropped_dims: str = ""  # "Z", "M" or "ZM" when the file had them; the polygons are stored in 2-D
    detected_encoding: str | None = None  # encoding of a shapefile's text found by restore-db (none declared)
    unchanged: bool = False  # the file holds exactly the current units: nothing was written
    superseded: int = 0      # units replaced by this load, kept (superseded) for the runs that used them


def load_boundaries(conn: psycopg.Connection, area: StudyArea, path: str | Path, level: str,
                    layer: str | None = None, code_field: str | None = None, name_field: str | None = None,
                    parent_field: str | None = None, province_field: str | None = None,
                    repair: bool = True, replace: bool = False, src_crs: str | None = None,
                    encoding: str | None = None) -> BoundaryInfo:
    """Load the polygons of ``path`` as administrative units of ``level`` (caller's transaction).

    ``encoding`` is the text encoding of a shapefile that declares none or declares a wrong one. Boundaries are
    versioned: a file holding exactly the current units (codes, names, parents, geometry) changes nothing; other
    units replace the current ones only with ``replace``, and the replaced units are kept (superseded), so no run
    loses its results (results may not refer to a deleted unit). Returns a :class:`BoundaryInfo`. Raises InputError for a bad
    level, file, layer, field, text encoding or geometry (see ``read_layer`` and ``prepare_polygons``), no polygon
    overlapping the study area, or other units of that level already loaded without ``replace``.
    """
    if level not in LEVELS:
        raise InputError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    path = Path(path)
    source = read_layer(path, layer, encoding)
    polys = prepare_polygons(
        source.frame, path, crs_of_srid(conn, area.grid.srid), code_field, name_field,
        {"parent_code": parent_field, "province_code": province_field}, repair, src_crs, level, source.measured,
    )
    inside = overlaps_extent(polys, area.grid.bounds)
    if not inside.any():
        raise InputError(f"{path}: no {level} polygon overlaps study area {area.name!r}")
    outside = list(polys.frame["code"][~inside])
    f = polys.frame[inside]
    repaired = set(polys.repaired)
    rows = [
        (area.study_area_id, level, code, name, parent, prov, code in repaired, str(path.resolve()), geom)
        for code, name, parent, prov, geom in zip(f["code"], f["name"], f["parent_code"], f["province_code"],
                                                  f.geometry.values)
    ]
    info = BoundaryInfo(level, len(rows), sorted(repaired), outside, polys.dropped_dims, source.detected_encoding)
    lock_name(conn, area.study_area_id, "boundaries", level)    # a concurrent load of this level waits
    current = _current_units(conn, area, level)
    if current:
        if current == _fingerprints(rows):
            info.unchanged = True          # the same units: nothing to do, earlier runs stay current
            return info
        if not replace:
            raise InputError(f"{path}: study area {area.name!r} already has {len(current)} other {level} units; "
                             "use --replace to load them (runs made with the current ones keep them)")
        info.superseded = _supersede(conn, area, level)
    insert_polygons(conn, "core.admin_unit",
                    ["study_area_id", "level", "code", "name", "parent_code", "province_code", "repaired",
                     "source_path"], rows, area.grid.srid)
    if level == "county":
        refresh(conn)     # bi follows the counties
    return info


def _current_units(conn: psycopg.Connection, area: StudyArea, level: str) -> set[tuple]:
    """(code, name, parent, province, WKB hex) of the current units of ``level``."""
    return set(conn.execute(
        """SELECT code, name, parent_code, province_code, encode(ST_AsBinary(geom, 'NDR'), 'hex')
           FROM core.admin_unit WHERE study_area_id = %s AND level = %s""", (area.study_area_id, level)).fetchall())


def _fingerprints(rows: list[tuple]) -> set[tuple]:
    """The same tuples as :func:`_current_units` for rows about to be inserted."""
    import shapely

    return {(code, name, parent, prov, shapely.to_wkb(geom, byte_order=1, output_dimension=2).hex())
            for _, _, code, name, parent, prov, _, _, geom in rows}


def _supersede(conn: psycopg.Connection, area: StudyArea, level: str) -> int:
    """Retire the current units of ``level``: they are kept, superseded, so every run that used them (or that
    commits while this load runs) stays whole; nothing is deleted. Returns the number retired."""
    return conn.execute(
        """UPDATE core.admin_unit_version SET superseded_at = now()
           WHERE study_area_id = %s AND level = %s AND superseded_at IS NULL""", (area.study_area_id, level)).rowcount


def load_zones(conn: psycopg.Connection, area: StudyArea, path: str | Path, zone_set: str,
               layer: str | None = None, code_field: str | None = None, name_field: str | None = None,
               repair: bool = True, replace: bool = False, encoding: str | None = None) -> BoundaryInfo:
    """Load a zone set (e.g. InVEST watersheds) into core.zone; other fields go to ``attrs``.

    ``encoding`` is the text encoding of a shapefile that declares none. Returns a :class:`BoundaryInfo`.
    Raises InputError for a bad file, layer, field, text encoding or geometry, no zone overlapping the study
    area, or a zone set already loaded without ``replace``.
    """
    import json

    path = Path(path)
    source = read_layer(path, layer, encoding)
    frame = source.frame
    polys = prepare_polygons(frame, path, crs_of_srid(conn, area.grid.srid), code_field, name_field,
                             None, repair, None, "zone", source.measured)
    inside = overlaps_extent(polys, area.grid.bounds)
    if not inside.any():
        raise InputError(f"{path}: no zone overlaps study area {area.name!r}")
    (existing,) = conn.execute(
        "SELECT count(*) FROM core.zone WHERE study_area_id = %s AND zone_set = %s", (area.study_area_id, zone_set)
    ).fetchone()
    if existing:
        if not replace:
            raise InputError(f"study area {area.name!r} already has zone set {zone_set!r}; use --replace")
        conn.execute("DELETE FROM core.zone WHERE study_area_id = %s AND zone_set = %s", (area.study_area_id, zone_set))
    attrs_cols = [c for c in frame.columns if c != frame.geometry.name]
    attrs = frame[attrs_cols].astype(object).where(frame[attrs_cols].notna(), None)
    rows = []
    for i in range(len(polys.frame)):
        if not inside[i]:
            continue
        record = {k: (v.item() if hasattr(v, "item") else v) for k, v in attrs.iloc[i].items()}
        rows.append((area.study_area_id, zone_set, polys.frame["code"].iloc[i], polys.frame["name"].iloc[i],
                     json.dumps(record, default=str), str(path.resolve()), polys.frame.geometry.iloc[i]))
    insert_polygons(conn, "core.zone", ["study_area_id", "zone_set", "code", "name", "attrs", "source_path"],
                    rows, area.grid.srid)
    return BoundaryInfo(zone_set, len(rows), polys.repaired, list(polys.frame["code"][~inside]), polys.dropped_dims,
                        source.detected_encoding)


def describe_outside(info: BoundaryInfo) -> str:
    return short_list(info.outside)
