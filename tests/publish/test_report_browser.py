"""Issue 14, points 1 and 2: the report, rendered in a real browser.

The report of the computed demo is written by the real CLI, then opened by Debian's Chromium, headless. The
browser runs a probe script that this test appends to a copy of the page (the report itself is not changed): it
waits for the page to load, then records every figure (id, whether its image decoded: ``complete`` and
``naturalWidth > 0``), every table (id, headings, cells) and the order of a column after a click on its heading,
and writes them as JSON into the DOM, which ``--dump-dom`` returns. A second run takes a screenshot. Expected values
come from the database (bi relations and core tables), never from the report code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import psycopg
import pytest
from PIL import Image

from helpers import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

FIGURES = ["map-food", "map-carbon", "map-water", "map-soil", "map-recreation", "chart-scatter", "map-cesd",
           "map-matching", "chart-balance", "map-resilience", "map-dimensions", "chart-weights", "map-zones",
           "map-pattern", "map-collab"]
TABLES = ["table-zones", "table-tasks", "table-units", "table-counties", "table-zone-rule", "table-settings", "table-thresholds",
          "table-model-choices", "table-parameters", "table-coefficients"]
MAX_BYTES = 10_000_000   # the bound for the demo's report

PROBE = """
<script>
window.addEventListener("load", function () {
  var out = {figures: [], tables: {}, sorted: null};
  document.querySelectorAll("figure").forEach(function (f) {
    var img = f.querySelector("img");
    out.figures.push({id: f.id, img: !!img, complete: img ? img.complete : false,
                      width: img ? img.naturalWidth : 0, height: img ? img.naturalHeight : 0,
                      src: img ? img.getAttribute("src").slice(0, 22) : ""});
  });
  document.querySelectorAll("table").forEach(function (t) {
    out.tables[t.id] = {
      headings: Array.prototype.map.call(t.tHead.rows[0].cells, function (c) { return c.textContent; }),
      rows: Array.prototype.map.call(t.tBodies[0].rows, function (r) {
        return Array.prototype.map.call(r.cells, function (c) { return c.textContent; }); })
    };
  });
  var table = document.getElementById("table-counties");
  table.tHead.rows[0].cells[3].click();          // area: ascending
  table.tHead.rows[0].cells[3].click();          // then descending
  out.sorted = Array.prototype.map.call(table.tBodies[0].rows, function (r) { return r.cells[3].dataset.sort; });
  var pre = document.createElement("pre");
  pre.id = "probe-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def _chromium(*args: str, home: Path) -> subprocess.CompletedProcess:
    assert CHROMIUM is not None, "chromium is not installed: scripts/setup.sh installs it (apt-get install chromium)"
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         f"--user-data-dir={home / 'profile'}", "--virtual-time-budget=20000", *args],
        capture_output=True, text=True, timeout=240, env=env, stdin=subprocess.DEVNULL)


def _probe(report: Path, tmp_path: Path) -> dict:
    """Open a copy of ``report`` with the probe appended; the probe's JSON."""
    html = report.read_text(encoding="utf-8")
    probed = tmp_path / f"probed-{report.name}"
    probed.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = _chromium("--dump-dom", probed.as_uri(), home=tmp_path)
    match = re.search(r'<pre id="probe-result">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"the probe did not run in Chromium: {proc.stderr[-2000:]}"
    import html as html_mod

    return json.loads(html_mod.unescape(match.group(1)))


@pytest.fixture(scope="module")
def reports(computed_demo, tmp_path_factory):
    """The English and Chinese reports of the computed demo, written by `restore-db report`."""
    folder = tmp_path_factory.mktemp("reports")
    out = {}
    for lang in ("en", "zh"):
        path = folder / f"demo.{lang}.html"
        proc = run_cli({"RESTORE_DB_URL": computed_demo}, "report", "-a", "demo", "--lang", lang, "--out", path)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == str(path)
        out[lang] = path
    return out


def _db(url: str):
    with psycopg.connect(url) as conn:
        run, pattern = conn.execute("SELECT run_id, pattern_run_id FROM bi.current_run WHERE study_area = 'demo'"
                                    ).fetchone()
        counties = dict(conn.execute(
            """SELECT u.code, coalesce(c.display_code, c.zone_code) FROM core.admin_unit u
               JOIN core.study_area a USING (study_area_id)
               LEFT JOIN bi.county c ON c.unit_id = u.unit_id AND c.run_id = %s
               WHERE a.name = 'demo' AND u.level = 'county'""", (run,)).fetchall())
        zones = conn.execute("SELECT count(*) FROM bi.zone_summary WHERE run_id = %s", (run,)).fetchone()[0]
        tasks = conn.execute("SELECT count(*) FROM bi.pattern_task WHERE run_id = %s", (pattern,)).fetchone()[0]
        units = conn.execute("SELECT count(*) FROM bi.pattern_collab_unit WHERE run_id = %s", (pattern,)).fetchone()[0]
        zone_names = [r[0] for r in conn.execute(
            "SELECT zone_name_zh FROM bi.zone_summary WHERE run_id = %s AND zone_name_zh IS NOT NULL", (run,))]
        areas = dict(conn.execute("SELECT county_code, area_km2 FROM bi.county WHERE run_id = %s", (run,)).fetchall())
        balance_rows = conn.execute("SELECT count(*) FROM bi.balance_class WHERE run_id = %s AND level = 'county'",
                                    (run,)).fetchone()[0]
    return dict(run=run, pattern=pattern, counties=counties, zones=zones, tasks=tasks, units=units,
                zone_names=zone_names, areas=areas, balance_rows=balance_rows)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_map_chart_and_table_renders_in_chromium(computed_demo, reports, lang, tmp_path):
    db = _db(computed_demo)
    assert db["pattern"] is not None and db["tasks"] > 0 and db["units"] > 0
    probe = _probe(reports[lang], tmp_path)

    ids = [f["id"] for f in probe["figures"]]
    assert ids == FIGURES
    broken = [f for f in probe["figures"] if not (f["img"] and f["complete"] and f["width"] > 200 and f["height"] > 150)]
    assert broken == [], f"images that did not decode: {broken}"
    assert all(f["src"].startswith("data:image/png;base64") for f in probe["figures"])
    assert set(TABLES) <= set(probe["tables"])

    tables = probe["tables"]
    # every county of the boundaries has its row, with the zone the database holds
    rows = tables["table-counties"]["rows"]
    codes = [r[0] for r in rows]
    assert sorted(codes) == sorted(db["counties"])
    zone_col = tables["table-counties"]["headings"].index("Zone" if lang == "en" else "分区")
    assert {r[0]: r[zone_col] for r in rows} == db["counties"]
    assert len(tables["table-zones"]["rows"]) == db["zones"]
    assert len(tables["table-tasks"]["rows"]) == db["tasks"]
    assert len(tables["table-units"]["rows"]) == db["units"]
    assert [r[0] for r in tables["table-tasks"]["rows"]] == [str(i) for i in range(1, db["tasks"] + 1)]
    assert len(tables["table-settings"]["rows"]) > 50      # every setting of four stages
    assert len(tables["table-parameters"]["rows"]) > 10
    # the thresholds: the class bounds of bi.balance_class (county level), as many rows
    assert sum(r[0].startswith(("ESDR", "CESD", "供需比", "综合供需比")) for r in tables["table-thresholds"]["rows"]) \
        == db["balance_rows"]

    # a click on a heading sorts the column (descending after two clicks), numbers as numbers
    sorted_areas = [float(v) for v in probe["sorted"]]
    assert sorted_areas == sorted(db["areas"].values(), reverse=True)


def test_report_is_self_contained_and_small(reports):
    for lang, path in reports.items():
        html = path.read_text(encoding="utf-8")
        size = path.stat().st_size
        assert size < MAX_BYTES, f"{lang} report of the demo is {size / 1e6:.1f} MB"
        sources = re.findall(r'\bsrc="([^"]*)"', html)
        links = re.findall(r'\bhref="([^"]*)"', html)
        assert sources and all(s.startswith("data:") for s in sources), "an image or script not embedded"
        assert all(h.startswith("#") for h in links), f"links out of the page: {[h for h in links if h[:1] != '#']}"
        assert "<link" not in html and "@import" not in html


def test_chinese_report(computed_demo, reports):
    from restore_db.publish.report.figures import cjk_font

    db = _db(computed_demo)
    html = reports["zh"].read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    for heading in ("生态修复分区", "生态安全格局", "决策规则", "计算公式"):
        assert heading in html
    for name in db["zone_names"]:
        assert name in html
    assert cjk_font() is not None, "no Chinese font for the maps (scripts/setup.sh installs fonts-wqy-microhei)"
    en = reports["en"].read_text(encoding="utf-8")
    assert '<html lang="en">' in en and "Decision rules" in en


def test_decision_rules_quote_the_model_pages(reports):
    html = reports["en"].read_text(encoding="utf-8")
    zoning = (Path(__file__).resolve().parents[2] / "docs" / "models" / "zoning.md").read_text(encoding="utf-8")
    block = re.search(r"```text\n(.*?)```", zoning, re.S).group(1).strip()
    import html as html_mod

    quoted = [html_mod.unescape(p) for p in re.findall(r"<pre>(.*?)</pre>", html, re.S)]
    assert block in [q.strip() for q in quoted]
    for key in ("ratios.classes.k", "resilience.weighting", "zoning.smoothing", "pattern.circuit_solver"):
        assert f">{key}<" in html


def test_screenshot(reports, tmp_path):
    shot = tmp_path / "report.png"
    proc = _chromium(f"--screenshot={shot}", "--window-size=1280,6000", reports["en"].as_uri(), home=tmp_path)
    assert shot.exists(), proc.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape[:2] == (6000, 1280)
    non_white = (pixels < 245).any(axis=2).mean()
    assert non_white > 0.05, f"the page looks empty: {non_white:.1%} of the pixels are not white"


def test_compute_all_ends_with_the_report(computed_demo, computed_demo_home):
    reports = sorted((computed_demo_home / "reports").glob("demo-zoning-*.en.html"))
    assert len(reports) == 1
    stdout = (computed_demo_home / "compute_all.stdout").read_text(encoding="utf-8")
    assert stdout.strip().splitlines()[-1] == str(reports[0])
    with psycopg.connect(computed_demo) as conn:
        run = conn.execute("SELECT run_id FROM bi.current_run WHERE study_area = 'demo'").fetchone()[0]
    assert reports[0].name == f"demo-zoning-{run}.en.html"
