-- 060_indicator_references.sql (revision 0007)
-- The references of the seeded resilience indicators cite the project's model
-- pages (docs/models/). A reference a user has edited since is left as it is.

UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators, docs/models/landscape-metrics.md#metrics'
    WHERE indicator_set = 'default' AND indicator = 'shdi' AND reference = 'domain.md 7.2, 7.6';
UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators, docs/models/landscape-metrics.md#metrics'
    WHERE indicator_set = 'default' AND indicator = 'pd' AND reference = 'domain.md 7.2, 7.6';
UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators, docs/models/landscape-metrics.md#metrics'
    WHERE indicator_set = 'default' AND indicator = 'cohesion' AND reference = 'domain.md 7.2, 7.6';
UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators'
    WHERE indicator_set = 'default' AND indicator = 'ndvi' AND reference = 'domain.md 7.2';
UPDATE param.indicator SET reference = 'docs/models/carbon.md#supply-carbon-storage, docs/models/resilience.md#indicators (project decision)'
    WHERE indicator_set = 'default' AND indicator = 'carbon_density' AND reference = 'domain.md 2.1, 7.2 [RECON]';
UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators, docs/models/resilience.md#habitat-suitability (project decision)'
    WHERE indicator_set = 'default' AND indicator = 'habitat' AND reference = 'domain.md 7.2, 11.1 [RECON]';
UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators'
    WHERE indicator_set = 'default' AND indicator = 'precipitation' AND reference = 'domain.md 7.2';
UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators'
    WHERE indicator_set = 'default' AND indicator = 'aridity' AND reference = 'domain.md 7.2';
UPDATE param.indicator SET reference = 'docs/models/water-yield.md#supply-annual-water-yield, docs/models/resilience.md#indicators'
    WHERE indicator_set = 'default' AND indicator = 'water_yield' AND reference = 'domain.md 3.1, 7.2';
UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators'
    WHERE indicator_set = 'default' AND indicator = 'relief' AND reference = 'domain.md 7.2';
UPDATE param.indicator SET reference = 'docs/models/soil-conservation.md#equation, docs/models/resilience.md#indicators'
    WHERE indicator_set = 'default' AND indicator = 'erosion' AND reference = 'domain.md 4.1, 7.2';
UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators'
    WHERE indicator_set = 'default' AND indicator = 'soil_organic_carbon' AND reference = 'domain.md 7.2';
UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators'
    WHERE indicator_set = 'default' AND indicator = 'population_density' AND reference = 'domain.md 7.2';
UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators'
    WHERE indicator_set = 'default' AND indicator = 'built_up_share' AND reference = 'domain.md 7.2';
UPDATE param.indicator SET reference = 'docs/models/resilience.md#indicators'
    WHERE indicator_set = 'default' AND indicator = 'land_use_intensity' AND reference = 'domain.md 7.2';
