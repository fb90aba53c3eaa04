"""MSPA Core by the JRC's MSPA (pyguidos) against the erosion, on real land use.

``.venv/bin/python benchmarks/mspa_compare.py`` (needs ``pip install 'restore-db[mspa]'`` and ``../shared/data``):

1. builds the natural foreground of each land use as the pattern stage does: the cells whose class has
   ``eco_land = 1`` in the shipped table ``igbp_lulc``; nodata is background;
2. computes MSPA Core with :func:`restore_db.stages.pattern.sources.core` by ``method="mspa"`` and
   ``method="erosion"`` at several edge widths (cells), best of ``--repeat`` runs each;
3. prints the foreground, the Core cells of each method, the cells that differ both ways (count and % of the
   foreground) and the seconds of each method; then, at the first edge width, the Core MSPA gives when nodata goes
   to it as "missing" (0) instead of background, which is what nodata as foreground would give.

The land uses: BTH at 1 km (``invest/bth_1km_reference/inputs/lulc_igbp.tif``, EPSG:32650) and Hunan at 0.05°
(``rasters/hunan_modis_mcd12c1_igbp_2019_0p05deg.tif``, EPSG:4326, on its own grid). A benchmark is not a test:
nothing here asserts.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import rasterio

from restore_db.resources import package_data
from restore_db.stages.pattern import sources

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LAND_USES = {
    "BTH 1 km": SHARED / "invest" / "bth_1km_reference" / "inputs" / "lulc_igbp.tif",
    "Hunan 0.05 deg": SHARED / "rasters" / "hunan_modis_mcd12c1_igbp_2019_0p05deg.tif",
}


def eco_land_codes() -> set[int]:
    """The IGBP classes with ``eco_land = 1`` in the shipped table."""
    with open(package_data("params", "igbp_lulc.csv"), newline="") as f:
        return {int(row["lucode"]) for row in csv.DictReader(f) if float(row["eco_land"]) == 1.0}


def read_land_use(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(classes int64, valid bool) of a one-band land-use raster."""
    with rasterio.open(path) as src:
        band = src.read(1, masked=True)
    return np.asarray(band.filled(0), dtype=np.int64), ~np.ma.getmaskarray(band)


def best_of(repeat: int, fn, *args, **kwargs):
    """(result, least seconds) of ``repeat`` calls."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return out, best


def pct(n: int, of: int) -> str:
    return f"{100.0 * n / of:.3f} %" if of else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edge-widths", type=int, nargs="+", default=[1, 2, 3, 5], help="edge widths in cells")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each method; the least time is kept")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    if not sources.mspa_available():
        print(f"pyguidos is not installed: {sources.MSPA_INSTALL}", file=sys.stderr)
        return 1
    print(f"MSPA engine loaded in {time.perf_counter() - t0:.3f} s")
    codes = sorted(eco_land_codes())
    print(f"eco_land classes: {codes}")

    for name, path in LAND_USES.items():
        if not path.is_file():
            print(f"\n{name}: {path} is absent, skipped")
            continue
        classes, valid = read_land_use(path)
        fg = valid & np.isin(classes, codes)
        n_fg = int(fg.sum())
        print(f"\n{name}: {path.name}, {classes.shape[0]} x {classes.shape[1]} cells, {int(valid.sum())} with data, "
              f"foreground {n_fg} ({pct(n_fg, int(valid.sum()))} of the cells with data)")
        print(f"{'edge':>4} {'core mspa':>10} {'core erosion':>12} {'mspa only':>18} {'erosion only':>18} "
              f"{'s mspa':>8} {'s erosion':>9}")
        for width in args.edge_widths:
            mspa, s_mspa = best_of(args.repeat, sources.core, fg, width, method="mspa")
            erosion, s_erosion = best_of(args.repeat, sources.core, fg, width, method="erosion")
            only_mspa, only_erosion = int((mspa & ~erosion).sum()), int((erosion & ~mspa).sum())
            print(f"{width:>4} {int(mspa.sum()):>10} {int(erosion.sum()):>12} "
                  f"{only_mspa:>7} {pct(only_mspa, n_fg):>10} {only_erosion:>7} {pct(only_erosion, n_fg):>10} "
                  f"{s_mspa:>8.4f} {s_erosion:>9.4f}")
        # nodata as MSPA's "missing" (0): MSPA then treats it as foreground, as if the land went on
        width = args.edge_widths[0]
        coded = np.where(fg, 2, 1).astype(np.uint8)
        coded[~valid] = 0
        with sources._c_stdout_silenced():
            out, _ = sources._mspa_engine().mspa(coded, float(width), 8, 1, 0)
        missing = np.isin(out, sources.MSPA_CORE_CLASSES)
        as_bg = sources.core(fg, width, method="mspa")
        print(f"edge {width}, nodata as MSPA missing instead of background: core {int(missing.sum())} "
              f"(+{int((missing & ~as_bg).sum())}, {pct(int((missing & ~as_bg).sum()), n_fg)} of the foreground)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
