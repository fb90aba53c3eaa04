"""Ecosystem-service supply and demand (domain.md sections 1-5).

Each service module declares its inputs, parameters and outputs and builds a
kernel from the formulas of :mod:`restore_db.kernels.formulas`; the tile engine
runs it over the study-area grid and the county aggregation sums it per county.
"""
