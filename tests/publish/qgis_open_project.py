"""Open a QGIS project, headless, as a user does with Project > Open (a .qgz file) or Project > Open From >
PostgreSQL (a postgresql:// project URI), and report what QGIS made of it.

Run with Debian's /usr/bin/python3 (QGIS's Python bindings belong to it, not to the venv) by
tests/publish/test_qgis_project.py, with QT_QPA_PLATFORM=offscreen, a temporary HOME, and the credentials in
libpq's environment (PGUSER, PGPASSWORD): the project stores none. Input: one JSON object on stdin,

    {"project": "/tmp/x/demo.qgz" or "postgresql://host:port?dbname=...&schema=bi&project=demo",
     "render": "Restoration zones", "colours": ["#332288", ...], "outdir": "/tmp/...", "size": 500,
     "profile": "/tmp/.../profile"}

Output: one JSON object on stdout:
    read (QgsProject.read's answer), error (a message when it failed), messages (QGIS's message log),
    title, crs (project CRS authid), view_extent ([xmin, ymin, xmax, ymax] of the default view) and its crs,
    groups ([[group name, [layer names]], ...] in tree order), drawing_order (layer names, top first),
    layers: {name: {valid, error, provider, table, schema, key, subset, has_user, has_password, crs, wkb_type,
             feature_count, features_read, visible, renderer, attr, categories [[value, label, "#rrggbb"]],
             symbol_colour (single symbol), labels (expression or null)}},
    render: {png, pixels, colours {"#rrggbb": pixels of exactly that colour}} for the layer named by "render",
    drawn at the project's default view extent.
"""

from __future__ import annotations

import json
import os
import sys
from array import array

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsDataSourceUri,
    QgsLayerTreeGroup,
    QgsLayerTreeLayer,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProject,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage

BACKGROUND = QColor(255, 255, 255)


def hex_colour(colour: QColor) -> str:
    return "#{:02X}{:02X}{:02X}".format(colour.red(), colour.green(), colour.blue())


def layer_report(project: QgsProject, layer, tree) -> dict:
    out = {"valid": layer.isValid(), "error": layer.error().summary() if not layer.error().isEmpty() else "",
           "provider": layer.providerType()}
    uri = QgsDataSourceUri(layer.source())
    out.update(table=uri.table(), schema=uri.schema(), key=uri.keyColumn(), subset=layer.subsetString(),
               has_user=bool(uri.username()), has_password=bool(uri.password()),
               host=uri.host(), port=uri.port(), dbname=uri.database())
    node = tree.findLayer(layer.id())
    out["visible"] = bool(node and node.isVisible())
    renderer = layer.renderer()
    out["renderer"] = renderer.type() if renderer else None
    if renderer and renderer.type() == "categorizedSymbol":
        out["attr"] = renderer.classAttribute()
        out["categories"] = [[str(c.value()) if c.value() is not None else "", c.label(), hex_colour(c.symbol().color())]
                             for c in renderer.categories()]
    elif renderer and renderer.type() == "singleSymbol":
        out["symbol_colour"] = hex_colour(renderer.symbol().color())
    labeling = layer.labeling()
    out["labels"] = (labeling.settings().fieldName if labeling is not None and layer.labelsEnabled() else None)
    if layer.isValid():
        out["crs"] = layer.crs().authid()
        out["wkb_type"] = QgsWkbTypes.displayString(layer.wkbType())
        out["feature_count"] = layer.featureCount()
        fids = [f.id() for f in layer.getFeatures()]
        out["features_read"] = len(fids)
        out["distinct_fids"] = len(set(fids))
    return out


def groups_of(root: QgsLayerTreeGroup) -> list:
    out = []
    for child in root.children():
        if isinstance(child, QgsLayerTreeGroup):
            out.append([child.name(), [c.name() for c in child.children() if isinstance(c, QgsLayerTreeLayer)]])
        elif isinstance(child, QgsLayerTreeLayer):
            out.append([None, [child.name()]])
    return out


def render(project: QgsProject, layer, path: str, size: int, colours: list[str]) -> dict:
    extent = project.viewSettings().defaultViewExtent()
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(project.crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(BACKGROUND)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage().convertToFormat(QImage.Format_ARGB32)
    image.save(path, "PNG")
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    pixels = array("I", bytes(ptr))
    counts: dict[int, int] = {}
    for p in pixels:
        counts[p] = counts.get(p, 0) + 1
    wanted = {QColor(c).rgba(): c.upper() for c in colours}
    return {"png": path, "pixels": len(pixels),
            "drawn": sum(n for p, n in counts.items() if p != BACKGROUND.rgba()),
            "colours": {c: counts.get(rgba, 0) for rgba, c in wanted.items()}}


def main() -> int:
    job = json.load(sys.stdin)
    log: list[str] = []
    app = QgsApplication([], False, job.get("profile", ""))
    app.setPrefixPath("/usr", True)
    app.initQgis()
    QgsApplication.messageLog().messageReceived.connect(lambda message, tag, level: log.append(f"{tag}: {message}"))
    result: dict = {"qgis_version": Qgis.QGIS_VERSION}
    try:
        project = QgsProject.instance()
        result["read"] = project.read(job["project"])
        if not result["read"]:
            result["error"] = project.error() or "QgsProject.read failed"
        else:
            tree = project.layerTreeRoot()
            result["title"] = project.title()
            result["crs"] = project.crs().authid()
            view = project.viewSettings().defaultViewExtent()
            result["view_extent"] = [view.xMinimum(), view.yMinimum(), view.xMaximum(), view.yMaximum()]
            result["view_crs"] = view.crs().authid()
            result["groups"] = groups_of(tree)
            result["custom_order"] = tree.hasCustomLayerOrder()
            result["drawing_order"] = [lay.name() for lay in tree.layerOrder()]
            result["layers"] = {lay.name(): layer_report(project, lay, tree)
                                for lay in project.mapLayers().values()}
            if job.get("render"):
                (layer,) = project.mapLayersByName(job["render"])
                result["render"] = render(project, layer, os.path.join(job["outdir"], "render.png"),
                                          job.get("size", 500), job.get("colours", []))
    finally:
        result["messages"] = log
        json.dump(result, sys.stdout, indent=1)
        sys.stdout.flush()
        QgsProject.instance().clear()
        app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
