"""The source–corridor network and the county graph of the ecological security pattern (docs/models/pattern.md):
connectivity importance of sources (PC, dPC), corridor importance (gravity model), network structure indices
(α, β, γ) and collaboration units of counties. Graph work uses networkx; nothing here touches the database.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path


def probability_connectivity(areas: Mapping[int, float], distances: Mapping[tuple[int, int], float], d50: float,
                             landscape_area: float) -> tuple[float, dict[int, float]]:
    """Probability of connectivity PC of a set of patches and the importance dPC of each.

    ``PC = Σ_i Σ_j a_i a_j p*_ij / A_L²`` over all pairs, i = j included (p*_ii = 1); ``p_ij = exp(−k d_ij)`` with
    ``k = ln 2 / d50`` (p = 0.5 at d50); ``p*_ij`` is the best product of probabilities over any path, found as the
    shortest path with step weights ``k d`` (scipy ``csgraph.shortest_path``; one run per removed patch, in C). ``dPC_k = 100 (PC − PC_without_k) / PC``, where removing k removes its
    area and its links.

    Args:
        areas: patch id -> area (any unit; ``landscape_area`` in the same unit).
        distances: (i, j) -> distance between the patches (metres, or cost-weighted metres; the unit of ``d50``);
            pairs not listed are not linked directly.
        d50: the distance at which the direct probability is 0.5 (> 0).
        landscape_area: A_L, the area of the whole landscape (> 0).
    Returns:
        (PC, {patch id: dPC in %}); PC is dimensionless in [0, 1] when the patches lie in the landscape.
    Raises:
        ValueError: d50 or the landscape area not positive; a negative distance or area.
    Source: docs/models/pattern.md#connectivity-importance-of-sources (Saura & Pascual-Hortal 2007, Conefor).
    """
    if not (d50 > 0 and landscape_area > 0):
        raise ValueError("d50 and the landscape area must be positive")
    if any(a < 0 for a in areas.values()) or any(d < 0 for d in distances.values()):
        raise ValueError("areas and distances must not be negative")
    k = math.log(2.0) / d50
    ids = list(areas)
    index = {node: i for i, node in enumerate(ids)}
    a = np.array([areas[n] for n in ids], dtype=np.float64)
    n = len(ids)
    weight = np.full((n, n), np.inf)
    for (i, j), d in distances.items():
        if i in index and j in index and i != j:
            w = max(k * d, np.finfo(np.float64).tiny)     # a zero weight would read as no link
            u, v = index[i], index[j]
            weight[u, v] = weight[v, u] = min(weight[u, v], w)

    def pc(keep: np.ndarray) -> float:
        """PC over the patches ``keep``: p*_ij = exp(-shortest path of k d) among them (scipy csgraph)."""
        sub = weight[np.ix_(keep, keep)]
        graph = csr_matrix(np.where(np.isfinite(sub), sub, 0.0))     # 0: no link
        lengths = shortest_path(graph, method="D", directed=False)
        probability = np.exp(-lengths)                  # exp(-inf) = 0: not connected; the diagonal is 1
        ak = a[keep]
        return float(ak @ probability @ ak) / landscape_area ** 2

    return _with_each_removed(ids, pc)


def _with_each_removed(ids: list, index: Callable[[np.ndarray], float]) -> tuple[float, dict]:
    """A connectivity index over all patches and the importance of each, ``100 (I − I_without_k) / I`` (%; 0 when
    I is 0): ``index`` takes the positions of the patches kept."""
    everything = np.arange(len(ids))
    whole = index(everything) if len(ids) else 0.0
    importance = {}
    for i, node in enumerate(ids):
        rest = index(everything[everything != i]) if len(ids) > 1 else 0.0
        importance[node] = 100.0 * (whole - rest) / whole if whole > 0 else 0.0
    return whole, importance


def integral_index_connectivity(areas: Mapping[int, float], links: Iterable[tuple[int, int]],
                                landscape_area: float) -> tuple[float, dict[int, float]]:
    """Integral index of connectivity IIC of a set of patches and the importance dIIC of each.

    ``IIC = Σ_i Σ_j a_i a_j / (1 + nl_ij) / A_L²`` over all pairs, i = j included (nl_ii = 0), with nl_ij the number
    of links on the shortest topological path between i and j (pairs with no path add nothing); ``dIIC_k = 100 (IIC −
    IIC_without_k) / IIC``.

    Args:
        areas: patch id -> area (the unit of ``landscape_area``).
        links: the pairs of patches linked directly (the corridors).
        landscape_area: A_L (> 0).
    Returns:
        (IIC in [0, 1], {patch id: dIIC in %}).
    Raises:
        ValueError: a landscape area not positive, or a negative area.
    Source: docs/models/pattern.md#connectivity-importance-of-sources (Pascual-Hortal & Saura 2006, Conefor).
    """
    if not landscape_area > 0:
        raise ValueError("the landscape area must be positive")
    if any(a < 0 for a in areas.values()):
        raise ValueError("areas must not be negative")
    ids = list(areas)
    index = {node: i for i, node in enumerate(ids)}
    a = np.array([areas[n] for n in ids], dtype=np.float64)
    n = len(ids)
    adjacency = np.zeros((n, n))
    for i, j in links:
        if i in index and j in index and i != j:
            adjacency[index[i], index[j]] = adjacency[index[j], index[i]] = 1.0

    def iic(keep: np.ndarray) -> float:
        hops = shortest_path(csr_matrix(adjacency[np.ix_(keep, keep)]), method="D", directed=False, unweighted=True)
        ak = a[keep]
        return float(ak @ np.where(np.isfinite(hops), 1.0 / (1.0 + hops), 0.0) @ ak) / landscape_area ** 2

    return _with_each_removed(ids, iic)


def gravity(area_a: float, area_b: float, resistance_a: float, resistance_b: float, lcd: float,
            lcd_max: float) -> float:
    """Interaction strength of the corridor between sources a and b (gravity model).

    ``G_ab = [(1/P_a) ln S_a] [(1/P_b) ln S_b] / (L_ab / L_max)²`` with S the source areas in m² (so ln S > 0), P the
    mean resistance of each source, L_ab the corridor's LCD and L_max the largest LCD of all corridors.

    Args:
        area_a, area_b: source areas in m² (> 1).
        resistance_a, resistance_b: mean resistance of each source (>= 1).
        lcd: the corridor's cost-weighted distance (> 0), cost-weighted metres.
        lcd_max: the largest LCD of the network, same unit.
    Returns:
        G, dimensionless; NaN when an input is outside its domain.
    Source: docs/models/pattern.md#corridor-importance (Kong Fanhua et al. 2010).
    """
    if min(area_a, area_b) <= 1 or min(resistance_a, resistance_b) <= 0 or not (0 < lcd <= lcd_max):
        return math.nan
    n_a = math.log(area_a) / resistance_a
    n_b = math.log(area_b) / resistance_b
    return n_a * n_b / (lcd / lcd_max) ** 2


def important_corridors(gravity: Sequence[float], method: str = "natural_breaks", threshold: float = 0.0) -> np.ndarray:
    """Important corridors by their gravity G: above ``threshold`` when it is > 0 (papers often use G > 100, in their
    units); otherwise the upper class of log10 G split by ``method`` (``natural_breaks``: Fisher–Jenks, two classes;
    ``mean``; ``median``; :func:`restore_db.stages.classify.two_level`). On the log: G spans orders of magnitude (a
    pair of sources almost touching has a tiny LCD and a huge G), so the mean of G itself keeps only a handful.

    Args:
        gravity: (n,) G per corridor; NaN, infinite or non-positive G is never important.
        method: natural_breaks, mean or median.
        threshold: a fixed G threshold (> 0), or 0.
    Returns:
        (n,) bool.
    Raises:
        InputError: an unknown method.
    Source: docs/models/pattern.md#corridor-importance (Kong Fanhua et al. 2010).
    """
    from restore_db.stages.classify import two_level

    g = np.asarray(gravity, dtype=np.float64)
    valid = np.isfinite(g) & (g > 0)
    if threshold > 0:
        return valid & (g > threshold)
    log = np.where(valid, np.log10(np.where(valid, g, 1.0)), np.nan)
    return two_level(log, method) == "H"


def network_indices(edges: int, nodes: int) -> dict[str, float]:
    """Structure of the source–corridor network: ``α = (L − V + 1)/(2V − 5)`` (closure), ``β = L/V`` (links per
    node), ``γ = L/(3(V − 2))`` (connectivity), with L corridors and V sources.

    Returns:
        {"alpha", "beta", "gamma"}; an index whose denominator is not positive (too few sources) is NaN.
    Source: docs/models/pattern.md#network-structure (graph-theory indices of landscape networks).
    """
    def ratio(num: float, den: float) -> float:
        return num / den if den > 0 else math.nan

    return {"alpha": ratio(edges - nodes + 1, 2 * nodes - 5), "beta": ratio(edges, nodes),
            "gamma": ratio(edges, 3 * (nodes - 2))}


def collaboration_units(links: Mapping[tuple[str, str], float], units: Iterable[str], min_weight: float = 0.0,
                        method: str = "components", seed: int = 0) -> list[set[str]]:
    """Groups of administrative units that should restore together: the connected components (or Louvain
    communities) of the weighted unit graph after the links of weight <= ``min_weight`` are dropped.

    Args:
        links: (unit, unit) -> link weight (shared corridors, sources, complementary supply and demand).
        units: every unit (a unit without a strong link forms a group of its own).
        min_weight: links at or below this weight are weak and dropped.
        method: ``components`` or ``louvain`` (networkx, with ``seed`` for a reproducible partition).
    Returns:
        The groups, largest first (ties by their smallest member).
    Raises:
        ValueError: an unknown method.
    Source: docs/models/pattern.md#collaboration-units (networkx).
    """
    graph = nx.Graph()
    graph.add_nodes_from(units)
    for (a, b), w in links.items():
        if w > min_weight and a != b:
            graph.add_edge(a, b, weight=w + (graph[a][b]["weight"] if graph.has_edge(a, b) else 0.0))
    if method == "components":
        groups = [set(c) for c in nx.connected_components(graph)]
    elif method == "louvain":
        groups = [set(c) for c in nx.community.louvain_communities(graph, weight="weight", seed=seed)]
    else:
        raise ValueError(f"method must be components or louvain, not {method!r}")
    return sorted(groups, key=lambda g: (-len(g), min(g)))

