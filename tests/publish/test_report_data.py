"""The report's values against the bi relations, and the analyses it must still show: one without a pattern run,
one whose counties were superseded by a later boundary load. Expected values are read from the database with
psycopg; the report's numbers are read from the ``data-sort`` attributes of its tables (the full-precision value a
cell shows)."""

from __future__ import annotations

import html as html_mod
import re

import psycopg
import pytest

from restore_db.grid import studyarea
from restore_db.publish.report import build_report


def _table(page: str, key: str) -> list[list[tuple[str, str | None]]]:
    """Rows of table ``key``: per cell (text, data-sort or None)."""
    body = re.search(rf'<table id="{key}".*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r'<td([^>]*)>(.*?)</td>', row, re.S)
        rows.append([(html_mod.unescape(text), (re.search(r'data-sort="([^"]*)"', attrs) or [None, None])[1])
                     for attrs, text in cells])
    return rows


def _report(url: str, path, **kw) -> str:
    with psycopg.connect(url) as conn:
        area = studyarea.get(conn, "demo")
        build_report(conn, area, path, **kw)
    return path.read_text(encoding="utf-8")


def test_county_and_zone_values_are_those_of_bi(computed_demo, tmp_path):
    page = _report(computed_demo, tmp_path / "r.html")
    with psycopg.connect(computed_demo) as conn:
        run = conn.execute("SELECT run_id FROM bi.current_run WHERE study_area = 'demo'").fetchone()[0]
        cur = conn.execute("SELECT county_code, food_esdr, soil_esdr, cesd, resilience_index, area_km2 "
                           "FROM bi.county WHERE run_id = %s", (run,))
        expected = {r[0]: r[1:] for r in cur.fetchall()}
        shares = dict(conn.execute("SELECT coalesce(display_code, zone_code), area_share FROM bi.zone_summary "
                                   "WHERE run_id = %s", (run,)).fetchall())
    rows = _table(page, "table-counties")
    assert len(rows) == len(expected)
    # columns: code, county, province, area, ESDR food, carbon, water, soil, recreation, CESD, class, matching, resilience
    for row in rows:
        food, soil, cesd, res, area = expected[row[0][0]]
        # the cells carry the stored float8 values (str() of a float round-trips exactly)
        assert float(row[4][1]) == food and float(row[7][1]) == soil and float(row[9][1]) == cesd
        assert float(row[12][1]) == res and float(row[3][1]) == area
    zones = {r[0][0]: float(r[4][1]) for r in _table(page, "table-zones")}
    # bi.zone_summary.area_share is in percent; the report shows and sorts it as a fraction
    assert zones == pytest.approx({k: v / 100 for k, v in shares.items()}, rel=1e-12)


def test_a_run_without_pattern_is_reported_without_its_maps(computed_demo_copy, tmp_path):
    with psycopg.connect(computed_demo_copy) as conn:
        (pattern,) = conn.execute("SELECT pattern_run_id FROM bi.current_run WHERE study_area = 'demo'").fetchone()
        conn.execute("DELETE FROM core.run WHERE run_id = %s", (pattern,))
        conn.commit()
    page = _report(computed_demo_copy, tmp_path / "r.html")
    figures = re.findall(r'<figure id="([^"]+)"', page)
    assert "map-pattern" not in figures and "map-collab" not in figures and "map-zones" in figures
    assert len(figures) == 13
    assert "No pattern run has read this zoning run" in page
    assert len(_table(page, "table-counties")) == 200


def test_counties_superseded_by_a_later_boundary_load_stay_in_the_report(computed_demo_copy, tmp_path):
    with psycopg.connect(computed_demo_copy) as conn:
        # what `load boundaries --replace` does to the units it replaces (restore_db.load.boundaries._supersede)
        n = conn.execute("UPDATE core.admin_unit_version SET superseded_at = now() WHERE superseded_at IS NULL"
                         ).rowcount
        conn.commit()
    assert n > 200
    page = _report(computed_demo_copy, tmp_path / "r.html")
    assert len(_table(page, "table-counties")) == 200
    assert len(re.findall(r'<figure id="', page)) == 15
