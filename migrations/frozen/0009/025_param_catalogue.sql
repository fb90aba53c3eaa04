-- 025_param_catalogue.sql
-- Seed rows of the coefficient, scalar and statistics catalogues. Re-applied by
-- any revision that extends them (INSERT ... ON CONFLICT DO UPDATE).

INSERT INTO param.coefficient (name, unit, description, min_value, max_value, used_by, reference) VALUES
  ('lulc_veg',    'flag',      'vegetated class (1) uses the Budyko curve, non-vegetated (0) AET = min(Kc*ET0, P)', 0, 1, 'water_yield', 'InVEST AWY biophysical table; docs/models/water-yield.md#supply-annual-water-yield'),
  ('root_depth',  'mm',        'root depth (depth of 90-95 % of root biomass); ignored when lulc_veg = 0', -1, 100000, 'water_yield', 'InVEST AWY biophysical table; docs/models/water-yield.md#supply-annual-water-yield'),
  ('kc',          '1',         'crop / vegetation evapotranspiration coefficient (annual)', 0, 3, 'water_yield', 'InVEST AWY biophysical table; FAO-56'),
  ('c_above',     't C/ha',    'above-ground biomass carbon density', 0, 2000, 'carbon', 'InVEST carbon pools table; docs/models/carbon.md#supply-carbon-storage'),
  ('c_below',     't C/ha',    'below-ground biomass carbon density', 0, 2000, 'carbon', 'InVEST carbon pools table; docs/models/carbon.md#supply-carbon-storage'),
  ('c_soil',      't C/ha',    'soil organic carbon density', 0, 5000, 'carbon', 'InVEST carbon pools table; docs/models/carbon.md#supply-carbon-storage'),
  ('c_dead',      't C/ha',    'dead organic matter carbon density', 0, 2000, 'carbon', 'InVEST carbon pools table; docs/models/carbon.md#supply-carbon-storage'),
  ('usle_c',      '1',         'USLE cover-management factor C', 0, 1, 'soil_conservation', 'InVEST SDR biophysical table'),
  ('usle_p',      '1',         'USLE support-practice factor P', 0, 1, 'soil_conservation', 'InVEST SDR biophysical table'),
  ('csle_b',      '1',         'CSLE biological-measure factor B (fixed per class; NDVI-based when absent)', 0, 1, 'soil_conservation', 'docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t'),
  ('csle_e',      '1',         'CSLE engineering-measure factor E', 0, 1, 'soil_conservation', 'docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t'),
  ('csle_t',      '1',         'CSLE tillage factor T', 0, 1, 'soil_conservation', 'docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t'),
  ('erodible',    'flag',      'class subject to water erosion (0 = water, built-up, rock: A = 0)', 0, 1, 'soil_conservation', 'docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t'),
  ('food_yield',  't/ha',      'grain yield per hectare of the class (food supply method B)', 0, 100, 'food', 'docs/models/food.md#method-b-class-yield'),
  ('rec_score',   'score 0-5', 'recreation score of the class (Burkhard-type relative scale)', 0, 5, 'recreation', 'docs/models/recreation.md#supply-scored-land-use-near-water-and-forest'),
  ('resistance',  '1',         'base ecological resistance of the class', 1, 100000, 'pattern', 'docs/models/README.md#pattern'),
  ('habitat',     '0-1',       'habitat suitability of the class', 0, 1, 'habitat_quality', 'InVEST HQ sensitivity table; docs/models/pattern.md#habitat-quality'),
  ('lu_degree',   'grade 1-4', 'land-use degree grade (1 unused, 2 forest/grass/water, 3 cropland, 4 built-up)', 1, 4, 'resilience', 'Zhuang & Liu 1997; docs/models/resilience.md#indicators'),
  ('cropland',    'flag',      'class is cropland (food allocation, T factor)', 0, 1, 'food', 'docs/models/food.md#method-a-grain-output-allocated-by-ndvi'),
  ('built_up',    'flag',      'class is construction land', 0, 1, 'resilience', 'docs/models/resilience.md#indicators'),
  ('forest',      'flag',      'class is forest or shrub', 0, 1, 'recreation', 'docs/models/recreation.md#supply-scored-land-use-near-water-and-forest'),
  ('grassland',   'flag',      'class is grassland', 0, 1, 'soil_conservation', 'docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t'),
  ('water',       'flag',      'class is water or wetland', 0, 1, 'recreation', 'docs/models/recreation.md#supply-scored-land-use-near-water-and-forest'),
  ('eco_land',    'flag',      'class is ecological land (MSPA foreground: forest, grassland, water)', 0, 1, 'pattern', 'docs/models/README.md#pattern'),
  ('pop_weight',  '1',         'relative population density of the class, to allocate county population to pixels (dasymetric)', 0, 1000, 'demand', 'docs/models/food.md#demand (project decision)')
ON CONFLICT (name) DO UPDATE SET unit = EXCLUDED.unit, description = EXCLUDED.description,
  min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value, used_by = EXCLUDED.used_by,
  reference = EXCLUDED.reference;

INSERT INTO param.scalar_def (name, unit, description, min_value, max_value, default_value, used_by, reference) VALUES
  ('seasonality_z', '1', 'Zhang/InVEST seasonality constant Z of omega = Z*AWC/P + 1.25', 0, 100, 5, 'water_yield', 'InVEST AWY; docs/models/water-yield.md#supply-annual-water-yield'),
  ('c_food', 't/(person*yr)', 'per-capita grain consumption (food-security standard 400 kg)', 0, 5, 0.4, 'food', 'docs/models/food.md#demand'),
  ('e_pc_co2', 't CO2/(person*yr)', 'per-capita CO2 emissions (carbon demand)', 0, 100, 7.4, 'carbon', 'docs/models/carbon.md#demand-emissions-of-the-population'),
  ('q_dom', 'L/(person*d)', 'domestic water use per person per day', 0, 2000, 150, 'water_yield', 'docs/models/water-yield.md#demand-water-use'),
  ('a_tol', 't/(ha*yr)', 'tolerable soil loss (SL 190-2007: 2 north, 5 south)', 0, 100, 2, 'soil_conservation', 'SL 190-2007; docs/models/soil-conservation.md#demand'),
  ('pixel_nodata_float', '1', 'nodata sentinel of float rasters', NULL, NULL, -3.4028234663852886e38, 'all', 'docs/models/conventions.md#nodata')
ON CONFLICT (name) DO UPDATE SET unit = EXCLUDED.unit, description = EXCLUDED.description,
  min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value, default_value = EXCLUDED.default_value,
  used_by = EXCLUDED.used_by, reference = EXCLUDED.reference;

INSERT INTO param.stat_variable (name, unit, description) VALUES
  ('population',        'persons',     'resident population'),
  ('urban_population',  'persons',     'urban resident population'),
  ('rural_population',  'persons',     'rural resident population'),
  ('households',        'households',  'number of households'),
  ('gdp',               '1e4 CNY',     'gross domestic product'),
  ('gdp_secondary',     '1e4 CNY',     'value added of the secondary sector'),
  ('grain_output',      't',           'grain output'),
  ('irrigated_area',    'ha',          'effective irrigated area'),
  ('water_use',         'm3',          'total water use'),
  ('energy_co2',        't CO2',       'CO2 emissions from energy use'),
  ('land_area',         'km2',         'administrative land area')
ON CONFLICT (name) DO UPDATE SET unit = EXCLUDED.unit, description = EXCLUDED.description;

INSERT INTO param.scalar_def (name, unit, description, min_value, max_value, default_value, used_by, reference) VALUES
  ('carbon_price', 'currency/t C', 'price of a metric tonne of carbon (InVEST carbon valuation)', 0, NULL, NULL, 'carbon', 'InVEST carbon; docs/models/carbon.md#supply-carbon-storage'),
  ('discount_rate', '%/yr', 'market discount rate (percent)', -100, 100, NULL, 'carbon', 'InVEST carbon; docs/models/carbon.md#supply-carbon-storage'),
  ('rate_change', '%/yr', 'annual change in the price of carbon (percent)', -100, 100, NULL, 'carbon', 'InVEST carbon; docs/models/carbon.md#supply-carbon-storage'),
  ('lulc_bas_year', 'year', 'year of the baseline land-use map', 1900, 2200, NULL, 'carbon', 'InVEST carbon'),
  ('lulc_alt_year', 'year', 'year of the alternate land-use map', 1900, 2200, NULL, 'carbon', 'InVEST carbon'),
  ('threshold_flow_accumulation', 'cells', 'flow accumulation that defines a stream', 1, NULL, 1000, 'soil_conservation', 'InVEST SDR'),
  ('sdr_k', '1', 'Borselli k parameter', 0, NULL, 2, 'soil_conservation', 'InVEST SDR; docs/models/soil-conservation.md#cross-check-with-invest-sdr'),
  ('sdr_ic0', '1', 'Borselli IC0 parameter', NULL, NULL, 0.5, 'soil_conservation', 'InVEST SDR; docs/models/soil-conservation.md#cross-check-with-invest-sdr'),
  ('sdr_max', '1', 'maximum sediment delivery ratio', 0, 1, 0.8, 'soil_conservation', 'InVEST SDR; docs/models/soil-conservation.md#cross-check-with-invest-sdr'),
  ('l_max', '1', 'upper bound of the slope-length factor L', 0, NULL, 122, 'soil_conservation', 'InVEST SDR; docs/models/soil-conservation.md#slope-length-and-steepness-ls')
ON CONFLICT (name) DO UPDATE SET unit = EXCLUDED.unit, description = EXCLUDED.description,
  min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value, default_value = EXCLUDED.default_value,
  used_by = EXCLUDED.used_by, reference = EXCLUDED.reference;

INSERT INTO param.scalar_def (name, unit, description, min_value, max_value, default_value, used_by, reference) VALUES
  ('q_ind', 'm3/(1e4 CNY)', 'industrial water use per 1e4 CNY of secondary-sector value added', 0, 10000, NULL, 'water_yield', 'water resources bulletins; docs/models/water-yield.md#demand-water-use'),
  ('q_irr', 'm3/ha', 'irrigation water use per hectare of irrigated land', 0, 100000, NULL, 'water_yield', 'water resources bulletins; docs/models/water-yield.md#demand-water-use'),
  ('k_const', 't*ha*h/(ha*MJ*mm)', 'soil erodibility K used everywhere when no erodibility or soil-texture layer is loaded', 0, 1, NULL, 'soil_conservation', 'docs/models/soil-conservation.md#soil-erodibility-k'),
  ('pawc_const', '1', 'plant available water content (fraction) used everywhere when no pawc layer is loaded', 0, 1, NULL, 'water_yield', 'InVEST AWY; docs/models/water-yield.md#supply-annual-water-yield'),
  ('soil_depth_const', 'mm', 'depth to the root-restricting layer used everywhere when no soil_depth layer is loaded', 0, 100000, NULL, 'water_yield', 'InVEST AWY; docs/models/water-yield.md#supply-annual-water-yield'),
  ('fvc_ndvi_soil_pct', '%', 'percentile of scene NDVI taken as bare soil (dimidiate FVC)', 0, 100, 5, 'soil_conservation', 'docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t'),
  ('fvc_ndvi_veg_pct', '%', 'percentile of scene NDVI taken as full cover (dimidiate FVC)', 0, 100, 95, 'soil_conservation', 'docs/models/soil-conservation.md#cover-and-practice-factors-b-e-t'),
  ('soil_demand_tolerance', 'flag', '1: soil demand = max(A - A_tol, 0); 0: demand = actual loss A', 0, 1, 0, 'soil_conservation', 'docs/models/soil-conservation.md#demand'),
  ('flow_routing', 'code', 'flow routing of the CSLE slope length: 1 = D8 (pyflwdir), 2 = MFD (as InVEST SDR), 3 = D8 with InVEST flat routing', 1, 3, 1, 'soil_conservation', 'docs/models/soil-conservation.md#slope-length-and-steepness-ls, docs/models/soil-conservation.md#cross-check-with-invest-sdr'),
  ('rec_w_water', '1', 'weight of the proximity-to-water bonus of recreation supply', 0, 100, 0.5, 'recreation', 'docs/models/recreation.md#supply-scored-land-use-near-water-and-forest (project decision)'),
  ('rec_d0_water', 'm', 'decay distance of the proximity-to-water bonus', 1, 1000000, 3000, 'recreation', 'docs/models/recreation.md#supply-scored-land-use-near-water-and-forest (2-5 km) (project decision)'),
  ('rec_w_forest', '1', 'weight of the proximity-to-forest bonus of recreation supply', 0, 100, 0.5, 'recreation', 'docs/models/recreation.md#supply-scored-land-use-near-water-and-forest (project decision)'),
  ('rec_d0_forest', 'm', 'decay distance of the proximity-to-forest bonus', 1, 1000000, 3000, 'recreation', 'docs/models/recreation.md#supply-scored-land-use-near-water-and-forest (2-5 km) (project decision)'),
  ('hq_half_saturation', '1', 'half-saturation constant k of habitat quality: the degradation at which quality is half the habitat suitability (> 0; degradation is 0-1)', 0, 1, NULL, 'habitat_quality', 'InVEST Habitat Quality half_saturation_constant; docs/models/pattern.md#habitat-quality')
ON CONFLICT (name) DO UPDATE SET unit = EXCLUDED.unit, description = EXCLUDED.description,
  min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value, default_value = EXCLUDED.default_value,
  used_by = EXCLUDED.used_by, reference = EXCLUDED.reference;
