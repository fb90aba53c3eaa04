"""The resilience stage: the indicators of every county of a services run, their weights, the index and its
classes (docs/models/resilience.md)."""

from __future__ import annotations

import time

from restore_db.errors import InputError
from restore_db.grid import counties
from restore_db.grid.engine import choose_backend
from restore_db.stages import base, runs
from restore_db.stages.resilience import index
from restore_db.store.layers import input_checksums


class ResilienceStage(base.Stage):
    """15 indicators in 5 dimensions per county, weighted (entropy, CRITIC, AHP, ...), indexed and classed."""

    name = "resilience"
    title = "Ecosystem resilience"
    settings_key = "resilience"
    upstream = ("services",)
    inputs = (base.Input("catalogue", "param.indicator", "the indicator set of resilience.indicator_set"),
              base.Input("layer", "indicator layers", "land use, NDVI, DEM ... as the indicators name them"),
              base.Input("param_set", "land-use parameters", "coefficients the indicators read (--params)"),
              base.Input("statistics", "county statistics", "indicators of source county_stat or sql"))
    outputs = (base.Output("table", "result.run_indicator", "1", "the indicators used and their weights"),
               base.Output("table", "result.county_indicator", "indicator unit; 0-1",
                           "raw and normalised value per county"),
               base.Output("table", "result.county_dimension", "0-1", "dimension contribution and score"),
               base.Output("table", "result.county_resilience", "0-1", "index, H/L class and five-level class"))

    def resolve(self, ctx: base.Context, given: dict[str, int | None]) -> dict[str, int]:
        run = given.get("services")
        if run is None:
            return {"services": runs.latest_services_run(ctx.conn, ctx.area, ctx.cfg["ratios"]["services"])}
        return {"services": runs.require(ctx.conn, ctx.area, run, "services")}

    def check(self, ctx: base.Context, planned_layers: set[str], upstream: dict[str, int]) -> None:
        index.prepare(ctx.conn, ctx.area, ctx.cfg, upstream.get("services"), planned_layers, ctx.option("params"))

    def plan(self, ctx: base.Context, upstream: dict[str, int]) -> base.Plan:
        conn, area, cfg = ctx.conn, ctx.area, ctx.cfg
        services_run = upstream["services"]
        plan = index.prepare(conn, area, cfg, services_run, params=ctx.option("params"))
        backend = choose_backend(conn, ctx.option("engine"))
        units = counties.of_run(conn, services_run)     # every county of the boundaries the services used
        if len(units) < 2:
            raise InputError(f"services run {services_run} has {len(units)} county(ies); resilience needs at least 2")

        def run(run_id: int) -> base.Result:
            summary = index.compute(conn, plan, cfg, run_id, units, backend)
            return base.Result(summary, summary.get("warnings", []))

        return base.Plan(self.settings(ctx), _inputs(ctx, plan), run)


def _inputs(ctx: base.Context, plan: index.ResiliencePlan) -> dict:
    """Checksums of what the indicators read; an indicator with a SQL source makes every run new (a query may read
    anything)."""
    layers = sorted({layer for i in plan.indicators for layer, run in (i.layers or {}).values() if run is None})
    sets = sorted(plan.planner.param_sets)
    inputs = input_checksums(ctx.conn, ctx.area, layers, sets)
    inputs["indicators"] = plan.record()
    if any(i.source_kind in ("county_stat", "sql") for i in plan.indicators):
        inputs["county_stats"] = runs.stats_checksum(ctx.conn, ctx.area)
    if any(i.source_kind == "sql" for i in plan.indicators):
        inputs["nonce"] = time.time()
    return inputs
