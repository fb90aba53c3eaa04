"""Pure-numpy per-pixel kernels: the single source of truth for the service formulas.

``formulas`` depends only on numpy and the standard library so that the same
code runs in the Python pipeline and inside PostgreSQL (PL/Python, Debian's
numpy 1.24).  Nodata is NaN throughout; see the module docstring of
:mod:`restore_db.kernels.formulas` for the conventions.
"""
