-- 040_results.sql
-- Per-county service results, keyed by run (computed layers: core.layer.run_id).

-- Supply and demand of each service per county and run.
-- total: sum over the county's pixels (extensive quantity, unit total_unit);
-- density: total per km2 of valid pixels; mean: pixel mean of the per-pixel value.
-- Every county of the boundaries has a row; where no value can be computed the
-- values are NULL and null_reason says why.
CREATE TABLE result.county_service (
    run_id        integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    unit_id       integer NOT NULL REFERENCES core.admin_unit_version,
    service       text NOT NULL CHECK (service IN ('food', 'carbon', 'water', 'soil', 'recreation')),
    side          text NOT NULL CHECK (side IN ('supply', 'demand')),
    layer         text NOT NULL,
    total         double precision,
    unit          text NOT NULL,
    mean          double precision,
    density_km2   double precision,
    valid_cells   double precision NOT NULL,
    null_reason   text,
    PRIMARY KEY (run_id, unit_id, service, side)
);
COMMENT ON TABLE result.county_service IS 'Ecosystem-service supply and demand per county and run, one row for every county of the boundaries: total (sum of pixels), pixel mean, density per km2 of valid area; NULL with null_reason where no value can be computed';
COMMENT ON COLUMN result.county_service.valid_cells IS 'Valid pixels counted for the county, shares of shared pixels included (a fraction for a county smaller than a pixel)';
COMMENT ON COLUMN result.county_service.null_reason IS 'Why total, mean and density are NULL (no valid pixel, no statistic ...); NULL when they have values';
