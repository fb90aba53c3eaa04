-- 082_bi_pattern.sql
-- The ecological security pattern and its zoning collaboration in schema bi
-- (docs/models/pattern.md), with the conventions of 080_bi_views.sql: the first
-- column is a unique integer key; every relation with a geometry is a keyed
-- table (QGIS opens it without a key picked by hand) with typed EPSG:4326
-- geometry, lon/lat and simplified GeoJSON text; per-run rows carry run_id =
-- the pattern run (bi.current_run.pattern_run_id for the current analysis).
-- bi.publish_pattern(run) writes a pattern run's rows once, when the run is made;
-- bi.refresh_pattern() publishes every pattern run not yet published.
--
-- Re-appliable: the relations are dropped (without CASCADE) and created again;
-- the published rows are rebuilt at the end.

DO $drop$
DECLARE
    rel text;
    kind "char";
BEGIN
    FOREACH rel IN ARRAY ARRAY['pattern_barrier', 'pattern_pinch', 'pattern_task', 'pattern_rollup_partner', 'pattern_partner', 'pattern_member', 'pattern_crossing',
                               'pattern_run',
                               'pattern_county_link', 'pattern_collab_unit', 'pattern_node', 'pattern_corridor_area',
                               'pattern_corridor', 'pattern_source'] LOOP
        SELECT c.relkind INTO kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'bi' AND c.relname = rel;
        IF FOUND THEN
            EXECUTE format('DROP %s bi.%I',
                           CASE kind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, rel);
        END IF;
    END LOOP;
END $drop$;
DROP FUNCTION IF EXISTS bi.publish_pattern(integer);
DROP FUNCTION IF EXISTS bi.refresh_pattern();

-- bi.pattern_source: ecological sources with the counties they lie in.
CREATE TABLE bi.pattern_source (
    id                 integer PRIMARY KEY REFERENCES result.pattern_source (id) ON DELETE CASCADE,
    run_id             integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    study_area_id      integer NOT NULL,
    study_area         text NOT NULL,
    source_id          integer NOT NULL,
    area_km2           double precision NOT NULL,
    mean_resistance    double precision NOT NULL,
    importance         double precision,
    dpc                double precision,
    diic               double precision,
    counties           integer NOT NULL,
    county_codes       text,
    provinces          integer NOT NULL,
    cross_county       boolean NOT NULL,
    cross_province     boolean NOT NULL,
    lon                double precision,
    lat                double precision,
    geom_geojson_4326  text,
    geom               geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX pattern_source_run_idx ON bi.pattern_source (run_id);
CREATE INDEX pattern_source_geom_idx ON bi.pattern_source USING gist (geom);
COMMENT ON TABLE bi.pattern_source IS 'Ecological sources per pattern run (key id = result.pattern_source.id): area (km2), mean resistance, ecosystem-service importance (0-1), dPC (%), the counties holding them (codes by decreasing share) and whether they cross county or province boundaries; EPSG:4326';
COMMENT ON COLUMN bi.pattern_source.dpc IS 'Importance for connectivity dPC (%): the drop of the probability of connectivity PC without the source';
COMMENT ON COLUMN bi.pattern_source.diic IS 'Importance for connectivity dIIC (%): the drop of the integral index of connectivity IIC without the source';
COMMENT ON COLUMN bi.pattern_source.county_codes IS 'Codes of the counties holding part of the source, largest part first, comma-separated';

-- bi.pattern_corridor: least-cost paths as lines.
CREATE TABLE bi.pattern_corridor (
    id                 integer PRIMARY KEY REFERENCES result.pattern_corridor (id) ON DELETE CASCADE,
    run_id             integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    study_area_id      integer NOT NULL,
    study_area         text NOT NULL,
    corridor_id        integer NOT NULL,
    source_a           integer NOT NULL,
    source_b           integer NOT NULL,
    lcd                double precision NOT NULL,
    length_km          double precision NOT NULL,
    cwd_to_path_ratio  double precision,
    cwd_to_euc_ratio   double precision,
    gravity            double precision,
    importance_class   text NOT NULL CHECK (importance_class IN ('important', 'general')),
    corridor_area_km2  double precision,
    counties           integer NOT NULL,
    county_codes       text,
    provinces          integer NOT NULL,
    cross_county       boolean NOT NULL,
    cross_province     boolean NOT NULL,
    effective_resistance  double precision,
    corridor_resistance   double precision,
    current_mean       double precision,
    current_peak       double precision,
    tasks              integer NOT NULL,
    lon                double precision,
    lat                double precision,
    geom_geojson_4326  text,
    geom               geometry(LineString, 4326) NOT NULL
);
CREATE INDEX pattern_corridor_run_idx ON bi.pattern_corridor (run_id);
CREATE INDEX pattern_corridor_geom_idx ON bi.pattern_corridor USING gist (geom);
COMMENT ON TABLE bi.pattern_corridor IS 'Least-cost corridors per pattern run (key id = result.pattern_corridor.id): the sources joined, LCD (cost-weighted m), length (km), LCD/length, LCD/Euclidean distance, gravity G and class (important / general), corridor area (km2), the counties the path runs through (codes by decreasing length) and whether it crosses county or province boundaries; the path as a line in EPSG:4326, lon/lat of its middle';
COMMENT ON COLUMN bi.pattern_corridor.effective_resistance IS 'Circuit theory: effective resistance between the two sources over the whole grid (resistance units, ohm when read as a circuit); NULL without the circuit step';
COMMENT ON COLUMN bi.pattern_corridor.corridor_resistance IS 'Effective resistance through the corridor truncated at its NLCC cutoff (Pinchpoint Mapper); NULL when the corridor does not join the two sources';
COMMENT ON COLUMN bi.pattern_corridor.current_peak IS 'Largest current along the path outside the sources (A; pairwise: of the pair''s 1 A, all-to-one: cumulative)';
COMMENT ON COLUMN bi.pattern_corridor.lcd IS 'Cost-weighted distance of the least-cost path (resistance x metres)';
COMMENT ON COLUMN bi.pattern_corridor.importance_class IS 'important: the upper class of log10 G (pattern.important_method, natural breaks by default) or G above pattern.important_gravity; general otherwise';

-- bi.pattern_corridor_area: corridor areas as polygons.
CREATE TABLE bi.pattern_corridor_area (
    id                 integer PRIMARY KEY REFERENCES result.pattern_corridor_area (id) ON DELETE CASCADE,
    run_id             integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    study_area_id      integer NOT NULL,
    corridor_id        integer NOT NULL,
    importance_class   text NOT NULL,
    area_km2           double precision NOT NULL,
    lon                double precision,
    lat                double precision,
    geom_geojson_4326  text,
    geom               geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX pattern_corridor_area_run_idx ON bi.pattern_corridor_area (run_id);
CREATE INDEX pattern_corridor_area_geom_idx ON bi.pattern_corridor_area USING gist (geom);
COMMENT ON TABLE bi.pattern_corridor_area IS 'Corridor areas per pattern run (key id = result.pattern_corridor_area.id): the cells within the NLCC cutoff of each corridor (the corridor of least NLCC where they overlap), with its importance class and area (km2); EPSG:4326';

-- bi.pattern_node: strategic points and barrier points.
CREATE TABLE bi.pattern_node (
    id             integer PRIMARY KEY REFERENCES result.pattern_node (id) ON DELETE CASCADE,
    run_id         integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    study_area_id  integer NOT NULL,
    node_id        integer NOT NULL,
    kind           text NOT NULL,
    corridors      integer[] NOT NULL,
    corridor_ids   text NOT NULL,
    county_code    text,
    county_name    text,
    province_code  text,
    lon            double precision NOT NULL,
    lat            double precision NOT NULL,
    geom           geometry(Point, 4326) NOT NULL
);
CREATE INDEX pattern_node_run_idx ON bi.pattern_node (run_id);
CREATE INDEX pattern_node_geom_idx ON bi.pattern_node USING gist (geom);
COMMENT ON TABLE bi.pattern_node IS 'Ecological nodes per pattern run (key id = result.pattern_node.id): kind (intersection and ridge: strategic points; barrier and pinch: centres of the barrier and pinch areas), the corridors they lie on (array and comma-separated text), the county holding them; EPSG:4326';

-- bi.pattern_collab_unit: collaboration units as dissolved county polygons.
CREATE TABLE bi.pattern_collab_unit (
    id                  integer PRIMARY KEY REFERENCES result.pattern_collab_unit (id) ON DELETE CASCADE,
    run_id              integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    study_area_id       integer NOT NULL,
    study_area          text NOT NULL,
    unit_no             integer NOT NULL,
    counties            integer NOT NULL,
    county_codes        text NOT NULL,
    county_names        text,
    provinces           text,
    cross_province      boolean NOT NULL,
    cities              text,
    zone_codes          text,
    corridors           integer NOT NULL,
    corridor_ids        text,
    sources             integer NOT NULL,
    source_ids          text,
    corridor_length_km  double precision NOT NULL,
    barrier_nodes       integer NOT NULL,
    area_km2            double precision NOT NULL,
    lon                 double precision,
    lat                 double precision,
    geom_geojson_4326   text,
    geom                geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX pattern_collab_unit_run_idx ON bi.pattern_collab_unit (run_id);
CREATE INDEX pattern_collab_unit_geom_idx ON bi.pattern_collab_unit USING gist (geom);
COMMENT ON TABLE bi.pattern_collab_unit IS 'Collaboration units per pattern run (key id = result.pattern_collab_unit.id): member counties, provinces and cities involved, restoration zones of the members, corridors and sources shared by two members or more, their corridor length inside the unit (km) and barrier nodes, area (km2); the members dissolved in EPSG:4326';

-- bi.pattern_county_link: links between counties as lines between points inside them.
CREATE TABLE bi.pattern_county_link (
    id                  integer PRIMARY KEY REFERENCES result.pattern_county_link (id) ON DELETE CASCADE,
    run_id              integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    study_area_id       integer NOT NULL,
    county_a_code       text NOT NULL,
    county_a_name       text,
    county_b_code       text NOT NULL,
    county_b_name       text,
    province_a          text,
    province_b          text,
    cross_province      boolean NOT NULL,
    shared_boundary_km  double precision NOT NULL,
    corridors           integer NOT NULL,
    corridor_ids        text,
    corridor_gravity    double precision NOT NULL,
    shared_source_km2   double precision NOT NULL,
    complementary       text,
    weight              double precision,
    strong              boolean,
    collab_unit         integer,
    lon                 double precision,
    lat                 double precision,
    geom                geometry(LineString, 4326) NOT NULL
);
CREATE INDEX pattern_county_link_run_idx ON bi.pattern_county_link (run_id);
CREATE INDEX pattern_county_link_geom_idx ON bi.pattern_county_link USING gist (geom);
COMMENT ON TABLE bi.pattern_county_link IS 'Links between two counties per pattern run (key id = result.pattern_county_link.id): shared boundary (km), corridors crossing between them and their summed gravity G, shared source area (km2), complementary services (one in surplus, the other in deficit), weight (0-1), strong (above pattern.min_link_weight), the collaboration unit holding both; a line between points inside the two counties, EPSG:4326';

-- bi.publish_pattern(run): write the bi rows of succeeded pattern run p_run,
-- replacing earlier rows of that run. Returns the number of source rows.
-- Raises when p_run is not a succeeded pattern run.
-- bi.pattern_task: restoration tasks, ranked, with their counties and units.
CREATE TABLE bi.pattern_task (
    id                 integer PRIMARY KEY REFERENCES result.pattern_task (id) ON DELETE CASCADE,
    run_id             integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    study_area_id      integer NOT NULL,
    task_id            integer NOT NULL,
    rank               integer NOT NULL,
    kind               text NOT NULL,
    action             text NOT NULL,
    corridor_id        integer NOT NULL,
    importance_class   text NOT NULL,
    gain               double precision NOT NULL,
    gain_unit          text NOT NULL,
    gain_share         double precision,
    area_km2           double precision NOT NULL,
    priority           double precision,
    county_code        text,
    county_name        text,
    city_code          text,
    province_code      text,
    county_codes       text,
    collab_units       text,
    joint              boolean NOT NULL,
    lon                double precision,
    lat                double precision,
    geom_geojson_4326  text,
    geom               geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX pattern_task_run_idx ON bi.pattern_task (run_id);
CREATE INDEX pattern_task_geom_idx ON bi.pattern_task USING gist (geom);
COMMENT ON TABLE bi.pattern_task IS 'Restoration tasks per pattern run (key id = result.pattern_task.id), rank 1 first by priority = gain share per km2: restore a barrier area, protect a pinch area, restore a corridor segment; the corridor and its class, the gain (cost-weighted m: the change of the corridor''s LCD) and its share of the LCD, area (km2), the county holding most of it, every county touched (codes by decreasing area), the collaboration units of those counties and whether it is a joint task of two units or more; EPSG:4326';
COMMENT ON COLUMN bi.pattern_task.priority IS 'gain_share per km2 of land restored or protected: the ranking measure';

-- bi.pattern_pinch: pinch areas (the protect_pinch tasks) with their current.
CREATE TABLE bi.pattern_pinch (
    id                 integer PRIMARY KEY REFERENCES result.pattern_task (id) ON DELETE CASCADE,
    run_id             integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    study_area_id      integer NOT NULL,
    task_id            integer NOT NULL,
    rank               integer NOT NULL,
    corridor_id        integer NOT NULL,
    current_max        double precision,
    current_mean       double precision,
    corridor_resistance  double precision,
    resistance_rise    double precision,
    lcd_rise           double precision NOT NULL,
    lcd_rise_share     double precision,
    area_km2           double precision NOT NULL,
    county_code        text,
    county_name        text,
    province_code      text,
    joint              boolean NOT NULL,
    lon                double precision,
    lat                double precision,
    geom               geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX pattern_pinch_run_idx ON bi.pattern_pinch (run_id);
CREATE INDEX pattern_pinch_geom_idx ON bi.pattern_pinch USING gist (geom);
COMMENT ON TABLE bi.pattern_pinch IS 'Pinch areas per pattern run (key id = result.pattern_task.id of its protect_pinch task): the corridor, the largest and mean current of its cells (A of the pair''s 1 A through the corridor truncated at its cutoff), the corridor''s effective resistance and its rise were the pinch degraded (ohm), the rise of its LCD then (cost-weighted m) and its share of the LCD, area (km2), the county holding most of it; EPSG:4326';

-- bi.pattern_barrier: barrier areas (the restore_barrier tasks).
CREATE TABLE bi.pattern_barrier (
    id                 integer PRIMARY KEY REFERENCES result.pattern_task (id) ON DELETE CASCADE,
    run_id             integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    study_area_id      integer NOT NULL,
    task_id            integer NOT NULL,
    rank               integer NOT NULL,
    corridor_id        integer NOT NULL,
    diameter_m         double precision,
    lcd_drop           double precision NOT NULL,
    lcd_drop_share     double precision,
    area_km2           double precision NOT NULL,
    lcd_drop_per_km2   double precision NOT NULL,
    county_code        text,
    county_name        text,
    province_code      text,
    joint              boolean NOT NULL,
    lon                double precision,
    lat                double precision,
    geom               geometry(MultiPolygon, 4326) NOT NULL
);
CREATE INDEX pattern_barrier_run_idx ON bi.pattern_barrier (run_id);
CREATE INDEX pattern_barrier_geom_idx ON bi.pattern_barrier USING gist (geom);
COMMENT ON TABLE bi.pattern_barrier IS 'Barrier areas per pattern run (key id = result.pattern_task.id of its restore_barrier task): the corridor, the diameter of the restored window (m), the fall of the corridor''s LCD were it restored (cost-weighted m, McRae et al. 2012) and its share of the LCD, the area to restore (km2) and the fall per km2, the county holding most of it; EPSG:4326';

CREATE FUNCTION bi.publish_pattern(p_run integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM core.run WHERE run_id = p_run AND stage = 'pattern' AND status = 'succeeded') THEN
        RAISE EXCEPTION 'run % is not a succeeded pattern run', p_run;
    END IF;
    DELETE FROM bi.pattern_source WHERE run_id = p_run;
    DELETE FROM bi.pattern_corridor WHERE run_id = p_run;
    DELETE FROM bi.pattern_corridor_area WHERE run_id = p_run;
    DELETE FROM bi.pattern_node WHERE run_id = p_run;
    DELETE FROM bi.pattern_collab_unit WHERE run_id = p_run;
    DELETE FROM bi.pattern_county_link WHERE run_id = p_run;
    DELETE FROM bi.pattern_task WHERE run_id = p_run;
    DELETE FROM bi.pattern_pinch WHERE run_id = p_run;
    DELETE FROM bi.pattern_barrier WHERE run_id = p_run;

    INSERT INTO bi.pattern_source
    SELECT s.id, s.run_id, a.study_area_id, a.name, s.source_id, s.area_m2 / 1e6, s.mean_resistance, s.importance,
           s.dpc, s.diic, x.counties, x.codes, x.provinces, x.counties >= 2, x.provinces >= 2,
           ST_X(p.geom), ST_Y(p.geom), ST_AsGeoJSON(bi.simplify_4326(s.geom), 6), g.geom
    FROM result.pattern_source s
    JOIN core.run r ON r.run_id = s.run_id
    JOIN core.study_area a ON a.study_area_id = r.study_area_id
    CROSS JOIN LATERAL (
        SELECT count(*)::integer AS counties, count(DISTINCT u.province_code)::integer AS provinces,
               string_agg(u.code, ',' ORDER BY c.area_m2 DESC, u.code) AS codes
        FROM result.pattern_crossing c JOIN core.admin_unit_version u ON u.unit_id = c.unit_id
        WHERE c.run_id = s.run_id AND c.element = 'source' AND c.element_id = s.source_id) x
    CROSS JOIN LATERAL (SELECT ST_Multi(ST_Transform(s.geom, 4326))::geometry(MultiPolygon, 4326) AS geom) g
    CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
    WHERE s.run_id = p_run;
    GET DIAGNOSTICS n = ROW_COUNT;

    INSERT INTO bi.pattern_corridor
    SELECT c.id, c.run_id, a.study_area_id, a.name, c.corridor_id, c.source_a, c.source_b, c.lcd, c.length_m / 1e3,
           c.cwd_to_path_ratio, c.cwd_to_euc_ratio, c.gravity,
           CASE WHEN c.important THEN 'important' ELSE 'general' END, ca.area_m2 / 1e6,
           x.counties, x.codes, x.provinces, x.counties >= 2, x.provinces >= 2,
           c.effective_resistance, c.corridor_resistance, c.current_mean, c.current_peak,
           (SELECT count(*)::integer FROM result.pattern_task t WHERE t.run_id = c.run_id AND t.corridor_id = c.corridor_id),
           ST_X(m.geom), ST_Y(m.geom), ST_AsGeoJSON(g.geom, 6), g.geom
    FROM result.pattern_corridor c
    JOIN core.run r ON r.run_id = c.run_id
    JOIN core.study_area a ON a.study_area_id = r.study_area_id
    LEFT JOIN result.pattern_corridor_area ca ON ca.run_id = c.run_id AND ca.corridor_id = c.corridor_id
    CROSS JOIN LATERAL (
        SELECT count(*)::integer AS counties, count(DISTINCT u.province_code)::integer AS provinces,
               string_agg(u.code, ',' ORDER BY x.length_m DESC, u.code) AS codes
        FROM result.pattern_crossing x JOIN core.admin_unit_version u ON u.unit_id = x.unit_id
        WHERE x.run_id = c.run_id AND x.element = 'corridor' AND x.element_id = c.corridor_id AND x.length_m > 0) x
    CROSS JOIN LATERAL (SELECT ST_Transform(c.geom, 4326)::geometry(LineString, 4326) AS geom) g
    CROSS JOIN LATERAL (SELECT ST_LineInterpolatePoint(g.geom, 0.5) AS geom) m
    WHERE c.run_id = p_run;

    INSERT INTO bi.pattern_corridor_area
    SELECT ca.id, ca.run_id, r.study_area_id, ca.corridor_id,
           CASE WHEN c.important THEN 'important' ELSE 'general' END, ca.area_m2 / 1e6,
           ST_X(p.geom), ST_Y(p.geom), ST_AsGeoJSON(bi.simplify_4326(ca.geom), 6), g.geom
    FROM result.pattern_corridor_area ca
    JOIN result.pattern_corridor c ON c.run_id = ca.run_id AND c.corridor_id = ca.corridor_id
    JOIN core.run r ON r.run_id = ca.run_id
    CROSS JOIN LATERAL (SELECT ST_Multi(ST_Transform(ca.geom, 4326))::geometry(MultiPolygon, 4326) AS geom) g
    CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
    WHERE ca.run_id = p_run;

    INSERT INTO bi.pattern_node
    SELECT nd.id, nd.run_id, r.study_area_id, nd.node_id, nd.kind, nd.corridors, array_to_string(nd.corridors, ','),
           u.code, u.name, u.province_code, ST_X(g.geom), ST_Y(g.geom), g.geom
    FROM result.pattern_node nd
    JOIN core.run r ON r.run_id = nd.run_id
    LEFT JOIN core.admin_unit_version u ON u.unit_id = nd.unit_id
    CROSS JOIN LATERAL (SELECT ST_Transform(nd.geom, 4326)::geometry(Point, 4326) AS geom) g
    WHERE nd.run_id = p_run;

    INSERT INTO bi.pattern_collab_unit
    SELECT cu.id, cu.run_id, a.study_area_id, a.name, cu.unit_no, cu.counties, m.codes, m.names,
           array_to_string(cu.provinces, ','), cardinality(cu.provinces) >= 2, array_to_string(cu.cities, ','),
           array_to_string(cu.zone_codes, ','), cardinality(cu.corridors), array_to_string(cu.corridors, ','),
           cardinality(cu.sources), array_to_string(cu.sources, ','), cu.corridor_length_m / 1e3, cu.barrier_nodes,
           cu.area_m2 / 1e6, ST_X(p.geom), ST_Y(p.geom), ST_AsGeoJSON(bi.simplify_4326(d.geom), 6), g.geom
    FROM result.pattern_collab_unit cu
    JOIN core.run r ON r.run_id = cu.run_id
    JOIN core.study_area a ON a.study_area_id = r.study_area_id
    CROSS JOIN LATERAL (
        SELECT string_agg(u.code, ',' ORDER BY u.code) AS codes, string_agg(u.name, ',' ORDER BY u.code) AS names,
               ST_Multi(ST_CollectionExtract(ST_Union(u.geom), 3)) AS geom
        FROM result.pattern_collab_member mb JOIN core.admin_unit_version u ON u.unit_id = mb.unit_id
        WHERE mb.run_id = cu.run_id AND mb.unit_no = cu.unit_no) m
    CROSS JOIN LATERAL (SELECT m.geom) d
    CROSS JOIN LATERAL (SELECT ST_Transform(d.geom, 4326)::geometry(MultiPolygon, 4326) AS geom) g
    CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
    WHERE cu.run_id = p_run;

    INSERT INTO bi.pattern_county_link
    SELECT l.id, l.run_id, r.study_area_id, ua.code, ua.name, ub.code, ub.name, ua.province_code, ub.province_code,
           ua.province_code IS DISTINCT FROM ub.province_code, l.shared_boundary_m / 1e3,
           cardinality(l.corridors), nullif(array_to_string(l.corridors, ','), ''), l.corridor_gravity,
           l.shared_source_m2 / 1e6, nullif(array_to_string(l.complementary, ','), ''), l.weight, l.strong,
           CASE WHEN ma.unit_no = mb.unit_no THEN ma.unit_no END,
           ST_X(mid.geom), ST_Y(mid.geom), g.geom
    FROM result.pattern_county_link l
    JOIN core.run r ON r.run_id = l.run_id
    JOIN core.admin_unit_version ua ON ua.unit_id = l.unit_a
    JOIN core.admin_unit_version ub ON ub.unit_id = l.unit_b
    LEFT JOIN result.pattern_collab_member ma ON ma.run_id = l.run_id AND ma.unit_id = l.unit_a
    LEFT JOIN result.pattern_collab_member mb ON mb.run_id = l.run_id AND mb.unit_id = l.unit_b
    CROSS JOIN LATERAL (
        SELECT ST_MakeLine(ST_Transform(ST_PointOnSurface(ua.geom), 4326),
                           ST_Transform(ST_PointOnSurface(ub.geom), 4326))::geometry(LineString, 4326) AS geom) g
    CROSS JOIN LATERAL (SELECT ST_LineInterpolatePoint(g.geom, 0.5) AS geom) mid
    WHERE l.run_id = p_run;

    INSERT INTO bi.pattern_task
    SELECT t.id, t.run_id, r.study_area_id, t.task_id, t.rank, t.kind,
           CASE t.kind WHEN 'restore_barrier' THEN 'restore the barrier area'
                       WHEN 'protect_pinch' THEN 'protect the pinch point'
                       ELSE 'restore the corridor segment' END,
           t.corridor_id, CASE WHEN c.important THEN 'important' ELSE 'general' END,
           t.gain, t.gain_unit, t.gain_share, t.area_m2 / 1e6, t.priority,
           u.code, u.name, u.parent_code, u.province_code,
           (SELECT string_agg(v.code, ',' ORDER BY k.o) FROM unnest(t.counties) WITH ORDINALITY k(unit_id, o)
            JOIN core.admin_unit_version v ON v.unit_id = k.unit_id),
           array_to_string(t.collab_units, ','), t.joint,
           ST_X(p.geom), ST_Y(p.geom), ST_AsGeoJSON(bi.simplify_4326(t.geom), 6), g.geom
    FROM result.pattern_task t
    JOIN core.run r ON r.run_id = t.run_id
    JOIN result.pattern_corridor c ON c.run_id = t.run_id AND c.corridor_id = t.corridor_id
    LEFT JOIN core.admin_unit_version u ON u.unit_id = t.unit_id
    CROSS JOIN LATERAL (SELECT ST_Multi(ST_Transform(t.geom, 4326))::geometry(MultiPolygon, 4326) AS geom) g
    CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
    WHERE t.run_id = p_run;

    INSERT INTO bi.pattern_pinch
    SELECT b.id, b.run_id, b.study_area_id, b.task_id, b.rank, b.corridor_id, t.current_max, t.current_mean,
           c.corridor_resistance, t.resistance_rise, t.gain, t.gain_share, b.area_km2, b.county_code, b.county_name,
           b.province_code, b.joint,
           b.lon, b.lat, b.geom
    FROM bi.pattern_task b
    JOIN result.pattern_task t ON t.id = b.id
    JOIN result.pattern_corridor c ON c.run_id = t.run_id AND c.corridor_id = t.corridor_id
    WHERE b.run_id = p_run AND b.kind = 'protect_pinch';

    INSERT INTO bi.pattern_barrier
    SELECT b.id, b.run_id, b.study_area_id, b.task_id, b.rank, b.corridor_id, t.diameter_m, t.gain, t.gain_share,
           b.area_km2, t.gain / b.area_km2, b.county_code, b.county_name, b.province_code, b.joint,
           b.lon, b.lat, b.geom
    FROM bi.pattern_task b
    JOIN result.pattern_task t ON t.id = b.id
    WHERE b.run_id = p_run AND b.kind = 'restore_barrier';
    RETURN n;
END $$;
COMMENT ON FUNCTION bi.publish_pattern(integer) IS 'Write the bi rows (sources, corridors, corridor areas, nodes, collaboration units, county links, restoration tasks, pinch and barrier areas) of a succeeded pattern run; returns the number of source rows';

-- bi.refresh_pattern(): publish every succeeded pattern run that has sources but
-- no published rows (after this file is re-applied, or changes made by hand);
-- returns the number of runs published.
CREATE FUNCTION bi.refresh_pattern() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r integer;
    n integer := 0;
BEGIN
    FOR r IN SELECT run.run_id FROM core.run run
             WHERE run.stage = 'pattern' AND run.status = 'succeeded'
               AND EXISTS (SELECT 1 FROM result.pattern_source s WHERE s.run_id = run.run_id)
               AND NOT EXISTS (SELECT 1 FROM bi.pattern_source b WHERE b.run_id = run.run_id)
             ORDER BY run.run_id LOOP
        PERFORM bi.publish_pattern(r);
        n := n + 1;
    END LOOP;
    RETURN n;
END $$;
COMMENT ON FUNCTION bi.refresh_pattern() IS 'Publish every succeeded pattern run with sources that has no rows in bi yet; returns the number of runs published';

-- bi.pattern_run: one row per succeeded pattern run, with the measures of its
-- network and collaboration. The pattern of the current analysis is
-- bi.current_run.pattern_run_id (no relation here reads the 080 ones, so each
-- file can be applied alone).
CREATE VIEW bi.pattern_run AS
SELECT r.run_id, r.study_area_id, a.name AS study_area, r.label, r.finished_at,
       z.input_run_id AS zoning_run_id, s.input_run_id AS services_run_id,
       nw.cell_m, nw.sources, nw.corridors, nw.important_corridors, nw.corridors - nw.important_corridors AS general_corridors,
       (SELECT count(*) FROM result.pattern_node n WHERE n.run_id = r.run_id AND n.kind = 'intersection') AS intersection_nodes,
       (SELECT count(*) FROM result.pattern_node n WHERE n.run_id = r.run_id AND n.kind = 'ridge') AS ridge_nodes,
       (SELECT count(*) FROM result.pattern_node n WHERE n.run_id = r.run_id AND n.kind = 'barrier') AS barrier_nodes,
       (SELECT count(*) FROM result.pattern_node n WHERE n.run_id = r.run_id AND n.kind = 'pinch') AS pinch_nodes,
       (SELECT count(*) FROM result.pattern_task t WHERE t.run_id = r.run_id) AS tasks,
       (SELECT count(*) FROM result.pattern_task t WHERE t.run_id = r.run_id AND t.joint) AS joint_tasks,
       r.timings #>> '{summary,circuit,solver}' AS circuit_solver,
       (r.timings #>> '{summary,circuit,current_cell_m}')::double precision AS current_cell_m,
       nw.pc, nw.iic, nw.alpha, nw.beta, nw.gamma,
       (r.timings #>> '{summary,collaboration,cross_county_corridors}')::integer AS cross_county_corridors,
       (r.timings #>> '{summary,collaboration,cross_province_corridors}')::integer AS cross_province_corridors,
       (r.timings #>> '{summary,collaboration,cross_county_sources}')::integer AS cross_county_sources,
       (r.timings #>> '{summary,collaboration,cross_province_sources}')::integer AS cross_province_sources,
       (SELECT count(*) FROM result.pattern_county_link l WHERE l.run_id = r.run_id) AS county_links,
       (SELECT count(*) FROM result.pattern_county_link l WHERE l.run_id = r.run_id AND l.strong) AS strong_links,
       (SELECT count(*) FROM result.pattern_collab_unit u WHERE u.run_id = r.run_id) AS collab_units,
       (SELECT count(*) FROM result.pattern_collab_member m WHERE m.run_id = r.run_id AND m.unit_no IS NULL)
           AS counties_alone,
       (r.timings ->> 'seconds')::double precision AS seconds
FROM core.run r
JOIN core.study_area a ON a.study_area_id = r.study_area_id
JOIN result.pattern_network nw ON nw.run_id = r.run_id
LEFT JOIN core.run_input z ON z.run_id = r.run_id AND z.stage = 'zoning'
LEFT JOIN core.run_input s ON s.run_id = r.run_id AND s.stage = 'services'
WHERE r.stage = 'pattern' AND r.status = 'succeeded';
COMMENT ON VIEW bi.pattern_run IS 'Succeeded pattern runs (key run_id): the zoning and services runs read, corridor-grid cell (m), sources, corridors (important / general), nodes by kind, restoration tasks (joint ones), the circuit solver and the current map''s cell (m), PC, IIC, alpha, beta, gamma, corridors and sources crossing county and province boundaries, county links, collaboration units, counties in no unit, run time (s)';

-- bi.pattern_crossing: what each source or corridor holds in each county.
CREATE VIEW bi.pattern_crossing AS
SELECT x.id, x.run_id, x.element, x.element_id, u.code AS county_code, u.name AS county_name,
       u.parent_code AS city_code, u.province_code, x.length_m / 1e3 AS length_km, x.area_m2 / 1e6 AS area_km2,
       x.share, x.first_at
FROM result.pattern_crossing x
JOIN core.admin_unit_version u ON u.unit_id = x.unit_id;
COMMENT ON VIEW bi.pattern_crossing IS 'Per pattern run, source or corridor, and county (key id): path length (km) and corridor area (km2) of a corridor, or area (km2) of a source, in the county; share of the element in it (0-1); where the path first enters it (0-1 along the path)';

-- bi.pattern_partner: for each county, every county it is linked with (both
-- directions of each link), and what they share. "Which counties must the
-- counties of city X coordinate with": WHERE city_code = X AND NOT same_city.
-- id = link id * 2 + direction (0: the county is unit_a).
CREATE VIEW bi.pattern_partner AS
SELECT l.id::bigint * 2 + d.dir AS id, l.run_id, r.study_area_id,
       cu.code AS county_code, cu.name AS county_name, cu.parent_code AS city_code, cu.province_code,
       pu.code AS partner_code, pu.name AS partner_name, pu.parent_code AS partner_city_code,
       pu.province_code AS partner_province_code,
       cu.parent_code = pu.parent_code AS same_city,              -- NULL when a parent code is unknown
       cu.province_code = pu.province_code AS same_province,
       l.weight, l.strong, l.shared_boundary_m / 1e3 AS shared_boundary_km,
       nullif(array_to_string(l.corridors, ','), '') AS corridor_ids, l.corridor_gravity,
       l.shared_source_m2 / 1e6 AS shared_source_km2, nullif(array_to_string(l.sources, ','), '') AS source_ids,
       nullif(array_to_string(l.complementary, ','), '') AS complementary,
       CASE WHEN mc.unit_no = mp.unit_no THEN mc.unit_no END AS collab_unit,
       l.corridors AS corridor_list, l.sources AS source_list
FROM result.pattern_county_link l
JOIN core.run r ON r.run_id = l.run_id
CROSS JOIN LATERAL (VALUES (0, l.unit_a, l.unit_b), (1, l.unit_b, l.unit_a)) d (dir, county, partner)
JOIN core.admin_unit_version cu ON cu.unit_id = d.county
JOIN core.admin_unit_version pu ON pu.unit_id = d.partner
LEFT JOIN result.pattern_collab_member mc ON mc.run_id = l.run_id AND mc.unit_id = d.county
LEFT JOIN result.pattern_collab_member mp ON mp.run_id = l.run_id AND mp.unit_id = d.partner;
COMMENT ON VIEW bi.pattern_partner IS 'Each county with every county it is linked with in a pattern run (key id = link id x 2 + direction): cities and provinces of both (same_city / same_province NULL when a code is unknown), link weight and strength, shared boundary (km), corridors crossing between them (ids) and their gravity, shared sources (ids, km2), complementary services, the collaboration unit holding both';

-- bi.pattern_member: every county of the zoning run a pattern run read, with its
-- collaboration unit, its restoration zone, or why it belongs to no unit.
CREATE VIEW bi.pattern_member AS
SELECT m.id, m.run_id, r.study_area_id, u.code AS county_code, u.name AS county_name, u.parent_code AS city_code,
       u.province_code, m.unit_no AS collab_unit, m.zone_code, m.reason
FROM result.pattern_collab_member m
JOIN core.run r ON r.run_id = m.run_id
JOIN core.admin_unit_version u ON u.unit_id = m.unit_id;
COMMENT ON VIEW bi.pattern_member IS 'Every county of the zoning run a pattern run read (key id): its collaboration unit (NULL: none, and the reason), its restoration zone, city and province codes';

-- bi.pattern_rollup_partner: the partners outside a city or province, per city
-- (level city, code = parent code of the counties) and per province: which
-- outside counties its counties are strongly linked with, and on what.
-- id = the smallest bi.pattern_partner id of the group * 2 + (level = province).
CREATE VIEW bi.pattern_rollup_partner AS
SELECT min(p.id) * 2 + g.lvl AS id, p.run_id, p.study_area_id,
       CASE g.lvl WHEN 0 THEN 'city' ELSE 'province' END AS level, g.code,
       (SELECT min(n.name) FROM core.admin_unit n
        WHERE n.study_area_id = p.study_area_id AND n.code = g.code
          AND n.level = CASE g.lvl WHEN 0 THEN 'city' ELSE 'province' END) AS name,
       p.partner_code, p.partner_name, p.partner_city_code, p.partner_province_code,
       string_agg(p.county_code, ',' ORDER BY p.county_code) AS own_counties,
       count(*) AS links, max(p.weight) AS max_weight,
       (SELECT string_agg(c::text, ',' ORDER BY c) FROM (
            SELECT DISTINCT x::integer AS c FROM unnest(string_to_array(string_agg(p.corridor_ids, ','), ',')) x) s)
           AS corridor_ids,
       (SELECT coalesce(sum(c.gravity ORDER BY c.corridor_id), 0) FROM result.pattern_corridor c  -- each corridor once
        WHERE c.run_id = p.run_id
          AND c.corridor_id = ANY (string_to_array(string_agg(p.corridor_ids, ','), ',')::integer[]))
           AS corridor_gravity,
       (SELECT string_agg(c::text, ',' ORDER BY c) FROM (
            SELECT DISTINCT x::integer AS c FROM unnest(string_to_array(string_agg(p.source_ids, ','), ',')) x) s)
           AS source_ids,
       (SELECT string_agg(c, ',' ORDER BY c) FROM (
            SELECT DISTINCT x AS c FROM unnest(string_to_array(string_agg(p.complementary, ','), ',')) x) s)
           AS complementary
FROM bi.pattern_partner p
CROSS JOIN LATERAL (VALUES (0, p.city_code, p.same_city), (1, p.province_code, p.same_province)) g (lvl, code, same)
WHERE p.strong AND g.code IS NOT NULL AND NOT g.same
GROUP BY p.run_id, p.study_area_id, g.lvl, g.code, p.partner_code, p.partner_name, p.partner_city_code,
         p.partner_province_code;
COMMENT ON VIEW bi.pattern_rollup_partner IS 'Per pattern run, city or province (level, code, name when loaded) and outside county linked strongly to its counties (key id): its counties so linked, the number of links, the largest weight, corridors crossing between them (ids, and their gravity counted once each), sources shared (ids), complementary services';

REVOKE EXECUTE ON FUNCTION bi.publish_pattern(integer), bi.refresh_pattern() FROM PUBLIC;
DO $role$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'restore_bi') THEN
        GRANT SELECT ON ALL TABLES IN SCHEMA bi TO restore_bi;
        REVOKE EXECUTE ON FUNCTION bi.publish_pattern(integer), bi.refresh_pattern() FROM restore_bi;
    END IF;
END $role$;

-- Rebuild the published rows of the pattern runs made so far (after re-applying this file).
SELECT bi.refresh_pattern();
