"""Circuit theory on a resistance grid (docs/models/pattern.md#circuit-theory): effective resistance, node currents
and current maps, as Circuitscape computes them (McRae 2006; McRae et al. 2008; Circuitscape.jl ``construct_graph``,
``laplacian``, ``get_node_currents``).

- Every passable cell is a node; a cell is passable when its resistance is finite and > 0 (NaN or inf is nodata,
  impassable). Cells of one *region* (a label > 0 of ``regions``) are short-circuited into one node, as
  Circuitscape's short-circuit regions and focal regions.
- Neighbours (8 by default, or 4) are joined by a conductance: ``(g_a + g_b) / 2`` orthogonally and
  ``(g_a + g_b) / (2√2)`` diagonally (average conductance, Circuitscape's default), or ``1 / ((r_a + r_b) / 2)`` and
  ``1 / (√2 (r_a + r_b) / 2)`` (average resistance), with ``g = 1 / r``. Edges inside a region vanish; parallel edges
  between two nodes add up.
- The Laplacian ``L = D − A`` of each connected component is grounded at its first node and solved either directly
  (SuperLU, ``scipy.sparse.linalg.splu``) or by conjugate gradients preconditioned with algebraic multigrid
  (``pyamg``'s classical Ruge-Stueben AMG), as Circuitscape's ``cg+amg``.
- Injecting +1 A at node a and −1 A at node b gives voltages ``v``; the effective resistance is
  ``R_ab = v_a − v_b``; a branch carries ``g_kl (v_k − v_l)``; a node's current is the larger of the current flowing
  into it and out of it (the source and sink of a pair carry 1 A). Nodes in different components: ``R = NaN``.

Units: resistance in the grid's resistance units per cell (Ω when read as a circuit), current in A per A injected.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

CONNECT = ("average_conductance", "average_resistance")
SOLVERS = ("auto", "direct", "cg+amg")


class CircuitError(ValueError):
    """A circuit that cannot be solved as asked: a bad resistance, a source without a path, or a solver that does
    not fit. The message is one line and names the remedy."""


class CircuitTooLarge(CircuitError):
    """A connected part too large for the direct solver that was asked for."""


@dataclass(frozen=True)
class CircuitSettings:
    """How a grid becomes a circuit and how it is solved (the ``pattern.circuit_*`` settings).

    connect: ``average_conductance`` (Circuitscape's default) or ``average_resistance``.
    neighbours: 8 or 4.
    solver: ``direct`` (SuperLU), ``cg+amg`` (pyamg) or ``auto`` (direct up to ``direct_max_nodes`` nodes per
        component, cg+amg above).
    direct_max_nodes: the largest component the direct solver factorises; ``solver = 'direct'`` above it is refused.
    tolerance: relative residual at which cg+amg stops; max_iterations: after which it is refused as not converging.
    """

    connect: str = "average_conductance"
    neighbours: int = 8
    solver: str = "auto"
    direct_max_nodes: int = 1_500_000
    tolerance: float = 1e-10
    max_iterations: int = 1000

    def __post_init__(self) -> None:
        if self.connect not in CONNECT:
            raise ValueError(f"connect must be one of {CONNECT}, not {self.connect!r}")
        if self.neighbours not in (4, 8):
            raise ValueError(f"neighbours must be 4 or 8, not {self.neighbours!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, not {self.solver!r}")


def check_resistance(resistance: np.ndarray) -> None:
    """Refuse a resistance of 0 or below (CircuitError naming the count and the first cell): a cell of no resistance
    would be a short circuit, a negative one is not a resistor. NaN and inf are nodata (impassable) and pass."""
    r = np.asarray(resistance, dtype=np.float64)
    bad = np.isfinite(r) & (r <= 0)
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        raise CircuitError(f"{int(bad.sum())} cell(s) have a resistance of 0 or below (the first {r[row, col]:g} at "
                           f"row {row}, column {col}): resistance must be > 0; mark impassable cells as nodata")


class Circuit:
    """The circuit of a resistance grid (or of an edge list: :meth:`from_edges`).

    Attributes:
        shape: (H, W) of the grid (None for an edge list).
        nodemap: (H, W) int64 node of each cell, -1 where impassable.
        n: the number of nodes.
        edges: (m, 2) int64 node pairs (k < l) and ``conductance`` (m,) float64 of each branch.
        component: (n,) int32 connected component of each node.

    Memory: the Laplacian holds up to 9 entries per node (12 bytes each); a direct factorisation of a grid of N nodes
    holds 80 to 110 N entries (measured: 15 M for Hunan's 178 k nodes at 1 km, 95 M for 846 k nodes).
    """

    def __init__(self, resistance: np.ndarray, regions: np.ndarray | None = None,
                 settings: CircuitSettings = CircuitSettings()) -> None:
        """Args:
            resistance: (H, W) float resistance per cell, > 0; NaN or inf impassable.
            regions: (H, W) int labels of short-circuit regions (0: none), or None.
            settings: :class:`CircuitSettings`.
        Raises:
            CircuitError: a resistance of 0 or below.
            ValueError: shapes that differ.
        """
        r = np.asarray(resistance, dtype=np.float64)
        check_resistance(r)
        if regions is not None and np.shape(regions) != r.shape:
            raise ValueError(f"regions {np.shape(regions)} and resistance {r.shape} differ in shape")
        self.settings = settings
        self.shape = r.shape
        passable = np.isfinite(r) & (r > 0)
        h, w = r.shape
        # a node per passable cell, or per region: the key of a cell is its index, or minus its region's label
        key = np.arange(h * w, dtype=np.int64).reshape(r.shape)
        if regions is not None:
            lab = np.asarray(regions).astype(np.int64)
            key = np.where(lab > 0, -lab, key)
        nodemap = np.full(r.shape, -1, dtype=np.int64)
        nodemap[passable] = np.unique(key[passable], return_inverse=True)[1].ravel()
        self.nodemap = nodemap
        g = np.where(passable, 1.0 / np.where(passable, r, 1.0), 0.0)
        steps = [(0, 1), (1, 0)] + ([(1, 1), (1, -1)] if settings.neighbours == 8 else [])
        k_all, l_all, c_all = [], [], []
        for dy, dx in steps:
            x0, x1 = max(0, -dx), w - max(0, dx)
            p, q = (slice(0, h - dy), slice(x0, x1)), (slice(dy, h), slice(x0 + dx, x1 + dx))
            ok = passable[p] & passable[q]
            ga, gb = g[p][ok], g[q][ok]
            if settings.connect == "average_conductance":
                c = (ga + gb) / 2.0
            else:
                c = 1.0 / ((1.0 / ga + 1.0 / gb) / 2.0)
            if dy and dx:
                c = c / math.sqrt(2.0)
            k_all.append(nodemap[p][ok])
            l_all.append(nodemap[q][ok])
            c_all.append(c)
        self._set_edges(np.concatenate(k_all) if k_all else np.empty(0, np.int64),
                        np.concatenate(l_all) if l_all else np.empty(0, np.int64),
                        np.concatenate(c_all) if c_all else np.empty(0), int(nodemap.max()) + 1)

    @classmethod
    def from_edges(cls, n: int, k: np.ndarray, l: np.ndarray, conductance: np.ndarray,
                   settings: CircuitSettings = CircuitSettings()) -> Circuit:
        """A circuit of ``n`` nodes from branches (k, l, conductance > 0) (Circuitscape's network mode).

        Raises:
            CircuitError: a conductance of 0 or below, or not finite.
        """
        c = np.asarray(conductance, dtype=np.float64)
        if not (np.isfinite(c) & (c > 0)).all():
            raise CircuitError("every branch conductance must be a finite number > 0")
        self = cls.__new__(cls)
        self.settings, self.shape, self.nodemap = settings, None, None
        self._set_edges(np.asarray(k, np.int64), np.asarray(l, np.int64), c, int(n))
        return self

    def _set_edges(self, k: np.ndarray, l: np.ndarray, c: np.ndarray, n: int) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        keep = k != l                       # an edge inside a region is shorted away
        lo, hi = np.minimum(k[keep], l[keep]), np.maximum(k[keep], l[keep])
        upper = coo_matrix((c[keep], (lo, hi)), shape=(n, n)).tocsr()
        upper.sum_duplicates()              # parallel branches add up
        upper = upper.tocoo()
        self.n = n
        self.edges = np.column_stack([upper.row, upper.col]).astype(np.int64)
        self.conductance = upper.data.astype(np.float64)
        adjacency = (upper + upper.T).tocsr()
        degree = np.asarray(adjacency.sum(axis=1)).ravel()
        from scipy.sparse import diags

        self.laplacian = (diags(degree) - adjacency).tocsr()
        _, self.component = connected_components(adjacency, directed=False)
        self.component = self.component.astype(np.int32)
        self._solvers: dict[int, tuple] = {}
        self._multi: dict[int, bool] = {}       # whether a component's solver takes several right-hand sides at once
        self.solvers_used: set[str] = set()
        self.solver_entries = 0         # entries the solvers hold: the factors' L + U, or the AMG hierarchy's matrices

    # -- solving ----------------------------------------------------------------------------------------------------

    def _solver(self, comp: int):
        """(nodes of the component, position of each node in it, solve(b) -> x) for the component grounded at its
        first node; built once per component."""
        if comp in self._solvers:
            return self._solvers[comp]
        nodes = np.flatnonzero(self.component == comp)
        where = np.full(self.n, -1, dtype=np.int64)
        where[nodes] = np.arange(len(nodes))
        s = self.settings
        self._multi[comp] = False
        if len(nodes) == 1:
            solve = lambda b: np.zeros(0)           # noqa: E731  (a lone node: nothing to solve)
        else:
            a = self.laplacian[nodes][:, nodes][1:, 1:]        # grounded at the component's first node
            size = len(nodes)
            method = s.solver if s.solver != "auto" else ("direct" if size <= s.direct_max_nodes else "cg+amg")
            if method == "direct" and size > s.direct_max_nodes:
                raise CircuitTooLarge(f"a connected part of {size:,} cells is too large for the direct solver "
                                      f"(pattern.circuit_direct_max_cells = {s.direct_max_nodes:,}): set "
                                      "pattern.circuit_solver = 'cg+amg' (or 'auto', direct where it fits)")
            self.solvers_used.add(method)
            if method == "direct":
                from scipy.sparse.linalg import splu

                # the grounded Laplacian is symmetric positive definite: no pivoting is needed, and the symmetric
                # mode keeps the minimum-degree order (a short-circuited source, a node of a thousand branches,
                # otherwise costs five times the factorisation time on Hunan)
                lu = splu(a.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                          options={"SymmetricMode": True})
                solve = lu.solve
                self._multi[comp] = True
                self.solver_entries += lu.L.nnz + lu.U.nnz
            else:
                import pyamg

                # classical (Ruge-Stueben) AMG: the grounded Laplacian is an M-matrix, its home ground; smoothed
                # aggregation with its default smoothers lost positive definiteness on Hunan's short-circuited
                # sources and CG diverged
                ml = pyamg.ruge_stuben_solver(a.tocsr())
                self.solver_entries += sum(level.A.nnz for level in ml.levels)

                def solve(b, ml=ml):
                    residuals: list[float] = []
                    x = ml.solve(b, tol=s.tolerance, accel="cg", maxiter=s.max_iterations, residuals=residuals)
                    if residuals and residuals[-1] > 10 * s.tolerance * residuals[0]:
                        raise CircuitError(f"cg+amg did not converge (relative residual "
                                           f"{residuals[-1] / residuals[0]:.1e} after {len(residuals) - 1} "
                                           "iterations): set pattern.circuit_solver = 'direct'")
                    return x
        self._solvers[comp] = (nodes, where, solve)
        return self._solvers[comp]

    def prepare(self, nodes) -> None:
        """Build the solvers of the components holding ``nodes`` (factorise, or set up the multigrid) now.

        Raises:
            CircuitTooLarge: a component too large for the direct solver asked for.
        """
        for comp in np.unique(self.component[np.asarray(nodes, dtype=np.int64)]):
            self._solver(int(comp))

    def potentials(self, injection: np.ndarray) -> np.ndarray:
        """Node voltages for a current injection.

        Args:
            injection: (n,) float64 amperes into each node; within each component they must sum to 0 (sources and
                sinks balance).
        Returns:
            (n,) float64 volts; each component's first node is at 0 V.
        Raises:
            CircuitError: a component where the injected current does not sum to 0.
        """
        b = np.asarray(injection, dtype=np.float64)
        v = np.zeros(self.n)
        for comp in np.unique(self.component[b != 0]):
            nodes, _, solve = self._solver(int(comp))
            bc = b[nodes]
            if abs(bc.sum()) > 1e-9 * max(1.0, np.abs(bc).max()):
                raise CircuitError("the current injected into a connected part does not sum to 0")
            if len(nodes) > 1:
                v[nodes[1:]] = solve(bc[1:])
        return v

    def unit_potential(self, node: int) -> np.ndarray:
        """Voltages for +1 A into ``node`` and −1 A out of its component's first node: (n,) float64 (zero outside
        the component). The voltages of any pair (a, b) of one component are ``unit_potential(a) −
        unit_potential(b)``, so m focal nodes need m solves for all their pairs."""
        b = np.zeros(self.n)
        nodes, _, _ = self._solver(int(self.component[node]))
        b[node] += 1.0
        b[nodes[0]] -= 1.0
        return self.potentials(b)

    def unit_potentials(self, nodes: list[int]) -> dict[int, np.ndarray]:
        """:meth:`unit_potential` of several nodes, the nodes of one component solved together (one multi-column
        solve with the direct solver)."""
        out: dict[int, np.ndarray] = {}
        by_comp: dict[int, list[int]] = {}
        for k in dict.fromkeys(int(x) for x in nodes):
            by_comp.setdefault(int(self.component[k]), []).append(k)
        for comp, ks in by_comp.items():
            members, where, solve = self._solver(comp)
            if len(members) == 1:
                out.update({k: np.zeros(self.n) for k in ks})
                continue
            b = np.zeros((len(members), len(ks)))
            b[where[ks], np.arange(len(ks))] = 1.0
            b[0, :] -= 1.0
            x = solve(b[1:]) if self._multi[comp] else np.column_stack(
                [solve(np.ascontiguousarray(b[1:, j])) for j in range(len(ks))])
            for j, k in enumerate(ks):
                v = np.zeros(self.n)
                v[members[1:]] = x[:, j]
                out[k] = v
        return out

    def pair(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Voltages (n,) float64 for 1 A from node ``a`` to node ``b`` of one component, and that injection (n,):
        one solve. R_ab = v[a] − v[b]."""
        injection = np.zeros(self.n)
        injection[a], injection[b] = 1.0, -1.0
        return self.potentials(injection), injection

    def effective_resistance(self, a: int, b: int) -> float:
        """R_ab between two nodes (NaN when they are not connected)."""
        if self.component[a] != self.component[b]:
            return math.nan
        if a == b:
            return 0.0
        v, _ = self.pair(a, b)
        return float(v[a] - v[b])

    @property
    def solver_used(self) -> str:
        """The solvers used so far (``direct``, ``cg+amg`` or both, comma-separated)."""
        return ",".join(sorted(self.solvers_used))

    # -- currents ---------------------------------------------------------------------------------------------------

    def branch_currents(self, voltages: np.ndarray) -> np.ndarray:
        """(m,) float64 current of each branch ``edges[i]``, from its first node to its second (A)."""
        v = np.asarray(voltages, dtype=np.float64)
        return self.conductance * (v[self.edges[:, 0]] - v[self.edges[:, 1]])

    def node_currents(self, voltages: np.ndarray, injection: np.ndarray | None = None) -> np.ndarray:
        """(n,) float64 current through each node: the larger of the currents flowing in and out (Circuitscape's
        ``get_node_currents``; a source or sink carries the current it injects). As in + out is the sum of the
        absolute branch currents and out − in the injected current, that is (Σ|I| + |injected|) / 2; ``injection``
        ((n,) A), when known, spares computing it."""
        c = self.branch_currents(voltages)
        k, l = self.edges[:, 0], self.edges[:, 1]
        a = np.abs(c)
        through = np.bincount(k, a, self.n) + np.bincount(l, a, self.n)
        if injection is None:
            injection = np.bincount(k, c, self.n) - np.bincount(l, c, self.n)
        return 0.5 * (through + np.abs(injection))

    def cell_map(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(H, W) float64 map of node values (a region's cells all take its node's value); ``fill`` elsewhere."""
        if self.nodemap is None:
            raise ValueError("an edge-list circuit has no cells")
        values = np.asarray(values, dtype=np.float64)
        return np.where(self.nodemap >= 0, values[np.maximum(self.nodemap, 0)], fill)


def pairwise(circuit: Circuit, focal: list[int], pairs: list[tuple[int, int]] | None = None,
             on_pair: Callable[[int, np.ndarray], None] | None = None, batch: int = 16) -> tuple[dict, np.ndarray]:
    """Effective resistances and currents of focal-node pairs (Circuitscape's pairwise mode, single ground).

    Args:
        circuit: the :class:`Circuit`.
        focal: node of each focal point (index i of the pairs).
        pairs: (i, j) indices into ``focal`` to solve; None: every pair (i < j).
        on_pair: called with (the pair's position in ``pairs``, its (n,) float64 node currents) for each connected
            pair, for what the caller keeps of it.
        batch: focal points solved together (one multi-column solve).
    Returns:
        ({(i, j): R_ij in Ω, NaN when not connected}, cumulative node currents (n,) float64 in A). Each focal node's
        unit potential is solved once and dropped after its last pair; the pairs are taken in an order that keeps
        few in flight (:func:`_pair_order`), so memory holds the potentials of the pairs in flight plus a batch.
    Source: docs/models/pattern.md#circuit-theory.
    """
    if pairs is None:
        pairs = [(i, j) for i in range(len(focal)) for j in range(i + 1, len(focal))]
    sequence = _pair_order(pairs, len(focal))
    last = {}
    for t in sequence:
        i, j = pairs[t]
        last[i] = last[j] = t
    unit: dict[int, np.ndarray] = {}
    order = list(dict.fromkeys(k for t in sequence for k in pairs[t]))      # focal points in order of first use
    done: set[int] = set()
    total = np.zeros(circuit.n)
    out: dict[tuple[int, int], float] = {}
    for t in sequence:
        i, j = pairs[t]
        a, b = focal[i], focal[j]
        if circuit.component[a] != circuit.component[b]:
            out[(i, j)] = math.nan
        elif a == b:
            out[(i, j)] = 0.0
        else:
            for k in (i, j):
                if k not in unit:       # solve the next focal points together (memory: ``batch`` more potentials)
                    nxt = [m for m in order[order.index(k):] if m not in done][:batch]
                    solved = circuit.unit_potentials([focal[m] for m in nxt])
                    for m in nxt:
                        unit[m] = solved[focal[m]]
                        done.add(m)
            v = unit[i] - unit[j]
            out[(i, j)] = float(v[a] - v[b])
            injection = np.zeros(circuit.n)
            injection[a], injection[b] = 1.0, -1.0
            current = circuit.node_currents(v, injection)
            total += current
            if on_pair is not None:
                on_pair(t, current)
        for k in (i, j):
            if last[k] == t:
                unit.pop(k, None)
                done.add(k)
    return out, total


def _pair_order(pairs: list[tuple[int, int]], m: int) -> list[int]:
    """An order of the pairs that keeps few focal points in flight: the focal points in reverse Cuthill-McKee order of
    the pair graph (scipy), the pairs by the later of their two points. Returns positions in ``pairs``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    if not pairs:
        return []
    i, j = np.array(pairs).T
    graph = coo_matrix((np.ones(len(pairs)), (i, j)), shape=(m, m)).tocsr()
    rank = np.empty(m, dtype=np.int64)
    rank[reverse_cuthill_mckee((graph + graph.T).tocsr(), symmetric_mode=True)] = np.arange(m)
    return sorted(range(len(pairs)), key=lambda t: (max(rank[i[t]], rank[j[t]]), min(rank[i[t]], rank[j[t]]), t))


def all_to_one(circuit: Circuit, focal: list[int], batch: int = 16) -> tuple[np.ndarray, list[bool], np.ndarray]:
    """Cumulative node currents of Circuitscape's all-to-one mode: each focal node in turn is the ground and every
    other focal node of its component injects 1 A.

    With x_k the unit potential of focal node k and S the sum of those of its component's m focal nodes, the voltages
    with g grounded are S − m x_g; S is summed over batches of ``batch`` solves, then each batch is solved again for
    its currents, so memory holds 2 + ``batch`` potentials whatever the number of focal nodes.

    Args:
        circuit: the :class:`Circuit`.
        focal: the distinct focal nodes.
        batch: focal nodes solved together.
    Returns:
        (cumulative node currents (n,) float64; for each focal node whether it had another focal node to draw current
        from — Circuitscape's resistance 0, against -1 for an isolated one; the (m, m) float64 effective resistances
        between the focal nodes, NaN across components).
    Source: docs/models/pattern.md#circuit-theory.
    """
    focal = list(dict.fromkeys(int(k) for k in focal))
    m = len(focal)
    comp = np.array([circuit.component[k] for k in focal])
    size = {c: int((comp == c).sum()) for c in set(comp.tolist())}
    sums: dict[int, np.ndarray] = {}
    at = np.zeros((m, m))       # at[i, j]: unit potential of focal i at focal node j
    for start in range(0, m, batch):
        part = focal[start:start + batch]
        unit = circuit.unit_potentials(part)
        for i, k in enumerate(part, start=start):
            at[i] = unit[k][focal]
            if size[comp[i]] > 1:
                sums[comp[i]] = sums.get(comp[i], 0.0) + unit[k]
    total = np.zeros(circuit.n)
    for start in range(0, m, batch):
        part = [k for i, k in enumerate(focal[start:start + batch], start=start) if size[comp[i]] > 1]
        unit = circuit.unit_potentials(part) if part else {}
        for k in part:
            c = circuit.component[k]
            v = sums[c] - size[c] * unit[k]
            injection = np.zeros(circuit.n)
            injection[[j for j in focal if circuit.component[j] == c]] = 1.0
            injection[k] = -(size[c] - 1.0)
            total += circuit.node_currents(v, injection)
    diag = np.diag(at)
    resistance = diag[:, None] + diag[None, :] - at - at.T
    resistance[comp[:, None] != comp[None, :]] = np.nan
    return total, [size[c] > 1 for c in comp], resistance
