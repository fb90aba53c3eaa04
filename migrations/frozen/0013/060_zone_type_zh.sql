-- Revision 0013: Chinese strategy names and measures of the zone types (param.zone_type), for reports in
-- Chinese: filled for the shipped zone types whose English strategy is still the shipped one, so a strategy a
-- user rewrote does not get the translation of the old text.
ALTER TABLE param.zone_type ADD COLUMN IF NOT EXISTS strategy_name_zh text;
ALTER TABLE param.zone_type ADD COLUMN IF NOT EXISTS strategy_zh text;
UPDATE param.zone_type SET strategy_name_zh = coalesce(strategy_name_zh, '保护与可持续利用'),
    strategy_zh = coalesce(strategy_zh, '保持供给能力；通过节水、低碳发展等提高利用效率，控制需求增长；维护绿色基础设施；生态补偿流向提供服务的周边地区。')
  WHERE zone_set = 'default' AND code = 'HH-H'
    AND strategy_name = 'Conservation and sustainable use' AND strategy = 'Keep supply capacity; cap demand growth through efficiency (water saving, low-carbon development); keep green infrastructure; eco-compensation flows to supplying neighbours.';
UPDATE param.zone_type SET strategy_name_zh = coalesce(strategy_name_zh, '保护性修复'),
    strategy_zh = coalesce(strategy_zh, '防止生态退化；加强自然保护地建设；修复供给用地中的退化斑块。')
  WHERE zone_set = 'default' AND code = 'HH-L'
    AND strategy_name = 'Protective restoration' AND strategy = 'Prevent degradation; strengthen protected areas; restore degraded patches in supplying lands.';
UPDATE param.zone_type SET strategy_name_zh = coalesce(strategy_name_zh, '优先修复'),
    strategy_zh = coalesce(strategy_zh, '开展城市生态修复和蓝绿基础设施建设，治理退化土地，削减需求，并通过区域生态补偿调入生态系统服务。')
  WHERE zone_set = 'default' AND code = 'LH-L'
    AND strategy_name = 'Priority restoration' AND strategy = 'Urban ecological restoration, blue-green infrastructure, remediation of degraded land, demand reduction, and import of services through regional compensation.';
UPDATE param.zone_type SET strategy_name_zh = coalesce(strategy_name_zh, '生态提升'),
    strategy_zh = coalesce(strategy_zh, '增加供给（城市森林、湿地、农田防护林）；优化土地利用结构；控制建设用地扩张。')
  WHERE zone_set = 'default' AND code = 'LH-H'
    AND strategy_name = 'Ecological enhancement' AND strategy = 'Increase supply (urban forests, wetlands, farmland shelterbelts); optimise the land-use structure; control the expansion of construction land.';
UPDATE param.zone_type SET strategy_name_zh = coalesce(strategy_name_zh, '综合整治'),
    strategy_zh = coalesce(strategy_zh, '水土保持，沙化和盐渍化治理，以自然恢复为主、工程措施为辅恢复植被。')
  WHERE zone_set = 'default' AND code = 'LL-L'
    AND strategy_name = 'Comprehensive improvement' AND strategy = 'Soil and water conservation, control of sand and salinisation, vegetation restoration that favours natural regeneration supported by engineering.';
UPDATE param.zone_type SET strategy_name_zh = coalesce(strategy_name_zh, '自然恢复与适度开发'),
    strategy_zh = coalesce(strategy_zh, '以自然恢复为主；提升耕地质量；适度绿色发展。')
  WHERE zone_set = 'default' AND code = 'LL-H'
    AND strategy_name = 'Natural recovery and moderate development' AND strategy = 'Mainly passive restoration; farmland quality improvement; moderate green development.';
UPDATE param.zone_type SET strategy_name_zh = coalesce(strategy_name_zh, '生态保育与服务输出'),
    strategy_zh = coalesce(strategy_zh, '严守生态保护红线；推进生态产品价值实现；获得生态补偿。')
  WHERE zone_set = 'default' AND code = 'HL-H'
    AND strategy_name = 'Ecological conservation and service export' AND strategy = 'Strict protection within ecological red lines; realise the value of ecological products; receive eco-compensation.';
UPDATE param.zone_type SET strategy_name_zh = coalesce(strategy_name_zh, '保护与定向修复'),
    strategy_zh = coalesce(strategy_zh, '保护提供服务的生态系统，修复其退化或脆弱部分。')
  WHERE zone_set = 'default' AND code = 'HL-L'
    AND strategy_name = 'Conservation with targeted restoration' AND strategy = 'Protect the supplying ecosystems and restore their degraded or fragile parts.';
COMMENT ON COLUMN param.zone_type.strategy_name_zh IS 'Strategy name in Chinese (reports in Chinese; NULL: the English one is shown)';
COMMENT ON COLUMN param.zone_type.strategy_zh IS 'Strategy measures in Chinese (reports in Chinese; NULL: the English text is shown)';
