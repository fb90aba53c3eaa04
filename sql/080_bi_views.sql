-- 080_bi_views.sql
-- The bi schema: stable, documented results for SQL users and BI tools
-- (QGIS, Superset, Metabase, Power BI), and the read-only role restore_bi that
-- reads them. Conventions (docs: peers-and-conventions.md B.1, B.3):
--   * the first column of every relation is an integer or bigint key that is
--     unique over it (QGIS needs one; concurrent refresh too);
--   * every relation with a geometry is a table with a primary key or a
--     materialized view with a unique index: QGIS's PostGIS provider opens
--     those without a key column picked by hand (a plain view it refuses);
--   * geometry is EPSG:4326 with a type modifier, geometry(MultiPolygon, 4326),
--     so it registers in geometry_columns for every study area whatever its
--     storage CRS; lon/lat of ST_PointOnSurface for pin maps (Metabase);
--     geom_geojson_4326 / geom_wkt_simpl are simplified text copies short
--     enough for Power BI's 32,766-character text limit (see bi.simplify_4326);
--   * per-run relations carry run_id = the zoning run (result.analysis_run), also
--     in the long views whose rows come from the ratios or resilience run it read;
--   * bi.current_run and bi.county_current give the latest succeeded analysis.
-- The geometry work of a zoning run (its county rows, its dissolved zones) is
-- done once, when the run is made: bi.publish(run) writes bi.county and
-- bi.zone_map, so its cost never grows with the number of runs kept. When
-- boundaries are loaded, bi.refresh() brings county shapes and the rest along.
--
-- Re-appliable: every bi relation is dropped (without CASCADE, so views that
-- users built on top of them stop the migration instead of vanishing) and
-- created again; the published rows are rebuilt from the result tables at the
-- end; the role is created only when absent.
--
-- Privileges: the relations belong to the owner, so restore_bi reads bi
-- without any right on core, src, param, calc or result; PUBLIC's rights on
-- those schemas are revoked explicitly. Functions called inside a view are
-- checked against the querying role, so the plain views call only built-in and
-- PostGIS functions.

-- Drop the bi relations of any earlier version of this file, whatever their kind
-- (views, materialized views or tables), dependents first. The relations of
-- 082_bi_pattern.sql do not depend on these, so this file can be applied alone.
DO $drop$
DECLARE
    rel text;
    kind "char";
BEGIN
    FOREACH rel IN ARRAY ARRAY['pattern_run', 'county_current', 'county', 'county_ratio_long', 'county_indicator_long',
                               'county_dimension_long', 'indicator_weight', 'balance_class', 'zone_summary',
                               'zone_map', 'county_shape', 'current_run'] LOOP
        SELECT c.relkind INTO kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'bi' AND c.relname = rel;
        IF FOUND THEN
            EXECUTE format('DROP %s bi.%I',
                           CASE kind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, rel);
        END IF;
    END LOOP;
END $drop$;
DROP FUNCTION IF EXISTS bi.current_run_id(text);
DROP FUNCTION IF EXISTS bi.publish(integer);
DROP FUNCTION IF EXISTS bi.refresh();
DROP FUNCTION IF EXISTS bi.refresh_matview(text);
DROP FUNCTION IF EXISTS bi.refresh_shapes();
DROP FUNCTION IF EXISTS bi.refresh_current();
DROP FUNCTION IF EXISTS bi.secure_database();

-- bi.simplify_4326(geom, max_chars, tolerance): geom (in its projected storage
-- CRS, metres) simplified with ST_SimplifyPreserveTopology and transformed to
-- EPSG:4326 as a multi-geometry, for the text columns of BI tools: both its
-- GeoJSON and its WKT (6 decimals, ~0.1 m) fit in max_chars (default 30,000,
-- under Power BI's 32,766). The tolerance starts at 100 m (the 200 real
-- counties of Beijing-Tianjin-Hebei: mean ~5,600, max ~15,300 GeoJSON
-- characters, area change < 1.3 %) and doubles up to 1,600 m; a shape still too long (many islands)
-- then loses its smallest parts (the largest is always kept). Each polygon is
-- simplified alone, so neighbours may show slivers; the geom columns keep full
-- precision.
CREATE OR REPLACE FUNCTION bi.simplify_4326(
    p_geom geometry, p_max_chars integer DEFAULT 30000, p_tolerance double precision DEFAULT 100)
RETURNS geometry
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
DECLARE
    t double precision := p_tolerance;
    s geometry;
    g geometry;
    largest double precision;
    min_area double precision := 1e4;
BEGIN
    LOOP
        s := ST_SimplifyPreserveTopology(p_geom, t);
        g := ST_Multi(ST_Transform(s, 4326));
        IF length(ST_AsGeoJSON(g, 6)) <= p_max_chars AND length(ST_AsText(g, 6)) <= p_max_chars THEN
            RETURN g;
        END IF;
        EXIT WHEN t >= 16 * p_tolerance;
        t := t * 2;
    END LOOP;
    SELECT max(ST_Area(d.geom)) INTO largest FROM ST_Dump(s) d;
    LOOP
        SELECT ST_Multi(ST_Transform(ST_Collect(d.geom ORDER BY d.path), 4326)) INTO g
        FROM ST_Dump(s) d WHERE ST_Area(d.geom) >= least(min_area, largest);
        EXIT WHEN (length(ST_AsGeoJSON(g, 6)) <= p_max_chars AND length(ST_AsText(g, 6)) <= p_max_chars)
                  OR min_area >= largest;
        min_area := min_area * 4;
    END LOOP;
    RETURN g;
END $$;
COMMENT ON FUNCTION bi.simplify_4326(geometry, integer, double precision) IS
    'Simplify a projected geometry and transform it to EPSG:4326 so that its GeoJSON and WKT (6 decimals) fit in max_chars (default 30000): tolerance from 100 m doubled up to 16 times that, then the smallest parts are dropped';

-- bi.current_run: the current analysis of each study area = its latest succeeded
-- zoning run (latest finished_at, then highest run_id) with the ratios,
-- resilience and services runs it read. Study areas without one have no row.
CREATE VIEW bi.current_run AS
SELECT DISTINCT ON (a.study_area_id)
       a.study_area_id, a.name AS study_area, a.title, r.run_id, r.label, r.finished_at,
       r.ratios_run_id, r.resilience_run_id, r.services_run_id, r.pipeline_run_id,
       (SELECT max(i.run_id) FROM core.run_input i JOIN core.run p ON p.run_id = i.run_id
        WHERE i.stage = 'zoning' AND i.input_run_id = r.run_id AND p.stage = 'pattern' AND p.status = 'succeeded')
           AS pattern_run_id
FROM core.study_area a
JOIN result.analysis_run r ON r.study_area_id = a.study_area_id
ORDER BY a.study_area_id, r.finished_at DESC NULLS LAST, r.run_id DESC;
COMMENT ON VIEW bi.current_run IS 'Current analysis per study area: the latest succeeded zoning run, the ratios, resilience and services runs it read, and the latest pattern run that read it (key study_area_id)';
COMMENT ON COLUMN bi.current_run.study_area_id IS 'Study area key (unique in this view)';
COMMENT ON COLUMN bi.current_run.study_area IS 'Study area name';
COMMENT ON COLUMN bi.current_run.run_id IS 'Zoning run of the current analysis: filter the other bi views with it';
COMMENT ON COLUMN bi.current_run.finished_at IS 'When the zoning run finished (the latest one is current)';
COMMENT ON COLUMN bi.current_run.ratios_run_id IS 'Ratios (ESDR, matching, classes) run read by the zoning run';
COMMENT ON COLUMN bi.current_run.resilience_run_id IS 'Resilience run read by the zoning run';
COMMENT ON COLUMN bi.current_run.services_run_id IS 'Services (supply and demand) run behind the analysis';
COMMENT ON COLUMN bi.current_run.pipeline_run_id IS 'Pipeline run that ran the stages, if any';
COMMENT ON COLUMN bi.current_run.pattern_run_id IS 'Latest succeeded pattern run that read the zoning run (NULL: none): filter the bi.pattern_* relations with it';

-- bi.current_run_id(study area name): the zoning run of the current analysis,
-- NULL when the study area is unknown or has no succeeded zoning run.
CREATE FUNCTION bi.current_run_id(p_area text) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT run_id FROM bi.current_run WHERE study_area = p_area
$$;
COMMENT ON FUNCTION bi.current_run_id(text) IS 'Zoning run of the current analysis of a study area (by name); NULL when there is none';

-- bi.county_shape: one row per current county (core.admin_unit of level county;
-- cities, provinces and superseded boundaries are left out) with its polygon in EPSG:4326, simplified
-- GeoJSON/WKT text and a point inside it. Materialized: the boundary loader
-- refreshes it (bi.refresh()); bi.publish() does when a county is missing.
CREATE MATERIALIZED VIEW bi.county_shape AS
SELECT u.unit_id, u.study_area_id, a.name AS study_area, u.level, u.code, u.name, u.parent_code, u.province_code,
       u.area_m2 / 1e6 AS area_km2,
       g.geom,
       ST_AsGeoJSON(s.geom, 6) AS geom_geojson_4326,
       ST_AsText(s.geom, 6) AS geom_wkt_simpl,
       ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
FROM core.admin_unit u
JOIN core.study_area a ON a.study_area_id = u.study_area_id
CROSS JOIN LATERAL (SELECT ST_Multi(ST_Transform(u.geom, 4326))::geometry(MultiPolygon, 4326) AS geom) g
CROSS JOIN LATERAL (SELECT bi.simplify_4326(u.geom) AS geom) s
CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
WHERE u.level = 'county';
CREATE UNIQUE INDEX county_shape_unit_id_idx ON bi.county_shape (unit_id);
CREATE INDEX county_shape_geom_idx ON bi.county_shape USING gist (geom);
COMMENT ON MATERIALIZED VIEW bi.county_shape IS 'County polygons in EPSG:4326 with simplified GeoJSON/WKT text (< 30000 characters) and a point inside (key unit_id); refreshed when boundaries are loaded (bi.refresh())';
COMMENT ON COLUMN bi.county_shape.unit_id IS 'County key (core.admin_unit.unit_id)';
COMMENT ON COLUMN bi.county_shape.code IS 'Administrative code of the county';
COMMENT ON COLUMN bi.county_shape.area_km2 IS 'County area (km2) in the study-area CRS';
COMMENT ON COLUMN bi.county_shape.geom IS 'County polygon, full precision, EPSG:4326';
COMMENT ON COLUMN bi.county_shape.geom_geojson_4326 IS 'Simplified polygon as GeoJSON text, EPSG:4326, 6 decimals, at most 30000 characters';
COMMENT ON COLUMN bi.county_shape.geom_wkt_simpl IS 'Simplified polygon as WKT text, EPSG:4326, 6 decimals, at most 30000 characters';
COMMENT ON COLUMN bi.county_shape.lon IS 'Longitude (EPSG:4326) of a point inside the county';
COMMENT ON COLUMN bi.county_shape.lat IS 'Latitude (EPSG:4326) of a point inside the county';

-- bi.county: the wide county table of every analysis, one row per county of
-- the boundaries and zoning run: ESDR per service, CESD and its class,
-- resilience and dimension scores, zone and strategy, why values are missing,
-- geometry. A table written by bi.publish() when the zoning run is made.
CREATE TABLE bi.county (
    id                     integer PRIMARY KEY REFERENCES result.county_zone (id) ON DELETE CASCADE,
    run_id                 integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    study_area_id          integer NOT NULL,
    study_area             text NOT NULL,
    unit_id                integer NOT NULL,
    county_code            text NOT NULL,
    county_name            text,
    province_code          text,
    area_km2               double precision,
    food_supply            double precision,
    food_demand            double precision,
    food_esdr              double precision,
    food_matching          text,
    carbon_supply          double precision,
    carbon_demand          double precision,
    carbon_esdr            double precision,
    carbon_matching        text,
    water_supply           double precision,
    water_demand           double precision,
    water_esdr             double precision,
    water_matching         text,
    soil_supply            double precision,
    soil_demand            double precision,
    soil_esdr              double precision,
    soil_matching          text,
    recreation_supply      double precision,
    recreation_demand      double precision,
    recreation_esdr        double precision,
    recreation_matching    text,
    cesd                   double precision,
    balance_rank           smallint,
    balance_class          text,
    matching_type          text,
    resilience_index       double precision,
    resilience_class       text,
    resilience_level       smallint,
    resilience_level_name  text,
    d1_score               double precision,
    d2_score               double precision,
    d3_score               double precision,
    d4_score               double precision,
    d5_score               double precision,
    zone_code              text NOT NULL,
    display_code           text,
    zone_name              text,
    zone_name_zh           text,
    strategy_name          text,
    strategy               text,
    adjustment             text,
    missing_reason         text,
    lon                    double precision,
    lat                    double precision,
    geom_geojson_4326      text,
    geom                   geometry(MultiPolygon, 4326)
);
CREATE INDEX county_run_idx ON bi.county (run_id);
CREATE INDEX county_geom_idx ON bi.county USING gist (geom);
COMMENT ON TABLE bi.county IS 'One row per county of the boundaries and zoning run (key id = result.county_zone.id): supply, demand, ESDR and matching per service, CESD and its deficit/surplus class, resilience, dimension scores D1-D5, zone and strategy, why values are missing, point and polygon in EPSG:4326; written once per zoning run by bi.publish()';
COMMENT ON COLUMN bi.county.id IS 'Key: result.county_zone.id (one per county and zoning run)';
COMMENT ON COLUMN bi.county.run_id IS 'Zoning run (bi.current_run.run_id for the current analysis)';
COMMENT ON COLUMN bi.county.area_km2 IS 'County area (km2) in the study-area CRS';
COMMENT ON COLUMN bi.county.food_supply IS 'Supply of the service on the basis of the ratios run (density per km2 or total; unit in result.ratio_service); likewise carbon_, water_, soil_, recreation_';
COMMENT ON COLUMN bi.county.food_esdr IS 'Ecosystem-service supply-demand ratio (ESDR) of the service; likewise for the other services; NULL where supply or demand is missing';
COMMENT ON COLUMN bi.county.food_matching IS 'Supply-demand matching type of the service (HH, LH, LL, HL); likewise for the other services';
COMMENT ON COLUMN bi.county.cesd IS 'Comprehensive supply-demand ratio over the services (CESD)';
COMMENT ON COLUMN bi.county.balance_rank IS 'Deficit/surplus class rank of CESD (-k..k, 0 = balance)';
COMMENT ON COLUMN bi.county.balance_class IS 'Deficit/surplus class label of CESD';
COMMENT ON COLUMN bi.county.matching_type IS 'Matching type of the combined services (HH, LH, LL, HL)';
COMMENT ON COLUMN bi.county.resilience_index IS 'Ecosystem resilience index (0-1)';
COMMENT ON COLUMN bi.county.resilience_class IS 'Two-level resilience class used for zoning (H, L)';
COMMENT ON COLUMN bi.county.resilience_level IS 'Five-level resilience class (1-5)';
COMMENT ON COLUMN bi.county.d1_score IS 'Score (0-1) of resilience dimension D1; d2_score..d5_score likewise (other dimensions: bi.county_dimension_long)';
COMMENT ON COLUMN bi.county.zone_code IS 'Canonical restoration zone code (matching type - resilience class, e.g. LH-L), or the unclassified code (zoning.unclassified) when a value is missing';
COMMENT ON COLUMN bi.county.display_code IS 'Zone code as shown in maps and reports (I-1, II-2 ...)';
COMMENT ON COLUMN bi.county.adjustment IS 'merged / smoothed when a merge rule or smoothing changed the county''s zone';
COMMENT ON COLUMN bi.county.missing_reason IS 'Why the county is unclassified (which value is missing and why); NULL for a classified county';
COMMENT ON COLUMN bi.county.geom_geojson_4326 IS 'Simplified county polygon as GeoJSON text (EPSG:4326, < 30000 characters)';
COMMENT ON COLUMN bi.county.geom IS 'County polygon, EPSG:4326';

-- bi.county_current: bi.county for the current analysis of each study area.
-- Materialized (QGIS opens it by its unique index); bi.publish() refreshes it,
-- at a cost that depends on the current rows only.
CREATE MATERIALIZED VIEW bi.county_current AS
SELECT c.*
FROM bi.county c
WHERE c.run_id IN (SELECT run_id FROM bi.current_run);
CREATE UNIQUE INDEX county_current_id_idx ON bi.county_current (id);
CREATE INDEX county_current_geom_idx ON bi.county_current USING gist (geom);
COMMENT ON MATERIALIZED VIEW bi.county_current IS 'bi.county restricted to the current analysis (bi.current_run) of each study area (key id); refreshed by bi.publish()';

-- bi.county_ratio_long: supply-demand metrics in long form, one row per county,
-- service (including combined = CESD), metric and zoning run.
-- id = zoning run_id * 2^34 + result.county_ratio.id * 8 + metric ordinal (0-6).
CREATE VIEW bi.county_ratio_long AS
SELECT (ar.run_id::bigint << 34) | (r.id::bigint << 3) | m.ordinal AS id,
       ar.run_id, ar.ratios_run_id, a.name AS study_area, r.unit_id, u.code AS county_code, u.name AS county_name,
       r.service, m.metric, m.value
FROM result.analysis_run ar
JOIN core.study_area a ON a.study_area_id = ar.study_area_id
JOIN result.county_ratio r ON r.run_id = ar.ratios_run_id
JOIN core.admin_unit_version u ON u.unit_id = r.unit_id
CROSS JOIN LATERAL (VALUES
    (0, 'supply', r.supply), (1, 'demand', r.demand),
    (2, 'supply_scaled', r.supply_scaled), (3, 'demand_scaled', r.demand_scaled),
    (4, 'esdr', r.esdr), (5, 'z_supply', r.z_supply), (6, 'z_demand', r.z_demand)) AS m (ordinal, metric, value);
COMMENT ON VIEW bi.county_ratio_long IS 'Supply-demand metrics per county, service (combined = CESD) and metric (supply, demand, supply_scaled, demand_scaled, esdr, z_supply, z_demand), long form; value NULL where undefined; key id = run_id * 2^34 + county_ratio id * 8 + metric ordinal';

-- bi.county_indicator_long: resilience indicators per county, long form.
-- id = zoning run_id * 2^32 + result.county_indicator.id.
CREATE VIEW bi.county_indicator_long AS
SELECT (ar.run_id::bigint << 32) | ci.id AS id,
       ar.run_id, ar.resilience_run_id, a.name AS study_area, ci.unit_id, u.code AS county_code, u.name AS county_name,
       ci.indicator, ri.dimension, ri.name, ri.unit, ri.direction, ri.weight, ci.raw_value, ci.norm_value
FROM result.analysis_run ar
JOIN core.study_area a ON a.study_area_id = ar.study_area_id
JOIN result.county_indicator ci ON ci.run_id = ar.resilience_run_id
JOIN core.admin_unit_version u ON u.unit_id = ci.unit_id
LEFT JOIN result.run_indicator ri ON ri.run_id = ci.run_id AND ri.indicator = ci.indicator;
COMMENT ON VIEW bi.county_indicator_long IS 'Resilience indicators per county and zoning run: dimension, name, unit, direction, final weight, raw value and normalised (0-1) value; key id = run_id * 2^32 + county_indicator id';

-- bi.county_dimension_long: resilience dimension contributions and scores per
-- county (all dimension codes, not only D1-D5).
-- id = zoning run_id * 2^32 + result.county_dimension.id.
CREATE VIEW bi.county_dimension_long AS
SELECT (ar.run_id::bigint << 32) | d.id AS id,
       ar.run_id, ar.resilience_run_id, a.name AS study_area, d.unit_id, u.code AS county_code, u.name AS county_name,
       d.dimension, dn.dimension_name, d.contribution, d.score
FROM result.analysis_run ar
JOIN core.study_area a ON a.study_area_id = ar.study_area_id
JOIN result.county_dimension d ON d.run_id = ar.resilience_run_id
JOIN core.admin_unit_version u ON u.unit_id = d.unit_id
LEFT JOIN LATERAL (SELECT min(ri.dimension_name) AS dimension_name FROM result.run_indicator ri
                   WHERE ri.run_id = d.run_id AND ri.dimension = d.dimension) dn ON true;
COMMENT ON VIEW bi.county_dimension_long IS 'Resilience per county, dimension and zoning run: contribution to the index and 0-1 dimension score; key id = run_id * 2^32 + county_dimension id';

-- bi.indicator_weight: the weights table of the resilience run behind each
-- analysis: final weight and the weight of every method computed (NULL when
-- the method was not computed). id = zoning run_id * 2^32 + result.run_indicator.id.
CREATE VIEW bi.indicator_weight AS
SELECT (ar.run_id::bigint << 32) | ri.id AS id,
       ar.run_id, ar.resilience_run_id, a.name AS study_area, ri.indicator, ri.position, ri.dimension,
       ri.dimension_name, ri.name, ri.direction, ri.unit, ri.weight,
       (ri.weights ->> 'entropy')::double precision AS entropy,
       (ri.weights ->> 'critic')::double precision AS critic,
       (ri.weights ->> 'ahp')::double precision AS ahp,
       (ri.weights ->> 'manual')::double precision AS manual,
       (ri.weights ->> 'equal')::double precision AS equal,
       (ri.weights ->> 'combined')::double precision AS combined,
       ri.constant
FROM result.analysis_run ar
JOIN core.study_area a ON a.study_area_id = ar.study_area_id
JOIN result.run_indicator ri ON ri.run_id = ar.resilience_run_id;
COMMENT ON VIEW bi.indicator_weight IS 'Resilience indicator weights per zoning run: final weight and the entropy, CRITIC, AHP, manual, equal and combined weights (NULL when not computed); key id = run_id * 2^32 + run_indicator id';

-- bi.balance_class: deficit/surplus classes of the ratios run behind each
-- analysis. id = zoning run_id * 2^32 + result.balance_class.id.
CREATE VIEW bi.balance_class AS
SELECT (ar.run_id::bigint << 32) | b.id AS id,
       ar.run_id, ar.ratios_run_id, a.name AS study_area, b.level, b.service, b.rank, b.label,
       b.lower_bound, b.upper_bound, b.units, b.area_km2, b.area_share
FROM result.analysis_run ar
JOIN core.study_area a ON a.study_area_id = ar.study_area_id
JOIN result.balance_class b ON b.run_id = ar.ratios_run_id;
COMMENT ON VIEW bi.balance_class IS 'Deficit/surplus classes of ESDR/CESD per zoning run: level (county or pixel), service, rank, label, bounds, number of counties or cells, area (km2) and area share (%); key id = run_id * 2^32 + balance_class id';

-- bi.zone_summary: the zones of each analysis with their strategy and extent.
CREATE VIEW bi.zone_summary AS
SELECT z.id, z.run_id, ar.study_area_id, a.name AS study_area, z.zone_code, z.display_code,
       z.matching_type, z.resilience_class, z.name_en AS zone_name, z.name_zh AS zone_name_zh,
       z.strategy_name, z.strategy, z.classified, z.counties, z.area_km2, z.area_share
FROM result.zone z
JOIN result.analysis_run ar ON ar.run_id = z.run_id
JOIN core.study_area a ON a.study_area_id = ar.study_area_id;
COMMENT ON VIEW bi.zone_summary IS 'Restoration zones per zoning run (key id = result.zone.id): codes, names, strategy, number of counties, area (km2) and area share (%)';

-- bi.zone_map: the zones of each analysis as dissolved polygons (union of the
-- county polygons in the storage CRS, then EPSG:4326), the unclassified
-- counties included. A table written by bi.publish() when the zoning run is made.
CREATE TABLE bi.zone_map (
    id                 integer PRIMARY KEY REFERENCES result.zone (id) ON DELETE CASCADE,
    run_id             integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    study_area_id      integer NOT NULL,
    zone_code          text NOT NULL,
    display_code       text NOT NULL,
    zone_name          text,
    zone_name_zh       text,
    strategy_name      text,
    classified         boolean NOT NULL,
    counties           integer NOT NULL,
    area_km2           double precision,
    area_share         double precision,
    geom               geometry(MultiPolygon, 4326),
    geom_geojson_4326  text,
    geom_wkt_simpl     text,
    lon                double precision,
    lat                double precision
);
CREATE INDEX zone_map_run_idx ON bi.zone_map (run_id);
CREATE INDEX zone_map_geom_idx ON bi.zone_map USING gist (geom);
COMMENT ON TABLE bi.zone_map IS 'Restoration zones per zoning run as dissolved polygons in EPSG:4326 with simplified GeoJSON/WKT text and a point inside (key id = result.zone.id); classified = false for the zone of counties with missing values; written once per zoning run by bi.publish()';
COMMENT ON COLUMN bi.zone_map.id IS 'Key: result.zone.id (one per zone and zoning run)';
COMMENT ON COLUMN bi.zone_map.geom IS 'Union of the zone''s county polygons, EPSG:4326';
COMMENT ON COLUMN bi.zone_map.geom_geojson_4326 IS 'Simplified zone polygon as GeoJSON text, EPSG:4326, 6 decimals, at most 30000 characters';
COMMENT ON COLUMN bi.zone_map.geom_wkt_simpl IS 'Simplified zone polygon as WKT text, EPSG:4326, 6 decimals, at most 30000 characters';

-- bi.refresh_matview(name): refresh materialized view bi.<name> (county_shape or
-- county_current), concurrently when it is populated (readers keep the old rows
-- until commit), plainly otherwise; returns its row count and whether the
-- refresh was concurrent. county_shape follows the boundaries; county_current
-- costs the rows of the current analyses only.
CREATE FUNCTION bi.refresh_matview(p_name text, OUT row_count bigint, OUT concurrent boolean)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_name NOT IN ('county_shape', 'county_current') THEN
        RAISE EXCEPTION 'bi has no materialized view %', p_name;
    END IF;
    SELECT m.ispopulated INTO concurrent FROM pg_matviews m WHERE m.schemaname = 'bi' AND m.matviewname = p_name;
    IF concurrent THEN
        EXECUTE format('REFRESH MATERIALIZED VIEW CONCURRENTLY bi.%I', p_name);
    ELSE
        EXECUTE format('REFRESH MATERIALIZED VIEW bi.%I', p_name);
    END IF;
    EXECUTE format('SELECT count(*) FROM bi.%I', p_name) INTO row_count;
END $$;
COMMENT ON FUNCTION bi.refresh_matview(text) IS 'Refresh bi.county_shape or bi.county_current, concurrently when populated; returns its row count and whether the refresh was concurrent';

-- bi.publish(run): write the rows of succeeded zoning run p_run into bi.county
-- (one per county, from the result tables of the run and the runs it read) and
-- bi.zone_map (its zones dissolved), replacing any earlier rows of that run,
-- then refresh bi.county_current. Refreshes bi.county_shape first when one of
-- the run's counties has no shape yet. Returns the number of county rows.
-- Raises when p_run is not a succeeded zoning run.
CREATE FUNCTION bi.publish(p_run integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM result.analysis_run WHERE run_id = p_run) THEN
        RAISE EXCEPTION 'run % is not a succeeded zoning run', p_run;
    END IF;
    IF EXISTS (SELECT 1 FROM result.county_zone cz JOIN core.admin_unit u ON u.unit_id = cz.unit_id
               LEFT JOIN bi.county_shape sh ON sh.unit_id = cz.unit_id
               WHERE cz.run_id = p_run AND sh.unit_id IS NULL) THEN
        PERFORM bi.refresh_matview('county_shape');
    END IF;
    DELETE FROM bi.county WHERE run_id = p_run;
    DELETE FROM bi.zone_map WHERE run_id = p_run;
    INSERT INTO bi.county
    SELECT cz.id, cz.run_id, ar.study_area_id, a.name,
           cz.unit_id, u.code, u.name, u.province_code, u.area_m2 / 1e6,
           rt.food_supply, rt.food_demand, rt.food_esdr, rt.food_matching,
           rt.carbon_supply, rt.carbon_demand, rt.carbon_esdr, rt.carbon_matching,
           rt.water_supply, rt.water_demand, rt.water_esdr, rt.water_matching,
           rt.soil_supply, rt.soil_demand, rt.soil_esdr, rt.soil_matching,
           rt.recreation_supply, rt.recreation_demand, rt.recreation_esdr, rt.recreation_matching,
           rt.cesd, rt.balance_rank, rt.balance_class, rt.matching_type,
           re.resilience_index, re.resilience_class, re.level, re.level_name,
           dm.d1_score, dm.d2_score, dm.d3_score, dm.d4_score, dm.d5_score,
           cz.zone_code, z.display_code, z.name_en, z.name_zh, z.strategy_name, z.strategy, cz.adjustment,
           cz.missing_reason,
           coalesce(sh.lon, ST_X(old.point)), coalesce(sh.lat, ST_Y(old.point)),
           coalesce(sh.geom_geojson_4326, ST_AsGeoJSON(bi.simplify_4326(u.geom), 6)), coalesce(sh.geom, old.geom)
    FROM result.county_zone cz
    JOIN result.analysis_run ar ON ar.run_id = cz.run_id
    JOIN core.study_area a ON a.study_area_id = ar.study_area_id
    JOIN core.admin_unit_version u ON u.unit_id = cz.unit_id     -- the units the run used, current or not
    LEFT JOIN result.zone z ON z.run_id = cz.run_id AND z.zone_code = cz.zone_code
    LEFT JOIN result.county_resilience re ON re.run_id = ar.resilience_run_id AND re.unit_id = cz.unit_id
    LEFT JOIN bi.county_shape sh ON sh.unit_id = cz.unit_id
    -- a unit of superseded boundaries has no row in bi.county_shape: its shape is made here
    LEFT JOIN LATERAL (SELECT g.geom, ST_PointOnSurface(g.geom) AS point
                       FROM (SELECT ST_Multi(ST_Transform(u.geom, 4326))::geometry(MultiPolygon, 4326) AS geom) g
                       WHERE sh.unit_id IS NULL) old ON true
    CROSS JOIN LATERAL (
        SELECT max(r.supply) FILTER (WHERE r.service = 'food') AS food_supply,
               max(r.demand) FILTER (WHERE r.service = 'food') AS food_demand,
               max(r.esdr) FILTER (WHERE r.service = 'food') AS food_esdr,
               max(r.matching_type) FILTER (WHERE r.service = 'food') AS food_matching,
               max(r.supply) FILTER (WHERE r.service = 'carbon') AS carbon_supply,
               max(r.demand) FILTER (WHERE r.service = 'carbon') AS carbon_demand,
               max(r.esdr) FILTER (WHERE r.service = 'carbon') AS carbon_esdr,
               max(r.matching_type) FILTER (WHERE r.service = 'carbon') AS carbon_matching,
               max(r.supply) FILTER (WHERE r.service = 'water') AS water_supply,
               max(r.demand) FILTER (WHERE r.service = 'water') AS water_demand,
               max(r.esdr) FILTER (WHERE r.service = 'water') AS water_esdr,
               max(r.matching_type) FILTER (WHERE r.service = 'water') AS water_matching,
               max(r.supply) FILTER (WHERE r.service = 'soil') AS soil_supply,
               max(r.demand) FILTER (WHERE r.service = 'soil') AS soil_demand,
               max(r.esdr) FILTER (WHERE r.service = 'soil') AS soil_esdr,
               max(r.matching_type) FILTER (WHERE r.service = 'soil') AS soil_matching,
               max(r.supply) FILTER (WHERE r.service = 'recreation') AS recreation_supply,
               max(r.demand) FILTER (WHERE r.service = 'recreation') AS recreation_demand,
               max(r.esdr) FILTER (WHERE r.service = 'recreation') AS recreation_esdr,
               max(r.matching_type) FILTER (WHERE r.service = 'recreation') AS recreation_matching,
               max(r.esdr) FILTER (WHERE r.service = 'combined') AS cesd,
               max(r.balance_rank) FILTER (WHERE r.service = 'combined') AS balance_rank,
               max(r.balance_class) FILTER (WHERE r.service = 'combined') AS balance_class,
               max(r.matching_type) FILTER (WHERE r.service = 'combined') AS matching_type
        FROM result.county_ratio r
        WHERE r.run_id = ar.ratios_run_id AND r.unit_id = cz.unit_id) rt
    CROSS JOIN LATERAL (
        SELECT max(d.score) FILTER (WHERE d.dimension = 'D1') AS d1_score,
               max(d.score) FILTER (WHERE d.dimension = 'D2') AS d2_score,
               max(d.score) FILTER (WHERE d.dimension = 'D3') AS d3_score,
               max(d.score) FILTER (WHERE d.dimension = 'D4') AS d4_score,
               max(d.score) FILTER (WHERE d.dimension = 'D5') AS d5_score
        FROM result.county_dimension d
        WHERE d.run_id = ar.resilience_run_id AND d.unit_id = cz.unit_id) dm
    WHERE cz.run_id = p_run;
    GET DIAGNOSTICS n = ROW_COUNT;
    INSERT INTO bi.zone_map
    SELECT z.id, z.run_id, ar.study_area_id, z.zone_code, z.display_code, z.name_en, z.name_zh, z.strategy_name,
           z.classified, z.counties, z.area_km2, z.area_share,
           g.geom, ST_AsGeoJSON(s.geom, 6), ST_AsText(s.geom, 6), ST_X(p.geom), ST_Y(p.geom)
    FROM result.zone z
    JOIN result.analysis_run ar ON ar.run_id = z.run_id
    CROSS JOIN LATERAL (
        SELECT ST_Multi(ST_CollectionExtract(ST_Union(u.geom), 3)) AS geom
        FROM result.county_zone cz
        JOIN core.admin_unit_version u ON u.unit_id = cz.unit_id
        WHERE cz.run_id = z.run_id AND cz.zone_code = z.zone_code) d
    CROSS JOIN LATERAL (SELECT ST_Transform(d.geom, 4326)::geometry(MultiPolygon, 4326) AS geom) g
    CROSS JOIN LATERAL (SELECT bi.simplify_4326(d.geom) AS geom) s
    CROSS JOIN LATERAL (SELECT ST_PointOnSurface(g.geom) AS geom) p
    WHERE z.run_id = p_run;
    PERFORM bi.refresh_matview('county_current');
    RETURN n;
END $$;
COMMENT ON FUNCTION bi.publish(integer) IS 'Write the bi.county and bi.zone_map rows of a succeeded zoning run (once, when the run is made) and refresh bi.county_current; returns the number of county rows';

-- bi.refresh(): bring bi up to date after boundaries changed or after changes
-- made outside restore-db: county shapes; the zone polygons of runs whose
-- counties are gone (boundaries loaded again) are removed; every succeeded
-- zoning run with counties but no published rows is published; the current
-- analysis is refreshed. Returns each relation with its row count and whether a
-- materialized view was refreshed concurrently (NULL for tables).
CREATE FUNCTION bi.refresh() RETURNS TABLE (relation text, row_count bigint, concurrent boolean)
LANGUAGE plpgsql AS $$
DECLARE
    r integer;
BEGIN
    relation := 'bi.county_shape';
    SELECT m.row_count, m.concurrent INTO row_count, concurrent FROM bi.refresh_matview('county_shape') m;
    RETURN NEXT;
    DELETE FROM bi.zone_map m WHERE NOT EXISTS (SELECT 1 FROM bi.county c WHERE c.run_id = m.run_id);
    FOR r IN SELECT ar.run_id FROM result.analysis_run ar
             WHERE EXISTS (SELECT 1 FROM result.county_zone cz WHERE cz.run_id = ar.run_id)
               AND NOT EXISTS (SELECT 1 FROM bi.county c WHERE c.run_id = ar.run_id)
             ORDER BY ar.run_id LOOP
        PERFORM bi.publish(r);
    END LOOP;
    relation := 'bi.county';
    concurrent := NULL;
    row_count := (SELECT count(*) FROM bi.county);
    RETURN NEXT;
    relation := 'bi.zone_map';
    row_count := (SELECT count(*) FROM bi.zone_map);
    RETURN NEXT;
    relation := 'bi.county_current';
    SELECT m.row_count, m.concurrent INTO row_count, concurrent FROM bi.refresh_matview('county_current') m;
    RETURN NEXT;
END $$;
COMMENT ON FUNCTION bi.refresh() IS 'Refresh county shapes, drop the zone polygons of runs whose counties are gone, publish every succeeded zoning run not yet in bi.county / bi.zone_map, refresh the current analysis; returns each relation with its row count';

-- bi.secure_database(): the database-level rights of the BI role, which a copy
-- of the database (CREATE DATABASE ... TEMPLATE) does not inherit, so
-- restore-db calls it whenever it prepares a database: no temporary tables for
-- PUBLIC (a BI user must have nothing to write, whatever its
-- default_transaction_read_only, which a session may always change; the owner
-- and superusers keep TEMP), and CONNECT for restore_bi.
CREATE FUNCTION bi.secure_database() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- only what is not set yet: a GRANT or REVOKE rewrites the database's row, and two sessions doing so at
    -- once fail ("tuple concurrently updated")
    IF has_database_privilege('public', current_database(), 'TEMPORARY') THEN
        EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'restore_bi')
       AND NOT EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) a
                       WHERE d.datname = current_database() AND a.grantee = 'restore_bi'::regrole
                         AND a.privilege_type = 'CONNECT') THEN
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO restore_bi', current_database());
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'cannot set the rights on database % (%): only its owner can', current_database(), SQLERRM;
END $$;
COMMENT ON FUNCTION bi.secure_database() IS 'Revoke TEMPORARY on this database from PUBLIC and grant CONNECT to restore_bi (database rights are not copied with a template)';

-- Keep PUBLIC (hence restore_bi) out of every schema but bi and public.
-- PUBLIC has no default right on these schemas or their tables; functions get
-- EXECUTE for PUBLIC when created, revoked here for those that exist (schema
-- USAGE is what keeps later ones out of reach). The owner keeps every right.
REVOKE ALL ON SCHEMA core, param, src, calc, result FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA core, param, src, calc, result FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA core, param, src, calc, result FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA core, param, src, calc, result FROM PUBLIC;
REVOKE CREATE ON SCHEMA bi FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bi.refresh(), bi.refresh_matview(text), bi.publish(integer), bi.secure_database()
    FROM PUBLIC;

-- No object creation in schema public for PUBLIC (the default since
-- PostgreSQL 15; databases upgraded from older versions still grant it).
DO $public$
BEGIN
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'cannot revoke CREATE on schema public from PUBLIC (%)', SQLERRM;
END $public$;

-- restore_bi: the read-only group role of BI users (NOLOGIN; members are
-- login roles, see `restore-db db bi-user`). Roles belong to the cluster, so it
-- is created only when absent; without CREATEROLE the migration says so and
-- goes on without it. It may read every bi relation, call the bi functions but
-- those that write (publish, refresh*), and nothing else; later bi relations
-- are readable by default.
DO $role$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'restore_bi') THEN
        BEGIN
            CREATE ROLE restore_bi NOLOGIN;
            COMMENT ON ROLE restore_bi IS 'restore-db: read-only access to the bi schema (group role of BI users)';
        EXCEPTION
            WHEN insufficient_privilege THEN
                RAISE NOTICE 'cannot create role restore_bi (%): bi views are not granted to a BI role; '
                             'a role with CREATEROLE can re-apply sql/080_bi_views.sql', SQLERRM;
                RETURN;
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by another session
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO restore_bi', current_database());
    GRANT USAGE ON SCHEMA public TO restore_bi;
    GRANT USAGE ON SCHEMA bi TO restore_bi;
    GRANT SELECT ON ALL TABLES IN SCHEMA bi TO restore_bi;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA bi TO restore_bi;
    REVOKE EXECUTE ON FUNCTION bi.refresh(), bi.refresh_matview(text), bi.publish(integer), bi.secure_database()
        FROM restore_bi;
    IF to_regprocedure('bi.publish_pattern(integer)') IS NOT NULL THEN     -- 082_bi_pattern.sql applied earlier
        REVOKE EXECUTE ON FUNCTION bi.publish_pattern(integer), bi.refresh_pattern() FROM restore_bi;
    END IF;
    ALTER DEFAULT PRIVILEGES IN SCHEMA bi GRANT SELECT ON TABLES TO restore_bi;
    ALTER DEFAULT PRIVILEGES IN SCHEMA bi GRANT EXECUTE ON FUNCTIONS TO restore_bi;
END $role$;

-- Rebuild the published rows of the runs made so far (after re-applying this file).
SELECT bi.publish(run_id) FROM result.analysis_run ORDER BY run_id;
SELECT bi.secure_database();
