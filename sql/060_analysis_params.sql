-- 060_analysis_params.sql
-- Editable catalogues of the analysis after the services: resilience
-- indicators (docs/models/resilience.md#indicators) and restoration zone types with their default
-- strategies (docs/models/zoning.md#overlay, docs/models/zoning.md#default-strategies). Users add, drop, disable or reweight rows
-- with plain SQL (or `restore-db load indicators`); a run snapshots the rows
-- it used, so later edits never change past results.
-- Seed rows are inserted with ON CONFLICT DO NOTHING: re-applying this file
-- never overwrites a user's edits.

-- Resilience indicators, grouped in sets (a run uses one set).
-- source_kind / source / statistic say how the raw county value is obtained:
--   landscape   source = a landscape metric of the land-use layer (shdi, pd, cohesion, contag, lpi, ...)
--   layer       source = a layer (a source layer, or a layer of the services run such as soil_loss);
--               statistic mean | sum | density (sum per km2 of valid cells) | min | max | range
--   ratio       source = 'a/b': county mean of layer a / county mean of layer b
--   class_mean  source = a land-use coefficient: area-weighted mean over the county's pixels
--   class_share source = a land-use flag coefficient: % of the county's pixels whose class has flag 1
--   service     source = 'service.side' (e.g. water.supply); statistic density | total | mean
--   county_stat source = a county statistics variable; statistic value | density (per km2 of county area)
--   sql         source = a query returning (unit_id, value); it may use %(study_area_id)s and
--               %(services_run_id)s
-- optional: when the source is absent from a study area the indicator is left
-- out with a warning in the run record (otherwise the run fails before computing).
CREATE TABLE param.indicator (
    indicator_set   text NOT NULL CHECK (indicator_set ~ '^[a-z][a-z0-9_]{0,39}$'),
    indicator       text NOT NULL CHECK (indicator ~ '^[a-z][a-z0-9_]{0,39}$'),
    dimension       text NOT NULL,
    dimension_name  text NOT NULL,
    name            text NOT NULL,
    direction       smallint NOT NULL CHECK (direction IN (-1, 1)),
    unit            text NOT NULL,
    source_kind     text NOT NULL CHECK (source_kind IN ('landscape', 'layer', 'ratio', 'class_mean', 'class_share',
                                                         'service', 'county_stat', 'sql')),
    source          text NOT NULL,
    statistic       text CHECK (statistic IN ('mean', 'sum', 'density', 'min', 'max', 'range', 'total', 'value')),
    weight          double precision CHECK (weight >= 0),
    optional        boolean NOT NULL DEFAULT false,
    enabled         boolean NOT NULL DEFAULT true,
    position        smallint NOT NULL DEFAULT 0,
    description     text,
    reference       text,
    PRIMARY KEY (indicator_set, indicator)
);
COMMENT ON TABLE param.indicator IS 'Resilience indicators by set: dimension, direction (+1 benefit, -1 cost), unit, how the county value is obtained (source_kind, source, statistic) and an optional manual weight';

INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name, direction, unit, source_kind,
                             source, statistic, optional, position, description, reference) VALUES
  ('default', 'shdi',          'D1', 'landscape structure', 'Shannon diversity (SHDI)', 1, '1', 'landscape', 'shdi', NULL, false, 1,
   'land-use diversity from class cell counts (FRAGSTATS)', 'docs/models/resilience.md#indicators, docs/models/landscape-metrics.md#metrics'),
  ('default', 'pd',            'D1', 'landscape structure', 'patch density (PD)', -1, 'patches/100 ha', 'landscape', 'pd', NULL, false, 2,
   'fragmentation: 8-connected patches per 100 ha', 'docs/models/resilience.md#indicators, docs/models/landscape-metrics.md#metrics'),
  ('default', 'cohesion',      'D1', 'landscape structure', 'patch cohesion (COHESION)', 1, '%', 'landscape', 'cohesion', NULL, false, 3,
   'physical connectedness of patches', 'docs/models/resilience.md#indicators, docs/models/landscape-metrics.md#metrics'),
  ('default', 'ndvi',          'D2', 'ecological function', 'mean NDVI', 1, '1', 'layer', 'ndvi', 'mean', true, 4,
   'vegetation vigour', 'docs/models/resilience.md#indicators'),
  ('default', 'carbon_density','D2', 'ecological function', 'carbon density', 1, 't C/ha', 'layer', 'c_storage', 'mean', false, 5,
   'carbon storage per hectare of the services run (stands in for NPP when no NPP layer is loaded)', 'docs/models/carbon.md#supply-carbon-storage, docs/models/resilience.md#indicators (project decision)'),
  ('default', 'habitat',       'D2', 'ecological function', 'habitat suitability', 1, '0-1', 'class_mean', 'habitat', NULL, false, 6,
   'area-weighted habitat suitability of the land-use classes (stands in for InVEST habitat quality)', 'docs/models/resilience.md#indicators, docs/models/resilience.md#habitat-suitability (project decision)'),
  ('default', 'precipitation', 'D3', 'climate and hydrology', 'annual precipitation', 1, 'mm/yr', 'layer', 'precipitation', 'mean', false, 7,
   'water input', 'docs/models/resilience.md#indicators'),
  ('default', 'aridity',       'D3', 'climate and hydrology', 'aridity index ET0/P', -1, '1', 'ratio', 'eto/precipitation', NULL, true, 8,
   'evaporative demand over precipitation', 'docs/models/resilience.md#indicators'),
  ('default', 'water_yield',   'D3', 'climate and hydrology', 'water-yield depth', 1, 'mm/yr', 'layer', 'wyield', 'mean', false, 9,
   'InVEST annual water yield of the services run', 'docs/models/water-yield.md#supply-annual-water-yield, docs/models/resilience.md#indicators'),
  ('default', 'relief',        'D4', 'terrain and soil', 'relief amplitude', -1, 'm', 'layer', 'dem', 'range', false, 10,
   'highest minus lowest elevation of the county', 'docs/models/resilience.md#indicators'),
  ('default', 'erosion',       'D4', 'terrain and soil', 'soil erosion modulus (CSLE)', -1, 't/(ha*yr)', 'layer', 'soil_loss', 'mean', false, 11,
   'actual soil loss A of the services run', 'docs/models/soil-conservation.md#equation, docs/models/resilience.md#indicators'),
  ('default', 'soil_organic_carbon', 'D4', 'terrain and soil', 'soil organic carbon', 1, '%', 'layer', 'soil_oc', 'mean', true, 12,
   'topsoil organic carbon content', 'docs/models/resilience.md#indicators'),
  ('default', 'population_density', 'D5', 'human disturbance', 'population density', -1, 'persons/km2', 'layer', 'population', 'density', false, 13,
   'population grid of the services run per km2', 'docs/models/resilience.md#indicators'),
  ('default', 'built_up_share', 'D5', 'human disturbance', 'construction-land share', -1, '%', 'class_share', 'built_up', NULL, false, 14,
   'share of pixels of built-up classes', 'docs/models/resilience.md#indicators'),
  ('default', 'land_use_intensity', 'D5', 'human disturbance', 'land-use intensity grade', -1, 'grade 1-4', 'class_mean', 'lu_degree', NULL, false, 15,
   'area-weighted land-use degree grade (Zhuang & Liu 1997; x100 gives their index L)', 'docs/models/resilience.md#indicators')
ON CONFLICT DO NOTHING;

-- Restoration zone types by set: the canonical code '<matching type>-<resilience class>'
-- (stable, data-independent), names and the default strategy (docs/models/zoning.md#overlay, docs/models/zoning.md#default-strategies).
-- The display code (I-1 ... IV-2) is numbered per run over the combinations that occur.
CREATE TABLE param.zone_type (
    zone_set        text NOT NULL CHECK (zone_set ~ '^[a-z][a-z0-9_]{0,39}$'),
    code            text NOT NULL CHECK (code ~ '^(HH|LH|LL|HL)-(H|L)$'),
    matching_type   text NOT NULL GENERATED ALWAYS AS (split_part(code, '-', 1)) STORED,
    resilience      text NOT NULL GENERATED ALWAYS AS (split_part(code, '-', 2)) STORED,
    roman           text NOT NULL CHECK (roman ~ '^[IVX]+$'),
    name_en         text NOT NULL,
    name_zh         text,
    strategy_name   text NOT NULL,
    strategy        text NOT NULL,
    strategy_name_zh text,
    strategy_zh     text,
    PRIMARY KEY (zone_set, code)
);
COMMENT ON TABLE param.zone_type IS 'Restoration zone types: canonical code (matching type x resilience), Roman numeral of the matching type, names and default strategy text (editable)';
COMMENT ON COLUMN param.zone_type.strategy_name_zh IS 'Strategy name in Chinese (reports in Chinese; NULL: the English one is shown)';
COMMENT ON COLUMN param.zone_type.strategy_zh IS 'Strategy measures in Chinese (reports in Chinese; NULL: the English text is shown)';

INSERT INTO param.zone_type (zone_set, code, roman, name_en, name_zh, strategy_name, strategy, strategy_name_zh, strategy_zh) VALUES
  ('default', 'HH-H', 'I',   'High supply, high demand, high resilience', '高供给高需求高韧性区', 'Conservation and sustainable use',
   'Keep supply capacity; cap demand growth through efficiency (water saving, low-carbon development); keep green infrastructure; eco-compensation flows to supplying neighbours.',
   '保护与可持续利用', '保持供给能力；通过节水、低碳发展等提高利用效率，控制需求增长；维护绿色基础设施；生态补偿流向提供服务的周边地区。'),
  ('default', 'HH-L', 'I',   'High supply, high demand, low resilience', '高供给高需求低韧性区', 'Protective restoration',
   'Prevent degradation; strengthen protected areas; restore degraded patches in supplying lands.',
   '保护性修复', '防止生态退化；加强自然保护地建设；修复供给用地中的退化斑块。'),
  ('default', 'LH-L', 'II',  'Low supply, high demand, low resilience', '低供给高需求低韧性区', 'Priority restoration',
   'Urban ecological restoration, blue-green infrastructure, remediation of degraded land, demand reduction, and import of services through regional compensation.',
   '优先修复', '开展城市生态修复和蓝绿基础设施建设，治理退化土地，削减需求，并通过区域生态补偿调入生态系统服务。'),
  ('default', 'LH-H', 'II',  'Low supply, high demand, high resilience', '低供给高需求高韧性区', 'Ecological enhancement',
   'Increase supply (urban forests, wetlands, farmland shelterbelts); optimise the land-use structure; control the expansion of construction land.',
   '生态提升', '增加供给（城市森林、湿地、农田防护林）；优化土地利用结构；控制建设用地扩张。'),
  ('default', 'LL-L', 'III', 'Low supply, low demand, low resilience', '低供给低需求低韧性区', 'Comprehensive improvement',
   'Soil and water conservation, control of sand and salinisation, vegetation restoration that favours natural regeneration supported by engineering.',
   '综合整治', '水土保持，沙化和盐渍化治理，以自然恢复为主、工程措施为辅恢复植被。'),
  ('default', 'LL-H', 'III', 'Low supply, low demand, high resilience', '低供给低需求高韧性区', 'Natural recovery and moderate development',
   'Mainly passive restoration; farmland quality improvement; moderate green development.',
   '自然恢复与适度开发', '以自然恢复为主；提升耕地质量；适度绿色发展。'),
  ('default', 'HL-H', 'IV',  'High supply, low demand, high resilience', '高供给低需求高韧性区', 'Ecological conservation and service export',
   'Strict protection within ecological red lines; realise the value of ecological products; receive eco-compensation.',
   '生态保育与服务输出', '严守生态保护红线；推进生态产品价值实现；获得生态补偿。'),
  ('default', 'HL-L', 'IV',  'High supply, low demand, low resilience', '高供给低需求低韧性区', 'Conservation with targeted restoration',
   'Protect the supplying ecosystems and restore their degraded or fragile parts.',
   '保护与定向修复', '保护提供服务的生态系统，修复其退化或脆弱部分。')
ON CONFLICT DO NOTHING;
