"""The decision rules of the report: settings against the shipped defaults, values as printed, and the formulas
quoted from model pages. Expected values are written by hand."""

from __future__ import annotations

import copy

from restore_db.publish.report import rules
from restore_db.stages import settings


def _params(**changes) -> dict:
    """core.run.params of four stages as the runs store them: the resolved settings of each, with ``changes``
    (dotted keys) applied."""
    cfg = copy.deepcopy(settings.defaults())
    for key, value in changes.items():
        *path, leaf = key.split(".")
        node = cfg
        for p in path:
            node = node[p]
        node[leaf] = value
    return {stage: {stage: cfg[stage]} for stage in ("ratios", "resilience", "zoning", "pattern")}


def test_a_changed_setting_is_marked_and_the_others_are_not():
    rows = {r.key: r for r in rules.settings_table(_params(**{"ratios.classes.k": 3, "zoning.smoothing": "rook"}))}
    assert rows["ratios.classes.k"].changed and rows["ratios.classes.k"].value == "3"
    assert rows["ratios.classes.k"].default == "4"
    assert rows["zoning.smoothing"].changed and rows["zoning.smoothing"].default == "none"
    assert [k for k, r in rows.items() if r.changed] == ["ratios.classes.k", "zoning.smoothing"]
    assert {r.stage for r in rows.values()} == {"ratios", "resilience", "zoning", "pattern"}


def test_numbers_equal_in_value_are_not_changes():
    # a run stores 0.0 where the defaults say 0 (TOML int vs float): the same setting
    params = _params()
    params["pattern"]["pattern"]["circuit_factor"] = 0.0
    params["ratios"]["ratios"]["classes"]["eps"] = 0.01
    assert not any(r.changed for r in rules.settings_table(params))


def test_every_leaf_setting_is_listed_once():
    rows = rules.settings_table(_params())
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys))
    assert "ratios.cesd.weights" in keys              # a free-form table is one setting
    assert "zoning.unclassified.code" in keys and "pattern.circuit_solver" in keys


def test_values_as_printed():
    assert rules.show(True) == "true" and rules.show(0.1 + 0.2) == "0.3" and rules.show(None) == ""
    assert rules.show(list(range(30))) == "[" + ", ".join(map(str, range(24))) + ", … (30 values)]"
    assert rules.show({"b": 1, "a": "区"}) == '{"a": "区", "b": 1}'


def test_formulas_are_the_plain_and_text_blocks_under_their_headings(tmp_path):
    (tmp_path / "one.md").write_text(
        "# Page one\n\nintro\n\n## First\n\n```text\nA = B + C\n```\n\n```python\nnot = 'a formula'\n```\n"
        "### Second\n\n```\nD = E / F\n  G\n```\n", encoding="utf-8")
    got = rules.formulas(("one", "absent"), folder=tmp_path)
    assert [(f.page, f.heading, f.text, f.file) for f in got] == [
        ("Page one", "First", "A = B + C", "docs/models/one.md"),
        ("Page one", "Second", "D = E / F\n  G", "docs/models/one.md")]


def test_the_shipped_model_pages_give_formulas_of_every_stage():
    pages = {f.page for f in rules.formulas()}
    assert len(pages) >= 9
    assert any("zone code = <matching type>" in f.text for f in rules.formulas())


def test_test_material_of_the_model_pages_is_not_quoted(tmp_path):
    (tmp_path / "two.md").write_text(
        "# Two\n\n## Rule\n\n```text\nX = 1\n```\n\n## Reference test values\n\n### Case 1\n\n```text\nX = 42\n```\n",
        encoding="utf-8")
    assert [f.text for f in rules.formulas(("two",), folder=tmp_path)] == ["X = 1"]


def test_what_auto_chose_is_not_a_change():
    rows = {r.key: r for r in rules.settings_table(_params(**{"pattern.mspa": "erosion"}))}
    assert settings.defaults()["pattern"]["mspa"] == "auto"
    assert not rows["pattern.mspa"].changed and rows["pattern.mspa"].value == "erosion"
