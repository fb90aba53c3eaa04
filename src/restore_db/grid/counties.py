"""Which county each pixel counts for, and county sums over it.

The rule (docs/models/aggregation.md; docs/models/aggregation.md#which-county-a-pixel-counts-for):

* a pixel counts for the county that holds its centre (the pixel-centre rule of
  ``ST_Clip``): the county raster (layer ``county``) gives each pixel that county;
* a county that holds no pixel centre (a district smaller than a pixel, or a
  sliver between centres) takes from every pixel it overlaps the *share*
  overlapped area / pixel area, and that share is taken from the county that
  holds the pixel's centre (:class:`Share`, table ``result.county_share``);
  where no county holds the centre, the share is counted once, for the small
  county.

Each part of a pixel is counted at most once, so the county totals of a layer
add up to the layer's total over the counties: region totals are conserved.
A county mean is then share-weighted, a density is total / (share-weighted
valid cells x pixel area).

County statistics allocated to pixels keep the pixel-centre rule for the
counties that hold centres; a county holding none adds T x s_p w_p / sum(s w)
to each pixel p it overlaps (``services.common.share_additions``), so the
allocated layer's total equals the sum of the statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import psycopg

from restore_db.grid.engine import pixel_values, zonal_stats
from restore_db.grid.studyarea import StudyArea


@dataclass(frozen=True)
class Share:
    """Part of a pixel that counts for a county holding no pixel centre.

    ``row``, ``col``: the pixel on the study grid (0-based); ``share``: the
    overlapped fraction of the pixel area, in (0, 1]; ``centre``: unit_id of
    the county holding the pixel centre, or None.
    """
    unit_id: int
    row: int
    col: int
    share: float
    centre: int | None


@dataclass
class Membership:
    """The county raster of a grid and the shares of the counties holding no pixel centre.

    ``ids``: int32 array (grid height x width), unit_id of the county holding
    each pixel centre, 0 where none; ``centres``: unit_id -> number of pixel
    centres held (0 for a sub-pixel county); ``shares``: list of :class:`Share`.
    """
    ids: np.ndarray
    centres: dict[int, int]
    shares: list[Share]


def codes(conn: psycopg.Connection, unit_ids) -> dict[int, str]:
    """unit_id -> administrative code of the given units (current or superseded)."""
    return dict(conn.execute("SELECT unit_id, code FROM core.admin_unit_version WHERE unit_id = ANY(%s)",
                             (list(unit_ids),)).fetchall())


def of_run(conn: psycopg.Connection, services_run_id: int) -> list[int]:
    """The counties of a services run (unit_id, in order): those of the boundaries it was computed with, which
    later loads of boundaries may have superseded. Each has rows in ``result.county_service``."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT unit_id FROM result.county_service WHERE run_id = %s ORDER BY 1",
        (services_run_id,)).fetchall()]


def rasterize(conn: psycopg.Connection, area: StudyArea) -> Membership:
    """The county membership of the study grid (the rule in the module docstring).

    Every county of ``core.admin_unit`` (level county) gets an entry in
    ``centres``; a county holding no centre gets its shares from the exact
    intersection of its polygon with the pixel squares it overlaps (shapely).
    Returns an empty membership (no county) when the area has no counties.
    """
    from rasterio.features import rasterize as burn
    from shapely import wkb as shapely_wkb

    grid = area.grid
    rows = conn.execute(
        "SELECT unit_id, ST_AsBinary(geom) FROM core.admin_unit WHERE study_area_id = %s AND level = 'county'"
        " ORDER BY unit_id", (area.study_area_id,)).fetchall()
    geoms = {uid: shapely_wkb.loads(bytes(g)) for uid, g in rows}
    if not geoms:
        return Membership(np.zeros((grid.height, grid.width), dtype=np.int32), {}, [])
    ids = burn(((g, uid) for uid, g in geoms.items()), out_shape=(grid.height, grid.width),
               transform=grid.transform, fill=0, dtype="int32")
    counts = np.bincount(ids.ravel(), minlength=max(geoms) + 1)
    centres = {uid: int(counts[uid]) for uid in geoms}
    shares = []
    for uid in sorted(u for u, n in centres.items() if n == 0):
        for row, col, share in pixel_shares(geoms[uid], area):
            centre = int(ids[row, col])
            shares.append(Share(uid, row, col, share, centre or None))
    return Membership(ids, centres, shares)


def pixel_shares(geom, area: StudyArea) -> list[tuple[int, int, float]]:
    """(row, col, share) of every grid pixel a polygon overlaps; share = overlapped area / pixel area.

    ``geom``: a shapely polygon in the grid CRS (metres). Shares below 1e-12
    (a polygon touching a pixel edge) are left out; a share is at most 1.
    """
    import shapely

    grid = area.grid
    ps = grid.pixel_size
    xmin, ymin, xmax, ymax = geom.bounds
    c0 = max(0, math.floor((xmin - grid.origin_x) / ps))
    c1 = min(grid.width - 1, math.ceil((xmax - grid.origin_x) / ps) - 1)
    r0 = max(0, math.floor((grid.origin_y - ymax) / ps))
    r1 = min(grid.height - 1, math.ceil((grid.origin_y - ymin) / ps) - 1)
    if c1 < c0 or r1 < r0:
        return []
    rr, cc = np.mgrid[r0:r1 + 1, c0:c1 + 1]
    rr, cc = rr.ravel(), cc.ravel()
    x0 = grid.origin_x + cc * ps
    y1 = grid.origin_y - rr * ps
    boxes = shapely.box(x0, y1 - ps, x0 + ps, y1)
    frac = shapely.area(shapely.intersection(geom, boxes)) / (ps * ps)
    keep = frac > 1e-12
    return [(int(r), int(c), float(min(f, 1.0))) for r, c, f in zip(rr[keep], cc[keep], frac[keep])]


def store_shares(conn: psycopg.Connection, run_id: int, shares: list[Share]) -> None:
    """Record the shares of a services run in ``result.county_share`` (one statement: one array per column)."""
    if not shares:
        return
    conn.execute(
        """INSERT INTO result.county_share (run_id, unit_id, px_row, px_col, share, centre_unit_id)
           SELECT %s::integer, * FROM unnest(%s::integer[], %s::integer[], %s::integer[], %s::double precision[],
                                    %s::integer[])""",
        (run_id, [s.unit_id for s in shares], [s.row for s in shares], [s.col for s in shares],
         [float(s.share) for s in shares], [s.centre for s in shares]))


def load_shares(conn: psycopg.Connection, run_id: int) -> list[Share]:
    """The shares recorded with services run ``run_id`` (empty for runs made before shares existed)."""
    return [Share(*r) for r in conn.execute(
        """SELECT unit_id, px_row, px_col, share, centre_unit_id FROM result.county_share
           WHERE run_id = %s ORDER BY unit_id, px_row, px_col""", (run_id,)).fetchall()]


def sums(conn: psycopg.Connection, area: StudyArea, run_id: int, values: dict[str, tuple[str, int | None]],
         backend: str = "client", shares: list[Share] | None = None) -> dict[str, dict[int, tuple[float, float]]]:
    """{name: {unit_id: (valid cells, sum)}} of value layers per county of services run ``run_id``.

    Pixel by pixel over that run's county raster (:func:`engine.zonal_stats`),
    then the shares of counties holding no pixel centre are moved from the
    centre county to them (cells and sums alike; nodata pixels count nowhere).
    ``values``: name -> (layer, run). ``shares``: default those of the run.
    Counties without a valid pixel are absent from the result.
    """
    out = {n: dict(d) for n, d in zonal_stats(conn, area, ("county", run_id), values, backend).items()}
    shares = load_shares(conn, run_id) if shares is None else shares
    if not shares:
        return out
    pixels = [(s.row, s.col) for s in shares]
    for name, layer in values.items():
        v = pixel_values(conn, area, layer, pixels)
        acc = out[name]
        for s, x in zip(shares, v):
            if np.isnan(x):
                continue
            for uid, sign in ((s.unit_id, 1.0), (s.centre, -1.0)):
                if uid is None:
                    continue
                n, total = acc.get(uid, (0.0, 0.0))
                acc[uid] = (n + sign * s.share, total + sign * s.share * x)
        for uid in [u for u, (n, _) in acc.items() if n <= 1e-12]:
            del acc[uid]
    return out
