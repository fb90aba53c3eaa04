"""The real regions of ../shared/data as the README loads them, command by command: used by the walkthrough tests
(tests/test_real_regions.py) and by the pattern benchmark (benchmarks/bench_pattern.py)."""

from __future__ import annotations

from pathlib import Path

# the crosswalk and scalar files the README writes with a heredoc
BTH_CROSSWALK = """old_code,new_code,share,note
130505,130526,1,任泽区 is the former 任县 (2020)
130506,130527,1,南和区 is the former 南和县 (2020)
"""
HUNAN_CROSSWALK = """old_code,new_code,share,note
431121,431181,1,祁阳县 became 祁阳市 (2021)
"""
HUNAN_SCALARS = """name,value,unit,source
pawc_const,0.15,1,placeholder: the value of the BTH InVEST reference inputs
soil_depth_const,800,mm,placeholder: the BTH reference rule for 200-1000 m elevation
k_const,0.03,t*ha*h/(ha*MJ*mm),placeholder: the value of the BTH InVEST reference inputs
"""
HUNAN_RASTERS = [("dem", "hunan_dem_30arcsec_meteva.tif", "continuous", "m"),
                 ("lulc", "hunan_modis_mcd12c1_igbp_2019_0p05deg.tif", "categorical", "class"),
                 ("precipitation", "hunan_worldclim14_bio12_10arcmin.tif", "continuous", "mm/yr"),
                 ("eto", "hunan_et0_hargreaves_from_worldclim14_10arcmin.tif", "continuous", "mm/yr")]


def hunan_commands(data: Path, workdir: Path, pixel_size: float = 1000.0, name: str = "hunan") -> list[list[str]]:
    """The `restore-db` commands (without the program name) that load Hunan's 122 2025 counties, rasters, 2020 census
    and parameters into study area ``name`` on a ``pixel_size`` grid (EPSG:32649); ``workdir`` gets the crosswalk
    and scalar files. Run `compute all -a <name>` after them."""
    boundaries = data / "boundaries" / "hunan_counties_tianditu_2025.geojson"
    cw, scalars = workdir / "hunan_cw.csv", workdir / "hunan_scalars.csv"
    cw.write_text(HUNAN_CROSSWALK, encoding="utf-8")
    scalars.write_text(HUNAN_SCALARS, encoding="utf-8")
    commands = [["study-area", "create", name, "--srid", "32649", "--pixel-size", f"{pixel_size:g}",
                 "--from-boundaries", str(boundaries)],
                ["load", "boundaries", str(boundaries), "--level", "county", "--parent-field", "city_adcode",
                 "--province-field", "province_adcode", "-a", name],
                ["load", "boundaries", str(data / "boundaries" / "hunan_admin_tianditu_2025.gpkg"), "--layer", "city",
                 "--level", "city", "--code-field", "city_adcode", "--name-field", "city_name", "--province-field",
                 "province_adcode", "-a", name]]
    for layer, file, kind, unit in HUNAN_RASTERS:
        commands.append(["load", "raster", layer, str(data / "rasters" / file), "--kind", kind, "--unit", unit,
                         "-a", name])
    commands += [["load", "stats", str(data / "stats" / "hunan_census2020_county.csv"), "--code-column", "区划代码",
                  "--year", "2020", "--column", "人口数_合计=population", "--crosswalk", str(cw), "-a", name],
                 ["load", "params", "igbp_lulc", "-a", name],
                 ["load", "params", str(scalars), "-a", name]]
    return commands
