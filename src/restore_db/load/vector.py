"""Reading polygon layers (GeoJSON, GeoPackage, Shapefile ...) and preparing
them for the study-area CRS: codes, duplicate check, validity, MultiPolygon.
"""

from __future__ import annotations

import codecs
import contextlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from restore_db.errors import InputError
from restore_db.load.common import code_list, existing_file, short_list

CODE_CANDIDATES = ("code", "adcode", "district_adcode", "ws_id", "subws_id", "gb", "id")
NAME_CANDIDATES = ("name", "district_name", "short_name", "ws_name")


def read_vector(path: str | Path, layer: str | None = None) -> gpd.GeoDataFrame:
    """The features of one layer of ``path``, text decoded as GDAL and pyogrio do by default.

    Takes the file and the layer (required when the file has several); returns the features.
    Raises InputError for a missing or unreadable file or layer.
    """
    path = existing_file(path, "vector file")
    _check_layer(path, layer)
    return _read(path, layer, None)[0]


@dataclass
class VectorLayer:
    """A layer read for loading: its features, the encoding detected for its text, whether it had M values."""

    frame: gpd.GeoDataFrame
    detected_encoding: str | None = None  # set when a shapefile declares no encoding and its text is UTF-8
    measured: bool = False  # the layer declared M values; they are dropped on reading


RAW = "ISO-8859-1"  # one character per byte: a shapefile read with it gives back the bytes of its text


def read_layer(path: str | Path, layer: str | None = None, encoding: str | None = None) -> VectorLayer:
    """The features of one layer of ``path`` with their text checked, for loading into the database.

    ``encoding`` is the encoding of a shapefile's text (e.g. GB18030), passed to pyogrio; without it a
    shapefile's .cpg or the code page of its .dbf applies. A shapefile that declares neither is read as UTF-8
    when all of its non-ASCII text is valid UTF-8. Returns a :class:`VectorLayer`.

    Raises InputError for a missing or unreadable file or layer, an unknown encoding, ``encoding`` for a
    format whose text is always UTF-8, text that is not valid in the declared or given encoding, UTF-8 text
    given another encoding, non-ASCII text that is not UTF-8 in a shapefile that declares no encoding (the
    message names the file, the field and the ``--encoding`` to pass), or text holding U+FFFD.
    """
    path = existing_file(path, "vector file")
    _check_layer(path, layer)
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise InputError(f"{path}: unknown encoding {encoding!r} (e.g. UTF-8, GB18030, cp1252)") from None
    try:
        with _quiet_measured():
            info = pyogrio.read_info(path, layer=layer)
    except Exception as exc:
        raise InputError(f"cannot read vector file {path}: {exc}") from exc
    shapefile = info["driver"] == "ESRI Shapefile"
    declared = info["encoding"] == "UTF-8"  # GDAL recodes the text to UTF-8 (always so for GeoJSON, GeoPackage)
    if encoding is not None and declared and not shapefile:
        raise InputError(f"{path}: --encoding applies to shapefiles; the text of this {info['driver']} file is UTF-8")
    try:
        with warnings.catch_warnings():
            if encoding is not None:  # checked below, field by field
                warnings.filterwarnings("ignore", message=".*couldn't be converted correctly")
            frame, measured = _read(path, layer, encoding)
    except _Undecodable:
        where = encoding or "the encoding the file declares (.cpg or .dbf code page)"
        texts = _non_ascii(_read(path, layer, RAW)[0])
        if not texts:
            raise InputError(f"cannot read vector file {path}: its text is not valid in {where}") from None
        field, value = next(((f, b) for f, b in texts if not _decodes(b, encoding or "utf-8")), texts[0])
        raise InputError(f"{path}: field {field!r} is not valid text in {where}; {_advice(value)}") from None
    detected = None
    if shapefile and encoding is not None:
        raw = _read(path, layer, RAW)[0]
        texts = _non_ascii(raw)
        if texts:
            _check_given(path, frame, raw, texts, encoding)
    elif shapefile and not declared:
        texts = _non_ascii(frame if info["encoding"] == RAW else _read(path, layer, RAW)[0])
        if texts:
            bad = [(f, b) for f, b in texts if not _decodes(b, "utf-8")]
            if bad:
                raise InputError(
                    f"{path}: field {bad[0][0]!r} holds non-ASCII text that is not UTF-8 and the shapefile declares "
                    f"no encoding (no .cpg, no code page in its .dbf); {_advice(bad[0][1])}"
                )
            frame, detected = _read(path, layer, "UTF-8")[0], "UTF-8"
    _check_replacement(path, frame, shapefile)
    return VectorLayer(frame, detected, measured)


MEASURED_WARNING = r".*Measured \(M\) geometry types are not supported"


@contextlib.contextmanager
def _quiet_measured():
    """Silence pyogrio's warning that M values are dropped (reported once, by ``_read``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=MEASURED_WARNING)
        yield


class _Undecodable(Exception):
    """Text of a layer that pyogrio could not decode."""


def _check_layer(path: Path, layer: str | None) -> None:
    """Raise InputError unless ``layer`` names a layer of ``path``, or is None and ``path`` has one layer."""
    try:
        with _quiet_measured():
            layers = [name for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:
        raise InputError(f"cannot read vector file {path}: {exc}") from exc
    if layer is not None and layer not in layers:
        raise InputError(f"vector file {path} has no layer {layer!r} (layers: {short_list(layers)})")
    if layer is None and len(layers) > 1:
        raise InputError(f"vector file {path} has several layers ({short_list(layers)}): choose one with --layer")


def _read(path: Path, layer: str | None, encoding: str | None) -> tuple[gpd.GeoDataFrame, bool]:
    """The features of ``layer`` read with pyogrio's ``encoding``, and whether M values were dropped.

    Raises _Undecodable for text that is not valid in the encoding used, InputError for other read errors.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("always", message=MEASURED_WARNING)
        try:
            frame = gpd.read_file(path, layer=layer, engine="pyogrio", encoding=encoding)
        except UnicodeDecodeError as exc:
            raise _Undecodable() from exc
        except Exception as exc:
            raise InputError(f"cannot read vector file {path}: {exc}") from exc
    measured = False
    for w in caught:
        if re.match(MEASURED_WARNING, str(w.message)):
            measured = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return frame, measured


def _text_columns(frame: gpd.GeoDataFrame) -> list[str]:
    return [c for c in frame.columns if c != frame.geometry.name
            and (frame[c].dtype == object or isinstance(frame[c].dtype, pd.StringDtype))]


def _non_ascii(raw: gpd.GeoDataFrame) -> list[tuple[str, bytes]]:
    """(field, bytes) of each non-ASCII field name and text value of a shapefile layer read with RAW."""
    out = [(c, c.encode(RAW)) for c in raw.columns if isinstance(c, str) and not c.isascii()]
    for c in _text_columns(raw):
        out += [(c, v.encode(RAW)) for v in raw[c] if isinstance(v, str) and not v.isascii()]
    return out


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _advice(value: bytes) -> str:
    """What to pass for text ``value``: --encoding GB18030 when it reads as GB18030 (with what it reads)."""
    if _decodes(value, "gb18030"):
        return (f"as GB18030 it reads {value.decode('gb18030')!r}: if that is right, load it with "
                "--encoding GB18030, else give its encoding with --encoding")
    return "give its encoding with --encoding (e.g. --encoding cp1252)"


def _check_given(path: Path, frame: gpd.GeoDataFrame, raw: gpd.GeoDataFrame, texts, encoding: str) -> None:
    """Raise InputError unless the text bytes of ``raw`` decode in ``encoding`` exactly as pyogrio read ``frame``."""
    if codecs.lookup(encoding).name != "utf-8" and all(_decodes(b, "utf-8") for _, b in texts):
        raise InputError(f"{path}: field {texts[0][0]!r} holds UTF-8 text, not {encoding}; "
                         "load it without --encoding or with --encoding UTF-8")
    for field, value in texts:
        if not _decodes(value, encoding):
            raise InputError(f"{path}: field {field!r} is not valid {encoding} text; {_advice(value)}")
    names = [c.encode(RAW).decode(encoding) if isinstance(c, str) else c for c in raw.columns]
    if names != list(frame.columns):
        raise InputError(f"{path}: the field names do not read as {encoding}; give the right one with --encoding")
    for c in _text_columns(frame):
        got = [v if isinstance(v, str) else None for v in frame[c]]
        raw_values = raw[raw.columns[list(frame.columns).index(c)]]
        want = [v.encode(RAW).decode(encoding) if isinstance(v, str) else None for v in raw_values]
        if got != want:
            raise InputError(f"{path}: field {c!r} does not read as {encoding}; give the right one with --encoding")


def _check_replacement(path: Path, frame: gpd.GeoDataFrame, shapefile: bool) -> None:
    """Raise InputError when a field name or text value holds U+FFFD, the mark of wrongly decoded text."""
    hint = "; give its encoding with --encoding" if shapefile else ""
    for c in frame.columns:
        if isinstance(c, str) and "\ufffd" in c:
            raise InputError(f"{path}: field name {c!r} holds U+FFFD replacement characters (garbled text){hint}")
    for c in _text_columns(frame):
        for i, v in enumerate(frame[c]):
            if isinstance(v, str) and "\ufffd" in v:
                raise InputError(f"{path}: field {c!r} of feature {i} holds U+FFFD replacement characters "
                                 f"(garbled text {v!r}){hint}")


@dataclass
class Polygons:
    """Prepared polygons: codes, names, other fields and 2-D MultiPolygon geometries."""

    frame: gpd.GeoDataFrame  # columns code, name, + requested fields, geometry
    repaired: list[str]
    dropped_dims: str = ""  # "Z", "M" or "ZM": coordinates of the source dropped to store 2-D polygons


def pick_field(frame, given: str | None, candidates, what: str, path: Path, required: bool) -> str | None:
    fields = [c for c in frame.columns if c != frame.geometry.name]
    if given is not None:
        if given not in fields:
            raise InputError(f"{path}: field {given!r} for the {what} not found (fields: {short_list(fields, 30)})")
        return given
    lower = {c.lower(): c for c in fields}
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    if required:
        raise InputError(f"{path}: no {what} field found; name it with an option (fields: {short_list(fields, 30)})")
    return None


def prepare_polygons(frame: gpd.GeoDataFrame, path: Path, target_crs: CRS, code_field: str | None,
                     name_field: str | None = None, extra_fields: dict[str, str | None] | None = None,
                     repair: bool = True, src_crs: str | None = None, what: str = "unit",
                     measured: bool = False) -> Polygons:
    """Codes, validity, duplicates and CRS of a polygon layer, checked and repaired.

    Takes the features read from ``path``, the target CRS, the code and name fields (found by name when None),
    other fields to keep as {column: field}, whether to repair invalid polygons, the CRS of a layer that
    declares none, the name of one feature in messages and whether the layer had M values dropped on reading.
    Returns :class:`Polygons` in ``target_crs``: Z and M coordinates are dropped, polygons become
    MultiPolygons. Raises InputError for an empty layer, a missing or invalid CRS, a missing field, code or
    geometry, a code with a decimal part (110101.5), duplicate codes, non-polygons, and invalid polygons when
    ``repair`` is False.
    """
    if frame.empty:
        raise InputError(f"{path}: the layer has no features")
    from restore_db.grid.studyarea import source_crs

    # --src-crs wins over what the file declares (as for rasters); the CRS must be placed on the earth
    frame = frame.set_crs(source_crs(frame.crs, src_crs, path, "vector file"), allow_override=True)
    code_col = pick_field(frame, code_field, CODE_CANDIDATES, "code", path, True)
    name_col = pick_field(frame, name_field, NAME_CANDIDATES, "name", path, False)
    # object columns: a missing code/name stays None (pandas' string dtype would turn it into NaN)
    codes = code_list(frame[code_col], f"{path}, field {code_col!r}")
    out = gpd.GeoDataFrame(
        {"code": pd.Series(codes, dtype=object)}, geometry=frame.geometry.values, crs=frame.crs
    )
    names = [None if pd.isna(v) else str(v) for v in frame[name_col]] if name_col else [None] * len(codes)
    out["name"] = pd.Series(names, index=out.index, dtype=object)
    for key, field in (extra_fields or {}).items():
        if field is None:
            out[key] = None
        else:
            col = pick_field(frame, field, (), key.replace("_", " "), path, True)
            out[key] = pd.Series(code_list(frame[col], f"{path}, field {col!r}"), index=out.index, dtype=object)
    missing = [i for i, c in enumerate(codes) if c is None]
    if missing:
        raise InputError(f"{path}: feature(s) {short_list(missing)} have no {what} code in field {code_col!r}")
    counts = out["code"].value_counts()
    dups = counts[counts > 1]
    if len(dups):
        detail = short_list(f"{c} ({n} features)" for c, n in dups.items())
        raise InputError(f"{path}: duplicate {what} codes in field {code_col!r}: {detail}")
    geoms = out.geometry.values
    empty = [c for c, g in zip(out["code"], geoms) if g is None or g.is_empty]
    if empty:
        raise InputError(f"{path}: {what}(s) {short_list(empty)} have an empty geometry")
    kinds = shapely.get_type_id(geoms)
    bad = [c for c, k in zip(out["code"], kinds) if k not in (3, 6)]
    if bad:
        raise InputError(f"{path}: {what}(s) {short_list(bad)} are not polygons")
    has_z = bool(shapely.has_z(geoms).any())
    has_m = measured or (hasattr(shapely, "has_m") and bool(shapely.has_m(geoms).any()))
    if has_z or has_m:
        geoms = gpd.array.from_shapely(shapely.force_2d(np.asarray(geoms)), crs=out.crs)
    dropped = ("Z" if has_z else "") + ("M" if has_m else "")
    repaired: list[str] = []
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        codes = list(out["code"][invalid])
        if not repair:
            reasons = [shapely.is_valid_reason(g) for g in geoms[invalid]]
            raise InputError(
                f"{path}: invalid geometry for {what}(s) "
                + short_list(f"{c} ({r})" for c, r in zip(codes, reasons))
                + "; load without --no-repair to repair them"
            )
        geoms = geoms.copy()
        geoms[invalid] = [_polygonal(shapely.make_valid(g)) for g in geoms[invalid]]
        repaired = codes
    out = out.set_geometry(geoms).to_crs(target_crs)
    geoms = out.geometry.values
    still = ~shapely.is_valid(geoms)
    if still.any():  # reprojection can create self-intersections on tight rings
        geoms = geoms.copy()
        geoms[still] = [_polygonal(shapely.make_valid(g)) for g in geoms[still]]
        repaired = sorted(set(repaired) | set(out["code"][still]))
    emptied = [c for c, g in zip(out["code"], geoms) if g is None or g.is_empty]
    if emptied:
        raise InputError(f"{path}: {what}(s) {short_list(emptied)} have no area left after repair")
    out = out.set_geometry([_multi(g) for g in geoms], crs=out.crs)
    return Polygons(out, repaired, dropped)


def _polygonal(geom):
    """The polygonal part of a repaired geometry (make_valid may add lines or points)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _multi(geom):
    return shapely.MultiPolygon([geom]) if geom.geom_type == "Polygon" else geom


def insert_polygons(conn, table: str, columns: list[str], rows, srid: int) -> None:
    """Insert rows whose last value is a shapely geometry into ``table``."""
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({', '.join(columns)}, geom) VALUES ({placeholders}, ST_SetSRID(ST_GeomFromWKB(%s), %s))"
    with conn.cursor() as cur:
        cur.executemany(sql, [(*r[:-1], shapely.to_wkb(r[-1]), srid) for r in rows])


def overlaps_extent(polys: Polygons, bounds) -> np.ndarray:
    box = shapely.box(*bounds)
    return shapely.intersects(polys.frame.geometry.values, box)
