"""Loaders: rasters, boundaries, parameter tables, county statistics, InVEST datastacks.

Each loader checks its input completely and writes inside the caller's
transaction, so a failure leaves the database as it was; every message names
the file, layer, field or code at fault.
"""
