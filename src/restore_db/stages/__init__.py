"""From county supply and demand to restoration zones.

The pipeline after the services: :mod:`ratios` (ESDR, CESD, deficit/surplus
classes, matching types), :mod:`resilience` (indicators, landscape metrics,
weights, index), :mod:`zoning` (matching type x resilience -> zones), and
:mod:`pipeline` (the stages as runs, skipped when nothing changed).
Pure functions live in :mod:`classify`, :mod:`weights` and :mod:`landscape`.
"""
