"""Carbon supply: InVEST carbon storage, four pools per land-use class (domain.md 2.1).

Input: lulc; lookup table with c_above, c_below, c_soil, c_dead (t C/ha).
Output per pixel: c_storage (t C/ha, as InVEST >= 3.15); county supply = sum
of c_storage x pixel area / 10 000 (t C). Land-use nodata gives nodata.
"""

from __future__ import annotations

from ..engine import Output
from ..kernels import formulas
from .common import apply_lut, lookup_table

INPUTS = ("lulc",)
POOLS = ["c_above", "c_below", "c_soil", "c_dead"]
OUTPUTS = [Output("c_storage", "t C/ha", "carbon storage, sum of the four pools (InVEST c_storage)")]
SUPPLY_LAYER, SUPPLY_UNIT = "c_storage", "t C"


def prepare(conn, area, param_set: str, scalars: str | None = None):
    lut = lookup_table(conn, area, param_set, POOLS)

    def kernel(a):
        codes = a["lulc"]
        return {"c_storage": formulas.carbon_storage(*(apply_lut(codes, lut[p]) for p in POOLS))}

    return kernel, {"param_set": param_set}


def supply_scale(area) -> float:
    """t/ha over one pixel -> t."""
    return area.grid.pixel_area_m2 / 10_000.0
