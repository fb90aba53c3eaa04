"""Water yield supply: InVEST annual water yield, Budyko-Fu (domain.md 3.1).

Inputs: lulc, precipitation (mm/yr), eto (mm/yr), soil_depth (mm, depth to the
root-restricting layer), pawc (fraction); lookup table with lulc_veg,
root_depth (mm), kc; scalar seasonality_z. Outputs per pixel: fractp (AET/P),
aet (mm/yr) and wyield (mm/yr); county supply = sum of wyield x pixel area
(m3/yr). Nodata and P = 0 give nodata, as in InVEST.
"""

from __future__ import annotations

from ..engine import Output
from ..kernels import formulas
from .common import apply_lut, lookup_table, scalar

INPUTS = ("lulc", "precipitation", "eto", "soil_depth", "pawc")
OUTPUTS = [
    Output("fractp", "1", "AET/P of the Budyko curve (InVEST fractp)"),
    Output("aet", "mm/yr", "actual evapotranspiration"),
    Output("wyield", "mm/yr", "annual water yield (InVEST wyield)"),
]
SUPPLY_LAYER, SUPPLY_UNIT = "wyield", "m3/yr"


def prepare(conn, area, param_set: str, scalars: str | None):
    lut = lookup_table(conn, area, param_set, ["lulc_veg", "root_depth", "kc"])
    z, z_source = scalar(conn, area, "seasonality_z", scalars)

    def kernel(a):
        codes = a["lulc"]
        fractp = formulas.awy_fractp(apply_lut(codes, lut["kc"]), a["eto"], a["precipitation"],
                                     apply_lut(codes, lut["root_depth"]), a["soil_depth"], a["pawc"],
                                     apply_lut(codes, lut["lulc_veg"]), z)
        wyield, aet = formulas.awy_water_yield(fractp, a["precipitation"])
        return {"fractp": fractp, "aet": aet, "wyield": wyield}

    params = {"param_set": param_set, "seasonality_z": z, "seasonality_z_source": z_source}
    return kernel, params


def supply_scale(area) -> float:
    """mm over one pixel -> m3."""
    return area.grid.pixel_area_m2 / 1000.0
