"""Open PostGIS relations in QGIS, headless, as a user does by dragging them from
the browser: through the "postgres" provider with NO key column picked by hand.

Run with Debian's /usr/bin/python3 (QGIS's Python bindings belong to it, not to
the venv) by tests/publish/test_bi_qgis.py, with QT_QPA_PLATFORM=offscreen and a
temporary HOME. Input: one JSON object on stdin,

    {"connection": {"host": ..., "port": ..., "dbname": ..., "user": ..., "password": ...},
     "relations": [{"schema": "bi", "table": "county", "geometry_column": "geom"}, ...],
     "outdir": "/tmp/...", "size": 400}

Output: one JSON object on stdout, {"qgis_version": ..., "layers": {"schema.table": {...}}}
with, per relation: valid, error (layer.error()), messages (QGIS's message log
while the layer was opened), feature_count, features_read and distinct_fids
(read back with getFeatures), wkb_type (e.g. "MultiPolygon"), crs ("EPSG:4326"),
key (the provider's key column(s)), png (map of the layer extent rendered with
QgsMapRendererSequentialJob) and drawn_pixels (pixels of the PNG that are not
the background colour).
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
    QgsFillSymbol,
    QgsLineSymbol,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsMarkerSymbol,
    QgsProviderRegistry,
    QgsSingleSymbolRenderer,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage

BACKGROUND = QColor(255, 255, 255)


def symbol_for(layer: QgsVectorLayer):
    """A fixed, opaque red symbol: the default one has a random colour."""
    kind = layer.geometryType()
    if kind == QgsWkbTypes.PolygonGeometry:
        return QgsFillSymbol.createSimple({"color": "255,0,0,255", "outline_color": "0,0,0,255"})
    if kind == QgsWkbTypes.LineGeometry:
        return QgsLineSymbol.createSimple({"color": "255,0,0,255", "width": "1"})
    return QgsMarkerSymbol.createSimple({"color": "255,0,0,255", "size": "3"})


def drawn_pixels(image: QImage) -> int:
    """Pixels whose colour is not the background's."""
    image = image.convertToFormat(QImage.Format_ARGB32)
    ptr = image.constBits()
    ptr.setsize(image.sizeInBytes())
    pixels = array("I", bytes(ptr))
    background = BACKGROUND.rgba()
    return sum(1 for p in pixels if p != background)


def render(layer: QgsVectorLayer, path: str, size: int) -> int:
    layer.setRenderer(QgsSingleSymbolRenderer(symbol_for(layer)))
    extent = layer.extent()
    if extent.isNull() or extent.isEmpty():  # a single point, or nothing
        extent = extent.buffered(0.01) if not extent.isNull() else extent
    else:
        extent = extent.buffered(0.05 * max(extent.width(), extent.height()))
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(size, size))
    settings.setBackgroundColor(BACKGROUND)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(path, "PNG")
    return drawn_pixels(image)


def open_layer(conn: dict, rel: dict, outdir: str, size: int, log: list) -> dict:
    name = f"{rel['schema']}.{rel['table']}"
    uri = QgsDataSourceUri()
    uri.setConnection(conn["host"], str(conn["port"]), conn["dbname"], conn["user"], conn.get("password") or "")
    # no key column (the fifth argument) and no SQL filter: as a layer dragged from the browser
    uri.setDataSource(rel["schema"], rel["table"], rel["geometry_column"], "", rel.get("key_column", ""))
    first = len(log)
    layer = QgsVectorLayer(uri.uri(False), name, "postgres")
    out = {
        "uri": uri.uri(False).replace(f"password='{conn.get('password')}'", "password=***")
        if conn.get("password") else uri.uri(False),
        "valid": layer.isValid(),
        "error": layer.error().summary() if not layer.error().isEmpty() else "",
        "messages": [],
    }
    if layer.isValid():
        provider = layer.dataProvider()
        fields = provider.fields()
        out["key"] = [fields.at(i).name() for i in provider.pkAttributeIndexes()]
        out["feature_count"] = layer.featureCount()
        fids = [f.id() for f in layer.getFeatures()]
        out["features_read"] = len(fids)
        out["distinct_fids"] = len(set(fids))
        out["wkb_type"] = QgsWkbTypes.displayString(layer.wkbType())
        out["is_multipolygon"] = layer.wkbType() == QgsWkbTypes.MultiPolygon
        out["crs"] = layer.crs().authid()
        out["png"] = os.path.join(outdir, name.replace("/", "_") + ".png")
        out["drawn_pixels"] = render(layer, out["png"], size)
    out["messages"] = log[first:]
    return out


def main() -> int:
    job = json.load(sys.stdin)
    log: list[str] = []
    app = QgsApplication([], False, job.get("profile", ""))
    app.setPrefixPath("/usr", True)
    app.initQgis()
    QgsApplication.messageLog().messageReceived.connect(
        lambda message, tag, level: log.append(f"{tag}: {message}"))
    result = {"qgis_version": Qgis.QGIS_VERSION, "layers": {}}
    try:
        providers = QgsProviderRegistry.instance().providerList()
        if "postgres" not in providers:
            result["error"] = f"QGIS has no postgres provider (providers: {', '.join(providers)})"
        else:
            for rel in job["relations"]:
                name = f"{rel['schema']}.{rel['table']}"
                result["layers"][name] = open_layer(job["connection"], rel, job["outdir"], job.get("size", 400), log)
    finally:
        json.dump(result, sys.stdout, indent=1)
        sys.stdout.flush()
        app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main())
