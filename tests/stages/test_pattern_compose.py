"""The pattern of a grid (restore_db.stages.pattern.compose) on a synthetic landscape whose answer is known: two
forest blocks joined across cropland by a grassland strip that a built-up column cuts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from restore_db.stages.pattern import compose as C
from restore_db.stages.pattern import resistance as R


def landscape():
    """30 x 40 cells of 100 m: forest blocks at columns 2-9 and 30-37 (rows 10-19), cropland elsewhere, a grassland
    strip on rows 14-15 between them, and a built-up column at column 20."""
    lulc = np.full((30, 40), 12.0)                                   # cropland
    lulc[10:20, 2:10] = lulc[10:20, 30:38] = 1.0                     # forest
    lulc[14:16, 10:30] = 10.0                                        # grassland strip
    lulc[:, 20] = 13.0                                               # built-up
    table = {1: 1.0, 10: 20.0, 12: 50.0, 13: 100.0}
    r = R.finish(R.base_resistance(lulc, table))
    importance = np.where(lulc == 1.0, 1.0, 0.05)
    foreground = np.isin(lulc, [1.0, 10.0])
    return lulc, r, importance, foreground


def test_two_sources_one_corridor_through_the_strip_and_a_barrier():
    _, r, importance, foreground = landscape()
    got = C.compose(r, importance, foreground, 100.0, C.PatternSettings(edge_width_m=100.0, importance_share=0.9))
    assert sorted(got.source_area_m2) == [1, 2]
    # the core of each 10 x 8 forest block less a one-cell edge: 8 x 6 cells of 1 ha
    assert got.source_area_m2 == {1: pytest.approx(48 * 1e4), 2: pytest.approx(48 * 1e4)}
    assert len(got.corridors) == 1
    c = got.corridors[0]
    rows = {int(x) for x in c.path.cells[:, 0]}
    assert rows <= {14, 15}, "the cheapest path follows the grassland strip"
    # from the last core column of source 1 (8) through forest 9, the strip 10-29 with the built-up cell at 20, and
    # forest 30 to the first core column of source 2 (31): step costs 100 × (Ra + Rb) / 2, 48 300 in all
    cells = [1.0] * 2 + [20.0] * 10 + [100.0] + [20.0] * 9 + [1.0] * 2
    want = sum(100 * (a + b) / 2 for a, b in zip(cells[:-1], cells[1:]))
    assert want == 48300.0
    assert c.path.lcd == pytest.approx(want, rel=1e-12)
    assert c.path.length_m == pytest.approx(2300.0)
    kinds = {n.kind for n in got.nodes}
    assert "barrier" in kinds and any(n.kind == "barrier" and n.col == 20 for n in got.nodes)
    assert any(n.kind == "ridge" for n in got.nodes)
    assert got.indices["beta"] == 0.5 and math.isnan(got.indices["alpha"])   # two sources, one corridor
    assert got.dpc[1] == pytest.approx(got.dpc[2]) and 0 < got.pc < 1
    assert np.isfinite(c.gravity)
    assert (got.corridor[14:16, 10:30] == 0).all()                  # the strip is the corridor's floor


def test_a_coarser_corridor_grid_and_no_source():
    _, r, importance, foreground = landscape()
    got = C.compose(r, importance, foreground, 100.0,
                    C.PatternSettings(corridor_factor=2, edge_width_m=200.0, importance_share=0.9))
    assert got.cell == 200.0 and got.resistance.shape == (15, 20) and len(got.corridors) == 1
    none = C.compose(r, np.zeros_like(importance), foreground, 100.0)
    assert none.corridors == [] and not none.sources.any() and math.isnan(none.indices["beta"])


@pytest.mark.parametrize("line, match", [
    ("edge_width_m = nan", "finite"), ("d50 = inf", "finite"), ("max_lcd = -1.0", ">= 0"),
    ("edge_width_m = 0.0", "> 0"), ("barrier_resistance = 0.5", ">= 1"), ("importance_share = nan", "finite"),
    ("importance_share = 1.5", "within"), ("corridor_factor = 0", "between 1 and 64"),
    ("correction = \"nightlight\"", "choose from"), ("importance_layers = []", "distinct layer names"),
    ("importance_weighting = \"manual\"\nimportance_weights = [0.5, 0.5]", "one weight >= 0 per layer"),
    ("top_classes = 5", "between 1 and 4"), ("max_sources = 1", "at least 2"), ("min_dpc = 101.0", "min_dpc must be within"),
    ("min_link_weight = 1.0", "min_link_weight must be within"), ("weight_corridor = 0.0\nweight_source = 0.0\nweight_complement = 0.0",
                                          "not all be 0"),
    ("circuit_neighbours = 6", "4 or 8"), ("circuit_solver = \"cholmod\"", "choose from"),
    ("circuit_mode = \"one_to_all\"", "choose from"), ("circuit_factor = 65", r"between 0 \(automatic\) and 64"),
    ("circuit_max_cells = 10", "at least 1000"), ("pinch_min_current = 0.0", r"within \(0, 1\]"),
    ("restored_resistance = 0.5", ">= 1"), ("barrier_diameters_m = []", "window diameters > 0"),
    ("barrier_diameters_m = [2000.0, -1.0]", "window diameters > 0"), ("barrier_min_share = 1.0", r"within \(0, 1\)"),
    ("circuit = 1", "type bool"),
])
def test_pattern_settings_refused_with_the_key(tmp_path, line, match):
    from restore_db.errors import InputError
    from restore_db.stages import settings

    path = tmp_path / "p.toml"
    path.write_text(f"[pattern]\n{line}\n", encoding="utf-8")
    with pytest.raises(InputError, match=match) as info:
        settings.load(path)
    assert "pattern." in str(info.value)


def test_sources_kept_by_dpc_and_iic():
    """max_sources keeps the sources of highest dPC and makes the pattern again over them; IIC is reported."""
    from dataclasses import replace

    PatternSettings, compose = C.PatternSettings, C.compose
    rng = np.random.default_rng(3)
    r = np.full((60, 90), 20.0)
    fg = np.zeros(r.shape, dtype=bool)
    imp = np.full(r.shape, 0.1)
    for y, x, size in [(5, 5, 12), (5, 40, 10), (5, 72, 12), (40, 20, 14), (40, 60, 9)]:
        r[y:y + size, x:x + size] = 1.0
        fg[y:y + size, x:x + size] = True
        imp[y:y + size, x:x + size] = 1.0 + rng.random()
    base = PatternSettings(importance_share=0.9, edge_width_m=100.0)
    whole = compose(r, imp, fg, 100.0, base)
    assert len(whole.source_area_m2) == 5 and whole.dropped == 0
    assert 0 < whole.iic <= 1 and set(whole.diic) == set(whole.dpc)
    best = sorted(whole.dpc, key=lambda k: (-whole.dpc[k], k))[:3]
    kept = compose(r, imp, fg, 100.0, replace(base, max_sources=3))
    assert kept.dropped == 2 and len(kept.source_area_m2) == 3
    # the sources kept are those of highest dPC (renumbered by decreasing area)
    assert sorted(kept.source_area_m2.values()) == sorted(whole.source_area_m2[k] for k in best)
    assert all(c.a in kept.source_area_m2 and c.b in kept.source_area_m2 for c in kept.corridors)


def _landscape(seed: int):
    """A 70 x 90 grid of random resistance (1-60) with a wall with two gaps, and six forest blocks."""
    rng = np.random.default_rng(seed)
    r = rng.uniform(1.0, 60.0, (70, 90))
    r[:, 44] = np.inf
    r[10:13, 44] = r[50:52, 44] = 5.0
    fg = np.zeros(r.shape, dtype=bool)
    imp = np.full(r.shape, 0.1)
    for y, x in [(5, 5), (5, 60), (30, 25), (35, 70), (55, 10), (55, 55)]:
        r[y:y + 9, x:x + 9] = 1.0
        fg[y:y + 9, x:x + 9] = True
        imp[y:y + 9, x:x + 9] = 1.0
    return r, imp, fg


@pytest.mark.parametrize("seed", [1, 2])
def test_bounded_searches_equal_whole_grid_searches(seed):
    """The pattern's bounded, windowed searches give the corridors of the plain method: each source's MCR over the
    whole grid (cost.cost_distance), each pair's path and LCD from it, NLCC = CWD_a + CWD_b - LCD mosaicked by
    minimum. LCDs to 1e-9 relative (the same sums in another order), the NLCC mosaic likewise."""
    from restore_db.stages.pattern import cost

    r, imp, fg = _landscape(seed)
    settings = C.PatternSettings(importance_share=0.9, edge_width_m=100.0)
    got = C.compose(r, imp, fg, 100.0, settings)
    labels, rr = got.sources, got.resistance
    ids = sorted(got.source_area_m2)
    full = {k: cost.cost_distance(rr, labels == k, 100.0) for k in ids}
    mosaic = np.full(rr.shape, np.inf)
    lcds = {}
    for a, b in sorted(cost.adjacent_sources(got.allocation)):
        ends = np.argwhere(labels == b)
        lcd = float(full[a][ends[:, 0], ends[:, 1]].min())
        if not np.isfinite(lcd):
            continue
        lcds[(a, b)] = lcd
        nlcc = np.maximum(full[a] + full[b] - lcd, 0.0)
        mosaic = np.where(nlcc <= settings.corridor_width * lcd, np.minimum(mosaic, nlcc), mosaic)
    assert {(c.a, c.b): pytest.approx(c.path.lcd, rel=1e-9) for c in got.corridors} == lcds
    finite = np.isfinite(mosaic)
    np.testing.assert_array_equal(np.isfinite(got.corridor), finite)
    np.testing.assert_allclose(got.corridor[finite], mosaic[finite], rtol=1e-9, atol=1e-6)
    # the MCR of all sources is the minimum of theirs
    np.testing.assert_allclose(got.mcr, np.minimum.reduce([full[k] for k in ids]), rtol=1e-12)


def test_results_do_not_depend_on_the_number_of_processes():
    from dataclasses import replace

    r, imp, fg = _landscape(3)
    one = C.compose(r, imp, fg, 100.0, C.PatternSettings(importance_share=0.9, edge_width_m=100.0))
    two = C.compose(r, imp, fg, 100.0, replace(C.PatternSettings(importance_share=0.9, edge_width_m=100.0),
                                                processes=2))
    assert [(c.a, c.b, c.path.lcd) for c in one.corridors] == [(c.a, c.b, c.path.lcd) for c in two.corridors]
    assert all(np.array_equal(c.path.cells, d.path.cells) for c, d in zip(one.corridors, two.corridors))
    np.testing.assert_array_equal(one.corridor, two.corridor)
    np.testing.assert_array_equal(one.corridor_owner, two.corridor_owner)
