"""The report's words in English and Chinese (``--lang en|zh``).

Zone names come from ``param.zone_type`` (``name_en`` / ``name_zh``), not from here; this catalogue holds the
report's own headings, legends and column names. :func:`text` falls back to English for a key without a Chinese
entry, so a missing translation shows English, never a key.
"""

from __future__ import annotations

LANGS = ("en", "zh")

SERVICES = ("food", "carbon", "water", "soil", "recreation")

_T: dict[str, tuple[str, str]] = {
    # document
    "title": ("Ecological restoration zoning and security pattern", "生态修复分区与生态安全格局"),
    "study_area": ("Study area", "研究区"),
    "generated": ("Generated", "生成时间"),
    "runs": ("Runs", "计算批次"),
    "contents": ("Contents", "目录"),
    "summary": ("Summary", "概要"),
    "grid": ("Grid", "栅格"),
    "crs": ("Coordinate reference system", "坐标参考系"),
    "counties": ("Counties", "县域"),
    "fact_zones": ("Zone types present", "分区类型数"),
    "fact_classified": ("Counties classified", "已分区县数"),
    "warnings": ("Warnings of the runs", "计算警告"),
    "no_warnings": ("The runs recorded no warning.", "各计算批次均无警告。"),
    "no_pattern": ("No pattern run has read this zoning run: run `restore-db compute pattern`.",
                   "尚无基于该分区结果的生态安全格局计算：请运行 `restore-db compute pattern`。"),
    # sections
    "sec_services": ("Supply and demand of ecosystem services", "生态系统服务供给与需求"),
    "sec_ratios": ("Supply–demand ratios and matching", "供需比与供需匹配"),
    "sec_resilience": ("Ecosystem resilience", "生态系统韧性"),
    "sec_zoning": ("Restoration zoning", "生态修复分区"),
    "sec_pattern": ("Ecological security pattern", "生态安全格局"),
    "sec_collab": ("Cross-boundary collaboration", "跨界协同"),
    "sec_tables": ("County table", "县域明细表"),
    "sec_rules": ("Decision rules", "决策规则"),
    "sec_settings": ("Settings and thresholds", "设置与阈值"),
    "sec_parameters": ("Parameters", "模型参数"),
    "sec_coefficients": ("Land-use coefficients", "土地利用系数"),
    "sec_zone_rule": ("Zone rule: matching type × resilience class", "分区规则：供需匹配类型 × 韧性等级"),
    "sec_thresholds": ("Thresholds applied", "所用阈值"),
    "thresholds_text": ("Class bounds of the runs; the matching lines are the mean (z-score method) or median of the "
                        "counties' values; the resilience rows give the range of index each class holds.",
                        "各计算批次的分级界值；匹配象限线为县域取值的均值（z 分数法）或中位数；韧性行给出各等级所含指数范围。"),
    "col_rule": ("Rule", "规则"),
    "col_from": ("From", "下限"),
    "col_to": ("To", "上限"),
    "sec_formulas": ("Formulas", "计算公式"),
    "sortable": ("Click a column heading to sort.", "点击列标题可排序。"),
    # services
    "food": ("Food", "粮食供给"),
    "carbon": ("Carbon", "碳固存"),
    "water": ("Water yield", "水源涵养（产水）"),
    "soil": ("Soil conservation", "土壤保持"),
    "recreation": ("Leisure and recreation", "休闲游憩"),
    "combined": ("Combined (CESD)", "综合（CESD）"),
    "supply": ("Supply", "供给"),
    "demand": ("Demand", "需求"),
    "esdr": ("ESDR", "供需比 ESDR"),
    "cesd": ("CESD", "综合供需比 CESD"),
    "deficit": ("deficit", "赤字"),
    "surplus": ("surplus", "盈余"),
    "no_value": ("no value", "无数据"),
    # maps and charts
    "map_service": ("{service}: supply, demand and ESDR per county", "{service}：县域供给、需求与供需比"),
    "map_cesd": ("CESD deficit/surplus classes", "综合供需比赤字/盈余等级"),
    "map_matching": ("Matching types of the combined services", "综合供需匹配类型"),
    "map_resilience": ("Ecosystem resilience", "生态系统韧性"),
    "map_dimensions": ("Resilience dimensions (scores 0–1)", "韧性维度得分（0–1）"),
    "map_zones": ("Restoration zones", "生态修复分区"),
    "map_pattern": ("Ecological security pattern over the zones", "生态安全格局（叠加修复分区）"),
    "map_collab": ("Collaboration units", "协同单元"),
    "chart_scatter": ("Supply and demand per county, with the quadrant lines of the matching types",
                      "县域供给与需求散点及匹配类型象限线"),
    "chart_weights": ("Weights of the resilience indicators by method", "各赋权方法下的韧性指标权重"),
    "chart_balance": ("Area shares of the deficit/surplus classes", "赤字/盈余等级面积占比"),
    "resilience_index": ("Resilience index", "韧性指数"),
    "resilience_class": ("Resilience class", "韧性等级"),
    "area_share": ("Area share", "面积占比"),
    "weight": ("Weight", "权重"),
    "final_weight": ("final", "最终"),
    "sources": ("Ecological sources", "生态源地"),
    "corridor_important": ("Important corridor", "重要廊道"),
    "corridor_general": ("General corridor", "一般廊道"),
    "corridor_area": ("Corridor area", "廊道范围"),
    "node_intersection": ("Corridor intersection", "廊道交汇节点"),
    "node_ridge": ("Ridge node", "脊线节点"),
    "node_pinch": ("Pinch-point node", "夹点节点"),
    "node_barrier": ("Barrier node", "障碍节点"),
    "pinch_points": ("Pinch points", "夹点"),
    "barriers": ("Barrier areas", "障碍区"),
    "unit": ("Unit", "单元"),
    "north": ("N", "北"),
    # matching types and classes
    "HH": ("HH high supply, high demand", "HH 高供给高需求"),
    "LH": ("LH low supply, high demand", "LH 低供给高需求"),
    "LL": ("LL low supply, low demand", "LL 低供给低需求"),
    "HL": ("HL high supply, low demand", "HL 高供给低需求"),
    "res_H": ("H high resilience", "H 高韧性"),
    "res_L": ("L low resilience", "L 低韧性"),
    # tables
    "tab_counties": ("Counties", "县域"),
    "tab_zones": ("Zones", "分区"),
    "tab_units": ("Collaboration units", "协同单元"),
    "tab_tasks": ("Restoration tasks, ranked", "生态修复任务（排序）"),
    "col_code": ("Code", "代码"),
    "col_county": ("County", "县域"),
    "col_province": ("Province", "省级代码"),
    "col_area_km2": ("Area (km²)", "面积（km²）"),
    "col_balance": ("CESD class", "CESD 等级"),
    "col_matching": ("Matching", "匹配类型"),
    "col_res_index": ("Resilience", "韧性指数"),
    "col_res_class": ("Res. class", "韧性等级"),
    "col_zone": ("Zone", "分区"),
    "col_zone_name": ("Zone name", "分区名称"),
    "col_missing": ("Why unclassified", "未分类原因"),
    "col_counties": ("Counties", "县数"),
    "col_share": ("Area share", "面积占比"),
    "col_strategy": ("Strategy", "修复策略"),
    "col_strategy_text": ("Measures", "主要措施"),
    "col_unit": ("Unit", "单元"),
    "col_members": ("Members", "成员县"),
    "col_provinces": ("Provinces", "涉及省份"),
    "col_cross_province": ("Cross-province", "跨省"),
    "col_corridors": ("Shared corridors", "共享廊道"),
    "col_joint_tasks": ("Joint tasks", "联合任务"),
    "col_rank": ("Rank", "排序"),
    "col_action": ("Action", "措施"),
    "col_corridor": ("Corridor", "廊道"),
    "col_importance": ("Importance", "重要性"),
    "col_gain": ("Gain", "收益"),
    "col_gain_share": ("Gain share", "收益占比"),
    "col_priority": ("Gain per km²", "单位面积收益"),
    "col_lead": ("Lead county", "牵头县"),
    "col_units": ("Collaboration units", "协同单元"),
    "col_joint": ("Joint", "联合"),
    "col_setting": ("Setting", "设置项"),
    "col_value": ("Value", "取值"),
    "col_default": ("Default", "默认值"),
    "col_state": ("State", "状态"),
    "col_stage": ("Stage", "阶段"),
    "state_default": ("default", "默认"),
    "state_changed": ("changed", "已修改"),
    "col_parameter": ("Parameter", "参数"),
    "col_unit_of": ("Unit", "单位"),
    "col_description": ("Description", "说明"),
    "col_source": ("Source", "来源"),
    "col_set": ("Parameter set", "参数集"),
    "col_class": ("Class", "地类"),
    "col_resilience": ("Resilience", "韧性"),
    "task_protect_pinch": ("protect the pinch point", "保护夹点"),
    "task_restore_barrier": ("restore the barrier area", "修复障碍区"),
    "task_restore_segment": ("restore the corridor segment", "修复廊道段"),
    "importance_important": ("important", "重要"),
    "importance_general": ("general", "一般"),
    "unit_cost-weighted m": ("cost-weighted m", "成本加权米"),
    # deficit/surplus classes (restore_db.stages.classify.BALANCE_LABELS) and resilience levels (LEVEL_NAMES)
    "class_high deficit": ("high deficit", "高赤字"),
    "class_medium-high deficit": ("medium-high deficit", "较高赤字"),
    "class_medium deficit": ("medium deficit", "中度赤字"),
    "class_low deficit": ("low deficit", "低赤字"),
    "class_balance": ("balance", "平衡"),
    "class_low surplus": ("low surplus", "低盈余"),
    "class_medium surplus": ("medium surplus", "中度盈余"),
    "class_medium-high surplus": ("medium-high surplus", "较高盈余"),
    "class_high surplus": ("high surplus", "高盈余"),
    "class_generic": ("{side} class {i} of {k}", "{side}第 {i} 级（共 {k} 级）"),
    "level_low": ("low", "低"),
    "level_relatively low": ("relatively low", "较低"),
    "level_medium": ("medium", "中"),
    "level_relatively high": ("relatively high", "较高"),
    "level_high": ("high", "高"),
    "adjust_merged": ("merged", "合并"),
    "adjust_smoothed": ("smoothed", "平滑"),
    # stages and weighting methods
    "stage_services": ("services", "生态系统服务"),
    "stage_ratios": ("ratios", "供需比"),
    "stage_resilience": ("resilience", "韧性"),
    "stage_zoning": ("zoning", "分区"),
    "stage_pattern": ("pattern", "生态安全格局"),
    "method_entropy": ("entropy", "熵权法"),
    "method_critic": ("CRITIC", "CRITIC 法"),
    "method_ahp": ("AHP", "层次分析法"),
    "method_manual": ("manual", "人工赋权"),
    "method_equal": ("equal", "等权"),
    "method_combined": ("combined", "组合赋权"),
    "run": ("run", "批次"),
    "runs_line": ("services {services} · ratios {ratios} · resilience {resilience} · zoning {zoning} · pattern {pattern}",
                  "生态系统服务 {services} · 供需比 {ratios} · 韧性 {resilience} · 分区 {zoning} · 生态安全格局 {pattern}"),
    "zoning_finished": ("zoning finished {when}", "分区完成于 {when}"),
    "grid_line": ("{width} × {height} cells of {size} m", "{width} × {height} 个栅格，分辨率 {size} m"),
    "more_units": ("… and {n} more (numbered on the map)", "……另有 {n} 个（见图中编号）"),
    "zone_absent": ("– (no county)", "–（无县域）"),
    "tasks_text": ("Gain: how much the corridor's least-cost distance (LCD) falls when the task is done (restoring a "
                   "barrier area or a segment), or would rise were a pinch point degraded; gain share = gain / the "
                   "corridor's LCD, which exceeds 100 % where degrading a pinch would more than double the corridor's "
                   "cost; tasks are ranked by gain share per km².",
                   "收益：完成任务后廊道最小累积阻力距离（LCD）的下降量（修复障碍区或廊道段），或夹点退化时 LCD 的上升量；"
                   "收益占比 = 收益 / 廊道 LCD，若夹点退化会使廊道成本增加一倍以上，则占比超过 100 %；"
                   "任务按单位面积收益占比排序。"),
    "unit_legend": ("Unit {no}: {n} counties ({provinces})", "单元 {no}：{n} 个县（{provinces}）"),
    "auto_default": ("default (auto → {value})", "默认（auto → {value}）"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
    "rule_text": ("A county's zone is its combined matching type (Ratios) and its two-level resilience class "
                  "(Resilience), looked up in this table; merges and smoothing (settings zoning.*) may change it "
                  "afterwards, and the county table says so in its column Adjustment.",
                  "县域分区由其综合供需匹配类型（供需比阶段）与两级韧性等级（韧性阶段）查下表确定；"
                  "合并与平滑规则（zoning.* 设置）可能随后改变分区，县域明细表的“调整”列会注明。"),
    "col_adjustment": ("Adjustment", "调整"),
    "formulas_text": ("The formulas as the project's model pages (docs/models) state them.",
                      "以下公式摘自项目模型说明（docs/models）。"),
}


def text(key: str, lang: str, **fmt) -> str:
    """The report's text ``key`` in ``lang`` ('en' or 'zh'), formatted with ``fmt``.

    Raises:
        KeyError: ``key`` is not in the catalogue (a programming error, never a user's).
    """
    en, zh = _T[key]
    out = zh if lang == "zh" and zh else en
    return out.format(**fmt) if fmt else out


def text_or(key: str, lang: str, fallback: str | None) -> str | None:
    """The text ``key`` in ``lang`` when the catalogue holds it, else ``fallback`` (a value from the database that
    has no translation, shown as it is)."""
    return text(key, lang) if key in _T else fallback


def has(key: str) -> bool:
    """Whether the catalogue holds ``key``."""
    return key in _T
