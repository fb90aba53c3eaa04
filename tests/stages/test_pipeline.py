"""Ratios, resilience and zoning stages on tiny study areas (real PostGIS).

Expected values are derived here from the formulas of docs/models/README.md#pipeline-order
and the worked examples docs/models/ratios.md#reference-test-values/docs/models/resilience.md#reference-test-values (typed in tests/analysis_cases.py),
never from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from restore_db.stages import pipeline, settings, zoning
from restore_db.errors import InputError

from analysis_cases import DIRECTIONS, SERVICES, S, D, X, four_counties, services_run, sql_indicator_set
from helpers import expect_input_error


def cfg_for(**over):
    base = {"ratios": {"services": list(SERVICES), "basis": "total", "pixel_maps": False,
                       "classes": {"eps": 0.0, "k": 2}},
            "resilience": {"indicator_set": "tiny"}}
    for key, value in over.items():
        section, _, rest = key.partition("__")
        node = base.setdefault(section, {})
        parts = rest.split("__")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return settings.load(overrides=base)


@pytest.fixture
def tiny(conn):
    area, units = four_counties(conn)
    run = services_run(conn, area, units)
    sql_indicator_set(conn, "tiny", units=units)
    return area, units, run


def _zscore(v):
    v = np.asarray(v, float)
    return (v - v.mean()) / v.std()


def _minmax(v):
    v = np.asarray(v, float)
    return (v - v.min()) / (v.max() - v.min())


def test_ratios_match_the_worked_example(conn, tiny):
    area, units, run = tiny
    cfg = cfg_for()
    with conn.transaction():
        out = pipeline.run_ratios(conn, area, cfg, run)
    rows = conn.execute("""SELECT unit_id, service, esdr, z_supply, z_demand, matching_type FROM result.county_ratio
                           WHERE run_id = %s""", (out.run_id,)).fetchall()
    got = {(u, s): (e, zs, zd, m) for u, s, e, zs, zd, m in rows}
    s, d = np.array(S, float), np.array(D, float)
    half = (s.max(axis=0) + d.max(axis=0)) / 2
    esdr = (s - d) / half                                           # docs/models/ratios.md#esdr
    # docs/models/ratios.md#reference-test-values typed values, as a check of the derivation above
    assert esdr == pytest.approx(np.array([[0.5455, -0.2222], [-0.1818, 0.1111], [0.0909, 0.6667],
                                           [-0.4091, -0.5556]]), abs=1e-4)
    expected_types = [["HH", "HH"], ["HH", "LL"], ["LL", "HL"], ["LL", "LH"]]   # docs/models/ratios.md#reference-test-values
    for i, u in enumerate(units):
        for j, service in enumerate(SERVICES):
            e, zs, zd, m = got[(u, service)]
            assert e == pytest.approx(esdr[i, j], rel=1e-9)
            assert zs == pytest.approx(_zscore(s[:, j])[i], rel=1e-9)
            assert zd == pytest.approx(_zscore(d[:, j])[i], rel=1e-9)
            assert m == expected_types[i][j]
        cesd = got[(u, "combined")][0]
        assert cesd == pytest.approx(esdr[i].mean(), rel=1e-9)      # docs/models/ratios.md#cesd, equal weights
    assert [got[(u, "combined")][0] for u in units] == pytest.approx([0.1616, -0.0354, 0.3788, -0.4823], abs=1e-4)
    # combined type: z-score sign of the mean min-max scaled supplies and demands (docs/models/ratios.md#matching-types)
    s_mean = np.mean([_minmax(s[:, j]) for j in range(2)], axis=0)
    d_mean = np.mean([_minmax(d[:, j]) for j in range(2)], axis=0)
    for i, u in enumerate(units):
        hs, hd = _zscore(s_mean)[i] > 0, _zscore(d_mean)[i] > 0
        assert got[(u, "combined")][3] == ("H" if hs else "L") + ("H" if hd else "L")
    # one class row per rank, county counts summing to the counties, area shares to 100 %
    classes = conn.execute("""SELECT service, sum(units), sum(area_share) FROM result.balance_class
                              WHERE run_id = %s AND level = 'county' GROUP BY 1""", (out.run_id,)).fetchall()
    assert {c[0] for c in classes} == {"food", "water", "combined"}
    for _, n, share in classes:
        assert n == 4 and share == pytest.approx(100.0)
    # a county with the highest deficit is in the most negative class of the combined index
    worst = units[int(np.argmin(esdr.mean(axis=1)))]
    rank = conn.execute("SELECT balance_rank FROM result.county_ratio WHERE run_id = %s AND unit_id = %s "
                        "AND service = 'combined'", (out.run_id, worst)).fetchone()[0]
    assert rank < 0


def test_weighted_cesd_and_minmax_scaling(conn, tiny):
    area, units, run = tiny
    cfg = cfg_for(ratios__scaling="minmax", ratios__cesd={"method": "weighted",
                                                          "weights": {"food": 0.25, "water": 0.75}})
    with conn.transaction():
        out = pipeline.run_ratios(conn, area, cfg, run)
    got = dict(conn.execute("SELECT unit_id, esdr FROM result.county_ratio WHERE run_id = %s AND service = 'combined'",
                            (out.run_id,)).fetchall())
    s, d = np.array(S, float), np.array(D, float)
    esdr = np.stack([_minmax(s[:, j]) - _minmax(d[:, j]) for j in range(2)], axis=1)   # (S'-D')/((1+1)/2)
    for i, u in enumerate(units):
        assert got[u] == pytest.approx(0.25 * esdr[i, 0] + 0.75 * esdr[i, 1], rel=1e-9)


def test_median_matching_rule(conn, tiny):
    area, units, run = tiny
    with conn.transaction():
        out = pipeline.run_ratios(conn, area, cfg_for(ratios__matching={"method": "median"}), run)
    got = dict(conn.execute("SELECT unit_id, matching_type FROM result.county_ratio WHERE run_id = %s "
                            "AND service = 'food'", (out.run_id,)).fetchall())
    s, d = np.array(S, float)[:, 0], np.array(D, float)[:, 0]
    for i, u in enumerate(units):
        assert got[u] == ("H" if s[i] > np.median(s) else "L") + ("H" if d[i] > np.median(d) else "L")


def _norm(X, directions):
    X = np.asarray(X, float)
    lo, hi = X.min(axis=0), X.max(axis=0)
    return np.where(np.array(directions) > 0, (X - lo) / (hi - lo), (hi - X) / (hi - lo))


def test_resilience_entropy_weights_and_classes(conn, tiny):
    area, units, run = tiny
    with conn.transaction():
        out = pipeline.run_resilience(conn, area, cfg_for(), run)
    xn = _norm(X, DIRECTIONS)
    p = (xn + 1e-4) / (xn + 1e-4).sum(axis=0)                      # docs/models/resilience.md#weights entropy weights
    e = -(p * np.log(p)).sum(axis=0) / np.log(len(X))
    w = (1 - e) / (1 - e).sum()
    assert w == pytest.approx([0.3463, 0.3043, 0.3495], abs=1e-4)   # docs/models/resilience.md#reference-test-values
    stored = dict(conn.execute("SELECT indicator, weight FROM result.run_indicator WHERE run_id = %s",
                               (out.run_id,)).fetchall())
    assert [stored[f"x{j + 1}"] for j in range(3)] == pytest.approx(w, rel=1e-9)
    index = xn @ w
    rows = dict((u, (i, c)) for u, i, c in conn.execute(
        "SELECT unit_id, resilience_index, resilience_class FROM result.county_resilience WHERE run_id = %s",
        (out.run_id,)).fetchall())
    for i, u in enumerate(units):
        assert rows[u][0] == pytest.approx(index[i], rel=1e-9)
        assert rows[u][1] == ("H" if index[i] >= index.mean() else "L")
    # dimension contributions add up to the index
    sums = dict(conn.execute("SELECT unit_id, sum(contribution) FROM result.county_dimension WHERE run_id = %s "
                             "GROUP BY 1", (out.run_id,)).fetchall())
    for i, u in enumerate(units):
        assert sums[u] == pytest.approx(index[i], rel=1e-9)
    # raw values are kept as given, normalised ones by direction
    raw = {(u, ind): (r, n) for u, ind, r, n in conn.execute(
        "SELECT unit_id, indicator, raw_value, norm_value FROM result.county_indicator WHERE run_id = %s",
        (out.run_id,)).fetchall()}
    assert raw[(units[1], "x2")] == (10.0, pytest.approx(1.0))


def _final_weights(conn, run_id):
    return [r[0] for r in conn.execute("SELECT weight FROM result.run_indicator WHERE run_id = %s ORDER BY position",
                                       (run_id,))]


def test_resilience_critic_and_ahp(conn, tiny):
    area, units, run = tiny
    with conn.transaction():
        out = pipeline.run_resilience(conn, area, cfg_for(resilience__weighting="critic"), run)
    w = _final_weights(conn, out.run_id)
    assert w == pytest.approx([0.2914, 0.3928, 0.3158], abs=1e-4)    # docs/models/resilience.md#reference-test-values
    # a consistent AHP matrix a_ij = v_i / v_j has the weights v / sum(v) and CR = 0
    v = np.array([4.0, 2.0, 1.0])
    ahp = {"labels": ["x1", "x2", "x3"], "matrix": (v[:, None] / v[None, :]).tolist()}
    with conn.transaction():
        out = pipeline.run_resilience(conn, area, cfg_for(resilience__weighting="ahp", resilience__ahp=ahp), run)
    w = _final_weights(conn, out.run_id)
    assert w == pytest.approx(v / v.sum(), rel=1e-9)
    # combined: alpha * AHP + (1 - alpha) * entropy
    with conn.transaction():
        out = pipeline.run_resilience(conn, area, cfg_for(resilience__weighting="combined", resilience__ahp=ahp,
                                                          resilience__combined={"alpha": 0.25}), run)
    rows = conn.execute("SELECT weight, weights FROM result.run_indicator WHERE run_id = %s ORDER BY position",
                        (out.run_id,)).fetchall()
    for weight, ws in rows:
        assert weight == pytest.approx(0.25 * ws["ahp"] + 0.75 * ws["entropy"], rel=1e-9)


def test_zoning_overlays_matching_type_and_resilience(conn, tiny):
    area, units, run = tiny
    cfg = cfg_for()
    with conn.transaction():
        r = pipeline.run_ratios(conn, area, cfg, run)
        e = pipeline.run_resilience(conn, area, cfg, run)
        z = pipeline.run_zoning(conn, area, cfg)
    types = dict(conn.execute("SELECT unit_id, matching_type FROM result.county_ratio WHERE run_id = %s "
                              "AND service = 'combined'", (r.run_id,)).fetchall())
    classes = dict(conn.execute("SELECT unit_id, resilience_class FROM result.county_resilience WHERE run_id = %s",
                                (e.run_id,)).fetchall())
    zones = dict(conn.execute("SELECT unit_id, zone_code FROM result.county_zone WHERE run_id = %s",
                              (z.run_id,)).fetchall())
    assert zones == {u: f"{types[u]}-{classes[u]}" for u in units}
    # display codes: Roman numeral of the matching type, numbered over occurring levels, low resilience first
    roman = {"HH": "I", "LH": "II", "LL": "III", "HL": "IV"}
    summary = {c: (disp, n, share) for c, disp, n, share in conn.execute(
        "SELECT zone_code, display_code, counties, area_share FROM result.zone WHERE run_id = %s", (z.run_id,))}
    for code, (disp, n, share) in summary.items():
        m, res = code.split("-")
        present = [lvl for lvl in ("L", "H") if f"{m}-{lvl}" in summary]
        assert disp == f"{roman[m]}-{present.index(res) + 1}"
        assert n == sum(1 for c in zones.values() if c == code)
        assert share == pytest.approx(100.0 * n / 4)                 # four equal squares
    assert sum(v[1] for v in summary.values()) == 4
    lineage = conn.execute("SELECT ratios_run_id, resilience_run_id, services_run_id FROM result.analysis_run "
                           "WHERE run_id = %s", (z.run_id,)).fetchone()
    assert lineage == (r.run_id, e.run_id, run)


def test_stages_are_reused_unless_inputs_change_or_forced(conn, tiny):
    area, units, run = tiny
    cfg = cfg_for()
    with conn.transaction():
        first = pipeline.run_ratios(conn, area, cfg, run)
        again = pipeline.run_ratios(conn, area, cfg, run)
        forced = pipeline.run_ratios(conn, area, cfg, run, force=True)
        other = pipeline.run_ratios(conn, area, cfg_for(ratios__classes={"k": 3}), run)
    assert not first.skipped and again.skipped and again.run_id == first.run_id
    assert not forced.skipped and forced.run_id != first.run_id
    assert not other.skipped and other.run_id not in (first.run_id, forced.run_id)
    with conn.transaction():
        z1 = pipeline.run_zoning(conn, area, cfg, first.run_id, pipeline.run_resilience(conn, area, cfg, run).run_id)
        conn.execute("UPDATE param.zone_type SET strategy = 'edited' WHERE zone_set = 'default' AND code = 'LL-L'")
        z2 = pipeline.run_zoning(conn, area, cfg, first.run_id)
    assert not z2.skipped and z2.run_id != z1.run_id     # an edited strategy text is a new input


def test_merge_rules_and_min_counties(conn, tiny):
    area, units, run = tiny
    with conn.transaction():
        pipeline.run_ratios(conn, area, cfg_for(), run)
        pipeline.run_resilience(conn, area, cfg_for(), run)
        z = pipeline.run_zoning(conn, area, cfg_for())
    combos = dict(conn.execute("SELECT unit_id, combination FROM result.county_zone WHERE run_id = %s",
                               (z.run_id,)).fetchall())
    first = combos[units[0]]
    target = "LL-L" if first != "LL-L" else "HH-H"
    with conn.transaction():
        z2 = pipeline.run_zoning(conn, area, cfg_for(zoning__merge={first: target}))
    rows = {u: (zc, adj) for u, zc, adj in conn.execute(
        "SELECT unit_id, zone_code, adjustment FROM result.county_zone WHERE run_id = %s", (z2.run_id,))}
    for u, combo in combos.items():
        assert rows[u] == ((target, "merged") if combo == first else (combo, None))


def test_smoothing_takes_the_neighbours_majority():
    # a 3 x 3 grid of counties (queen adjacency); the centre differs from all its neighbours
    cells = {r * 3 + c + 1: (r, c) for r in range(3) for c in range(3)}
    adjacency = {a: [b for b, (r2, c2) in cells.items() if b != a and abs(r2 - r) <= 1 and abs(c2 - c) <= 1]
                 for a, (r, c) in cells.items()}
    zones = {u: "LL-L" for u in cells}
    zones[5] = "HH-H"
    zones[1] = zones[2] = "HL-H"        # a pair is not isolated
    out = zoning.smooth(zones, adjacency)
    assert out[5] == "LL-L"             # 6 of its 8 neighbours are LL-L
    assert {u: out[u] for u in cells if u != 5} == {u: zones[u] for u in cells if u != 5}
    # a tie keeps the county's zone
    assert zoning.smooth({1: "HH-L", 2: "LH-L", 3: "LL-L"}, {2: [1, 3], 1: [2], 3: [2]})[2] == "LH-L"


def test_rook_and_queen_neighbours(conn):
    from analysis_cases import SRID

    from helpers import create_area

    area = create_area(conn, "grid", SRID, 0, 20_000, 1000, 20, 20)
    from shapely import box

    with conn.transaction():
        ids = {}
        for name, (x, y) in {"a": (0, 10_000), "b": (10_000, 10_000), "c": (10_000, 0)}.items():
            ids[name] = conn.execute(
                """INSERT INTO core.admin_unit (study_area_id, level, code, geom) VALUES (%s, 'county', %s,
                       ST_Multi(ST_GeomFromText(%s, %s))) RETURNING unit_id""",
                (area.study_area_id, name, box(x, y, x + 10_000, y + 10_000).wkt, SRID)).fetchone()[0]
    rook = zoning.neighbours(conn, area, "rook")
    queen = zoning.neighbours(conn, area, "queen")
    assert sorted(rook[ids["a"]]) == [ids["b"]]                  # a and c only touch at a corner
    assert sorted(queen[ids["a"]]) == sorted([ids["b"], ids["c"]])


@pytest.mark.parametrize("over, match", [
    ({"ratios__cesd": {"method": "weighted", "weights": {"food": 0.5, "water": 0.6}}}, "sum to 1"),
    ({"ratios__classes": {"method": "fixed", "deficit_thresholds": [0.2, 0.1]}}, "deficit_thresholds"),
    ({"zoning__smoothing": "hexagonal"}, "zoning.smoothing"),
])
def test_bad_settings_are_rejected(over, match):
    with pytest.raises(InputError, match=match):
        cfg_for(**over)


def test_unknown_setting_names_the_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[resilience]\nweigthing = 'critic'\n", encoding="utf-8")
    with pytest.raises(InputError, match="resilience.weigthing"):
        settings.load(path)


def test_bad_resilience_configuration_fails_before_computing(conn, tiny):
    area, units, run = tiny
    v = np.array([4.0, 2.0, 1.0])
    good = (v[:, None] / v[None, :])
    not_reciprocal = good.copy()
    not_reciprocal[0, 1] = 3.0
    expect_input_error(conn, pipeline.run_resilience, conn, area,
                       cfg_for(resilience__weighting="ahp",
                               resilience__ahp={"labels": ["x1", "x2", "x3"], "matrix": not_reciprocal.tolist()}),
                       run, match=["reciprocal", "x1", "x2"])
    inconsistent = [[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]]
    expect_input_error(conn, pipeline.run_resilience, conn, area,
                       cfg_for(resilience__weighting="ahp",
                               resilience__ahp={"labels": ["x1", "x2", "x3"], "matrix": inconsistent}),
                       run, match="CR")
    with conn.transaction():
        conn.execute("UPDATE param.indicator SET weight = 0.5 WHERE indicator_set = 'tiny'")
    expect_input_error(conn, pipeline.run_resilience, conn, area, cfg_for(resilience__weighting="manual"), run,
                       match="sum")
    with conn.transaction():
        conn.execute("""INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name,
                            direction, unit, source_kind, source, statistic)
                        VALUES ('tiny', 'ghost', 'D9', 'x', 'ghost', 1, '1', 'layer', 'no_such_layer', 'mean')""")
    expect_input_error(conn, pipeline.run_resilience, conn, area, cfg_for(), run,
                       match=["ghost", "no_such_layer"])
    with conn.transaction():
        conn.execute("UPDATE param.indicator SET source_kind = 'landscape', source = 'fractality' "
                     "WHERE indicator = 'ghost'")
    expect_input_error(conn, pipeline.run_resilience, conn, area, cfg_for(), run, match=["ghost", "fractality"])
    with conn.transaction():
        conn.execute("UPDATE param.indicator SET optional = true, source_kind = 'layer', source = 'no_such_layer' "
                     "WHERE indicator = 'ghost'")
        out = pipeline.run_resilience(conn, area, cfg_for(), run)
    assert any("ghost" in w for w in out.summary["warnings"])


def test_ratios_need_every_service(conn, tiny):
    area, units, run = tiny
    expect_input_error(conn, pipeline.run_ratios, conn, area,
                       settings.load(overrides={"ratios": {"services": ["food", "soil"], "pixel_maps": False}}), run,
                       match=["soil supply", "soil demand"])


# ------------------------------------------------------------------ every county, with reasons


def _warnings(conn, run_id) -> list[str]:
    return conn.execute("SELECT timings->'warnings' FROM core.run WHERE run_id = %s", (run_id,)).fetchone()[0]


def test_a_county_without_values_is_kept_null_with_reasons_and_unclassified(conn, tiny):
    area, units, run = tiny
    # a fifth county whose food demand could not be computed (the services run says why)
    with conn.transaction():
        (c5,) = conn.execute(
            """INSERT INTO core.admin_unit (study_area_id, level, code, name, province_code, geom)
               VALUES (%s, 'county', 'c5', 'County 5', 'p1',
                       ST_Multi(ST_MakeEnvelope(540000, 4400000, 550000, 4410000, 32650))) RETURNING unit_id""",
            (area.study_area_id,)).fetchone()
        for service, side, total, why in [("food", "supply", 50.0, None),
                                          ("food", "demand", None, "no county statistic for population"),
                                          ("water", "supply", 1.0, None), ("water", "demand", 1.0, None)]:
            conn.execute(
                """INSERT INTO result.county_service (run_id, unit_id, service, side, layer, total, unit, mean,
                       density_km2, valid_cells, null_reason) VALUES (%s, %s, %s, %s, 'x', %s, 't/yr', NULL, NULL,
                       100, %s)""", (run, c5, service, side, total, why))
    cfg = cfg_for()
    with conn.transaction():
        r = pipeline.run_ratios(conn, area, cfg, run)
        e = pipeline.run_resilience(conn, area, cfg, run)
        z = pipeline.run_zoning(conn, area, cfg)
    every = set(units) | {c5}
    ratio = {(u, s): (esdr, m, why) for u, s, esdr, m, why in conn.execute(
        "SELECT unit_id, service, esdr, matching_type, missing_reason FROM result.county_ratio WHERE run_id = %s",
        (r.run_id,))}
    assert {u for u, _ in ratio} == every
    assert ratio[(c5, "food")] == (None, None, "no food demand (no county statistic for population)")
    assert ratio[(c5, "water")][0] is not None and ratio[(c5, "water")][2] is None
    assert ratio[(c5, "combined")][:2] == (None, None)
    assert "no food demand (no county statistic for population)" in ratio[(c5, "combined")][2]
    # food is computed over the four counties that have it: the worked example (docs/models/ratios.md#reference-test-values)
    s, d = np.array(S, float), np.array(D, float)
    food = (s[:, 0] - d[:, 0]) / ((s[:, 0].max() + d[:, 0].max()) / 2)
    assert [ratio[(u, "food")][0] for u in units] == pytest.approx(food, rel=1e-9)
    assert any("c5" in w and "food" in w for w in _warnings(conn, r.run_id))
    # resilience: c5 has no indicator value (the indicators list four counties): NULL index with the reason
    res = {u: (i, c, why) for u, i, c, why in conn.execute(
        "SELECT unit_id, resilience_index, resilience_class, missing_reason FROM result.county_resilience "
        "WHERE run_id = %s", (e.run_id,))}
    assert set(res) == every
    assert res[c5][:2] == (None, None) and res[c5][2].startswith("3 of 3 indicator values missing")
    xn = _norm(X, DIRECTIONS)     # the four others keep the worked example's index
    p = (xn + 1e-4) / (xn + 1e-4).sum(axis=0)
    ent = -(p * np.log(p)).sum(axis=0) / np.log(len(X))
    assert [res[u][0] for u in units] == pytest.approx(xn @ ((1 - ent) / (1 - ent).sum()), rel=1e-9)
    n_ind = conn.execute("SELECT count(*), count(raw_value) FROM result.county_indicator WHERE run_id = %s "
                         "AND unit_id = %s", (e.run_id, c5)).fetchone()
    assert n_ind == (3, 0)
    assert any("c5" in w for w in _warnings(conn, e.run_id))
    # zoning: every county has a zone; c5 is unclassified and says why
    zones = {u: (code, why) for u, code, why in conn.execute(
        "SELECT unit_id, zone_code, missing_reason FROM result.county_zone WHERE run_id = %s", (z.run_id,))}
    assert set(zones) == every
    assert zones[c5][0] == "unclassified"
    assert "no combined matching type" in zones[c5][1] and "no resilience class" in zones[c5][1]
    assert all(zones[u][1] is None and zones[u][0] != "unclassified" for u in units)
    summary = {c: (disp, n, share, classified) for c, disp, n, share, classified in conn.execute(
        "SELECT zone_code, display_code, counties, area_share, classified FROM result.zone WHERE run_id = %s",
        (z.run_id,))}
    assert summary["unclassified"] == ("U", 1, pytest.approx(20.0), False)      # five equal squares
    assert sum(v[1] for v in summary.values()) == 5
    assert sum(v[2] for v in summary.values()) == pytest.approx(100.0)
    assert any("c5" in w and "unclassified" in w for w in _warnings(conn, z.run_id))
    # the BI tables list every county, the unclassified one with its reason
    bi_rows = dict(conn.execute("SELECT county_code, missing_reason FROM bi.county WHERE run_id = %s",
                                (z.run_id,)).fetchall())
    assert set(bi_rows) == {"c1", "c2", "c3", "c4", "c5"} and bi_rows["c5"] == zones[c5][1]
    assert conn.execute("SELECT counties FROM bi.zone_map WHERE run_id = %s AND zone_code = 'unclassified'",
                        (z.run_id,)).fetchone() == (1,)


def test_resilience_missing_values_policy(conn, tiny):
    area, units, run = tiny
    # one indicator lacks county 4: "median" imputes it (flagged), "null" leaves county 4 without an index
    with conn.transaction():
        conn.execute("""UPDATE param.indicator SET source = replace(source, %s, '')
                        WHERE indicator_set = 'tiny' AND indicator = 'x1'""", (f", ({units[3]}, {float(X[3][0])})",))
    with conn.transaction():
        med = pipeline.run_resilience(conn, area, cfg_for(), run)
        null = pipeline.run_resilience(conn, area, cfg_for(resilience__missing="null"), run)
    raw, imputed = conn.execute("SELECT raw_value, imputed FROM result.county_indicator WHERE run_id = %s "
                                "AND unit_id = %s AND indicator = 'x1'", (med.run_id, units[3])).fetchone()
    assert raw is None and imputed is True
    norm = conn.execute("SELECT norm_value FROM result.county_indicator WHERE run_id = %s AND unit_id = %s "
                        "AND indicator = 'x1'", (med.run_id, units[3])).fetchone()[0]
    x1 = [row[0] for row in X[:3]]
    median = float(np.median(x1))
    assert norm == pytest.approx((median - min(x1)) / (max(x1) - min(x1)), rel=1e-9)
    got = dict(conn.execute("SELECT unit_id, resilience_index FROM result.county_resilience WHERE run_id = %s",
                            (null.run_id,)).fetchall())
    assert got[units[3]] is None and all(got[u] is not None for u in units[:3])
    with pytest.raises(InputError, match="max_missing_share"):
        cfg_for(resilience__max_missing_share=1.0)



def test_compute_all_leaves_out_the_pattern_when_its_inputs_are_absent(db_url, conn, cli_env, tmp_path):
    """A study area whose land-use table has no resistance coefficient still gets its zoning: the pattern is left out
    and the pipeline run says why; `compute pattern` alone refuses in one line."""
    from helpers import run_cli
    from restore_db.load import demo

    demo.run(name="demo", pixel_size=8000, workdir=tmp_path, url=db_url, log=lambda m: None)
    with conn.transaction():
        conn.execute("DELETE FROM param.lulc_value WHERE coefficient = 'resistance'")
    proc = run_cli(cli_env, "compute", "all", "-a", "demo")
    assert proc.returncode == 0, proc.stderr
    assert "pattern     left out: pattern: study area 'demo' has no land-use parameter table with" in proc.stderr
    assert "Restoration zones" in proc.stderr
    stages = {r[0] for r in conn.execute("SELECT stage FROM core.run WHERE status = 'succeeded'").fetchall()}
    assert stages == {"pipeline", "services", "ratios", "resilience", "zoning"}
    (warnings,) = conn.execute("SELECT timings->'warnings' FROM core.run WHERE stage = 'pipeline'").fetchone()
    assert len(warnings) == 1 and warnings[0].startswith("pattern left out: ")
    alone = run_cli(cli_env, "compute", "pattern", "-a", "demo")
    lines = [line for line in alone.stderr.splitlines() if line.strip()]
    assert alone.returncode == 1 and len(lines) == 1 and "resistance" in lines[0], alone.stderr
