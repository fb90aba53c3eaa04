-- 045_county_membership.sql
-- Which county each pixel counts for, and county sums that name what is missing
-- (docs/models/aggregation.md; domain.md 0.4).
--
-- Rule: a pixel counts for the county that holds its centre (as ST_Clip). A
-- county that holds no pixel centre (smaller than a pixel, or a sliver between
-- centres) takes from every pixel it overlaps the share = overlapped area /
-- pixel area, and that share is taken from the county holding the pixel's
-- centre; where no county holds the centre, the share is counted once, for the
-- small county. Every part of a pixel is thus counted at most once and region
-- totals are conserved.

-- The shares of a services run: one row per pixel a sub-pixel county overlaps.
CREATE TABLE result.county_share (
    run_id          integer NOT NULL REFERENCES core.run ON DELETE CASCADE,
    unit_id         integer NOT NULL REFERENCES core.admin_unit ON DELETE CASCADE,
    px_row          integer NOT NULL CHECK (px_row >= 0),
    px_col          integer NOT NULL CHECK (px_col >= 0),
    share           double precision NOT NULL CHECK (share > 0 AND share <= 1),
    centre_unit_id  integer REFERENCES core.admin_unit ON DELETE CASCADE,
    PRIMARY KEY (run_id, unit_id, px_row, px_col)
);
COMMENT ON TABLE result.county_share IS 'Pixels shared with counties that hold no pixel centre, per services run: pixel (row, col on the study grid), overlapped share of the pixel area, and the county holding the pixel centre (NULL: none)';

-- County sums count shares, so the cell count of a sub-pixel county is a fraction.
ALTER TABLE result.county_service ALTER COLUMN valid_cells TYPE double precision;
ALTER TABLE result.county_service ADD COLUMN null_reason text;
COMMENT ON COLUMN result.county_service.valid_cells IS 'Valid pixels counted for the county, shares of shared pixels included (a fraction for a county smaller than a pixel)';
COMMENT ON COLUMN result.county_service.null_reason IS 'Why total, mean and density are NULL (no valid pixel, no statistic ...); NULL when they have values';
COMMENT ON TABLE result.county_service IS 'Ecosystem-service supply and demand per county and run, one row for every county of the boundaries: total (sum of pixels), pixel mean, density per km2 of valid area; NULL with null_reason where no value can be computed';
