-- 076_pattern_tasks.sql
-- Restoration tasks of a pattern run (docs/models/pattern.md#restoration-tasks):
-- barrier areas to restore, pinch areas to protect and corridor segments to
-- restore, ranked by the connectivity gained per km2, and the counties and
-- collaboration units they fall in.

CREATE TABLE result.pattern_task (
    id               integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    task_id          integer NOT NULL CHECK (task_id > 0),
    kind             text NOT NULL CHECK (kind IN ('restore_barrier', 'protect_pinch', 'restore_segment')),
    corridor_id      integer NOT NULL,
    rank             integer NOT NULL CHECK (rank > 0),
    gain             double precision NOT NULL,
    gain_unit        text NOT NULL,
    gain_share       double precision,
    area_m2          double precision NOT NULL CHECK (area_m2 > 0),
    priority         double precision,
    cells            integer NOT NULL CHECK (cells > 0),
    diameter_m       double precision,
    current_max      double precision,
    current_mean     double precision,
    resistance_rise  double precision,
    unit_id          integer REFERENCES core.admin_unit_version,
    counties         integer[] NOT NULL DEFAULT '{}',
    collab_units     integer[] NOT NULL DEFAULT '{}',
    joint            boolean NOT NULL DEFAULT false,
    geom             geometry(MultiPolygon) NOT NULL,
    UNIQUE (run_id, task_id),
    FOREIGN KEY (run_id, corridor_id) REFERENCES result.pattern_corridor (run_id, corridor_id) ON DELETE CASCADE
);
CREATE INDEX pattern_task_geom_idx ON result.pattern_task USING gist (geom);
COMMENT ON TABLE result.pattern_task IS 'Restoration tasks of a pattern run: restore_barrier (a barrier area: the cells of its best window, diameter_m, that resist more than restored land; gain = the fall of the corridor LCD), protect_pinch (a pinch area of the corridor current, current_max/current_mean in A of its pair''s 1 A; gain = the rise of the corridor''s LCD were it degraded, resistance_rise = that of its effective resistance, ohm), restore_segment (a run of high-resistance least-cost-path cells; gain = the fall of the path cost); gains in cost-weighted m, gain_share = gain / the corridor''s LCD, priority = gain_share per km2, rank 1 first; the county holding most of it (unit_id), every county it touches, the collaboration units of those counties and joint = two units or more';

-- result.pattern_place_tasks(run): the county holding the largest part of each
-- task of pattern run p_run, every county it touches and the collaboration units
-- of those counties (result.pattern_collab_member); a task touching counties of
-- two units or more is a joint task of them. Counties are those of the zoning
-- run the pattern read (every member row). Returns the number of joint tasks.
CREATE FUNCTION result.pattern_place_tasks(p_run integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    UPDATE result.pattern_task t
    SET unit_id = p.main, counties = p.counties, collab_units = p.units, joint = cardinality(p.units) >= 2
    FROM (
        SELECT t.id,
               (array_agg(x.unit_id ORDER BY x.area DESC, x.unit_id))[1] AS main,
               array_agg(x.unit_id ORDER BY x.area DESC, x.unit_id) AS counties,
               coalesce(array_agg(DISTINCT x.unit_no ORDER BY x.unit_no) FILTER (WHERE x.unit_no IS NOT NULL), '{}')
                   AS units
        FROM result.pattern_task t
        JOIN LATERAL (
            SELECT m.unit_id, m.unit_no, ST_Area(ST_Intersection(t.geom, u.geom)) AS area
            FROM result.pattern_collab_member m
            JOIN core.admin_unit_version u ON u.unit_id = m.unit_id
            WHERE m.run_id = t.run_id AND ST_Intersects(t.geom, u.geom)) x ON x.area > 0
        WHERE t.run_id = p_run
        GROUP BY t.id) p
    WHERE t.id = p.id;
    SELECT count(*) INTO n FROM result.pattern_task WHERE run_id = p_run AND joint;
    RETURN n;
END $$;
COMMENT ON FUNCTION result.pattern_place_tasks(integer) IS 'Fill the county (largest part), the counties touched, the collaboration units and the joint flag of the restoration tasks of a pattern run; returns the number of joint tasks';
REVOKE EXECUTE ON FUNCTION result.pattern_place_tasks(integer) FROM PUBLIC;
