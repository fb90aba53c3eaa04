"""MCR, cost allocation, adjacent sources, least-cost paths and NLCC corridors (restore_db.stages.pattern.cost):
hand-checkable grids, and cost distances equal to an independent Dijkstra (networkx) on the same 8-neighbour graph."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from restore_db.stages.pattern import cost

SQRT2 = math.sqrt(2.0)


def dijkstra(resistance: np.ndarray, starts: np.ndarray, cell: float) -> np.ndarray:
    """Independent reference: networkx multi-source Dijkstra on the 8-neighbour graph, step cell × (Ra + Rb) / 2,
    × √2 diagonally; impassable cells (NaN, inf, <= 0) have no edges."""
    h, w = resistance.shape
    ok = np.isfinite(resistance) & (resistance > 0)
    g = nx.Graph()
    for y in range(h):
        for x in range(w):
            if not ok[y, x]:
                continue
            g.add_node((y, x))
            for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
                v, u = y + dy, x + dx
                if 0 <= v < h and 0 <= u < w and ok[v, u]:
                    step = cell * (resistance[y, x] + resistance[v, u]) / 2 * (SQRT2 if dy and dx else 1.0)
                    g.add_edge((y, x), (v, u), weight=step)
    sources = [tuple(p) for p in np.argwhere(starts & ok)]
    dist = nx.multi_source_dijkstra_path_length(g, sources)
    out = np.full(resistance.shape, np.inf)
    for (y, x), d in dist.items():
        out[y, x] = d
    return out


def test_a_row_by_hand():
    r = np.array([[1.0, 1.0, 10.0, 1.0, 1.0]])
    got = cost.cost_distance(r, np.array([[True, False, False, False, False]]), 100.0)
    # 100·(1+1)/2, then 100·(1+10)/2 twice, then 100·(1+1)/2
    np.testing.assert_allclose(got, [[0.0, 100.0, 650.0, 1200.0, 1300.0]], rtol=1e-15)


def test_diagonal_steps_cost_root_two():
    r = np.ones((3, 3))
    got = cost.cost_distance(r, np.eye(3, dtype=bool) & (np.arange(3)[:, None] == 0), 30.0)
    assert got[2, 2] == pytest.approx(2 * 30.0 * SQRT2, rel=1e-15)
    assert got[0, 2] == pytest.approx(60.0, rel=1e-15)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cost_distance_equals_an_independent_dijkstra(seed):
    rng = np.random.default_rng(seed)
    r = rng.uniform(1.0, 500.0, (23, 31))
    r[rng.random(r.shape) < 0.08] = np.nan          # impassable cells
    r[5, :20] = np.inf                               # a wall with a gap
    starts = np.zeros(r.shape, dtype=bool)
    starts[0, 3] = starts[17, 25] = True
    got = cost.cost_distance(r, starts, 250.0)
    want = dijkstra(r, starts, 250.0)
    assert np.array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-9, atol=0)   # summation order only


def two_sources_and_a_barrier():
    """7 × 9 cells of resistance 1; source 1 at the left, source 2 at the right, source 3 behind a full wall."""
    r = np.ones((7, 9))
    labels = np.zeros(r.shape, dtype=np.int32)
    labels[2:5, 0] = 1
    labels[2:5, 6] = 2
    r[:, 7] = np.inf                    # the wall
    labels[3, 8] = 3
    return r, labels


def test_allocation_adjacency_and_a_barrier():
    r, labels = two_sources_and_a_barrier()
    cwd, alloc = cost.cost_allocation(r, labels, 100.0)
    assert alloc[3, 2] == 1 and alloc[3, 4] == 2 and alloc[3, 8] == 3
    assert alloc[0, 7] == 0 and np.isinf(cwd[0, 7])          # the wall itself
    assert cost.adjacent_sources(alloc) == {(1, 2)}           # 3 is cut off
    assert cwd[3, 3] == pytest.approx(300.0)                  # three steps from either source
    assert cost.least_cost_path(r, labels, 1, 3, 100.0) is None


def test_least_cost_path_and_corridor_by_hand():
    r, labels = two_sources_and_a_barrier()
    path = cost.least_cost_path(r, labels, 1, 2, 100.0)
    # straight along a row from column 0 to column 6: six orthogonal steps of resistance 1
    assert path.lcd == pytest.approx(600.0) and path.length_m == pytest.approx(600.0)
    assert path.cwd_to_path_ratio == pytest.approx(1.0)
    assert tuple(path.cells[0]) in {(2, 0), (3, 0), (4, 0)} and tuple(path.cells[-1])[1] == 6
    cwd_a = cost.cost_distance(r, labels == 1, 100.0)
    cwd_b = cost.cost_distance(r, labels == 2, 100.0)
    corridor = cost.nlcc(cwd_a, cwd_b, path.lcd)
    assert np.allclose(corridor[3, :7], 0.0)                  # every cell of the straight rows lies on a cheapest path
    # one row off the sources' rows costs a diagonal detour: 2 · 100 · (√2 − 1) more
    assert corridor[1, 3] == pytest.approx(200.0 * (SQRT2 - 1.0))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="no passable start cell"):
        cost.cost_distance(np.full((2, 2), np.nan), np.ones((2, 2), dtype=bool), 10.0)
    with pytest.raises(ValueError, match="positive number of metres"):
        cost.cost_distance(np.ones((2, 2)), np.ones((2, 2), dtype=bool), 0.0)
    with pytest.raises(ValueError, match="no source cell"):
        cost.cost_allocation(np.ones((2, 2)), np.zeros((2, 2), dtype=int), 10.0)


@pytest.mark.parametrize("seed", [4, 5])
def test_a_traced_path_costs_its_lcd(seed):
    """The path traced down the MCR surface is a cheapest path: its steps add up to the LCD, and the LCD equals the
    independent Dijkstra's distance from a to the nearest cell of b."""
    rng = np.random.default_rng(seed)
    r = rng.uniform(1.0, 100.0, (25, 25))
    labels = np.zeros(r.shape, dtype=np.int32)
    labels[2:4, 2:4] = 1
    labels[20:23, 19:22] = 2
    path = cost.least_cost_path(r, labels, 1, 2, 30.0)
    cells = path.cells
    assert labels[tuple(cells[0])] == 1 and labels[tuple(cells[-1])] == 2
    steps = [30.0 * (r[tuple(p)] + r[tuple(q)]) / 2 * (SQRT2 if abs(p - q).sum() == 2 else 1.0)
             for p, q in zip(cells[:-1], cells[1:])]
    assert all(abs(p - q).max() == 1 for p, q in zip(cells[:-1], cells[1:]))       # 8-neighbour steps
    assert sum(steps) == pytest.approx(path.lcd, rel=1e-9)
    want = dijkstra(r, labels == 1, 30.0)[labels == 2].min()
    assert path.lcd == pytest.approx(want, rel=1e-9)


def test_boundary_lcd_bounds_the_lcd_from_above():
    """For every pair of neighbouring zones, the path across their boundary costs at least the pair's LCD (taken
    from each source's whole-grid MCR), and equals it for most pairs (the cheapest path usually crosses there)."""
    rng = np.random.default_rng(11)
    r = rng.uniform(1.0, 80.0, (60, 60))
    labels = np.zeros(r.shape, dtype=np.int32)
    for k, (y, x) in enumerate([(5, 5), (5, 45), (30, 25), (50, 8), (50, 50), (25, 52)], start=1):
        labels[y:y + 4, x:x + 4] = k
    mcr, alloc = cost.cost_allocation(r, labels, 100.0)
    bounds = cost.boundary_lcd(mcr, alloc, r, 100.0)
    assert set(bounds) == cost.adjacent_sources(alloc)
    exact = 0
    for (a, b), u in bounds.items():
        cwd = cost.cost_distance(r, labels == a, 100.0)
        lcd = cwd[labels == b].min()
        assert u >= lcd * (1 - 1e-12)
        exact += u == pytest.approx(lcd, rel=1e-12)
    assert exact >= len(bounds) // 2
