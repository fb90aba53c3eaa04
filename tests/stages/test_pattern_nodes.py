"""Ecological nodes (restore_db.stages.pattern.nodes), by hand, and on paths from the cost functions."""

from __future__ import annotations

import numpy as np

from restore_db.stages.pattern import cost, nodes


def test_intersection_of_two_crossing_paths():
    shape = (5, 5)
    horizontal = np.array([[2, c] for c in range(5)])
    vertical = np.array([[r, 2] for r in range(5)])
    sources = np.zeros(shape, dtype=int)
    sources[2, 0] = 1                       # the first cell of the horizontal path lies in a source
    got = nodes.intersections(shape, [horizontal, vertical], sources)
    assert got == [nodes.Node("intersection", 2, 2, (0, 1))]


def test_barrier_runs_on_a_path():
    shape = (1, 7)
    path = np.array([[0, c] for c in range(7)])
    r = np.array([[1, 100, 100, 1, 1, 100, 1]], dtype=float)
    got = nodes.barriers(shape, [path], r, 100.0)
    assert [(n.row, n.col) for n in got] == [(0, 1), (0, 5)] and all(n.corridors == (0,) for n in got)


def test_ridge_crossing_where_the_fronts_meet():
    r = np.ones((3, 8))
    labels = np.zeros(r.shape, dtype=np.int32)
    labels[1, 0] = 1
    labels[1, 7] = 2
    _, alloc = cost.cost_allocation(r, labels, 100.0)
    path = cost.least_cost_path(r, labels, 1, 2, 100.0)
    got = nodes.ridge_crossings([path.cells], alloc)
    # the fronts of the two sources meet half-way: column 3 is 300 from source 1 and 400 from source 2, column 4 the
    # other way round, so the path enters source 2's zone at column 4 (no tie: a tied cell may go to either)
    assert got == [nodes.Node("ridge", 1, 4, (0,))]
