"""The stages of the pipeline, from the services to restoration zones, and the one machinery that runs them.

:mod:`base` (what a stage declares and the runner every stage goes through), :mod:`registry` (the stages in the
order ``compute all`` runs them), :mod:`runs` (run records, failures, lineage), :mod:`pipeline` (``compute all``
and the function form of each stage), :mod:`settings` (the analysis settings). The stages: :mod:`services`
(supply and demand of the five services), :mod:`ratios` (ESDR, CESD, deficit/surplus classes, matching types),
:mod:`resilience` (indicators, landscape metrics, weights, index), :mod:`zoning` (matching type x resilience ->
zones). Pure functions shared by the stages live in :mod:`classify`.
"""
