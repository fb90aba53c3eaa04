"""Circuit theory on grids with a hand-solved answer (docs/models/pattern.md#circuit-theory): resistors in series and
in parallel laid out as cells, and the errors of a circuit that cannot be solved. Circuitscape's own verification
cases are in test_pattern_circuit_circuitscape.py.

Tolerance: the answers are sums of a few float64 terms and the solvers are exact (SuperLU) or iterate to a relative
residual of 1e-12 (cg+amg), so 1e-9 relative holds on any machine.
"""

import math

import numpy as np
import pytest

from restore_db.stages.pattern import circuit as cc

REL = 1e-9


@pytest.mark.parametrize("solver", ["direct", "cg+amg"])
def test_series_row_of_cells(solver):
    """A row of five cells, four neighbours: the branches are in series, 1 A flows through every cell."""
    r = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    # average resistance: each branch is (r_a + r_b) / 2
    c = cc.Circuit(r, settings=cc.CircuitSettings(neighbours=4, connect="average_resistance", solver=solver))
    res, total = cc.pairwise(c, [0, 4])
    assert res[(0, 1)] == pytest.approx(1.5 + 2.5 + 3.5 + 4.5, rel=REL)
    assert total == pytest.approx(np.ones(5), rel=REL)
    # average conductance: each branch is 1 / ((1/r_a + 1/r_b) / 2)
    c = cc.Circuit(r, settings=cc.CircuitSettings(neighbours=4, solver=solver))
    expected = 2 / (1 + 1 / 2) + 2 / (1 / 2 + 1 / 3) + 2 / (1 / 3 + 1 / 4) + 2 / (1 / 4 + 1 / 5)
    assert cc.pairwise(c, [0, 4])[0][(0, 1)] == pytest.approx(expected, rel=REL)


@pytest.mark.parametrize("solver", ["direct", "cg+amg"])
def test_parallel_rows_between_short_circuited_ends(solver):
    """Three rows of five unit cells between two short-circuited end columns: three branches of four 1-ohm steps in
    parallel (4/3 ohm), each middle cell carrying a third of the ampere; with eight neighbours, two rows carry
    2 + sqrt(2) siemens per step (4 / (2 + sqrt 2) ohm)."""
    r = np.ones((3, 5))
    ends = np.zeros((3, 5), dtype=int)
    ends[:, 0], ends[:, 4] = 1, 2
    c = cc.Circuit(r, ends, cc.CircuitSettings(neighbours=4, solver=solver))
    a, b = int(c.nodemap[0, 0]), int(c.nodemap[0, 4])
    res, total = cc.pairwise(c, [a, b])
    assert res[(0, 1)] == pytest.approx(4 / 3, rel=REL)
    current = c.cell_map(total)
    assert current[:, 1:4] == pytest.approx(np.full((3, 3), 1 / 3), rel=REL)
    assert current[:, 0] == pytest.approx(np.ones(3), rel=REL)      # the source carries the ampere it injects
    c8 = cc.Circuit(np.ones((2, 5)), ends[:2], cc.CircuitSettings(neighbours=8, solver=solver))
    assert c8.effective_resistance(int(c8.nodemap[0, 0]), int(c8.nodemap[0, 4])) == pytest.approx(
        4 / (2 + math.sqrt(2)), rel=REL)


def test_disconnected_pairs_are_nan_and_all_to_one_flags_them():
    """Two islands: the pair across them has no resistance (NaN, Circuitscape's -1) and carries no current."""
    r = np.ones((1, 7))
    r[0, 3] = np.nan
    c = cc.Circuit(r, settings=cc.CircuitSettings(neighbours=4))
    res, total = cc.pairwise(c, [int(c.nodemap[0, 0]), int(c.nodemap[0, 2]), int(c.nodemap[0, 6])])
    assert math.isnan(res[(0, 2)]) and math.isnan(res[(1, 2)])
    assert res[(0, 1)] == pytest.approx(2.0, rel=REL)
    total, solved, resistance = cc.all_to_one(c, [int(c.nodemap[0, 0]), int(c.nodemap[0, 2]),
                                                  int(c.nodemap[0, 6])])
    assert solved == [True, True, False]
    assert resistance[0, 1] == pytest.approx(2.0, rel=REL) and math.isnan(resistance[0, 2])
    # each end in turn the ground: 1 A flows along the two cells between them both times
    assert c.cell_map(total)[0, :3] == pytest.approx([2.0, 2.0, 2.0], rel=REL)
    assert c.cell_map(total)[0, 4:] == pytest.approx([0.0, 0.0, 0.0])


def test_all_to_one_in_batches_equals_one_batch():
    """The batched sums (memory bounded by the batch) give the same currents and resistances as one batch."""
    rng = np.random.default_rng(5)
    c = cc.Circuit(rng.uniform(1, 50, (30, 30)))
    focal = [0, 77, 311, 455, 600, 899]
    one = cc.all_to_one(c, focal, batch=16)
    two = cc.all_to_one(c, focal, batch=2)
    assert two[0] == pytest.approx(one[0], rel=REL) and two[2] == pytest.approx(one[2], rel=REL)
    pair, _ = cc.pairwise(c, focal)
    assert one[2][1, 4] == pytest.approx(pair[(1, 4)], rel=REL)


def test_network_mode_from_an_edge_list():
    """A Wheatstone bridge of 1-ohm branches: 1 ohm between the two ends, no current through the bridge."""
    c = cc.Circuit.from_edges(4, [0, 0, 1, 2, 1], [1, 2, 3, 3, 2], [1.0, 1.0, 1.0, 1.0, 1.0])
    v = c.unit_potential(0) - c.unit_potential(3)
    assert v[0] - v[3] == pytest.approx(1.0, rel=REL)
    bridge = [i for i, (k, l) in enumerate(c.edges) if {int(k), int(l)} == {1, 2}]
    assert abs(c.branch_currents(v)[bridge[0]]) < 1e-12


@pytest.mark.parametrize("value", [0.0, -3.0])
def test_a_resistance_of_zero_or_below_is_refused_naming_the_cell(value):
    r = np.ones((4, 4))
    r[2, 1] = value
    with pytest.raises(cc.CircuitError, match=r"1 cell\(s\) have a resistance of 0 or below .*row 2, column 1"):
        cc.Circuit(r)


def test_a_grid_too_large_for_the_direct_solver_names_the_other_solver():
    c = cc.Circuit(np.ones((40, 40)), settings=cc.CircuitSettings(solver="direct", direct_max_nodes=1000))
    with pytest.raises(cc.CircuitTooLarge, match="too large for the direct solver.*'cg\\+amg'"):
        c.unit_potential(5)
    auto = cc.Circuit(np.ones((40, 40)), settings=cc.CircuitSettings(solver="auto", direct_max_nodes=1000))
    assert auto.effective_resistance(0, 1599) > 0 and auto.solver_used == "cg+amg"
