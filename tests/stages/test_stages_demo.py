"""The whole pipeline on the demo region through the CLI: services -> ratios ->
resilience -> zoning, results in the bi views, stages reused on a second run,
and bad settings rejected before anything is computed."""

from __future__ import annotations

from typer.testing import CliRunner

from restore_db.load import demo
from restore_db.cli import app

from conftest import snapshot


def _runs(conn, stage):
    return conn.execute("SELECT count(*) FROM core.run WHERE stage = %s", (stage,)).fetchone()[0]


def test_compute_all_on_the_demo(db_url, conn, cli_env, tmp_path):
    demo.run(name="demo", pixel_size=4000, workdir=tmp_path, url=db_url, log=lambda m: None)
    result = CliRunner().invoke(app, ["compute", "all", "-a", "demo"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "Restoration zones" in result.output
    (zoning_run,) = conn.execute("SELECT run_id FROM bi.current_run").fetchone()

    # every county in exactly one matching type and one zone; zone counts sum to the county count
    counties = conn.execute("SELECT count(*) FROM core.admin_unit WHERE level = 'county'").fetchone()[0]
    assert counties == 200
    rows = conn.execute("SELECT unit_id, matching_type, zone_code, display_code, strategy FROM bi.county "
                        "WHERE run_id = %s", (zoning_run,)).fetchall()
    assert len(rows) == counties and len({r[0] for r in rows}) == counties
    assert all(r[1] in ("HH", "LH", "LL", "HL") and r[2] and r[3] and r[4] for r in rows)
    zones = conn.execute("SELECT zone_code, counties, area_share FROM bi.zone_summary WHERE run_id = %s",
                         (zoning_run,)).fetchall()
    assert sum(z[1] for z in zones) == counties
    assert abs(sum(z[2] for z in zones) - 100.0) < 1e-6
    per_zone = dict(conn.execute("SELECT zone_code, count(*) FROM bi.county WHERE run_id = %s GROUP BY 1",
                                 (zoning_run,)).fetchall())
    assert per_zone == {z[0]: z[1] for z in zones}
    # matching-type counts per service and combined cover all counties
    for service, n in conn.execute("""SELECT service, count(*) FROM result.county_ratio r
                                      JOIN result.analysis_run a ON a.ratios_run_id = r.run_id
                                      WHERE a.run_id = %s GROUP BY 1""", (zoning_run,)):
        assert n == counties, service
    # resilience: 15 default indicators (the demo has NDVI and soil organic carbon), weights sum to 1
    (n, total) = conn.execute("""SELECT count(*), sum(weight) FROM result.run_indicator i
                                 JOIN result.analysis_run a ON a.resilience_run_id = i.run_id
                                 WHERE a.run_id = %s""", (zoning_run,)).fetchone()
    assert n == 15 and abs(total - 1) < 1e-9
    # pixel CESD classes: area shares of the study area's valid pixels add up to 100 %
    (share,) = conn.execute("""SELECT sum(area_share) FROM result.balance_class b
                               JOIN result.analysis_run a ON a.ratios_run_id = b.run_id
                               WHERE a.run_id = %s AND level = 'pixel'""", (zoning_run,)).fetchone()
    assert abs(share - 100) < 1e-6
    # dissolved zone map: one polygon row per zone
    assert conn.execute("SELECT count(*) FROM bi.zone_map WHERE run_id = %s", (zoning_run,)).fetchone()[0] == len(zones)

    # every computed layer is listed with its run by core.layer_alignment, and sits on the grid
    rows = conn.execute("""SELECT a.layer, a.run_id, a.aligned FROM core.layer_alignment(core.study_area_id('demo')) a
                           WHERE a.run_id IS NOT NULL""").fetchall()
    registered = conn.execute("SELECT count(*) FROM core.layer WHERE run_id IS NOT NULL").fetchone()[0]
    assert len(rows) == registered == len({(r[0], r[1]) for r in rows}) and all(r[2] for r in rows)
    (ratios_run,) = conn.execute("SELECT ratios_run_id FROM result.analysis_run WHERE run_id = %s",
                                 (zoning_run,)).fetchone()
    assert [r[1] for r in rows if r[0] == "cesd"] == [ratios_run]

    # a second run with nothing changed reuses every stage; --force recomputes
    before = {s: _runs(conn, s) for s in ("services", "ratios", "resilience", "zoning", "pattern")}
    again = CliRunner().invoke(app, ["compute", "all", "-a", "demo"], env=cli_env)
    assert again.exit_code == 0, again.output
    assert again.output.count("reused") == 5
    assert {s: _runs(conn, s) for s in before} == before
    settings = tmp_path / "k3.toml"
    settings.write_text("[ratios.classes]\nk = 3\n", encoding="utf-8")
    changed = CliRunner().invoke(app, ["compute", "all", "-a", "demo", "--config", str(settings)], env=cli_env)
    assert changed.exit_code == 0, changed.output
    after = {s: _runs(conn, s) for s in before}
    # the pattern reads the zoning run (its collaboration uses the ratios), so it is made again too
    assert after == {**before, "ratios": before["ratios"] + 1, "zoning": before["zoning"] + 1,
                     "pattern": before["pattern"] + 1}


def test_bad_settings_fail_before_computing(db_url, conn, cli_env, tmp_path):
    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    before = snapshot(conn)
    cases = {
        "weights.toml": ("[ratios.cesd]\nmethod = 'weighted'\nweights = {food = 0.5, carbon = 0.5, water = 0.5, "
                         "soil = 0.1, recreation = 0.1}\n", "sum to 1"),
        "ahp.toml": ("[resilience]\nweighting = 'ahp'\n[resilience.ahp]\nlabels = ['shdi', 'pd']\n"
                     "matrix = [[1, 3], [3, 1]]\n", "lacks indicator"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(app, ["compute", "all", "-a", "demo", "--config", str(path)], env=cli_env)
        assert result.exit_code == 1, result.output
        assert message in str(result.exception)
    # an indicator whose layer does not exist fails after planning the services, before computing them
    with conn.transaction():
        conn.execute("""INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name,
                            direction, unit, source_kind, source, statistic)
                        VALUES ('default', 'ghost', 'D5', 'x', 'ghost', 1, '1', 'layer', 'night_lights', 'mean')""")
    before = snapshot(conn)
    result = CliRunner().invoke(app, ["compute", "all", "-a", "demo"], env=cli_env)
    assert result.exit_code == 1 and "night_lights" in str(result.exception), result.output
    assert snapshot(conn) == before


def test_compute_all_chooses_parameter_sets_as_compute_services(db_url, conn, cli_env, tmp_path):
    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    # a second table holding every coefficient: the choice is ambiguous for every service and the indicators
    from restore_db.resources import package_data

    load = CliRunner().invoke(app, ["load", "params", str(package_data("params", "demo_lulc.csv")), "--name",
                                    "second_table", "-a", "demo"], env=cli_env)
    assert load.exit_code == 0, load.output
    before = snapshot(conn)
    for command in (["compute", "all"], ["compute", "services"]):
        result = CliRunner().invoke(app, [*command, "-a", "demo"], env=cli_env)
        assert result.exit_code == 1, result.output
        message = str(result.exception)
        # one message for every service, naming the candidates and the flag to pass
        assert message.startswith("5 services cannot be computed:"), message
        for service in ("food", "carbon", "water", "soil", "recreation"):
            assert f"{service}: several land-use parameter tables hold" in message
        assert "pass --params lulc_coefficients or --params second_table" in message
        assert snapshot(conn) == before
    # with the same flags both commands choose the same sets, and say which
    flags = ["--params", "second_table", "--scalars", "model_scalars"]
    every = CliRunner().invoke(app, ["compute", "all", "-a", "demo", *flags], env=cli_env)
    assert every.exit_code == 0, every.output
    assert "parameter sets: food model_scalars, second_table;" in every.output
    alone = CliRunner().invoke(app, ["compute", "services", "-a", "demo", *flags], env=cli_env)
    assert alone.exit_code == 0, alone.output
    used = [r[0] for r in conn.execute("SELECT timings->'param_sets' FROM core.run WHERE stage = 'services' "
                                       "ORDER BY run_id").fetchall()]
    assert len(used) == 2 and used[0] == used[1]
    assert all("second_table" in sets and "lulc_coefficients" not in sets for sets in used[0].values()), used[0]
    # the resilience indicators read the class coefficients of the same table
    (sets,) = conn.execute("SELECT inputs->'param_sets' FROM core.run WHERE stage = 'resilience'").fetchone()
    assert list(sets) == ["second_table"]


def test_missing_inputs_of_several_services_are_reported_together(db_url, conn, cli_env, tmp_path):
    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    with conn.transaction():
        conn.execute("DELETE FROM core.layer WHERE name IN ('eto', 'dem') AND run_id IS NULL")
    before = snapshot(conn)
    result = CliRunner().invoke(app, ["compute", "all", "-a", "demo"], env=cli_env)
    assert result.exit_code == 1, result.output
    message = str(result.exception)
    assert message.startswith("2 services cannot be computed:"), message
    assert "water: study area 'demo' has no layer eto" in message and "soil: study area 'demo' has no layer dem" in message
    assert snapshot(conn) == before


def test_boundaries_loaded_again_keep_every_result(db_url, conn, cli_env, tmp_path):
    """The same boundaries again change nothing (every stage is reused); other boundaries with --replace keep
    the earlier results whole, and the next compute all works on the new counties."""
    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    first = CliRunner().invoke(app, ["compute", "all", "-a", "demo"], env=cli_env)
    assert first.exit_code == 0, first.output
    (z1,) = conn.execute("SELECT run_id FROM bi.current_run").fetchone()
    before = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
              for t in ("result.county_service", "result.county_ratio", "result.county_zone", "bi.county")}
    conn.commit()
    (gpkg,) = tmp_path.glob("demo-*/boundaries.gpkg")     # what the demo loaded
    same = CliRunner().invoke(app, ["load", "boundaries", str(gpkg), "--layer", "county", "--level", "county",
                                    "--code-field", "code", "--name-field", "name", "--parent-field", "city_code",
                                    "--province-field", "province_code", "-a", "demo"], env=cli_env)
    assert same.exit_code == 0 and "nothing changed" in same.output, same.output
    again = CliRunner().invoke(app, ["compute", "all", "-a", "demo"], env=cli_env)
    assert again.exit_code == 0 and again.output.count("reused") == 5, again.output
    # 199 of the counties, with --replace: the earlier analysis keeps its 200 counties
    import geopandas as gpd

    counties = gpd.read_file(gpkg, layer="county")
    counties.iloc[1:].to_file(tmp_path / "fewer.gpkg", layer="county")
    replaced = CliRunner().invoke(app, ["load", "boundaries", str(tmp_path / "fewer.gpkg"), "--level", "county",
                                        "--code-field", "code", "--name-field", "name", "--parent-field", "city_code",
                                        "--province-field", "province_code", "--replace", "-a", "demo"], env=cli_env)
    assert replaced.exit_code == 0 and "replaced units kept" in replaced.output, replaced.output
    after = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in before}
    assert after == before
    assert conn.execute("SELECT count(*) FROM bi.county_current").fetchone()[0] == 200   # still the current run
    new = CliRunner().invoke(app, ["compute", "all", "-a", "demo"], env=cli_env)
    assert new.exit_code == 0, new.output
    (z2,) = conn.execute("SELECT run_id FROM bi.current_run").fetchone()
    assert z2 != z1
    assert conn.execute("SELECT count(*) FROM bi.county_current").fetchone()[0] == 199
    assert conn.execute("SELECT count(*) FROM bi.county WHERE run_id = %s", (z1,)).fetchone()[0] == 200


def test_the_pattern_of_the_demo(db_url, conn, cli_env, tmp_path):
    """compute all ends with the pattern: sources, corridors between them, nodes and the network row agree, and the
    layers are stored; compute pattern alone reuses the run."""
    demo.run(name="demo", pixel_size=4000, workdir=tmp_path, url=db_url, log=lambda m: None)
    cfg = tmp_path / "pattern.toml"
    cfg.write_text("[pattern]\nmin_source_area_m2 = 16000000.0\nedge_width_m = 4000.0\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["compute", "all", "-a", "demo", "--config", str(cfg)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "pattern run" in result.output
    (run,) = conn.execute("SELECT run_id FROM core.run WHERE stage = 'pattern' AND status = 'succeeded'").fetchone()
    sources, corridors, important = conn.execute(
        "SELECT sources, corridors, important_corridors FROM result.pattern_network WHERE run_id = %s",
        (run,)).fetchone()
    assert sources >= 2 and corridors >= 1 and 1 <= important <= corridors
    assert conn.execute("SELECT count(*) FROM result.pattern_source WHERE run_id = %s", (run,)).fetchone()[0] == sources
    invalid = conn.execute("SELECT count(*) FROM result.pattern_source WHERE run_id = %s AND NOT ST_IsValid(geom)",
                           (run,)).fetchone()[0]
    assert invalid == 0, "source polygons are valid (patches joined at a corner touch at a point)"
    # every corridor joins two sources of the run, runs from one to the other, and costs at least its length
    # (resistance >= 1; the two sums differ in the last bits when every cell has resistance 1)
    bad = conn.execute("""SELECT count(*) FROM result.pattern_corridor c
                          JOIN result.pattern_source a ON a.run_id = c.run_id AND a.source_id = c.source_a
                          JOIN result.pattern_source b ON b.run_id = c.run_id AND b.source_id = c.source_b
                          WHERE c.run_id = %s AND NOT (ST_DWithin(ST_StartPoint(c.geom), a.geom, 1)
                                AND ST_DWithin(ST_EndPoint(c.geom), b.geom, 1) AND c.lcd >= c.length_m * (1 - 1e-12)
                                AND ST_IsValid(c.geom))""", (run,)).fetchone()[0]
    assert bad == 0
    # every strategic point lies on the corridors it names; a pinch node in its pinch area, a barrier node at the
    # centre of its window (within half its diameter of the cells to restore)
    off = conn.execute("""SELECT count(*) FROM result.pattern_node n WHERE n.run_id = %s AND n.kind IN
                              ('intersection', 'ridge') AND NOT EXISTS (
                              SELECT 1 FROM result.pattern_corridor c WHERE c.run_id = n.run_id
                              AND c.corridor_id = ANY(n.corridors) AND ST_DWithin(c.geom, n.geom, 1))""",
                       (run,)).fetchone()[0]
    assert off == 0
    # one pinch node per pinch task, one barrier node per barrier task
    nodes = dict(conn.execute("SELECT kind, count(*) FROM result.pattern_node WHERE run_id = %s GROUP BY kind",
                              (run,)).fetchall())
    kinds = dict(conn.execute("SELECT kind, count(*) FROM result.pattern_task WHERE run_id = %s GROUP BY kind",
                              (run,)).fetchall())
    assert nodes.get("pinch", 0) == kinds.get("protect_pinch", 0) >= 1
    assert nodes.get("barrier", 0) == kinds.get("restore_barrier", 0)
    astray = conn.execute("""SELECT count(*) FROM result.pattern_node n WHERE n.run_id = %s AND n.kind IN ('pinch',
                                 'barrier') AND NOT EXISTS (SELECT 1 FROM result.pattern_task t
                                 WHERE t.run_id = n.run_id AND t.corridor_id = ANY(n.corridors)
                                 AND t.kind = CASE n.kind WHEN 'pinch' THEN 'protect_pinch' ELSE 'restore_barrier' END
                                 AND ST_DWithin(t.geom, n.geom, coalesce(t.diameter_m / 2, 0) + 1))""",
                         (run,)).fetchone()[0]
    assert astray == 0
    # tasks: ranked 1..n by priority, each in a county
    ranks = conn.execute("""SELECT rank, priority, unit_id FROM result.pattern_task WHERE run_id = %s ORDER BY rank""",
                         (run,)).fetchall()
    assert [r[0] for r in ranks] == list(range(1, len(ranks) + 1))
    assert all(a[1] >= b[1] for a, b in zip(ranks, ranks[1:])) and all(r[2] is not None for r in ranks)
    layers = {r[0] for r in conn.execute("SELECT name FROM core.layer WHERE run_id = %s", (run,)).fetchall()}
    assert layers == {"importance", "resistance", "mcr", "corridor", "current", "corridor_current", "barrier"}
    again = CliRunner().invoke(app, ["compute", "pattern", "-a", "demo", "--config", str(cfg)], env=cli_env)
    assert again.exit_code == 0 and "reused" in again.output, again.output


def test_degenerate_patterns_refused_in_one_line(db_url, conn, cli_env, tmp_path):
    """No source, a single source (all sources one patch), a corridor grid coarser than the region and land use
    missing inside the counties: one line naming the setting, exit 1, the database as it was."""
    import numpy as np
    import rasterio

    from helpers import check_bad_input, run_cli

    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    first = run_cli(cli_env, "compute", "all", "-a", "demo")
    assert first.returncode == 0, first.stderr
    areas = [a for (a,) in conn.execute("SELECT area_m2 FROM result.pattern_source ORDER BY area_m2 DESC")]
    assert len(areas) >= 2 and areas[0] > areas[1]
    conn.commit()

    def settings(name: str, text: str):
        path = tmp_path / f"{name}.toml"
        path.write_text("[pattern]\n" + text + "\n", encoding="utf-8")
        return path

    none = settings("none", "min_source_area_m2 = 1e15")
    check_bad_input(conn, cli_env, "compute", "pattern", "-a", "demo", "--config", none,
                    match=["pattern: no ecological source", "pattern.min_source_area_m2 = 1e+15"])
    # compute all leaves the pattern out, saying why, and keeps the rest
    left = run_cli(cli_env, "compute", "all", "-a", "demo", "--config", none, "--force")
    assert left.returncode == 0 and "pattern     left out: pattern: no ecological source" in left.stderr, left.stderr
    conn.commit()
    single = settings("single", f"min_source_area_m2 = {(areas[0] + areas[1]) / 2}")
    check_bad_input(conn, cli_env, "compute", "pattern", "-a", "demo", "--config", single,
                    match=["pattern: a single ecological source", "corridors join two"])
    coarse = settings("coarse", "corridor_factor = 64")
    check_bad_input(conn, cli_env, "compute", "pattern", "-a", "demo", "--config", coarse,
                    match=["pattern.corridor_factor = 64", "coarser than the study area"])
    # compute all refuses it too, before computing anything
    check_bad_input(conn, cli_env, "compute", "all", "-a", "demo", "--config", coarse, "--force",
                    match="pattern.corridor_factor = 64")

    # a hole in the land use inside the counties
    (lulc,) = tmp_path.glob("demo-*/lulc.tif")
    with rasterio.open(lulc) as src:
        profile, data = src.profile, src.read(1)
    inside = np.argwhere(data != src.nodata)
    row, col = inside[len(inside) // 2]
    data[row - 2:row + 3, col - 2:col + 3] = src.nodata
    holed = tmp_path / "lulc_holed.tif"
    with rasterio.open(holed, "w", **profile) as dst:
        dst.write(data, 1)
    loaded = run_cli(cli_env, "load", "raster", "lulc", holed, "--kind", "categorical", "--unit", "class",
                     "--replace", "-a", "demo")
    assert loaded.returncode == 0, loaded.stderr
    conn.commit()
    check_bad_input(conn, cli_env, "compute", "pattern", "-a", "demo",
                    match=["inside the counties have no land use", "pattern.resistance_nodata = 'impassable'"])
    impassable = settings("impassable", "resistance_nodata = 'impassable'")
    done = run_cli(cli_env, "compute", "pattern", "-a", "demo", "--config", impassable)
    assert done.returncode == 0, done.stderr
    (warnings,) = conn.execute("SELECT timings->'warnings' FROM core.run WHERE stage = 'pattern' "
                               "ORDER BY run_id DESC LIMIT 1").fetchone()
    assert any("inside the counties have no land use" in w and "impassable" in w for w in warnings), warnings


def test_resistance_corrections_on_the_demo(db_url, conn, cli_env, tmp_path):
    """Each correction changes the resistance layer as its formula says, relative to the uncorrected run."""
    import numpy as np

    from helpers import run_cli
    from restore_db.grid import studyarea
    from restore_db.store import layers

    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    assert run_cli(cli_env, "compute", "all", "-a", "demo").returncode == 0
    area = studyarea.get(conn, "demo")

    def resistance(correction: str) -> np.ndarray:
        cfg = tmp_path / f"{correction}.toml"
        cfg.write_text(f"[pattern]\ncorrection = '{correction}'\n", encoding="utf-8")
        proc = run_cli(cli_env, "compute", "pattern", "-a", "demo", "--config", cfg)
        assert proc.returncode == 0, proc.stderr
        (run,) = conn.execute("SELECT max(run_id) FROM core.run WHERE stage = 'pattern'").fetchone()
        return layers.read_array(conn, area, "resistance", run)

    plain = resistance("none")
    lulc = layers.read_array(conn, area, "lulc")
    (services,) = conn.execute("SELECT max(run_id) FROM core.run WHERE stage = 'services'").fetchone()
    for correction, factor in [("slope", 1 + layers.read_array(conn, area, "slope", services)),
                               ("population", layers.read_array(conn, area, "population", services if layers.has_layer(conn, area, "population", services) else None))]:
        got = resistance(correction)
        forest = (lulc == 2) & np.isfinite(factor) & np.isfinite(plain)     # forest: base 1 in the demo table
        cropland = (lulc == 1) & np.isfinite(factor) & np.isfinite(plain)
        mean = factor[cropland].mean()
        expected = np.maximum(plain[cropland] * factor[cropland] / mean, 1.0)
        # float32 storage of the layers: relative 1e-6
        np.testing.assert_allclose(got[cropland], expected, rtol=1e-6, err_msg=correction)
        assert np.isfinite(got[forest]).all()


def test_degenerate_circuits_refused_in_one_line(db_url, conn, cli_env, tmp_path):
    """The circuit step's degenerate cases: a land-use table with a resistance of 0 (a short circuit) and a grid too
    large for the direct solver asked for. One line naming the remedy, exit 1, the database as it was. (An isolated source
    is refused by the same path: tests/stages/test_pattern_pinch_barriers.py.)"""
    from helpers import check_bad_input, run_cli
    from restore_db.resources import package_data

    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    first = run_cli(cli_env, "compute", "all", "-a", "demo")
    assert first.returncode == 0, first.stderr
    assert "circuit (pairwise, direct solver" in first.stderr and "restoration tasks" in first.stderr, first.stderr
    conn.commit()
    direct = tmp_path / "direct.toml"
    direct.write_text("[pattern]\ncircuit_solver = 'direct'\ncircuit_direct_max_cells = 1000\n", encoding="utf-8")
    check_bad_input(conn, cli_env, "compute", "pattern", "-a", "demo", "--config", direct,
                    match=["too large for the direct solver", "pattern.circuit_direct_max_cells = 1,000",
                           "pattern.circuit_solver = 'cg+amg'"])
    text = package_data("params", "demo_lulc.csv").read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    row = text[1].split(",")
    row[header.index("resistance")] = "0"
    zero = tmp_path / "zero.csv"
    zero.write_text("\n".join([text[0], ",".join(row), *text[2:]]) + "\n", encoding="utf-8")
    # a resistance of 0 never reaches the circuit: the land-use table is refused when loaded (the circuit and the
    # pattern stage refuse one too, should a table be edited in the database: test_pattern_circuit.py)
    check_bad_input(conn, cli_env, "load", "params", zero, "--name", "zero_resistance", "-a", "demo",
                    match=["zero.csv", "resistance of lucode 1 = 0", "outside the allowed range [1, 100000]"])
