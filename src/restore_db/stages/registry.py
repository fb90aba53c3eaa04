"""The stages of the pipeline, in the order ``compute all`` runs them.

A new stage is a module with a :class:`restore_db.stages.base.Stage` subclass, listed here after the stages whose
runs it reads.
"""

from __future__ import annotations

from restore_db.stages.base import Stage


def stages() -> dict[str, Stage]:
    """name -> stage, in pipeline order (imported on use: the stage modules load numpy, pandas and scipy)."""
    from restore_db.stages.pattern.stage import PatternStage
    from restore_db.stages.ratios import RatiosStage
    from restore_db.stages.resilience.stage import ResilienceStage
    from restore_db.stages.services.stage import ServicesStage
    from restore_db.stages.zoning import ZoningStage

    ordered = [ServicesStage(), RatiosStage(), ResilienceStage(), ZoningStage(), PatternStage()]
    return {stage.name: stage for stage in ordered}


def get(name: str) -> Stage:
    """The stage called ``name``.

    Raises:
        KeyError: no such stage.
    """
    return stages()[name]
