"""A QGIS project of a study area's current analysis, built without QGIS, as a file or stored in the database.

The project holds every geometry relation of schema ``bi`` as a layer of QGIS's ``postgres`` provider, filtered
to the study area's current analysis (``bi.current_run``: its zoning run, and the pattern run that read it) with
a provider subset string, styled, in layer groups that follow the pipeline:

1. *Counties: supply and demand* -- county outlines (``bi.county_shape``), the combined matching type and the
   matching type of each service (``bi.county``);
2. *Resilience* -- resilience class H/L (``bi.county``);
3. *Zoning* -- the restoration zones (``bi.zone_map``, dissolved) and the counties by zone (``bi.county_current``);
4. *Ecological security pattern* -- nodes by kind, pinch and barrier areas, corridors and corridor areas by
   importance, sources, restoration tasks (``bi.pattern_*``);
5. *Collaboration* -- collaboration units and county links.

The tree lists the groups in that order; points and lines are drawn above polygons (the tree's custom drawing
order). The project CRS is the layers' (EPSG:4326) and the initial extent is the study area's zones with a margin.

Colours are the fixed, colour-blind-safe ones of every restore-db map (:mod:`restore_db.publish.palette`, Paul
Tol's schemes, https://personal.sron.nl/~pault/), so the project reads like the report:

* zones: Tol's *muted* scheme, one pair of hues per matching type, the darker one for high resilience -- HH-H
  indigo #332288, HH-L cyan #88CCEE, LH-H wine #882255, LH-L rose #CC6677, LL-H olive #999933, LL-L sand #DDCC77,
  HL-H green #117733, HL-L teal #44AA99 -- and pale grey #DDDDDD for the counties left unclassified; a zone takes
  the colour of its matching type and resilience class whatever its code;
* matching types (HH, LH, LL, HL) and resilience classes (H, L): Tol's *bright* and *vibrant* colours; missing
  values pale grey;
* the pattern: sources green, corridors by importance class (important: red, 1 mm; general: orange, 0.45 mm),
  corridor areas likewise, translucent; nodes by kind (intersection circle, ridge triangle, pinch diamond, barrier
  square), pinch and barrier areas, restoration tasks by kind; collaboration units as labelled outlines, county
  links strong (black) or weak (grey).

No user name or password is stored: the datasources name host, port, database and SSL mode only, so QGIS takes
the credentials from libpq (``PGUSER``, ``PGPASSWORD``, ``~/.pgpass``, a service file) or asks for them.

The project stored in the database (:func:`store_project`) is the row of ``bi.qgis_projects`` named after the study
area; QGIS opens it with *Project > Open From > PostgreSQL* (schema ``bi``) or the URI
``postgresql://HOST:PORT?sslmode=MODE&dbname=DB&schema=bi&project=AREA``. It is derived data, written again after
each compute: a project edited in QGIS should be saved under another name.

Source: the QGIS project format as QGIS 3.22 writes and reads it (``.qgs`` XML: ``QgsProject::writeProjectFile``,
the ``renderer-v2`` / ``labeling`` elements of ``QgsVectorLayer``; ``.qgz``: a zip holding the ``.qgs``,
``QgsProjectArchive``) and its PostgreSQL project storage (``QgsPostgresProjectStorage``: table
``qgis_projects (name, metadata, content)``, metadata ``last_modified_time`` / ``last_modified_user``).
"""

from __future__ import annotations

import io
import json
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import psycopg

from restore_db.errors import InputError
from restore_db.grid.studyarea import StudyArea
from restore_db.publish import analysis, files, palette
from restore_db.store.layers import area_of

SCHEMA = "bi"
PROJECTS_TABLE = "qgis_projects"
QGIS_VERSION = "3.22.0"   # the format written; newer QGIS versions read it too

# the fixed colours of every map (restore_db.publish.palette)
ZONE_COLOURS = {tuple(code.split("-")): colour for code, colour in palette.ZONE.items()}   # (matching, resilience)
UNCLASSIFIED_COLOUR = MISSING_COLOUR = palette.UNCLASSIFIED
OUTLINE, BLACK = palette.OUTLINE, "#000000"

MATCHING = (("HH", "HH: high supply, high demand"), ("LH", "LH: low supply, high demand (deficit)"),
            ("LL", "LL: low supply, low demand"), ("HL", "HL: high supply, low demand (surplus)"))
RESILIENCE = (("H", "H: high resilience"), ("L", "L: low resilience"))
SERVICES = (("food", "food"), ("carbon", "carbon"), ("water", "water yield"), ("soil", "soil conservation"),
            ("recreation", "recreation"))
# node kinds (result.pattern_node): marker shape and colour
NODE_KINDS = (("intersection", "Intersection (strategic point)", "circle"),
              ("ridge", "Ridge (strategic point)", "triangle"),
              ("barrier", "Barrier", "square"),
              ("pinch", "Pinch point", "diamond"))
TASK_KINDS = (("restore_barrier", "Restore the barrier area", palette.BARRIER),
              ("protect_pinch", "Protect the pinch point", palette.PINCH),
              ("restore_segment", "Restore the corridor segment", palette.CORRIDOR["important"]))

GROUPS = ("Counties: supply and demand", "Resilience", "Zoning", "Ecological security pattern", "Collaboration")


@dataclass(frozen=True)
class Category:
    value: str            # "" catches NULL and every value not listed
    label: str
    props: dict


@dataclass
class Layer:
    """One layer of the project: a bi relation, its filter, style and place in the tree."""

    id: str               # unique, longer than 10 characters (QGIS replaces a shorter id with a new one)
    name: str
    group: str
    table: str
    filter_column: str    # subset: <filter_column> = <run> (or study area)
    run: str              # "zoning", "pattern" or "area"
    visible: bool
    draw_rank: int        # drawing order, lowest on top
    attr: str | None = None                       # categorized on this column; single symbol when None
    categories: list[Category] = field(default_factory=list)
    symbol: dict = field(default_factory=dict)    # the single symbol, or defaults of the categories
    label: str | None = None                      # label expression
    opacity: float = 1.0
    source: str = ""                              # the datasource, set when the project is written


@dataclass
class ProjectInfo:
    """What was written: the project's name, analysis, layers, size, and where it went."""

    name: str
    study_area: str
    zoning_run_id: int
    pattern_run_id: int | None
    layers: int
    bytes: int
    seconds: float
    target: str           # the file, or the project URI in the database

    def summary(self) -> str:
        pattern = f", pattern run {self.pattern_run_id}" if self.pattern_run_id is not None else ", no pattern run"
        return (f"{self.target}: QGIS project {self.name!r} of study area {self.study_area!r} (zoning run "
                f"{self.zoning_run_id}{pattern}), {self.layers} layers, {self.bytes:,} bytes, {self.seconds:.2f} s")


# ------------------------------------------------------------------ the analysis and the layers


def analysis_runs(conn: psycopg.Connection, area: StudyArea, zoning_run: int | None = None) -> tuple[int, int | None]:
    """(zoning run, pattern run or None) of the analysis shown: ``zoning_run`` or the study area's current one
    (:func:`restore_db.publish.analysis.resolve`).

    Raises:
        InputError: as :func:`restore_db.publish.analysis.resolve`; the zones of the run are not published in bi.
    """
    found = analysis.resolve(conn, area, zoning_run, what="QGIS project")
    zoning, pattern = found.zoning_run_id, found.pattern_run_id
    if not conn.execute("SELECT EXISTS (SELECT 1 FROM bi.zone_map WHERE run_id = %s)", (zoning,)).fetchone()[0]:
        raise InputError(f"QGIS project: zoning run {zoning} of study area {area.name!r} is not published in "
                         "schema bi: run `restore-db db refresh-views`")
    return zoning, pattern


def _fill(color: str, outline: str = "#FFFFFF", width: float = 0.2, alpha: int = 255, style: str = "solid") -> dict:
    return {"kind": "fill", "color": _rgba(color, alpha), "outline_color": _rgba(outline), "outline_width": width,
            "style": style}


def _line(color: str, width: float, alpha: int = 255, style: str = "solid") -> dict:
    return {"kind": "line", "color": _rgba(color, alpha), "width": width, "style": style}


def _marker(color: str, shape: str, size: float) -> dict:
    return {"kind": "marker", "color": _rgba(color), "shape": shape, "size": size}


def _rgba(hex_colour: str, alpha: int = 255) -> str:
    h = hex_colour.lstrip("#")
    return f"{int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha}"


def zone_categories(conn: psycopg.Connection, zoning_run_id: int) -> list[Category]:
    """The zones of a zoning run as categories of ``zone_code``: colour of their matching type and resilience class
    (Paul Tol's muted scheme), label "display code  name"; the unclassified zone pale grey."""
    cats = []
    for code, display, name, matching, resilience, classified in conn.execute(
            """SELECT zone_code, display_code, zone_name, matching_type, resilience_class, classified
               FROM bi.zone_summary WHERE run_id = %s ORDER BY classified DESC, display_code, zone_code""",
            (zoning_run_id,)).fetchall():
        colour = ZONE_COLOURS.get((matching, resilience), UNCLASSIFIED_COLOUR) if classified else UNCLASSIFIED_COLOUR
        cats.append(Category(code, f"{display}  {name or code}", _fill(colour)))
    return cats


def _matching_categories() -> list[Category]:
    return [Category(v, label, _fill(palette.MATCHING[v])) for v, label in MATCHING] + [
        Category("", "no value (see missing_reason)", _fill(MISSING_COLOUR))]


def layers_of(conn: psycopg.Connection, zoning_run_id: int, pattern_run_id: int | None) -> list[Layer]:
    """The layers of the project, in tree order (the pattern groups only with a pattern run)."""
    counties, resilience, zoning, pattern, collab = GROUPS
    out = [
        Layer("county_outlines", "Counties", counties, "county_shape", "study_area_id", "area", True, 20,
              symbol=_fill(BLACK, outline=OUTLINE, width=0.15, alpha=0, style="no")),
        Layer("matching_type_cesd", "Matching type (CESD, all services)", counties, "county", "run_id", "zoning", False,
              90, attr="matching_type", categories=_matching_categories()),
    ]
    for service, title in SERVICES:
        out.append(Layer(f"{service}_matching", f"Matching type: {title}", counties, "county", "run_id", "zoning",
                         False, 91, attr=f"{service}_matching", categories=_matching_categories()))
    out += [
        Layer("resilience_class", "Resilience class", resilience, "county", "run_id", "zoning", False, 80,
              attr="resilience_class",
              categories=[Category(v, label, _fill(palette.RESILIENCE[v])) for v, label in RESILIENCE]
              + [Category("", "no value (see missing_reason)", _fill(MISSING_COLOUR))]),
        Layer("restoration_zones", "Restoration zones", zoning, "zone_map", "run_id", "zoning", True, 70, attr="zone_code",
              categories=zone_categories(conn, zoning_run_id), label='"display_code"'),
        Layer("counties_by_zone", "Counties by zone", zoning, "county_current", "run_id", "zoning", False, 71,
              attr="zone_code", categories=zone_categories(conn, zoning_run_id), label='"display_code"'),
    ]
    if pattern_run_id is None:
        return out
    kinds = [k for k, in conn.execute("SELECT DISTINCT kind FROM bi.pattern_node WHERE run_id = %s ORDER BY 1",
                                      (pattern_run_id,)).fetchall()]
    nodes = [Category(k, label, _marker(palette.NODE[k], shape, 2.6)) for k, label, shape in NODE_KINDS]
    nodes += [Category(k, k, _marker(OUTLINE, "circle", 2.0)) for k in kinds if k not in {n.value for n in nodes}]
    out += [
        Layer("pattern_node", "Nodes", pattern, "pattern_node", "run_id", "pattern", True, 1, attr="kind",
              categories=nodes),
        Layer("pattern_pinch", "Pinch points", pattern, "pattern_pinch", "run_id", "pattern", True, 30,
              symbol=_fill(palette.PINCH, outline=palette.PINCH, width=0.3, alpha=200)),
        Layer("pattern_barrier", "Barriers", pattern, "pattern_barrier", "run_id", "pattern", True, 31,
              symbol=_fill(palette.BARRIER, outline=palette.BARRIER, width=0.3, alpha=170)),
        Layer("pattern_corridor", "Corridors", pattern, "pattern_corridor", "run_id", "pattern", True, 3,
              attr="importance_class",
              categories=[Category(c, f"{c.capitalize()} corridor", _line(palette.CORRIDOR[c], w))
                          for c, w in (("important", 1.0), ("general", 0.45))]),
        Layer("pattern_corridor_area", "Corridor areas", pattern, "pattern_corridor_area", "run_id", "pattern",
              False, 50, attr="importance_class",
              categories=[Category(c, f"{c.capitalize()} corridor area",
                                   _fill(palette.CORRIDOR[c], outline=palette.CORRIDOR[c], alpha=70))
                          for c in ("important", "general")]),
        Layer("pattern_source", "Sources", pattern, "pattern_source", "run_id", "pattern", True, 40,
              symbol=_fill(palette.SOURCE, outline=palette.SOURCE, width=0.3, alpha=170)),
        Layer("pattern_task", "Restoration tasks", pattern, "pattern_task", "run_id", "pattern", False, 32,
              attr="kind", categories=[Category(k, label, _fill(c, outline=c, alpha=200)) for k, label, c in TASK_KINDS]),
        Layer("pattern_collab_unit", "Collaboration units", collab, "pattern_collab_unit", "run_id", "pattern",
              True, 10, symbol=_fill(BLACK, outline=BLACK, width=0.6, alpha=0, style="no"),
              label="'Unit ' || \"unit_no\""),
        Layer("pattern_county_link", "County links", collab, "pattern_county_link", "run_id", "pattern", False, 2,
              attr="strong", categories=[Category("true", "Strong link", _line(BLACK, 0.6)),
                                         Category("false", "Weak link", _line("#BBBBBB", 0.2))]),
    ]
    return out


# ------------------------------------------------------------------ the XML


def _connection(conn: psycopg.Connection) -> dict:
    """Host, port, database and SSL mode of the connection (the libpq default "prefer" unless one was set)."""
    params = conn.info.get_parameters()
    return {"host": conn.info.host, "port": str(conn.info.port), "dbname": conn.info.dbname,
            "sslmode": params.get("sslmode") or "prefer"}


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def datasource(cx: dict, table: str, geometry_column: str, key: str, srid: int, wkb_type: str, subset: str) -> str:
    """The ``postgres`` provider's datasource (QgsDataSourceUri form), without user or password."""
    return (f"dbname={_quote(cx['dbname'])} host={_quote(cx['host'])} port={cx['port']} sslmode={cx['sslmode']} "
            f"key={_quote(key)} srid={srid} type={wkb_type} checkPrimaryKeyUnicity='0' "
            f"table={_ident(SCHEMA)}.{_ident(table)} ({geometry_column}) sql={subset}")


def project_uri(cx: dict, name: str) -> str:
    """The URI of a project stored in ``bi.qgis_projects`` (QgsPostgresProjectStorage), without credentials;
    a Unix-socket host is left out (libpq's default socket)."""
    host = "" if cx["host"].startswith("/") else cx["host"]
    netloc = f"{host}:{cx['port']}" if host else ""
    query = urlencode({"sslmode": cx["sslmode"], "dbname": cx["dbname"], "schema": SCHEMA, "project": name})
    return f"postgresql://{netloc}?{query}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in attrs.items()})
    if text is not None:
        el.text = text
    return el


def _srs(parent: ET.Element, srid: int) -> None:
    srs = _sub(parent, "spatialrefsys")
    if srid == 4326:
        _sub(srs, "proj4", "+proj=longlat +datum=WGS84 +no_defs")
        _sub(srs, "srsid", "3452")
        _sub(srs, "description", "WGS 84")
        _sub(srs, "geographicflag", "true")
    _sub(srs, "srid", str(srid))
    _sub(srs, "authid", f"EPSG:{srid}")


def _props(layer_el: ET.Element, props: dict) -> None:
    """A symbol layer's properties, both as QGIS 3.22 writes them (an Option map) and as older versions did."""
    opt = _sub(layer_el, "Option", type="Map")
    for k, v in props.items():
        _sub(opt, "Option", type="QString", name=k, value=v)
    for k, v in props.items():
        _sub(layer_el, "prop", k=k, v=v)


def _symbol(parent: ET.Element, name: str, spec: dict) -> None:
    kind = spec["kind"]
    sym = _sub(parent, "symbol", type=kind, name=name, alpha="1", clip_to_extent="1", force_rhr="0")
    if kind == "fill":
        lay = _sub(sym, "layer", **{"class": "SimpleFill", "pass": "0", "locked": "0", "enabled": "1"})
        _props(lay, {"color": spec["color"], "style": spec["style"], "outline_color": spec["outline_color"],
                     "outline_style": "solid", "outline_width": str(spec["outline_width"]),
                     "outline_width_unit": "MM", "joinstyle": "bevel", "offset": "0,0", "offset_unit": "MM"})
    elif kind == "line":
        lay = _sub(sym, "layer", **{"class": "SimpleLine", "pass": "0", "locked": "0", "enabled": "1"})
        _props(lay, {"line_color": spec["color"], "line_width": str(spec["width"]), "line_width_unit": "MM",
                     "line_style": spec["style"], "capstyle": "round", "joinstyle": "round", "offset": "0",
                     "offset_unit": "MM"})
    else:
        lay = _sub(sym, "layer", **{"class": "SimpleMarker", "pass": "0", "locked": "0", "enabled": "1"})
        _props(lay, {"name": spec["shape"], "color": spec["color"], "outline_color": "35,35,35,255",
                     "outline_style": "solid", "outline_width": "0.2", "outline_width_unit": "MM",
                     "size": str(spec["size"]), "size_unit": "MM", "angle": "0", "joinstyle": "bevel",
                     "scale_method": "diameter", "offset": "0,0", "offset_unit": "MM"})


def _renderer(parent: ET.Element, layer: Layer) -> None:
    common = {"symbollevels": "0", "enableorderby": "0", "forceraster": "0", "referencescale": "-1"}
    if layer.attr is None:
        r = _sub(parent, "renderer-v2", type="singleSymbol", **common)
        _symbol(_sub(r, "symbols"), "0", layer.symbol)
    else:
        r = _sub(parent, "renderer-v2", type="categorizedSymbol", attr=layer.attr, **common)
        cats = _sub(r, "categories")
        syms = _sub(r, "symbols")
        for i, cat in enumerate(layer.categories):
            _sub(cats, "category", value=cat.value, symbol=str(i), label=cat.label, render="true")
            _symbol(syms, str(i), cat.props)
    _sub(r, "rotation")
    _sub(r, "sizescale")


def _labeling(parent: ET.Element, expression: str) -> None:
    settings = _sub(_sub(parent, "labeling", type="simple"), "settings", calloutType="simple")
    style = _sub(settings, "text-style", fieldName=expression, isExpression="1", fontFamily="Sans Serif",
                 namedStyle="Bold", fontWeight="75", fontSize="9", fontSizeUnit="Point", textColor="20,20,20,255",
                 textOpacity="1", fontItalic="0", fontUnderline="0", fontStrikeout="0", fontKerning="1",
                 multilineHeight="1", capitalization="0", blendMode="0", allowHtml="0", previewBkgrdColor="255,255,255,255")
    _sub(style, "text-buffer", bufferDraw="1", bufferSize="0.8", bufferSizeUnits="MM", bufferColor="255,255,255,255",
         bufferOpacity="1", bufferJoinStyle="128", bufferNoFill="1", bufferBlendMode="0")
    _sub(settings, "text-format", multilineAlign="3", wrapChar="", autoWrapLength="0", formatNumbers="0",
         decimals="3", plussign="0", addDirectionSymbol="0")
    _sub(settings, "placement", placement="1", centroidInside="1", centroidWhole="0", fitInPolygonOnly="0",
         priority="5", dist="0", distUnits="MM", offsetType="0", quadOffset="4", xOffset="0", yOffset="0",
         offsetUnits="MM", rotationAngle="0", polygonPlacementFlags="2", placementFlags="10", repeatDistance="0")
    _sub(settings, "rendering", drawLabels="1", obstacle="1", obstacleFactor="1", obstacleType="1", displayAll="0",
         scaleVisibility="0", scaleMin="0", scaleMax="0", upsidedownLabels="0", labelPerPart="0", mergeLines="0",
         minFeatureSize="0", limitNumLabels="0", maxNumLabels="2000", zIndex="0", fontLimitPixelSize="0",
         fontMinPixelSize="0", fontMaxPixelSize="10000", unplacedVisibility="0")


def _geometry_columns(conn: psycopg.Connection) -> dict[str, tuple[str, str, int]]:
    """table -> (geometry column, QGIS WKB type, SRID) of the geometry relations of schema bi."""
    qgis_type = {"MULTIPOLYGON": "MultiPolygon", "POLYGON": "Polygon", "LINESTRING": "LineString",
                 "MULTILINESTRING": "MultiLineString", "POINT": "Point", "MULTIPOINT": "MultiPoint"}
    out = {}
    for table, column, gtype, srid in conn.execute(
            "SELECT f_table_name, f_geometry_column, type, srid FROM geometry_columns WHERE f_table_schema = %s",
            (SCHEMA,)).fetchall():
        out[table] = (column, qgis_type.get(gtype.upper(), gtype), srid)
    return out


def _key_column(conn: psycopg.Connection, table: str) -> str:
    """The relation's key: its primary key, else its unique index (a materialized view)."""
    row = conn.execute(
        """SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
           WHERE i.indrelid = %s::regclass AND i.indisunique AND i.indnatts = 1
           ORDER BY i.indisprimary DESC LIMIT 1""", (f"{SCHEMA}.{table}",)).fetchone()
    if row is None:
        raise InputError(f"QGIS project: {SCHEMA}.{table} has no key column: migrate the database (`restore-db db migrate`)")
    return row[0]


def project_qgs(conn: psycopg.Connection, area: StudyArea | str | None, zoning_run: int | None = None) -> str:
    """The QGIS project (``.qgs`` XML text) of the study area's current analysis: every ``bi`` geometry relation
    as a styled ``postgres`` layer filtered to it, in groups by pipeline stage; no credentials.

    ``area`` is a StudyArea, its name, or None for the only one.

    Raises:
        InputError: unknown study area, no succeeded zoning run, zones not published, a bi relation missing.

    Source: the ``.qgs`` format of QGIS 3.22 (see the module).
    """
    area = area_of(conn, area)
    zoning, pattern = analysis_runs(conn, area, zoning_run)
    return _project_xml(conn, area, zoning, pattern)[0]


def _project_xml(conn: psycopg.Connection, area: StudyArea, zoning: int, pattern: int | None) -> tuple[str, int]:
    """(the .qgs text, number of layers)."""
    cx = _connection(conn)
    geometry = _geometry_columns(conn)
    layers = layers_of(conn, zoning, pattern)
    missing = sorted({lay.table for lay in layers} - set(geometry))
    if missing:
        raise InputError(f"QGIS project: no geometry relation {', '.join(f'{SCHEMA}.{t}' for t in missing)}: "
                         "migrate the database (`restore-db db migrate`)")
    srids = {geometry[lay.table][2] for lay in layers}
    if len(srids) != 1:
        raise InputError(f"QGIS project: the bi layers have several SRIDs ({sorted(srids)})")
    srid = srids.pop()
    runs = {"zoning": zoning, "pattern": pattern, "area": area.study_area_id}
    extent = conn.execute(
        """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
           FROM (SELECT ST_Extent(geom) AS e FROM bi.zone_map WHERE run_id = %s) s""", (zoning,)).fetchone()
    if extent[0] is None:
        raise InputError(f"QGIS project: the zones of zoning run {zoning} have no geometry")
    xmin, ymin, xmax, ymax = extent
    pad = 0.03 * max(xmax - xmin, ymax - ymin, 1e-6)
    extent = (xmin - pad, ymin - pad, xmax + pad, ymax + pad)
    title = f"{area.name}: restoration zoning and ecological security pattern"

    root = ET.Element("qgis", version=QGIS_VERSION, projectname=title)
    _sub(root, "homePath", path="")
    _sub(root, "title", title)
    _srs(_sub(root, "projectCrs"), srid)

    tree = _sub(root, "layer-tree-group")
    _sub(tree, "customproperties")
    groups: dict[str, ET.Element] = {}
    keys = {}
    for lay in layers:
        table = lay.table
        column, wkb, _ = geometry[table]
        if table not in keys:
            keys[table] = _key_column(conn, table)
        subset = f"{_ident(lay.filter_column)} = {int(runs[lay.run])}"
        lay.source = datasource(cx, table, column, keys[table], srid, wkb, subset)
        if lay.group not in groups:
            groups[lay.group] = _sub(tree, "layer-tree-group", name=lay.group, checked="Qt::Checked", expanded="1")
            _sub(groups[lay.group], "customproperties")
        node = _sub(groups[lay.group], "layer-tree-layer", id=lay.id, name=lay.name, source=lay.source,
                    providerKey="postgres", checked="Qt::Checked" if lay.visible else "Qt::Unchecked",
                    expanded="1" if lay.visible else "0")
        _sub(node, "customproperties")
    order = sorted(layers, key=lambda lay: lay.draw_rank)
    custom = _sub(tree, "custom-order", enabled="1")
    for lay in order:
        _sub(custom, "item", lay.id)

    canvas = _sub(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    _sub(canvas, "units", "degrees" if srid == 4326 else "meters")
    ext = _sub(canvas, "extent")
    for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), extent):
        _sub(ext, tag, repr(float(value)))
    _sub(canvas, "rotation", "0")
    _srs(_sub(canvas, "destinationsrs"), srid)
    _sub(canvas, "rendermaptile", "0")

    project_layers = _sub(root, "projectlayers")
    for lay in layers:
        column, wkb, _ = geometry[lay.table]
        kind = {"Point": "Point", "MultiPoint": "Point", "LineString": "Line", "MultiLineString": "Line"}.get(
            wkb, "Polygon")
        ml = _sub(project_layers, "maplayer", type="vector", geometry=kind, wkbType=wkb,
                  labelsEnabled="1" if lay.label else "0", readOnly="0", hasScaleBasedVisibilityFlag="0",
                  minScale="100000000", maxScale="0", simplifyDrawingHints="1", simplifyDrawingTol="1",
                  simplifyLocal="1", simplifyAlgorithm="0", simplifyMaxScale="1", autoRefreshEnabled="0",
                  autoRefreshTime="0", refreshOnNotifyEnabled="0", refreshOnNotifyMessage="",
                  styleCategories="AllStyleCategories")
        _sub(ml, "id", lay.id)
        _sub(ml, "datasource", lay.source)
        _sub(ml, "layername", lay.name)
        _srs(_sub(ml, "srs"), srid)
        _sub(ml, "provider", "postgres", encoding="")
        _renderer(ml, lay)
        if lay.label:
            _labeling(ml, lay.label)
        _sub(ml, "blendMode", "0")
        _sub(ml, "featureBlendMode", "0")
        _sub(ml, "layerOpacity", repr(lay.opacity))
    layer_order = _sub(root, "layerorder")
    for lay in layers:
        _sub(layer_order, "layer", id=lay.id)

    props = _sub(root, "properties")
    _sub(_sub(props, "SpatialRefSys"), "ProjectionsEnabled", "1", type="int")
    _sub(_sub(props, "Paths"), "Absolute", "false", type="bool")
    meta = _sub(root, "projectMetadata")
    _sub(meta, "identifier", f"{area.name}")
    _sub(meta, "title", title)
    _sub(meta, "abstract",
         f"Study area {area.name}: zoning run {zoning}"
         + (f", pattern run {pattern}" if pattern is not None else ", no pattern run")
         + ". Derived data, written again after each compute: save edits under another name.")
    view = _sub(root, "ProjectViewSettings", rotation="0", UseProjectScales="0")
    _sub(view, "Scales")
    dve = _sub(view, "DefaultViewExtent", **dict(zip(("xmin", "ymin", "xmax", "ymax"),
                                                      (repr(float(v)) for v in extent))))
    _srs(dve, srid)

    ET.indent(root, space=" ")
    text = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(root, encoding="unicode") + "\n"
    return text, len(layers)


def _qgz(name: str, qgs: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}.qgs", qgs.encode("utf-8"))
    return buf.getvalue()


def project_qgz(conn: psycopg.Connection, area: StudyArea | str | None, zoning_run: int | None = None) -> bytes:
    """The project of :func:`project_qgs` as a ``.qgz`` file: a zip holding ``<study area>.qgs``.

    Raises:
        InputError: as :func:`project_qgs`.

    Source: QGIS's project archive (``QgsProjectArchive``: the first ``.qgs`` member is the project).
    """
    area = area_of(conn, area)
    return _qgz(area.name, project_qgs(conn, area, zoning_run))


def store_project(conn: psycopg.Connection, area: StudyArea | str | None, zoning_run: int | None = None,
                  overwrite: bool = False) -> ProjectInfo:
    """Write the project of an analysis (``zoning_run``, default the study area's current one) into
    ``bi.qgis_projects`` under the study area's name. The row is replaced when restore-db wrote it (its metadata
    names the zoning run); a project saved there from QGIS under that name is replaced only with ``overwrite``.
    Runs in the caller's transaction (a savepoint when one is open); commit for QGIS to see it.

    The metadata is what QGIS writes (``last_modified_time`` in UTC, ``last_modified_user``) with the study area
    and the runs shown.

    Raises:
        InputError: as :func:`project_qgs`; the table is missing (migrate the database); a project saved from QGIS
            holds the name and ``overwrite`` is false.

    Source: QGIS's PostgreSQL project storage (``QgsPostgresProjectStorage::writeProject``).
    """
    started = time.perf_counter()
    area = area_of(conn, area)
    if conn.execute("SELECT to_regclass('bi.qgis_projects')").fetchone()[0] is None:
        raise InputError("QGIS project: table bi.qgis_projects does not exist: migrate the database "
                         "(`restore-db db migrate`)")
    row = conn.execute("SELECT metadata ? 'zoning_run_id' FROM bi.qgis_projects WHERE name = %s",
                       (area.name,)).fetchone()
    if row is not None and not row[0] and not overwrite:
        raise InputError(f"QGIS project: bi.qgis_projects holds a project named {area.name!r} saved from QGIS; "
                         "use --overwrite to replace it, or save yours in QGIS under another name")
    zoning, pattern = analysis_runs(conn, area, zoning_run)
    qgs, n_layers = _project_xml(conn, area, zoning, pattern)
    content = _qgz(area.name, qgs)
    extra = json.dumps({"study_area": area.name, "zoning_run_id": zoning, "pattern_run_id": pattern})
    with conn.transaction():
        conn.execute(
            """INSERT INTO bi.qgis_projects (name, metadata, content)
               VALUES (%s, jsonb_build_object('last_modified_time', (now() AT TIME ZONE 'utc')::text,
                                              'last_modified_user', current_user) || %s::jsonb, %s)
               ON CONFLICT (name) DO UPDATE SET metadata = EXCLUDED.metadata, content = EXCLUDED.content""",
            (area.name, extra, content))
    return ProjectInfo(area.name, area.name, zoning, pattern, n_layers, len(content),
                       time.perf_counter() - started, project_uri(_connection(conn), area.name))


def write_project_file(conn: psycopg.Connection, area: StudyArea | str | None, path: str | Path,
                       overwrite: bool = False, zoning_run: int | None = None) -> ProjectInfo:
    """Write the project of an analysis (``zoning_run``, default the study area's current one) as a ``.qgz``
    file. The file is written under a temporary name in the target folder and renamed at the end: a failure
    leaves no partial file.

    Raises:
        InputError: (one line) the target is a folder, does not end in ``.qgz``, exists without ``overwrite``,
            or its folder is missing or not writable; the file cannot be written; as :func:`project_qgs`.

    Source: QGIS's ``.qgz`` project archive (see :func:`project_qgz`).
    """
    started = time.perf_counter()
    target = files.check_target(Path(path), overwrite, "export qgis", "project.qgz", suffix=".qgz")
    area = area_of(conn, area)
    zoning, pattern = analysis_runs(conn, area, zoning_run)
    qgs, n_layers = _project_xml(conn, area, zoning, pattern)
    content = _qgz(area.name, qgs)
    files.write_atomic(target, content, "export qgis")
    return ProjectInfo(area.name, area.name, zoning, pattern, n_layers, len(content),
                       time.perf_counter() - started, str(target))
