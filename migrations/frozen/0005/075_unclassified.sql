-- 075_unclassified.sql
-- Every county of the boundaries has a row in every county result. Where a
-- value cannot be computed it is NULL and the row says why (missing_reason);
-- a county without a matching type or a resilience class gets the
-- "unclassified" zone of the zoning settings (zoning.unclassified).

ALTER TABLE result.county_ratio ADD COLUMN missing_reason text;
COMMENT ON COLUMN result.county_ratio.missing_reason IS 'Why ESDR (or CESD) and the matching type are NULL; NULL when they have values';

ALTER TABLE result.county_indicator ADD COLUMN imputed boolean NOT NULL DEFAULT false;
ALTER TABLE result.county_indicator ADD COLUMN missing_reason text;
COMMENT ON COLUMN result.county_indicator.imputed IS 'The raw value was missing and the indicator''s median over the counties stands in for it (resilience.missing = "median")';
COMMENT ON COLUMN result.county_indicator.missing_reason IS 'Why the county has no raw value of the indicator; NULL when it has one';

ALTER TABLE result.county_resilience ADD COLUMN missing_reason text;
COMMENT ON COLUMN result.county_resilience.missing_reason IS 'Why the resilience index is NULL; NULL when it has a value';

-- An unclassified county has no matching type, resilience class or combination.
ALTER TABLE result.county_zone ALTER COLUMN matching_type DROP NOT NULL;
ALTER TABLE result.county_zone ALTER COLUMN resilience_class DROP NOT NULL;
ALTER TABLE result.county_zone ALTER COLUMN combination DROP NOT NULL;
ALTER TABLE result.county_zone ADD COLUMN missing_reason text;
COMMENT ON COLUMN result.county_zone.missing_reason IS 'Why the county is unclassified (its matching type or resilience class is missing); NULL for a classified county';

ALTER TABLE result.zone ALTER COLUMN matching_type DROP NOT NULL;
ALTER TABLE result.zone ALTER COLUMN resilience_class DROP NOT NULL;
ALTER TABLE result.zone ADD COLUMN classified boolean NOT NULL DEFAULT true;
COMMENT ON COLUMN result.zone.classified IS 'false for the zone of counties that could not be classified (zoning.unclassified)';
