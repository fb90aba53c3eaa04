-- 040_results.sql
-- Computed layers and per-county service results, keyed by run.

-- A computed raster layer belongs to a run; source layers have run_id NULL.
ALTER TABLE core.layer ADD COLUMN run_id integer REFERENCES core.run ON DELETE CASCADE;
ALTER TABLE core.layer DROP CONSTRAINT layer_study_area_id_name_key;
ALTER TABLE core.layer ADD CONSTRAINT layer_area_name_run_key UNIQUE NULLS NOT DISTINCT (study_area_id, name, run_id);

-- Supply and demand of each service per county and run.
-- total: sum over the county's pixels (extensive quantity, unit total_unit);
-- density: total per km2 of valid pixels; mean: pixel mean of the per-pixel value.
CREATE TABLE result.county_service (
    run_id        integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    unit_id       integer NOT NULL REFERENCES core.admin_unit ON DELETE CASCADE,
    service       text NOT NULL CHECK (service IN ('food', 'carbon', 'water', 'soil', 'recreation')),
    side          text NOT NULL CHECK (side IN ('supply', 'demand')),
    layer         text NOT NULL,
    total         double precision,
    unit          text NOT NULL,
    mean          double precision,
    density_km2   double precision,
    valid_cells   bigint NOT NULL,
    PRIMARY KEY (run_id, unit_id, service, side)
);
COMMENT ON TABLE result.county_service IS 'Ecosystem-service supply and demand per county and run: total (sum of pixels), pixel mean, density per km2 of valid area';
