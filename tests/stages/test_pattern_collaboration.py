"""Zoning collaboration (restore_db.stages.pattern.collaboration and network.collaboration_units): link terms and
weights by hand, and collaboration units of a hand-made county graph."""

from __future__ import annotations

import numpy as np
import pytest

from restore_db.stages.pattern import collaboration as C
from restore_db.stages.pattern import network


def test_link_terms_by_hand():
    # ΣG 0, 5, 500, 500: ranks among the positive values 1/3, 1, 1 (ties take the highest rank)
    g = np.array([0.0, 5.0, 500.0, 500.0])
    s = np.array([2e6, 0.0, 0.0, 1e6])
    k, n = np.array([0, 1, 2, 0]), np.array([0, 5, 4, 3])
    cor, src, comp = C.link_terms(g, s, k, n)
    np.testing.assert_allclose(cor, [0.0, 1 / 3, 1.0, 1.0])
    np.testing.assert_allclose(src, [1.0, 0.0, 0.0, 0.5])
    np.testing.assert_allclose(comp, [0.0, 0.2, 0.5, 0.0])
    w = C.link_weight((cor, src, comp), C.CollaborationSettings(weight_corridor=2, weight_source=1,
                                                                weight_complement=1))
    np.testing.assert_allclose(w, [0.25, (2 / 3 + 0.2) / 4, 0.625, 0.625])


def test_link_terms_refuse_bad_values():
    with pytest.raises(ValueError, match="differ in length"):
        C.link_terms(np.zeros(2), np.zeros(3), np.zeros(2), np.zeros(2))
    with pytest.raises(ValueError, match="complementary <= compared"):
        C.link_terms(np.zeros(1), np.zeros(1), np.array([2]), np.array([1]))
    with pytest.raises(ValueError, match="not all 0"):
        C.link_weight((np.zeros(1),) * 3, C.CollaborationSettings(weight_corridor=0, weight_source=0,
                                                                  weight_complement=0))


# Two triangles of counties (a, b, c) and (d, e, f) joined by a bridge c-d, and a county g with only a weak link.
TRIANGLES = {("a", "b"): 0.9, ("b", "c"): 0.8, ("a", "c"): 0.7, ("d", "e"): 0.9, ("e", "f"): 0.8, ("d", "f"): 0.7,
             ("c", "d"): 0.3, ("f", "g"): 0.05}
COUNTIES = "abcdefg"


def test_collaboration_units_components_by_hand():
    # the bridge is strong (0.3 > 0.1): one component of six; g is alone (its only link is weak)
    groups = network.collaboration_units(TRIANGLES, COUNTIES, 0.1, "components")
    assert groups == [set("abcdef"), {"g"}]
    # a stricter threshold cuts the bridge
    assert network.collaboration_units(TRIANGLES, COUNTIES, 0.3, "components") == [set("abc"), set("def"), {"g"}]


def test_collaboration_units_louvain_by_hand():
    # modularity splits the two triangles at the bridge, whatever the seed
    for seed in (0, 1, 7):
        assert network.collaboration_units(TRIANGLES, COUNTIES, 0.1, "louvain", seed) == [set("abc"), set("def"),
                                                                                          {"g"}]
    with pytest.raises(ValueError, match="components or louvain"):
        network.collaboration_units(TRIANGLES, COUNTIES, 0.1, "leiden")
