"""The ecological security pattern (docs/models/pattern.md): sources, resistance, minimum cumulative resistance,
least-cost corridors, nodes and cross-boundary collaboration. :mod:`.cost` holds the grid algorithms (MCR, cost
allocation, adjacent sources, least-cost paths, NLCC corridors)."""
