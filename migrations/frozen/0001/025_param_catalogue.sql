-- 025_param_catalogue.sql
-- Seed rows of the coefficient, scalar and statistics catalogues. Re-applied by
-- any revision that extends them (INSERT ... ON CONFLICT DO UPDATE).

INSERT INTO param.coefficient (name, unit, description, min_value, max_value, used_by, reference) VALUES
  ('lulc_veg',    'flag',      'vegetated class (1) uses the Budyko curve, non-vegetated (0) AET = min(Kc*ET0, P)', 0, 1, 'water_yield', 'InVEST AWY biophysical table; domain.md 3.1'),
  ('root_depth',  'mm',        'root depth (depth of 90-95 % of root biomass); ignored when lulc_veg = 0', -1, 100000, 'water_yield', 'InVEST AWY biophysical table; domain.md 3.1'),
  ('kc',          '1',         'crop / vegetation evapotranspiration coefficient (annual)', 0, 3, 'water_yield', 'InVEST AWY biophysical table; FAO-56'),
  ('c_above',     't C/ha',    'above-ground biomass carbon density', 0, 2000, 'carbon', 'InVEST carbon pools table; domain.md 2.1'),
  ('c_below',     't C/ha',    'below-ground biomass carbon density', 0, 2000, 'carbon', 'InVEST carbon pools table; domain.md 2.1'),
  ('c_soil',      't C/ha',    'soil organic carbon density', 0, 5000, 'carbon', 'InVEST carbon pools table; domain.md 2.1'),
  ('c_dead',      't C/ha',    'dead organic matter carbon density', 0, 2000, 'carbon', 'InVEST carbon pools table; domain.md 2.1'),
  ('usle_c',      '1',         'USLE cover-management factor C', 0, 1, 'soil_conservation', 'InVEST SDR biophysical table'),
  ('usle_p',      '1',         'USLE support-practice factor P', 0, 1, 'soil_conservation', 'InVEST SDR biophysical table'),
  ('csle_b',      '1',         'CSLE biological-measure factor B (fixed per class; NDVI-based when absent)', 0, 1, 'soil_conservation', 'domain.md 4.5'),
  ('csle_e',      '1',         'CSLE engineering-measure factor E', 0, 1, 'soil_conservation', 'domain.md 4.5'),
  ('csle_t',      '1',         'CSLE tillage factor T', 0, 1, 'soil_conservation', 'domain.md 4.5'),
  ('erodible',    'flag',      'class subject to water erosion (0 = water, built-up, rock: A = 0)', 0, 1, 'soil_conservation', 'domain.md 4.5'),
  ('food_yield',  't/ha',      'grain yield per hectare of the class (food supply method B)', 0, 100, 'food', 'domain.md 1.3'),
  ('rec_score',   'score 0-5', 'recreation score of the class (Burkhard-type relative scale)', 0, 5, 'recreation', 'domain.md 5.1'),
  ('resistance',  '1',         'base ecological resistance of the class', 1, 100000, 'pattern', 'domain.md 10.1'),
  ('habitat',     '0-1',       'habitat suitability of the class', 0, 1, 'habitat_quality', 'InVEST HQ sensitivity table'),
  ('lu_degree',   'grade 1-4', 'land-use degree grade (1 unused, 2 forest/grass/water, 3 cropland, 4 built-up)', 1, 4, 'resilience', 'Zhuang & Liu 1997; domain.md 7.2'),
  ('cropland',    'flag',      'class is cropland (food allocation, T factor)', 0, 1, 'food', 'domain.md 1.2'),
  ('built_up',    'flag',      'class is construction land', 0, 1, 'resilience', 'domain.md 7.2'),
  ('forest',      'flag',      'class is forest or shrub', 0, 1, 'recreation', 'domain.md 5.1'),
  ('grassland',   'flag',      'class is grassland', 0, 1, 'soil_conservation', 'domain.md 4.5'),
  ('water',       'flag',      'class is water or wetland', 0, 1, 'recreation', 'domain.md 5.1'),
  ('eco_land',    'flag',      'class is ecological land (MSPA foreground: forest, grassland, water)', 0, 1, 'pattern', 'domain.md 9.1')
ON CONFLICT (name) DO UPDATE SET unit = EXCLUDED.unit, description = EXCLUDED.description,
  min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value, used_by = EXCLUDED.used_by,
  reference = EXCLUDED.reference;

INSERT INTO param.scalar_def (name, unit, description, min_value, max_value, default_value, used_by, reference) VALUES
  ('seasonality_z', '1', 'Zhang/InVEST seasonality constant Z of omega = Z*AWC/P + 1.25', 0, 100, 5, 'water_yield', 'InVEST AWY; domain.md 3.1'),
  ('c_food', 't/(person*yr)', 'per-capita grain consumption (food-security standard 400 kg)', 0, 5, 0.4, 'food', 'domain.md 1.4'),
  ('e_pc_co2', 't CO2/(person*yr)', 'per-capita CO2 emissions (carbon demand)', 0, 100, 7.4, 'carbon', 'domain.md 2.4'),
  ('q_dom', 'L/(person*d)', 'domestic water use per person per day', 0, 2000, 150, 'water_yield', 'domain.md 3.2'),
  ('a_tol', 't/(ha*yr)', 'tolerable soil loss (SL 190-2007: 2 north, 5 south)', 0, 100, 2, 'soil_conservation', 'SL 190-2007; domain.md 4.7'),
  ('pixel_nodata_float', '1', 'nodata sentinel of float rasters', NULL, NULL, -3.4028234663852886e38, 'all', 'domain.md 0.2')
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
  ('carbon_price', 'currency/t C', 'price of a metric tonne of carbon (InVEST carbon valuation)', 0, NULL, NULL, 'carbon', 'InVEST carbon; domain.md 2.1'),
  ('discount_rate', '%/yr', 'market discount rate (percent)', -100, 100, NULL, 'carbon', 'InVEST carbon; domain.md 2.1'),
  ('rate_change', '%/yr', 'annual change in the price of carbon (percent)', -100, 100, NULL, 'carbon', 'InVEST carbon; domain.md 2.1'),
  ('lulc_bas_year', 'year', 'year of the baseline land-use map', 1900, 2200, NULL, 'carbon', 'InVEST carbon'),
  ('lulc_alt_year', 'year', 'year of the alternate land-use map', 1900, 2200, NULL, 'carbon', 'InVEST carbon'),
  ('threshold_flow_accumulation', 'cells', 'flow accumulation that defines a stream', 1, NULL, 1000, 'soil_conservation', 'InVEST SDR'),
  ('sdr_k', '1', 'Borselli k parameter', 0, NULL, 2, 'soil_conservation', 'InVEST SDR; domain.md 4.6'),
  ('sdr_ic0', '1', 'Borselli IC0 parameter', NULL, NULL, 0.5, 'soil_conservation', 'InVEST SDR; domain.md 4.6'),
  ('sdr_max', '1', 'maximum sediment delivery ratio', 0, 1, 0.8, 'soil_conservation', 'InVEST SDR; domain.md 4.6'),
  ('l_max', '1', 'upper bound of the slope-length factor L', 0, NULL, 122, 'soil_conservation', 'InVEST SDR; domain.md 4.4')
ON CONFLICT (name) DO UPDATE SET unit = EXCLUDED.unit, description = EXCLUDED.description,
  min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value, default_value = EXCLUDED.default_value,
  used_by = EXCLUDED.used_by, reference = EXCLUDED.reference;
