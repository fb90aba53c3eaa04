"""The analyst's cookbook of README.md: every block runs as written, as the read-only BI role, on the computed demo
(and on a copy holding a second analysis), returns the columns it promises, and returns what the result and core
tables say, each checked by a query of its own on those tables."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from helpers import run_cli

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Analyst's cookbook"
BLOCK = re.compile(r"<!-- cookbook: ([a-z0-9-]+) -->\n```sql\n(.*?)\n```", re.S)
ROUNDED = 5e-4 + 1e-9            # values rounded to 3 decimals in the blocks

# name -> the columns the block returns, in order
EXPECTED = {
    "zone-shares": ["display_code", "zone_code", "zone_name", "counties", "area_km2", "area_share"],
    "lh-low-resilience": ["county_code", "county_name", "cesd", "balance_class", "resilience_index", "display_code",
                          "strategy_name"],
    "top-deficits": ["service", "deficit_rank", "county_code", "county_name", "esdr"],
    "missing-values": ["county_code", "county_name", "display_code", "zone_name", "missing_reason"],
    "indicator-weights": ["dimension", "indicator", "name", "direction", "weight", "entropy", "critic", "ahp", "equal",
                          "combined"],
    "zone-change": ["county_code", "county_name", "old_zone", "old_display_code", "new_zone", "new_display_code",
                    "old_resilience_class", "new_resilience_class", "missing_reason"],
    "border-corridors": ["corridor_id", "importance_class", "length_km", "county_code", "county_name", "partner_code",
                         "partner_name", "collab_unit"],
    "border-units": ["corridor_id", "county_code", "county_name", "length_km", "collab_unit", "zone_code", "reason"],
    "top-tasks": ["rank", "action", "corridor_id", "per_km2", "area_km2", "county_code", "county_codes",
                  "collab_units", "joint"],
    "joint-tasks": ["rank", "action", "corridor_id", "county_code", "county_name", "collab_unit", "zone_code"],
    "pinch-per-county": ["county_code", "county_name", "pinch_areas", "area_km2", "current_max", "corridor_ids"],
    "county-partners": ["partner_code", "partner_name", "same_province", "weight", "strong", "collab_unit",
                        "shared_boundary_km", "corridor_ids", "source_ids", "complementary"],
}


def cookbook() -> dict[str, str]:
    """The cookbook blocks of README.md by name: each ```sql block of the section after its marker."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = BLOCK.findall(section)
    assert section.count("```sql") == len(blocks), "a ```sql block of the cookbook has no <!-- cookbook: name --> marker"
    names = [name for name, _ in blocks]
    assert len(names) == len(set(names)), f"cookbook names used twice: {names}"
    return dict(blocks)


def run_block(url: str, name: str) -> list[dict]:
    """Run cookbook block ``name`` as written, in a read-only transaction as the BI role; check its columns."""
    sql = cookbook()[name]
    with psycopg.connect(url, row_factory=dict_row) as conn:
        conn.read_only = True
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'restore_bi'").fetchone():
            conn.execute("SET ROLE restore_bi")        # what a BI user may read: the bi schema and nothing else
        cur = conn.execute(sql)
        columns = [d.name for d in cur.description]
        rows = cur.fetchall()
    assert columns == EXPECTED[name], name
    return rows


@pytest.fixture
def demo(computed_demo):
    """A read-only connection (as the owner) to the computed demo, for the checks on the result tables; closed after
    each test, since a database cannot be copied (computed_demo_copy) while a session is connected to it."""
    with psycopg.connect(computed_demo, row_factory=dict_row, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = on")
        yield conn


def current(conn) -> dict:
    """The current analysis of the demo from the result tables: the newest succeeded zoning run, the runs it read,
    and the newest succeeded pattern run that read it."""
    run = conn.execute(
        """SELECT ar.run_id, ar.ratios_run_id, ar.resilience_run_id FROM result.analysis_run ar
           JOIN core.study_area a ON a.study_area_id = ar.study_area_id
           WHERE a.name = 'demo' ORDER BY ar.finished_at DESC NULLS LAST, ar.run_id DESC LIMIT 1""").fetchone()
    (run["pattern"],) = conn.execute(
        """SELECT max(r.run_id) AS max FROM core.run r
           JOIN core.run_input i ON i.run_id = r.run_id AND i.stage = 'zoning' AND i.input_run_id = %s
           WHERE r.stage = 'pattern' AND r.status = 'succeeded'""", (run["run_id"],)).fetchone().values()
    assert run["pattern"] is not None
    return run


def codes(conn) -> dict[int, str]:
    return {r["unit_id"]: r["code"] for r in conn.execute("SELECT unit_id, code FROM core.admin_unit_version")}


def test_the_cookbook_is_complete():
    blocks = cookbook()
    assert len(blocks) >= 10
    missing = sorted(set(EXPECTED) - set(blocks))
    assert not missing, f"cookbook blocks missing from README.md: {missing}"
    for name, sql in blocks.items():
        assert "'demo'" in sql, f"{name}: the study area is not named"
        assert not re.search(r"\b(core|param|src|calc|result)\.", sql), f"{name}: reads outside the bi schema"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_block_runs_as_written(computed_demo, name):
    run_block(computed_demo, name)


def test_zone_shares(computed_demo, demo):
    rows = run_block(computed_demo, "zone-shares")
    zones = {r["zone_code"]: r for r in demo.execute("SELECT zone_code, display_code, counties, area_share "
                                                     "FROM result.zone WHERE run_id = %s", (current(demo)["run_id"],))}
    assert {r["zone_code"]: (r["display_code"], r["counties"]) for r in rows} == {
        z: (v["display_code"], v["counties"]) for z, v in zones.items()}
    for r in rows:
        assert float(r["area_share"]) == pytest.approx(zones[r["zone_code"]]["area_share"], abs=0.005 + 1e-9)
    (counties,) = demo.execute("SELECT count(*) FROM core.admin_unit WHERE level = 'county'").fetchone().values()
    assert sum(r["counties"] for r in rows) == counties == 200
    assert float(sum(r["area_share"] for r in rows)) == pytest.approx(100, abs=0.005 * len(rows))


def test_lh_counties_with_low_resilience(computed_demo, demo):
    rows = run_block(computed_demo, "lh-low-resilience")
    run = current(demo)
    expected = {r["code"]: r for r in demo.execute(
        """SELECT u.code, r.esdr AS cesd, s.resilience_index FROM result.county_ratio r
           JOIN result.county_resilience s ON s.run_id = %s AND s.unit_id = r.unit_id
           JOIN core.admin_unit_version u ON u.unit_id = r.unit_id
           WHERE r.run_id = %s AND r.service = 'combined' AND r.matching_type = 'LH' AND s.resilience_class = 'L'""",
        (run["resilience_run_id"], run["ratios_run_id"]))}
    assert rows and {r["county_code"] for r in rows} == set(expected)
    # lowest resilience first (the index as shown, 3 decimals), then by code
    assert rows == sorted(rows, key=lambda r: (r["resilience_index"], r["county_code"]))
    for r in rows:
        assert float(r["cesd"]) == pytest.approx(expected[r["county_code"]]["cesd"], abs=ROUNDED)
        assert float(r["resilience_index"]) == pytest.approx(expected[r["county_code"]]["resilience_index"],
                                                             abs=ROUNDED)
        assert r["display_code"].startswith("II-")                # the LH zones (no merge or smoothing by default)


def test_top_deficits_per_service(computed_demo, demo):
    rows = run_block(computed_demo, "top-deficits")
    deficits = defaultdict(list)
    for r in demo.execute("""SELECT r.service, u.code, r.esdr FROM result.county_ratio r
                             JOIN core.admin_unit_version u ON u.unit_id = r.unit_id
                             WHERE r.run_id = %s AND r.esdr < 0""", (current(demo)["ratios_run_id"],)):
        deficits[r["service"]].append((r["esdr"], r["code"]))
    expected = {s: sorted(v)[:5] for s, v in deficits.items()}
    assert {"food", "carbon", "water", "soil", "recreation", "combined"} <= set(expected)
    got = defaultdict(list)
    for r in rows:
        got[r["service"]].append(r)
    assert set(got) == set(expected)
    for service, top in expected.items():
        assert [r["county_code"] for r in got[service]] == [code for _, code in top], service
        assert [r["deficit_rank"] for r in got[service]] == list(range(1, len(top) + 1))
        for r, (esdr, _) in zip(got[service], top):
            assert float(r["esdr"]) == pytest.approx(esdr, abs=ROUNDED) and esdr < 0


def missing_expected(conn) -> dict[str, str]:
    return {r["code"]: r["missing_reason"] for r in conn.execute(
        """SELECT u.code, z.missing_reason FROM result.county_zone z
           JOIN core.admin_unit_version u ON u.unit_id = z.unit_id
           WHERE z.run_id = %s AND z.missing_reason IS NOT NULL""", (current(conn)["run_id"],))}


def test_missing_values_on_the_demo(computed_demo, demo):
    rows = run_block(computed_demo, "missing-values")
    assert {r["county_code"]: r["missing_reason"] for r in rows} == missing_expected(demo) == {}  # all are zoned


def test_indicator_weights(computed_demo, demo):
    rows = run_block(computed_demo, "indicator-weights")
    expected = {r["indicator"]: r for r in demo.execute(
        "SELECT indicator, dimension, weight, weights FROM result.run_indicator WHERE run_id = %s",
        (current(demo)["resilience_run_id"],))}
    assert len(rows) == len(expected) == 15 and {r["indicator"] for r in rows} == set(expected)
    assert [r["dimension"] for r in rows] == sorted(r["dimension"] for r in rows)
    for r in rows:
        e = expected[r["indicator"]]
        assert r["dimension"] == e["dimension"]
        assert float(r["weight"]) == pytest.approx(e["weight"], abs=5e-5 + 1e-9)
        for method in ("entropy", "critic", "ahp", "equal", "combined"):
            if e["weights"].get(method) is None:
                assert r[method] is None, method
            else:
                assert float(r[method]) == pytest.approx(e["weights"][method], abs=5e-5 + 1e-9), method
    assert float(sum(r["weight"] for r in rows)) == pytest.approx(1, abs=15 * 5e-5)
    assert all(r["entropy"] == r["weight"] for r in rows)           # entropy weights by default
    assert all(r["critic"] is not None and r["equal"] is not None for r in rows)


def border_links(conn, pattern: int) -> set[tuple[int, str, str]]:
    """(corridor, Beijing county, Hebei county) for every corridor whose path steps from one into the other."""
    code = codes(conn)
    out = set()
    for link in conn.execute("SELECT unit_a, unit_b, corridors FROM result.pattern_county_link WHERE run_id = %s",
                             (pattern,)):
        a, b = sorted((code[link["unit_a"]], code[link["unit_b"]]))
        if a[:2] == "11" and b[:2] == "13":
            out |= {(c, a, b) for c in link["corridors"]}
    return out


def test_corridors_across_the_beijing_hebei_border(computed_demo, demo):
    rows = run_block(computed_demo, "border-corridors")
    pattern = current(demo)["pattern"]
    expected = border_links(demo, pattern)
    assert expected, "the demo has corridors across the 11 | 13 border"
    assert {(r["corridor_id"], r["county_code"], r["partner_code"]) for r in rows} == expected
    code = codes(demo)
    # each path runs through both counties, and the unit holding both is the unit of each
    lengths = {(r["element_id"], code[r["unit_id"]]): r["length_m"] for r in demo.execute(
        "SELECT element_id, unit_id, length_m FROM result.pattern_crossing WHERE run_id = %s AND element = 'corridor'",
        (pattern,))}
    unit = {code[r["unit_id"]]: r["unit_no"] for r in demo.execute(
        "SELECT unit_id, unit_no FROM result.pattern_collab_member WHERE run_id = %s", (pattern,))}
    corridor = {r["corridor_id"]: r for r in demo.execute(
        "SELECT corridor_id, length_m, important FROM result.pattern_corridor WHERE run_id = %s", (pattern,))}
    for r in rows:
        assert lengths[r["corridor_id"], r["county_code"]] > 0 and lengths[r["corridor_id"], r["partner_code"]] > 0
        same = unit[r["county_code"]] == unit[r["partner_code"]] and unit[r["county_code"]] is not None
        assert r["collab_unit"] == (unit[r["county_code"]] if same else None)
        c = corridor[r["corridor_id"]]
        assert float(r["length_km"]) == pytest.approx(c["length_m"] / 1e3, abs=0.05 + 1e-9)
        assert r["importance_class"] == ("important" if c["important"] else "general")


def test_counties_and_units_sharing_the_border_corridors(computed_demo, demo):
    rows = run_block(computed_demo, "border-units")
    pattern = current(demo)["pattern"]
    corridors = {c for c, _, _ in border_links(demo, pattern)}
    code = codes(demo)
    path = defaultdict(list)
    for r in demo.execute("""SELECT element_id, unit_id, length_m, first_at FROM result.pattern_crossing
                             WHERE run_id = %s AND element = 'corridor' AND length_m > 0""", (pattern,)):
        if r["element_id"] in corridors:
            path[r["element_id"]].append((r["first_at"], code[r["unit_id"]], r["length_m"]))
    member = {code[r["unit_id"]]: r for r in demo.execute(
        "SELECT unit_id, unit_no, zone_code, reason FROM result.pattern_collab_member WHERE run_id = %s", (pattern,))}
    got = defaultdict(list)
    for r in rows:
        got[r["corridor_id"]].append(r)
    assert set(got) == corridors
    for corridor, pieces in path.items():
        assert [r["county_code"] for r in got[corridor]] == [c for _, c, _ in sorted(pieces)], corridor
        assert {c[:2] for _, c, _ in pieces} >= {"11", "13"}
        for r, (_, _, length_m) in zip(got[corridor], sorted(pieces)):
            m = member[r["county_code"]]
            assert (r["collab_unit"], r["zone_code"], r["reason"]) == (m["unit_no"], m["zone_code"], m["reason"])
            assert float(r["length_km"]) == pytest.approx(length_m / 1e3, abs=0.05 + 1e-9)


def test_top_restoration_tasks(computed_demo, demo):
    rows = run_block(computed_demo, "top-tasks")
    code = codes(demo)
    expected = demo.execute("""SELECT rank, corridor_id, priority, unit_id, counties, collab_units, joint
                               FROM result.pattern_task WHERE run_id = %s ORDER BY rank LIMIT 10""",
                            (current(demo)["pattern"],)).fetchall()
    assert len(rows) == len(expected) == 10
    for r, e in zip(rows, expected):
        assert (r["rank"], r["corridor_id"], r["county_code"], r["joint"]) == (
            e["rank"], e["corridor_id"], code.get(e["unit_id"]), e["joint"])
        assert r["county_codes"] == ",".join(code[u] for u in e["counties"])
        assert r["collab_units"] == ",".join(map(str, e["collab_units"]))
        assert r["joint"] == (len(e["collab_units"]) >= 2)
        assert float(r["per_km2"]) == pytest.approx(e["priority"], abs=5e-5 + 1e-9)
    assert [r["rank"] for r in rows] == list(range(1, 11))
    priorities = [e["priority"] for e in expected]
    assert priorities == sorted(priorities, reverse=True)              # gain per km2, highest first


def test_counties_acting_jointly(computed_demo, demo):
    rows = run_block(computed_demo, "joint-tasks")
    pattern = current(demo)["pattern"]
    code = codes(demo)
    unit = {code[r["unit_id"]]: r["unit_no"] for r in demo.execute(
        "SELECT unit_id, unit_no FROM result.pattern_collab_member WHERE run_id = %s", (pattern,))}
    expected = [(t["rank"], code[u], unit[code[u]]) for t in demo.execute(
        "SELECT rank, counties FROM result.pattern_task WHERE run_id = %s AND joint ORDER BY rank", (pattern,))
        for u in t["counties"]]
    assert expected, "the demo has joint tasks"
    assert [(r["rank"], r["county_code"], r["collab_unit"]) for r in rows] == expected
    units = defaultdict(set)
    for r in rows:
        units[r["rank"]].add(r["collab_unit"])
    assert all(len(u - {None}) >= 2 for u in units.values())      # joint: counties of two units or more


def test_pinch_points_per_county(computed_demo, demo):
    rows = run_block(computed_demo, "pinch-per-county")
    pattern = current(demo)["pattern"]
    code = codes(demo)
    expected = defaultdict(list)
    for t in demo.execute("""SELECT unit_id, corridor_id, area_m2 FROM result.pattern_task
                             WHERE run_id = %s AND kind = 'protect_pinch'""", (pattern,)):
        expected[code[t["unit_id"]]].append(t)
    assert expected, "the demo has pinch points"
    assert {r["county_code"]: r["pinch_areas"] for r in rows} == {c: len(v) for c, v in expected.items()}
    for r in rows:
        tasks = expected[r["county_code"]]
        assert r["corridor_ids"] == sorted({t["corridor_id"] for t in tasks})
        assert float(r["area_km2"]) == pytest.approx(sum(t["area_m2"] for t in tasks) / 1e6, abs=0.05 + 1e-9)
    (nodes,) = demo.execute("SELECT count(*) FROM result.pattern_node WHERE run_id = %s AND kind = 'pinch'",
                            (pattern,)).fetchone().values()
    assert sum(r["pinch_areas"] for r in rows) == nodes
    assert [r["pinch_areas"] for r in rows] == sorted((r["pinch_areas"] for r in rows), reverse=True)


def test_partners_of_a_county(computed_demo, demo):
    rows = run_block(computed_demo, "county-partners")
    pattern = current(demo)["pattern"]
    code = codes(demo)
    expected = {}
    for link in demo.execute("SELECT unit_a, unit_b, weight, strong, corridors FROM result.pattern_county_link "
                             "WHERE run_id = %s", (pattern,)):
        a, b = code[link["unit_a"]], code[link["unit_b"]]
        if "110101" in (a, b):
            expected[b if a == "110101" else a] = link
    assert expected, "county 110101 has partners on the demo"
    assert {r["partner_code"] for r in rows} == set(expected)
    for r in rows:
        e = expected[r["partner_code"]]
        assert r["strong"] == e["strong"]
        assert float(r["weight"]) == pytest.approx(e["weight"], abs=ROUNDED)
        assert r["corridor_ids"] == (",".join(map(str, e["corridors"])) or None)
        assert r["same_province"] == (r["partner_code"][:2] == "11")
    assert [float(r["weight"]) for r in rows] == sorted((float(r["weight"]) for r in rows), reverse=True)


def zone_changes(conn) -> dict[str, tuple[str, str]]:
    """Counties whose zone differs between the current zoning run of the demo and the one before it."""
    new = current(conn)["run_id"]
    (old,) = conn.execute(
        """SELECT max(ar.run_id) AS max FROM result.analysis_run ar JOIN core.study_area a USING (study_area_id)
           WHERE a.name = 'demo' AND ar.run_id < %s""", (new,)).fetchone().values()
    rows = conn.execute(
        """SELECT u.code, o.zone_code AS old, n.zone_code AS new FROM result.county_zone n
           JOIN core.admin_unit_version u ON u.unit_id = n.unit_id
           JOIN result.county_zone o ON o.run_id = %s AND o.unit_id = n.unit_id
           WHERE n.run_id = %s AND o.zone_code <> n.zone_code""", (old, new))
    return {r["code"]: (r["old"], r["new"]) for r in rows}


def test_zone_change_with_one_run(computed_demo, demo):
    assert run_block(computed_demo, "zone-change") == [] and zone_changes(demo) == {}


def test_a_second_analysis(computed_demo_copy, tmp_path):
    """A second zoning run on a copy of the demo, as a user makes it: a household density indicator from a
    statistic that county 110107 lacks, counties scored only when complete, resilience classes split at the median.
    The zone-change block lists exactly the counties whose zone differs; the missing-values block, 110107."""
    env = {"RESTORE_DB_URL": computed_demo_copy}
    with psycopg.connect(computed_demo_copy, row_factory=dict_row, autocommit=True) as conn:
        counties = [r["code"] for r in conn.execute(
            "SELECT code FROM core.admin_unit WHERE level = 'county' ORDER BY code")]
        stats = tmp_path / "households.csv"
        stats.write_text("code,households\n" + "".join(f"{c},{20000 + 37 * i}\n" for i, c in enumerate(counties)
                                                         if c != "110107"), encoding="utf-8")
        proc = run_cli(env, "load", "stats", stats, "--code-column", "code", "--year", "2020",
                       "--column", "households=households", "-a", "demo")
        assert proc.returncode == 0, proc.stderr
        conn.execute(
            """INSERT INTO param.indicator (indicator_set, indicator, dimension, dimension_name, name, direction, unit,
                                            source_kind, source, statistic, weight, optional, enabled, position)
               SELECT 'households', indicator, dimension, dimension_name, name, direction, unit, source_kind, source,
                      statistic, weight, optional, enabled, position
               FROM param.indicator WHERE indicator_set = 'default'
               UNION ALL
               SELECT 'households', 'household_density', 'D5', min(dimension_name), 'household density', -1,
                      'households/km2', 'county_stat', 'households', 'density', NULL, false, true, 16
               FROM param.indicator WHERE indicator_set = 'default' AND dimension = 'D5'""")
        before = current(conn)["run_id"]
        settings = tmp_path / "households.toml"
        settings.write_text('[resilience]\nindicator_set = "households"\nmissing = "null"\nclass_method = "median"\n',
                            encoding="utf-8")
        proc = run_cli(env, "compute", "all", "-a", "demo", "--config", settings, timeout=900)
        assert proc.returncode == 0, proc.stderr
        assert current(conn)["run_id"] > before
        expected = zone_changes(conn)
        missing = missing_expected(conn)

    rows = run_block(computed_demo_copy, "zone-change")
    assert {r["county_code"]: (r["old_zone"], r["new_zone"]) for r in rows} == expected
    assert expected.get("110107", (None, None))[1] == "unclassified"
    assert len(expected) >= 2                                         # the median moves counties too
    assert [r["county_code"] for r in rows] == sorted(expected)

    rows = run_block(computed_demo_copy, "missing-values")
    assert {r["county_code"]: r["missing_reason"] for r in rows} == missing
    assert list(missing) == ["110107"] and "households" in missing["110107"]
    assert rows[0]["display_code"] == "U"
