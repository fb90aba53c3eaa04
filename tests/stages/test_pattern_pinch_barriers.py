"""Pinch points, the barrier score and restoration tasks on grids solved by hand (docs/models/pattern.md#pinch-points,
#barriers, #restoration-tasks).

Tolerance: closed-form octile distances and series resistances in float64, 1e-9 relative.
"""

import math

import numpy as np
import pytest

from scipy import ndimage

from restore_db.stages.pattern import barriers, compose, cost, pinch, tasks

REL = 1e-9
S2 = math.sqrt(2.0)


def _one_lane():
    """Two sources (columns 0-1 and 7-8) joined by a single-cell-wide corridor along row 3 through a wall."""
    r = np.ones((7, 9))
    r[:, 2:7] = np.nan
    r[3, 2:7] = 1.0
    labels = np.zeros((7, 9), dtype=np.int32)
    labels[:, 0:2], labels[:, 7:9] = 1, 2
    corridor = np.zeros((7, 9), dtype=bool)
    corridor[3, 1:8] = True
    return r, labels, corridor


def test_a_single_cell_wide_corridor_is_a_pinch_point():
    r, labels, corridor = _one_lane()
    flow = pinch.corridor_flow(r, labels, 1, 2, corridor)
    # each end: one orthogonal (1 S) and two diagonal (1/sqrt2 S) branches into the lane; four 1-ohm steps along it
    assert flow.resistance == pytest.approx(2 / (1 + S2) + 4, rel=REL)
    lane = flow.current[3 - flow.box[0].start, 2 - flow.box[1].start:7 - flow.box[1].start]
    assert lane == pytest.approx(np.ones(5), rel=REL)        # all of the ampere passes every cell
    found = pinch.pinches(flow, r, labels, 1, 2, corridor_id=1, min_current=0.5, degraded=100.0, cell=100.0)
    assert len(found) == 1
    p = found[0]
    assert sorted(map(tuple, p.cells)) == [(3, c) for c in range(2, 7)]
    assert p.current_max == pytest.approx(1.0, rel=REL) and p.current_mean == pytest.approx(1.0, rel=REL)
    # degraded to 100: four 100-ohm steps, and each end 1 / (0.505 (1 + sqrt 2))
    assert p.degraded_resistance == pytest.approx(400 + 2 / (0.505 * (1 + S2)), rel=REL)
    # and its least-cost distance: six 100 m steps of resistance 1, then two steps into and out of the lane at
    # (1 + 100) / 2 and four along it at 100
    assert p.lcd == pytest.approx(600.0, rel=REL)
    assert p.degraded_lcd == pytest.approx(2 * 100 * 101 / 2 + 4 * 100 * 100, rel=REL)


def test_a_wide_corridor_has_no_pinch_point():
    r = np.ones((9, 9))
    labels = np.zeros((9, 9), dtype=np.int32)
    labels[:, 0], labels[:, 8] = 1, 2
    flow = pinch.corridor_flow(r, labels, 1, 2, np.ones((9, 9), dtype=bool))
    assert np.nanmax(flow.current[:, 1:8]) < 0.5
    assert pinch.pinches(flow, r, labels, 1, 2, 1, 0.5, 100.0, 100.0) == []


def test_barrier_score_on_a_wall_with_one_gap():
    """Point sources A (10, 2) and B (10, 18) on unit resistance, a wall down column 10 with a gap in row 0. The
    corridor runs through the gap: LCD = 2 (8 sqrt2 + 2) cells. Restoring the 3 x 3 window centred on the wall at
    (10, 10): the window's cheapest cells are 7 cells from A and from B, so LCD' = 7 + 7 + 3 cells."""
    cell = 100.0
    r = np.ones((21, 21))
    r[1:, 10] = np.nan
    graph = cost.CostGraph(r, cell)
    a, b = np.zeros(r.shape, bool), np.zeros(r.shape, bool)
    a[10, 2], b[10, 18] = True, True
    cwd_a, cwd_b = graph.distances(a), graph.distances(b)
    lcd = 2 * (8 * S2 + 2) * cell
    assert float(np.min(cwd_a + cwd_b)) == pytest.approx(lcd, rel=REL)
    gain = barriers.improvement(cwd_a, cwd_b, lcd, 3 * cell, cell)
    assert gain[10, 10] == pytest.approx(lcd - 17 * cell, rel=REL)
    assert gain[10, 10] == gain.max()           # the wall across the straight line is the best place
    assert gain[0, 10] == 0.0                   # the gap: nothing to gain
    assert (gain[:, :5] == 0).all()             # far from the wall: a window never shortens the corridor
    assert barriers.disk(3 * cell, cell).sum() == 9 and barriers.disk(2 * cell, cell).sum() == 5


def test_corridor_segments_gain_what_their_cells_cost_over_restored_land():
    """A straight path of five cells, the middle three of resistance 50: restoring them to 1 saves
    cell x (50 + 50 + 50 + 50 - 1 - 1 - 1 - 1) / 2 ... summed over the four steps."""
    r = np.array([[1.0, 50.0, 50.0, 50.0, 1.0]])
    labels = np.array([[1, 0, 0, 0, 2]], dtype=np.int32)
    path = np.array([[0, 0], [0, 1], [0, 2], [0, 3], [0, 4]])
    lcd = tasks.path_cost(path, r, 10.0)
    assert lcd == pytest.approx(10 * (25.5 + 50 + 50 + 25.5), rel=REL)
    (seg,) = tasks.segments(path, r, labels, 1, lcd, 10.0, threshold=50.0, restored=1.0)
    assert seg.gain == pytest.approx(lcd - 10 * 4.0, rel=REL)
    assert seg.area_m2 == 300.0 and seg.gain_share == pytest.approx(seg.gain / lcd, rel=REL)


def test_tasks_rank_by_gain_share_per_km2():
    small = tasks.Task("restore_barrier", 1, np.zeros((1, 2), int), 10.0, "cost-weighted m", 0.1, 1e6, {})
    large = tasks.Task("protect_pinch", 2, np.zeros((4, 2), int), 5.0, "ohm", 0.3, 4e6, {})
    best = tasks.Task("restore_segment", 3, np.zeros((1, 2), int), 1.0, "cost-weighted m", 0.2, 0.5e6, {})
    order = tasks.rank([small, large, best])
    assert [t.corridor for t in order] == [3, 1, 2]
    assert [t.rank for t in order] == [1, 2, 3]
    assert best.priority == pytest.approx(0.4) and large.priority == pytest.approx(0.075)


def test_an_isolated_source_is_refused_in_one_line():
    """Three sources, one walled off: the corridors join the other two, the circuit step names the isolated one."""
    r = np.ones((30, 40))
    r[:, 29] = np.nan                   # a wall cuts off the right part
    importance = np.zeros(r.shape)
    for rows, cols in ((slice(2, 10), slice(2, 10)), (slice(18, 27), slice(2, 10)), (slice(10, 20), slice(31, 39))):
        importance[rows, cols] = 1.0
    settings = compose.PatternSettings(importance_share=1.0, edge_width_m=100.0, circuit=compose.CircuitStep())
    with pytest.raises(Exception, match=r"source \d is isolated \(no passable path joins it to another source.*"
                                        r"pattern.circuit = false") as info:
        compose.compose(r, importance, importance > 0, 100.0, settings)
    assert "\n" not in str(info.value)


def test_a_corridor_no_circuit_joins_is_reported_not_crashed_on():
    """Four sources: A-B and C-D joined by orthogonal lanes, B-C only by a diagonal run of cells. With four
    neighbours the circuit has two parts: the B-C corridor has no effective resistance and no corridor resistance
    (NaN, which the stage reports as a warning); the others have both."""
    r = np.full((20, 36), np.nan)
    blocks = {"A": (slice(2, 8), slice(2, 8)), "B": (slice(2, 8), slice(10, 16)),
              "C": (slice(10, 16), slice(18, 24)), "D": (slice(10, 16), slice(26, 32))}
    importance = np.zeros(r.shape)
    for rows, cols in blocks.values():
        r[rows, cols] = 1.0
        importance[rows, cols] = 1.0
    r[4, 8:10] = 1.0                     # A-B
    r[12, 24:26] = 1.0                   # C-D
    r[8, 16] = r[9, 17] = 1.0            # B-C, diagonally only
    step = compose.CircuitStep(circuit=compose.cc.CircuitSettings(neighbours=4), barrier_diameters_m=(300.0,))
    got = compose.compose(r, importance, importance > 0, 100.0,
                          compose.PatternSettings(importance_share=1.0, edge_width_m=100.0, circuit=step))
    assert len(got.source_area_m2) == 4 and len(got.corridors) == 3
    centre = {k: (rows.start + rows.stop) // 2 for k, (rows, cols) in blocks.items()}
    diagonal = [c for c in got.corridors
                if {int(got.sources[centre[k], (blocks[k][1].start + blocks[k][1].stop) // 2]) for k in "BC"}
                == {c.a, c.b}]
    assert len(diagonal) == 1
    for c in got.corridors:
        joined = c is not diagonal[0]
        assert math.isfinite(c.effective_resistance) == joined and math.isfinite(c.corridor_resistance) == joined


def test_a_pinch_is_measured_with_the_detours_outside_its_corridor():
    """A one-cell lane (row 4) and, outside the truncated corridor, a detour lane (row 0) of resistance 2. Degrading
    the pinch to 100 lengthens the least-cost distance only to the detour's: 150 + 6 x 200 + 150 = 1500 against
    8 x 100 = 800."""
    r = np.ones((9, 11))
    r[:, 2:9] = np.nan
    r[4, 2:9] = 1.0
    r[0, 2:9] = 2.0
    labels = np.zeros(r.shape, dtype=np.int32)
    labels[:, 0:2], labels[:, 9:11] = 1, 2
    corridor = np.zeros(r.shape, dtype=bool)
    corridor[4, 1:10] = True
    flow = pinch.corridor_flow(r, labels, 1, 2, corridor)
    (p,) = pinch.pinches(flow, r, labels, 1, 2, 1, 0.5, 100.0, 100.0)
    assert p.lcd == pytest.approx(800.0, rel=REL) and p.degraded_lcd == pytest.approx(1500.0, rel=REL)
    # a detour that costs no more than the lane: nothing to protect
    r[0, 2:9] = 1.0
    assert pinch.pinches(flow, r, labels, 1, 2, 1, 0.5, 100.0, 100.0) == []


def _two_blocks(lane_rows: slice):
    """Two 8 x 8 forest blocks 6 cells apart, joined by a lane over ``lane_rows``; impassable elsewhere."""
    r = np.full((16, 26), np.nan)
    importance = np.zeros(r.shape)
    for cols in (slice(2, 10), slice(16, 24)):
        r[4:12, cols] = 1.0
        importance[4:12, cols] = 1.0
    r[lane_rows, 10:16] = 5.0
    return r, importance


def test_the_current_map_on_a_coarser_grid_keeps_sources_and_path_currents_in_bounds():
    """With the current map 2 corridor cells per side, the sources do not spread (a block is a source's when it
    holds half of it) and the path's current stays within the pair's 1 A; the effective resistance is that of the
    coarse circuit, close to the fine one."""
    r, importance = _two_blocks(slice(6, 10))
    fine = compose.compose(r, importance, importance > 0, 100.0, compose.PatternSettings(
        importance_share=1.0, edge_width_m=100.0, circuit=compose.CircuitStep(barrier_diameters_m=(300.0,))))
    coarse = compose.compose(r, importance, importance > 0, 100.0, compose.PatternSettings(
        importance_share=1.0, edge_width_m=100.0,
        circuit=compose.CircuitStep(factor=2, barrier_diameters_m=(300.0,))))
    assert coarse.current_factor == 2 and coarse.circuit_warnings == []
    (c,) = coarse.corridors
    assert 0 < c.current_peak <= 1.0 + 1e-9 and c.current_mean <= c.current_peak
    lane = coarse.current[6:10, 11:15]          # cells between the sources carry at most the pair's ampere
    assert np.nanmax(lane) <= 1.0 + 1e-9
    assert c.effective_resistance == pytest.approx(fine.corridors[0].effective_resistance, rel=0.5)
    labels = np.zeros((4, 4), dtype=np.int32)
    labels[0, 0] = 7                             # a quarter of a block: not the source's
    labels[2:4, 2:4] = 8
    assert compose.coarse_labels(labels, 2).tolist() == [[0, 0], [0, 8]]


def test_a_source_cut_off_by_the_coarser_grid_is_left_out_with_a_warning():
    """A lane two cells wide straddling the 2 x 2 blocks closes on the coarser current map: the sources stay joined
    on the corridor grid, so the run goes on, and the map leaves them out, saying why."""
    r, importance = _two_blocks(slice(7, 9))
    got = compose.compose(r, importance, importance > 0, 100.0, compose.PatternSettings(
        importance_share=1.0, edge_width_m=100.0,
        circuit=compose.CircuitStep(factor=2, barrier_diameters_m=(300.0,))))
    assert len(got.corridors) == 1 and math.isnan(got.corridors[0].effective_resistance)
    (warning,) = got.circuit_warnings
    assert "cut off on the current map's grid of 2 x 2" in warning and "pattern.circuit_factor" in warning


def test_all_to_one_gives_the_pairwise_resistances_and_its_own_currents():
    r, importance = _two_blocks(slice(6, 10))
    runs = {}
    for mode in ("pairwise", "all_to_one"):
        runs[mode] = compose.compose(r, importance, importance > 0, 100.0, compose.PatternSettings(
            importance_share=1.0, edge_width_m=100.0,
            circuit=compose.CircuitStep(mode=mode, barrier_diameters_m=(300.0,))))
    pair, one = runs["pairwise"], runs["all_to_one"]
    assert [c.effective_resistance for c in one.corridors] == pytest.approx(
        [c.effective_resistance for c in pair.corridors], rel=REL)
    # two sources: each the ground in turn, 1 A from the other: twice the pairwise current everywhere
    assert np.nansum(one.current) == pytest.approx(2 * np.nansum(pair.current), rel=1e-6)


@pytest.mark.parametrize("diameter", [1.0, 2.0, 3.0, 4.5, 8.0, 17.0])
def test_the_disk_minimum_is_scipys_minimum_filter(diameter):
    rng = np.random.default_rng(int(diameter * 10))
    values = rng.uniform(0, 100, (37, 53))
    values[rng.uniform(size=values.shape) < 0.1] = np.inf
    foot = barriers.disk(diameter, 1.0)
    expected = ndimage.minimum_filter(values, footprint=foot, mode="constant", cval=np.inf)
    assert np.array_equal(barriers.disk_minimum(values, foot), expected)     # a minimum picks, it does not round


def test_the_disk_minimum_of_a_grid_smaller_than_the_disk():
    values = np.arange(6.0).reshape(2, 3)
    foot = barriers.disk(9.0, 1.0)
    expected = ndimage.minimum_filter(values, footprint=foot, mode="constant", cval=np.inf)
    assert np.array_equal(barriers.disk_minimum(values, foot), expected)


def test_a_window_over_land_that_cannot_be_restored_scores_nothing():
    """The wall-and-gap grid with the wall's cells nodata: restoring a window would cross nodata, so no window on
    the wall scores; with the wall of resistance 1000 instead, the window at (10, 10) scores as by hand."""
    cell = 100.0
    r = np.ones((21, 21))
    r[1:, 10] = np.nan
    graph = cost.CostGraph(r, cell)
    a, b = np.zeros(r.shape, bool), np.zeros(r.shape, bool)
    a[10, 2], b[10, 18] = True, True
    cwd_a, cwd_b = graph.distances(a), graph.distances(b)
    lcd = float(np.min(cwd_a + cwd_b))
    gain = barriers.improvement(cwd_a, cwd_b, lcd, 3 * cell, cell, passable=np.isfinite(r))
    assert (gain[1:, 9:12] == 0).all()
    r[1:, 10] = 1000.0
    gain = barriers.improvement(cwd_a, cwd_b, lcd, 3 * cell, cell, passable=np.isfinite(r))
    assert gain[10, 10] == pytest.approx(lcd - 17 * cell, rel=REL)
    assert (gain[0, :] == 0).all()              # windows reaching past the grid's edge: not known, not scored
