"""Ecosystem-service supply and demand (docs/models/food.md, carbon.md, water-yield.md, soil-conservation.md,
recreation.md).

Each service module declares its inputs, parameters and outputs and builds a
kernel from the formulas of :mod:`restore_db.kernels.formulas`; the tile engine
runs it over the study-area grid and the county aggregation sums it per county.

:data:`NAMES` is the one list of the services, in pipeline order: the registry of
their modules, the analysis settings and the tests of the SQL that mirrors it
(``result.county_service``'s check, the ``bi`` columns) read it.
"""

NAMES = ("food", "carbon", "water", "soil", "recreation")
