"""Study areas: creation, look-up and the CRS rules of the reference grid.

The grid CRS must be projected with metre units: areas (t/ha -> t per pixel),
slope lengths and landscape metrics need them (docs/models/conventions.md#grid-crs-and-alignment). A CRS that is
not in ``spatial_ref_sys`` (e.g. an Albers equal-area CRS for China) is
registered there under a new SRID >= 900000.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from pyproj import CRS
from pyproj.enums import WktVersion

from restore_db.errors import InputError
from restore_db.grid.reference import Grid

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,19}$")
LAYER_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
CUSTOM_SRID_BASE = 900000


@dataclass(frozen=True)
class StudyArea:
    study_area_id: int
    name: str
    grid: Grid
    title: str | None = None

    @property
    def crs(self) -> CRS:
        return CRS.from_user_input(self.grid.srid) if self.grid.srid < CUSTOM_SRID_BASE else None


def check_name(name: str, what: str = "name", pattern: re.Pattern = NAME_RE) -> str:
    """``name`` when it is a valid identifier (lower-case, digits, '_'), else an InputError."""
    if not pattern.match(name or ""):
        longest = 20 if pattern is NAME_RE else 32
        raise InputError(
            f"invalid {what} {name!r}: use 1-{longest} lower-case letters, digits and '_', starting with a letter"
        )
    return name


def parse_crs(user_crs: str | int, what: str | None = None) -> CRS:
    """A CRS given by the user: an EPSG code, 'EPSG:32650', a PROJ string, WKT or PROJJSON.

    Args:
        user_crs: the text (or EPSG number) given.
        what: the option or file that gave it (e.g. ``--src-crs``), named in the message.
    Returns:
        The pyproj CRS.
    Raises:
        InputError: pyproj cannot read it (one line naming ``what`` and the text).
    """
    try:
        return CRS.from_user_input(user_crs)
    except Exception as exc:  # pyproj raises CRSError, a subclass of Exception
        reason = " ".join(str(exc).split())
        raise InputError(f"{what + ': ' if what else ''}cannot read CRS {user_crs!r}: {reason}") from None


def source_crs(declared, given: str | None, path, kind: str, example: str = "EPSG:4326") -> CRS:
    """The CRS of a source file (raster or vector): ``given`` (``--src-crs``) when set, else the one the file
    declares, which must be placed on the earth (geographic or projected).

    Args:
        declared: what the file declares (a pyproj/rasterio CRS, WKT, or None).
        given: the ``--src-crs`` text, or None.
        path: the file, named in messages; kind: "raster" or "vector file".
        example: the CRS suggested in messages.
    Returns:
        The pyproj CRS.
    Raises:
        InputError: an unreadable ``given``, a file without a CRS, or a local (engineering) CRS.
    """
    if given is not None:
        crs = parse_crs(given, "--src-crs")
    elif declared is None:
        raise InputError(f"{kind} {path} declares no CRS; give it with --src-crs (e.g. {example})")
    else:
        try:
            crs = CRS.from_user_input(declared.to_wkt() if hasattr(declared, "to_wkt") else declared)
        except Exception:  # pyproj raises CRSError
            crs = None
    if crs is None or crs.is_engineering or not (crs.is_geographic or crs.is_projected):
        what = f"a local (engineering) CRS {crs.name!r}" if crs is not None else "a CRS that PROJ cannot read"
        raise InputError(f"{kind} {path} has {what}, unknown on the earth; give its real CRS with --src-crs "
                         f"(e.g. {example}) or reproject the file")
    return crs


def parse_bbox(text: str, what: str = "--bbox") -> tuple[float, float, float, float]:
    """Four finite numbers ``xmin,ymin,xmax,ymax`` with xmin < xmax and ymin < ymax.

    Args:
        text: the comma-separated numbers given.
        what: the option that gave them, named in the message.
    Returns:
        (xmin, ymin, xmax, ymax).
    Raises:
        InputError: not four numbers, a value that is not finite (inf, nan, 1e999), or an empty extent.
    """
    try:
        bounds = tuple(float(v) for v in text.split(","))
    except ValueError:
        bounds = ()
    if len(bounds) != 4:
        raise InputError(f"{what} must be four numbers xmin,ymin,xmax,ymax, got {text!r}")
    bad = [v for v in text.split(",") if not math.isfinite(float(v))]
    if bad:
        raise InputError(f"{what} must be four finite numbers xmin,ymin,xmax,ymax, got {text!r} "
                         f"({', '.join(v.strip() for v in bad)} is not finite)")
    if not (bounds[2] > bounds[0] and bounds[3] > bounds[1]):
        raise InputError(f"{what} {text!r} is an empty extent: it needs xmin < xmax and ymin < ymax")
    return bounds


def require_projected_metres(crs: CRS, what: str) -> None:
    """Reject geographic CRSs and projected CRSs whose unit is not the metre."""
    label = crs.to_string()
    if crs.is_geographic:
        raise InputError(
            f"{what}: CRS {label} is geographic (degrees); the study-area grid needs a projected CRS "
            "in metres, e.g. EPSG:32650 (UTM 50N) or an Albers equal-area CRS"
        )
    if not crs.is_projected:
        raise InputError(f"{what}: CRS {label} is not a projected CRS")
    units = {axis.unit_name for axis in crs.axis_info}
    if not units <= {"metre", "meter", "m"}:
        raise InputError(f"{what}: CRS {label} has units {sorted(units)}, the grid needs metres")


def srid_for(conn: psycopg.Connection, crs: CRS) -> int:
    """An SRID of ``spatial_ref_sys`` for ``crs``, registering it when absent."""
    epsg = crs.to_epsg()
    if epsg is not None:
        row = conn.execute("SELECT srid FROM spatial_ref_sys WHERE srid = %s", (epsg,)).fetchone()
        if row:
            return epsg
    with warnings.catch_warnings():  # PROJ strings lose datum detail; the WKT is stored beside it
        warnings.simplefilter("ignore", UserWarning)
        proj4 = crs.to_proj4()
    row = conn.execute(
        "SELECT srid FROM spatial_ref_sys WHERE srid >= %s AND proj4text = %s", (CUSTOM_SRID_BASE, proj4)
    ).fetchone()
    if row:
        return row[0]
    (srid,) = conn.execute(
        "SELECT greatest(%s, coalesce(max(srid), 0) + 1) FROM spatial_ref_sys WHERE srid >= %s",
        (CUSTOM_SRID_BASE, CUSTOM_SRID_BASE),
    ).fetchone()
    conn.execute(
        "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text) VALUES (%s, 'restore_db', %s, %s, %s)",
        (srid, srid, crs.to_wkt(WktVersion.WKT1_GDAL), proj4),
    )
    return srid


def crs_of_srid(conn: psycopg.Connection, srid: int) -> CRS:
    row = conn.execute("SELECT srtext, proj4text FROM spatial_ref_sys WHERE srid = %s", (srid,)).fetchone()
    if row is None:
        raise InputError(f"SRID {srid} is not in spatial_ref_sys")
    if srid < CUSTOM_SRID_BASE:
        try:
            return CRS.from_epsg(srid)
        except Exception:
            pass
    return CRS.from_wkt(row[0]) if row[0] else CRS.from_proj4(row[1])


def create(conn: psycopg.Connection, name: str, crs: str | int, pixel_size: float,
           bounds: tuple[float, float, float, float], tile_size: int = 256,
           title: str | None = None, bounds_crs: CRS | None = None) -> StudyArea:
    """Register a study area whose grid covers ``bounds`` (in ``bounds_crs``, default the grid CRS)."""
    check_name(name, "study-area name")
    target = parse_crs(crs)
    require_projected_metres(target, f"study area {name!r}")
    if not math.isfinite(pixel_size) or pixel_size <= 0:
        raise InputError(f"study area {name!r}: pixel size must be a positive number, got {pixel_size}")
    if not all(math.isfinite(v) for v in bounds):
        raise InputError(f"study area {name!r}: the extent {tuple(bounds)} is not finite")
    if not 16 <= tile_size <= 4096:
        raise InputError(f"study area {name!r}: tile size must be 16..4096, got {tile_size}")
    if bounds_crs is not None and not bounds_crs.equals(target):
        from pyproj import Transformer

        bounds = Transformer.from_crs(bounds_crs, target, always_xy=True).transform_bounds(*bounds, densify_pts=51)
        if not all(math.isfinite(v) for v in bounds):
            raise InputError(f"study area {name!r}: the extent does not transform to the grid CRS (is it "
                             "inside the area where that CRS is defined?)")
    xmin, ymin, xmax, ymax = bounds
    if not (xmax > xmin and ymax > ymin):
        raise InputError(f"study area {name!r}: empty extent {bounds}")
    exists = conn.execute("SELECT 1 FROM core.study_area WHERE name = %s", (name,)).fetchone()
    if exists:
        raise InputError(f"study area {name!r} already exists")
    srid = srid_for(conn, target)
    grid = Grid.covering(srid, bounds, pixel_size, tile_size)
    if grid.cells > 2_000_000_000:
        raise InputError(f"study area {name!r}: {grid.cells} cells is more than this release supports")
    (area_id,) = conn.execute(
        """INSERT INTO core.study_area (name, title, srid, origin_x, origin_y, pixel_size, width, height, tile_size)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING study_area_id""",
        (name, title, srid, grid.origin_x, grid.origin_y, grid.pixel_size, grid.width, grid.height, tile_size),
    ).fetchone()
    return StudyArea(area_id, name, grid, title)


def bounds_of_vector(path: Path, layer: str | None, crs: CRS) -> tuple[float, float, float, float]:
    """Bounds of a vector file's features in ``crs``."""
    from restore_db.load.vector import read_vector

    frame = read_vector(path, layer)
    if frame.crs is None:
        raise InputError(f"{path}: the layer declares no CRS; assign one before using it for the study-area extent, "
                         "or give the extent with --bbox and --bbox-crs")
    if frame.empty:
        raise InputError(f"{path}: the layer has no features")
    return tuple(frame.to_crs(crs).total_bounds)


def get(conn: psycopg.Connection, name: str | None = None) -> StudyArea:
    """A study area by name; with no name, the only one there is."""
    if name is None:
        rows = conn.execute("SELECT name FROM core.study_area ORDER BY study_area_id").fetchall()
        if not rows:
            raise InputError("no study area yet: create one with `restore-db study-area create` or `restore-db demo`")
        if len(rows) > 1:
            names = ", ".join(r[0] for r in rows)
            raise InputError(f"several study areas ({names}): choose one with --study-area")
        name = rows[0][0]
    row = conn.execute(
        """SELECT study_area_id, name, title, srid, origin_x, origin_y, pixel_size, width, height, tile_size
           FROM core.study_area WHERE name = %s""",
        (name,),
    ).fetchone()
    if row is None:
        raise InputError(f"unknown study area {name!r}")
    area_id, name, title, srid, ox, oy, px, w, h, ts = row
    return StudyArea(area_id, name, Grid(srid, ox, oy, px, w, h, ts), title)


def delete(conn: psycopg.Connection, area: StudyArea) -> None:
    """Delete a study area with its raster tables, boundaries, parameters, statistics and runs."""
    from restore_db.store import layers

    layers.drop_area_tables(conn, area)
    conn.execute("DELETE FROM core.study_area WHERE study_area_id = %s", (area.study_area_id,))
    from restore_db.publish.bi import refresh

    refresh(conn)      # its counties and its current analysis leave the bi relations
