"""The decision rules of a report: settings with their default/changed state, parameters with unit and source,
the zone rule, and the formulas of the model pages.

Settings come from the runs themselves (``core.run.params``: the resolved settings each stage used) and are
compared with the shipped defaults (``restore_db/data/analysis.toml``), so the report states what was used, not
what the settings file says today. Formulas are the fenced blocks of the project's model pages
(``docs/models/*.md``), quoted with the heading they stand under, so the report and the documentation never
differ.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from restore_db.errors import InputError
from restore_db.resources import docs_dir
from restore_db.stages import settings as settings_mod

# stage -> the key of its table in core.run.params and in analysis.toml
SETTING_STAGES = ("ratios", "resilience", "zoning", "pattern")
# model pages quoted, in pipeline order
MODEL_PAGES = ("conventions", "food", "carbon", "water-yield", "soil-conservation", "recreation", "aggregation",
               "ratios", "resilience", "landscape-metrics", "zoning", "pattern")
_FENCE = re.compile(r"^```(\w*)\s*$")
_LIST_MAX = 24
# headings of the model pages whose blocks are test material, not rules (reference values, fixtures)
_FOR_TESTS = re.compile(r"reference test values|fixture|test values", re.IGNORECASE)


@dataclass
class Setting:
    stage: str
    key: str
    value: str
    default: str
    changed: bool


@dataclass
class Formula:
    page: str          # page title
    file: str          # docs/models/<file>
    heading: str       # the heading the block stands under
    text: str


def _flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v and key not in settings_mod.FREE_TABLES:
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def show(value: object) -> str:
    """A setting or parameter value as the report prints it (lists shortened after 24 items)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        items = ["–" if v is None else show(v) for v in value[:_LIST_MAX]]
        more = f", … ({len(value)} values)" if len(value) > _LIST_MAX else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else str(value)


def settings_table(params: dict[str, dict]) -> list[Setting]:
    """Every setting of the ratios, resilience, zoning and pattern runs, with its default and changed state.

    Args:
        params: stage -> ``core.run.params`` of that stage's run.
    Returns:
        One :class:`Setting` per leaf key (dotted, e.g. ``ratios.classes.k``), stages in pipeline order.
    """
    defaults = _flatten(settings_mod.defaults())
    out = []
    for stage in SETTING_STAGES:
        used = params.get(stage, {}).get(stage)
        if not isinstance(used, dict):
            continue
        for key, value in _flatten(used, stage).items():
            default = defaults.get(key)
            changed = key in defaults and _norm(value) != _norm(default)
            if changed and default == "auto":     # the run stores what "auto" chose: not a change by the user
                changed = False
            out.append(Setting(stage, key, show(value), show(default) if key in defaults else "", changed))
    return out


def _norm(v: object) -> object:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, list):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in v.items()}
    return v


def model_choices(params: dict[str, dict]) -> list[tuple[str, str]]:
    """How the services run computed each service (``core.run.params`` of the services run), flattened:
    [(key, value)], e.g. ``("soil.R", "annual precipitation, R = 0.0534 P^1.6548 (Zhang & Fu 2003)")``."""
    services = params.get("services", {})
    return [(k, show(v)) for k, v in _flatten(services).items() if not k.startswith("_")]


def formulas(pages: tuple[str, ...] = MODEL_PAGES, folder: Path | None = None) -> list[Formula]:
    """The fenced blocks (plain or ``text``) of the model pages, each with the heading it stands under; blocks in a
    section of test material (reference test values, fixtures) are left out.

    Raises:
        InputError: the installation has no model pages (``docs/models``).
    """
    if folder is None:
        try:
            folder = docs_dir("models")
        except FileNotFoundError as exc:
            raise InputError(f"report: {exc}; reinstall restore-db") from exc
    out = []
    for name in pages:
        path = folder / f"{name}.md"
        if not path.is_file():
            continue
        title, section, heading, block, lang = name, "", "", None, ""
        for line in path.read_text(encoding="utf-8").splitlines():
            fence = _FENCE.match(line)
            if block is None and fence:
                block, lang = [], fence.group(1)
                continue
            if block is not None:
                if line.strip() == "```":
                    if lang in ("", "text") and any(b.strip() for b in block) and not _FOR_TESTS.search(f"{section} {heading}"):
                        out.append(Formula(title, f"docs/models/{name}.md", heading, "\n".join(block)))
                    block = None
                else:
                    block.append(line)
                continue
            if line.startswith("# "):
                title = line[2:].strip()
            elif line.startswith("## "):
                section = heading = line[3:].strip()
            elif line.startswith("#"):
                heading = line.lstrip("#").strip()
    return out
