"""PC/dPC, the gravity model, α/β/γ and collaboration units (restore_db.stages.pattern.network), by hand."""

from __future__ import annotations

import math

import pytest

from restore_db.stages.pattern import network


def test_pc_and_dpc_of_three_patches_in_a_row_by_hand():
    # areas 1, 2, 3 ha in a landscape of 10 ha; 1-2 and 2-3 at d50 (p = 0.5), 1-3 directly at 3 d50 (p = 0.125),
    # so the best path 1-2-3 gives p* = 0.25
    areas = {1: 1.0, 2: 2.0, 3: 3.0}
    d50 = 2500.0
    dist = {(1, 2): d50, (2, 3): d50, (1, 3): 3 * d50}
    pc, dpc = network.probability_connectivity(areas, dist, d50, 10.0)
    assert pc == pytest.approx((1 + 4 + 9 + 2 * (1 * 2 * 0.5 + 2 * 3 * 0.5 + 1 * 3 * 0.25)) / 100, rel=1e-12)  # 0.235
    without = {1: (4 + 9 + 2 * 2 * 3 * 0.5) / 100,          # 2-3 left
               2: (1 + 9 + 2 * 1 * 3 * 0.125) / 100,        # only the direct 1-3 link
               3: (1 + 4 + 2 * 1 * 2 * 0.5) / 100}
    for k, rest in without.items():
        assert dpc[k] == pytest.approx(100 * (0.235 - rest) / 0.235, rel=1e-12)
    assert max(dpc, key=dpc.get) == 3 and dpc[2] > dpc[1]


def test_pc_of_an_isolated_patch_is_its_area_share_squared():
    pc, dpc = network.probability_connectivity({7: 5.0}, {}, 1000.0, 20.0)
    assert pc == pytest.approx(0.0625) and dpc == {7: pytest.approx(100.0)}
    with pytest.raises(ValueError, match="positive"):
        network.probability_connectivity({1: 1.0}, {}, 0.0, 1.0)


def test_gravity_by_hand():
    # S in m², P mean resistance, L the LCD, L_max the largest LCD
    g = network.gravity(1e6, 4e6, 2.0, 5.0, 3000.0, 6000.0)
    assert g == pytest.approx((math.log(1e6) / 2.0) * (math.log(4e6) / 5.0) / 0.25, rel=1e-12)
    assert math.isnan(network.gravity(1.0, 4e6, 2.0, 5.0, 3000.0, 6000.0))      # ln S must be > 0
    assert math.isnan(network.gravity(1e6, 4e6, 2.0, 5.0, 7000.0, 6000.0))      # L above L_max


def test_alpha_beta_gamma_by_hand():
    # 6 sources and 8 corridors: α = 3/7, β = 4/3, γ = 8/12
    got = network.network_indices(8, 6)
    assert got == pytest.approx({"alpha": 3 / 7, "beta": 8 / 6, "gamma": 8 / 12})
    assert math.isnan(network.network_indices(1, 2)["alpha"]) and math.isnan(network.network_indices(1, 2)["gamma"])


def test_collaboration_units_on_a_hand_made_county_graph():
    links = {("a", "b"): 5.0, ("b", "c"): 4.0, ("c", "d"): 0.5, ("d", "e"): 3.0, ("b", "a"): 1.0}
    counties = ["a", "b", "c", "d", "e", "f"]
    assert network.collaboration_units(links, counties, min_weight=1.0) == [{"a", "b", "c"}, {"d", "e"}, {"f"}]
    assert network.collaboration_units(links, counties, min_weight=0.0) == [{"a", "b", "c", "d", "e"}, {"f"}]
    louvain = network.collaboration_units(links, counties, min_weight=0.0, method="louvain", seed=1)
    assert {"f"} in louvain and sum(len(g) for g in louvain) == 6
    with pytest.raises(ValueError, match="components or louvain"):
        network.collaboration_units(links, counties, method="kmeans")


def test_important_corridors_by_hand():
    from restore_db.stages.pattern.network import important_corridors

    g = [1e2, 1e3, 1e9, 2e9, float("nan"), 0.0]
    # log10 G = 2, 3, 9, 9.3: both the Fisher-Jenks split and the mean (5.83) separate the two huge G
    assert important_corridors(g).tolist() == [False, False, True, True, False, False]
    assert important_corridors(g, "mean").tolist() == [False, False, True, True, False, False]
    assert important_corridors(g, "median").tolist() == [False, False, True, True, False, False]
    # a fixed threshold on G itself
    assert important_corridors(g, threshold=500).tolist() == [False, True, True, True, False, False]


def test_iic_and_diic_of_three_patches_in_a_row_by_hand():
    from restore_db.stages.pattern.network import integral_index_connectivity

    # areas 1, 2, 3 in a landscape of 10; links 1-2 and 2-3: nl = 1 for neighbours, 2 for 1-3
    iic, diic = integral_index_connectivity({1: 1.0, 2: 2.0, 3: 3.0}, [(1, 2), (2, 3)], 10.0)
    whole = (1 + 4 + 9 + 2 * (1 * 2 / 2 + 2 * 3 / 2 + 1 * 3 / 3)) / 100       # = 0.24
    assert iic == pytest.approx(whole, rel=1e-12) and whole == pytest.approx(0.24)
    # without 2, patches 1 and 3 are not connected: (1 + 9) / 100
    assert diic[2] == pytest.approx(100 * (0.24 - 0.10) / 0.24, rel=1e-12)
    assert diic[1] == pytest.approx(100 * (0.24 - (4 + 9 + 2 * 3) / 100) / 0.24, rel=1e-12)
