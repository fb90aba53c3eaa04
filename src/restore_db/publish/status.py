"""What the database holds: study areas, grids, layers, boundaries, parameters, runs, the current analysis."""

from __future__ import annotations

import psycopg

from restore_db.stages import runs as runs_mod


def collect(conn: psycopg.Connection) -> dict:
    areas = []
    for (area_id, name, title, srid, ox, oy, px, w, h, ts, tx, ty) in conn.execute(
        """SELECT study_area_id, name, title, srid, origin_x, origin_y, pixel_size, width, height, tile_size,
                  tiles_x, tiles_y FROM core.study_area ORDER BY name"""
    ).fetchall():
        layers = [
            dict(name=r[0], kind=r[1], unit=r[2], pixel_type=r[3], table=r[4], valid_cells=r[5],
                 nodata_share=None if r[6] is None else round(r[6], 6), min=r[7], max=r[8], mean=r[9],
                 source=r[10], resampling=r[11], run_id=r[12])
            for r in conn.execute(
                """SELECT name, kind, unit, pixel_type, table_schema || '.' || table_name, valid_cells, nodata_share,
                          min_value, max_value, mean_value, source_path, resampling, run_id
                   FROM core.layer WHERE study_area_id = %s ORDER BY name, run_id NULLS FIRST""",
                (area_id,)).fetchall()
        ]
        alignment = {(r[0], r[1]): r[2] for r in conn.execute(
            "SELECT layer, run_id, aligned FROM core.layer_alignment(%s)", (area_id,)).fetchall()}
        for layer in layers:
            layer["aligned"] = alignment.get((layer["name"], layer["run_id"]))
        units = dict(conn.execute(
            "SELECT level, count(*) FROM core.admin_unit WHERE study_area_id = %s GROUP BY level", (area_id,)).fetchall())
        by_province = dict(conn.execute(
            """SELECT coalesce(province_code, '?'), count(*) FROM core.admin_unit
               WHERE study_area_id = %s AND level = 'county' GROUP BY 1 ORDER BY 1""", (area_id,)).fetchall())
        zones = dict(conn.execute(
            "SELECT zone_set, count(*) FROM core.zone WHERE study_area_id = %s GROUP BY zone_set", (area_id,)).fetchall())
        params = [
            dict(name=r[0], kind=r[1], rows=r[2], source=r[3])
            for r in conn.execute(
                """SELECT s.name, s.kind,
                          CASE s.kind WHEN 'lulc' THEN (SELECT count(*) FROM param.lulc_class c WHERE c.param_set_id = s.param_set_id)
                                      ELSE (SELECT count(*) FROM param.scalar c WHERE c.param_set_id = s.param_set_id) END,
                          s.citation
                   FROM param.param_set s WHERE s.study_area_id = %s ORDER BY s.name""", (area_id,)).fetchall()
        ]
        stats = [
            dict(variable=r[0], year=r[1], counties=r[2], unit=r[3])
            for r in conn.execute(
                """SELECT variable, year, count(*), min(unit) FROM src.county_stat WHERE study_area_id = %s
                   GROUP BY variable, year ORDER BY variable, year""", (area_id,)).fetchall()
        ]
        runs = [
            dict(run_id=r[0], stage=r[1], label=r[2], status=r[3], started_at=r[4].isoformat(),
                 seconds=None if r[5] is None else round(r[5], 3))
            for r in conn.execute(
                f"""SELECT r.run_id, r.stage, r.label, {runs_mod.STATE_SQL} AS status, r.started_at,
                           extract(epoch FROM r.finished_at - r.started_at)::float
                    FROM core.run r WHERE r.study_area_id = %s ORDER BY r.run_id DESC LIMIT 20""",
                (area_id,)).fetchall()
        ]
        current = conn.execute(
            """SELECT c.run_id, c.pattern_run_id, (SELECT count(*) FROM bi.county b WHERE b.run_id = c.run_id),
                      p.sources, p.corridors, p.important_corridors, p.collab_units, p.counties_alone,
                      (SELECT count(*) FROM bi.pattern_corridor b WHERE b.run_id = c.pattern_run_id)
               FROM bi.current_run c LEFT JOIN bi.pattern_run p ON p.run_id = c.pattern_run_id
               WHERE c.study_area_id = %s""", (area_id,)).fetchone()
        analysis = None if current is None else dict(
            zoning_run=current[0], pattern_run=current[1], bi_county_rows=current[2], sources=current[3],
            corridors=current[4], important_corridors=current[5], collab_units=current[6],
            counties_in_no_unit=current[7], bi_pattern_corridor_rows=current[8])
        problems = [{**p, "started_at": p["started_at"].isoformat(),
                     "finished_at": p["finished_at"].isoformat() if p["finished_at"] else None}
                    for p in runs_mod.problems(conn, area_id)]
        areas.append(dict(
            name=name, title=title,
            grid=dict(srid=srid, origin_x=ox, origin_y=oy, pixel_size=px, width=w, height=h, cells=w * h,
                      tile_size=ts, tiles_x=tx, tiles_y=ty),
            layers=layers,
            all_layers_aligned=all(layer["aligned"] for layer in layers) if layers else None,
            boundaries=dict(levels=units, counties_by_province=by_province),
            zones=zones, parameter_sets=params, statistics=stats, runs=runs, problems=problems,
            current_analysis=analysis,
        ))
    return {"study_areas": areas}
