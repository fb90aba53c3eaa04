"""Zoning collaboration (docs/models/pattern.md#zoning-collaboration): which counties share the ecological security
pattern, how strongly, and the collaboration units they form.

The geometry work is SQL (``sql/074_pattern_collaboration.sql``): ``result.pattern_cross_boundary`` cuts the sources
and corridors of a pattern run by the counties of the zoning run it read and finds the county links (shared boundary,
corridors crossing from one county into the other with their gravity G, shared sources, services with complementary
supply and demand). Here the links get their weight (:func:`link_terms`, :func:`link_weight`), the strong links form
the collaboration units (:func:`restore_db.stages.pattern.network.collaboration_units`, networkx), and
``result.pattern_describe_units`` describes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg

from restore_db.stages.pattern import network


@dataclass(frozen=True)
class CollaborationSettings:
    """The choices of the collaboration (``[pattern]`` settings).

    method: ``louvain`` (communities of the weighted county graph) or ``components`` (its connected components).
    min_link_weight: links of weight at most this (0-1) are weak and left out of the units.
    weight_corridor, weight_source, weight_complement: relative weights (>= 0, not all 0) of the three terms.
    boundary_tolerance_m: two counties share the part of one's boundary within this distance (m) of the other.
    min_shared_boundary_m: counties sharing less (m) are not adjacent (a corner contact leaves a few metres).
    """

    method: str = "louvain"
    min_link_weight: float = 0.1
    weight_corridor: float = 1.0
    weight_source: float = 1.0
    weight_complement: float = 1.0
    boundary_tolerance_m: float = 50.0
    min_shared_boundary_m: float = 500.0


def link_terms(gravity: np.ndarray, shared_source_m2: np.ndarray, complementary: np.ndarray,
               compared: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three terms of a county link, each in [0, 1].

    corridor term = percentile rank of ΣG of the corridors crossing between the two counties among the links with
    such corridors (the largest sum 1; 0 without a corridor); source term = likewise of the shared source area;
    complement term = services with complementary supply and demand / services compared (0 when none is compared).
    Ranks, not ratios to the largest value: gravity G spans orders of magnitude (on the demo region the median link
    holds 0.04 % of the largest ΣG), so a ratio would leave every link but a few without a corridor term.

    Args:
        gravity: (n,) float64, Σ gravity G (>= 0) per link.
        shared_source_m2: (n,) float64, shared source area (m², >= 0) per link.
        complementary: (n,) int, number of complementary services per link.
        compared: (n,) int, number of services both counties have a deficit/surplus class for.
    Returns:
        (corridor_term, source_term, complement_term), each (n,) float64; ties share the highest rank of their group.
    Raises:
        ValueError: arrays of different lengths or negative values.
    Source: docs/models/pattern.md#zoning-collaboration (domain practice of zoning collaboration, [RECON]).
    """
    from scipy.stats import rankdata

    g, s = np.asarray(gravity, dtype=np.float64), np.asarray(shared_source_m2, dtype=np.float64)
    k, c = np.asarray(complementary, dtype=np.float64), np.asarray(compared, dtype=np.float64)
    if not g.shape == s.shape == k.shape == c.shape:
        raise ValueError("link arrays differ in length")
    if (g < 0).any() or (s < 0).any() or (k < 0).any() or (k > c).any():
        raise ValueError("link values must be >= 0 and complementary <= compared")

    def ranked(x: np.ndarray) -> np.ndarray:
        out = np.zeros_like(x)
        positive = x > 0
        if positive.any():
            out[positive] = rankdata(x[positive], method="max") / positive.sum()
        return out

    return ranked(g), ranked(s), np.divide(k, c, out=np.zeros_like(k), where=c > 0)


def link_weight(terms: tuple[np.ndarray, np.ndarray, np.ndarray], settings: CollaborationSettings) -> np.ndarray:
    """The weight of each link: the weighted mean of its three terms (:func:`link_terms`), in [0, 1].

    Raises:
        ValueError: weights that are negative or all zero.
    Source: docs/models/pattern.md#zoning-collaboration.
    """
    w = np.array([settings.weight_corridor, settings.weight_source, settings.weight_complement], dtype=np.float64)
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError("the link weights must be >= 0 and not all 0")
    return sum(wi * t for wi, t in zip(w, terms)) / w.sum()


def collaborate(conn: psycopg.Connection, run_id: int, zoning_run: int, settings: CollaborationSettings) -> dict:
    """Crossings, county links, collaboration units and members of pattern run ``run_id`` (whose sources,
    corridors, corridor areas and nodes are written) over the counties of ``zoning_run``.

    Returns:
        {"links", "strong_links", "units", "counties_in_units", "counties_alone", "cross_county_corridors",
        "cross_province_corridors", "cross_county_sources", "cross_province_sources"}.
    Raises:
        psycopg errors from the SQL functions.
    Source: docs/models/pattern.md#zoning-collaboration.
    """
    conn.execute("SELECT result.pattern_cross_boundary(%s, %s, %s, %s)",
                 (run_id, zoning_run, settings.boundary_tolerance_m, settings.min_shared_boundary_m))
    links = conn.execute(
        """SELECT id, unit_a, unit_b, corridor_gravity, shared_source_m2, cardinality(complementary),
                  services_compared FROM result.pattern_county_link WHERE run_id = %s ORDER BY id""",
        (run_id,)).fetchall()
    ids = [row[0] for row in links]
    terms = link_terms(np.array([r[3] for r in links], dtype=np.float64),
                       np.array([r[4] for r in links], dtype=np.float64),
                       np.array([r[5] for r in links]), np.array([r[6] for r in links]))
    weight = link_weight(terms, settings) if links else np.zeros(0)
    strong = weight > settings.min_link_weight
    with conn.cursor() as cur:
        cur.executemany(
            """UPDATE result.pattern_county_link SET corridor_term = %s, source_term = %s, complement_term = %s,
                   weight = %s, strong = %s WHERE id = %s""",
            [(float(terms[0][i]), float(terms[1][i]), float(terms[2][i]), float(weight[i]),
              bool(strong[i]), ids[i]) for i in range(len(ids))])
    counties = conn.execute("SELECT unit_id, zone_code FROM result.county_zone WHERE run_id = %s ORDER BY unit_id",
                            (zoning_run,)).fetchall()
    zone = dict(counties)
    groups = network.collaboration_units({(r[1], r[2]): float(weight[i]) for i, r in enumerate(links)}, zone,
                                         settings.min_link_weight, settings.method, seed=0)
    strong_of = {u: 0 for u in zone}
    for i, r in enumerate(links):
        if strong[i]:
            strong_of[r[1]] += 1
            strong_of[r[2]] += 1
    units = [g for g in groups if len(g) >= 2]
    member_of = {u: no for no, g in enumerate(units, start=1) for u in g}
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO result.pattern_collab_unit (run_id, unit_no, counties, provinces, cities, zone_codes,
                   corridors, sources, corridor_length_m, barrier_nodes, area_m2)
               VALUES (%s, %s, %s, '{}', '{}', '{}', '{}', '{}', 0, 0, 0)""",
            [(run_id, no, len(g)) for no, g in enumerate(units, start=1)])
        cur.executemany(
            """INSERT INTO result.pattern_collab_member (run_id, unit_id, unit_no, zone_code, reason)
               VALUES (%s, %s, %s, %s, %s)""",
            [(run_id, u, member_of.get(u), zone[u], None if u in member_of else _alone(strong_of[u], settings))
             for u in zone])
    conn.execute("SELECT result.pattern_describe_units(%s)", (run_id,))
    crossing = conn.execute(
        """SELECT x.element, count(DISTINCT x.element_id) FILTER (WHERE x.n_units >= 2),
                  count(DISTINCT x.element_id) FILTER (WHERE x.n_provinces >= 2)
           FROM (SELECT c.element, c.element_id, count(DISTINCT c.unit_id) AS n_units,
                        count(DISTINCT u.province_code) AS n_provinces
                 FROM result.pattern_crossing c JOIN core.admin_unit_version u ON u.unit_id = c.unit_id
                 WHERE c.run_id = %s AND (c.element = 'source' OR c.length_m > 0)
                 GROUP BY c.element, c.element_id) x
           GROUP BY x.element""", (run_id,)).fetchall()
    cross = {element: (n_county, n_province) for element, n_county, n_province in crossing}
    return {"links": len(links), "strong_links": int(strong.sum()),
            "units": len(units), "counties_in_units": len(member_of), "counties_alone": len(zone) - len(member_of),
            "cross_county_corridors": cross.get("corridor", (0, 0))[0],
            "cross_province_corridors": cross.get("corridor", (0, 0))[1],
            "cross_county_sources": cross.get("source", (0, 0))[0],
            "cross_province_sources": cross.get("source", (0, 0))[1]}


def _alone(strong_links: int, settings: CollaborationSettings) -> str:
    if strong_links == 0:
        return f"no link to another county above pattern.min_link_weight = {settings.min_link_weight:g}"
    return f"its {settings.method} community holds it alone ({strong_links} strong link(s))"
