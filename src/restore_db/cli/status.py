"""``restore-db status``."""

from __future__ import annotations

import json

import typer

from restore_db.cli._common import err


def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout.")) -> None:
    """Study areas, grids, layers (nodata share, alignment), boundaries, parameter sets and runs."""
    from restore_db import db
    from restore_db.publish import status as status_mod

    with db.session(start=False) as conn:  # read-only: never creates nor starts the embedded database
        info = status_mod.collect(conn)
    if as_json:
        typer.echo(json.dumps(info, indent=2, ensure_ascii=False, default=str))
        return
    from rich.markup import escape
    from rich.table import Table

    if not info["study_areas"]:
        err.print("no study area yet")
    for area in info["study_areas"]:
        g = area["grid"]
        err.print(f"[bold]{area['name']}[/]  SRID {g['srid']}, {g['width']} x {g['height']} cells of "
                  f"{g['pixel_size']:g} m ({g['cells']:,} cells, {g['tiles_x'] * g['tiles_y']} tiles of {g['tile_size']})")
        levels = area["boundaries"]["levels"]
        err.print("  boundaries: " + (", ".join(f"{n} {lvl}" for lvl, n in levels.items()) or "none")
                  + (f"; counties per province {area['boundaries']['counties_by_province']}" if levels.get("county") else ""))
        table = Table("layer", "kind", "unit", "type", "valid cells", "nodata", "min", "max", "aligned")
        computed = [layer for layer in area["layers"] if layer["run_id"] is not None]
        for layer in area["layers"]:
            if layer["run_id"] is not None:
                continue
            table.add_row(layer["name"], layer["kind"], layer["unit"], layer["pixel_type"], f"{layer['valid_cells']:,}",
                          f"{layer['nodata_share']:.1%}", f"{layer['min']:.4g}", f"{layer['max']:.4g}",
                          "yes" if layer["aligned"] else "NO")
        err.print(table)
        if computed:
            runs = {layer["run_id"] for layer in computed}
            bad = [f"{layer['name']} (run {layer['run_id']})" for layer in computed if not layer["aligned"]]
            err.print(f"  computed layers: {len(computed)} in {len(runs)} run(s)"
                      + (f"; NOT aligned: {', '.join(bad)}" if bad else ", all aligned")
                      + " (`status --json` lists them)")
        if area["parameter_sets"]:
            err.print("  parameter sets: " + ", ".join(f"{p['name']} ({p['kind']}, {p['rows']})" for p in area["parameter_sets"]))
        if area["statistics"]:
            err.print("  statistics: " + ", ".join(f"{s['variable']} {s['year']} ({s['counties']})" for s in area["statistics"]))
        if area["zones"]:
            err.print("  zone sets: " + ", ".join(f"{k} ({v})" for k, v in area["zones"].items()))
        now = area["current_analysis"]
        if now:
            line = f"  current analysis: zoning run {now['zoning_run']} ({now['bi_county_rows']} rows in bi.county)"
            if now["pattern_run"] is not None:
                line += (f"; pattern run {now['pattern_run']}: {now['sources']} sources, {now['corridors']} corridors "
                         f"({now['important_corridors']} important), {now['collab_units']} collaboration units "
                         f"({now['bi_pattern_corridor_rows']} rows in bi.pattern_corridor)")
            err.print(line, highlight=False)
        if area["runs"]:
            err.print("  runs: " + ", ".join(f"#{r['run_id']} {r['stage']} {r['status']}" for r in area["runs"][:5]))
        for p in area["problems"]:
            err.print(f"  {p['state']} run #{p['run_id']} {p['stage']}: "
                      + escape(p["error"] or "its process ended while it ran"), highlight=False)
