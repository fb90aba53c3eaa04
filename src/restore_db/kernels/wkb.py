"""PostGIS raster WKB <-> numpy, for tiles on the study-area grid.

One module reads and writes raster tiles for every fast path: the loaders
(client side, text COPY of hex WKB), the client-side kernel runner, and the
PL/Python kernels inside the server (this file is stored in the database by
the migrations and imported there; it depends on numpy and the standard
library only).

Format (PostGIS raster/doc/RFC2-WellKnownBinaryFormat): endian byte, uint16
version, uint16 band count, 6 float64 (scale x/y, upper-left x/y, skew x/y),
int32 srid, uint16 width/height; per band a flags byte (0x40 has nodata,
low 4 bits pixel type), the nodata value, then width*height pixels row-major.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

PIXEL_TYPES = {
    # name: (code, numpy dtype)
    "8BSI": (3, np.int8),
    "8BUI": (4, np.uint8),
    "16BSI": (5, np.int16),
    "16BUI": (6, np.uint16),
    "32BSI": (7, np.int32),
    "32BUI": (8, np.uint32),
    "32BF": (10, np.float32),
    "64BF": (11, np.float64),
}
_BY_CODE = {code: (name, np.dtype(dt)) for name, (code, dt) in PIXEL_TYPES.items()}
_HEADER = struct.Struct("<BHHddddddiHH")


@dataclass(frozen=True)
class TileHeader:
    scale_x: float
    scale_y: float
    ulx: float
    uly: float
    srid: int
    width: int
    height: int


def pixel_type_of(dtype) -> str:
    dtype = np.dtype(dtype)
    for name, (_, dt) in PIXEL_TYPES.items():
        if np.dtype(dt) == dtype:
            return name
    raise ValueError(f"no PostGIS pixel type for numpy dtype {dtype}")


def encode(bands, nodata, header: TileHeader) -> bytes:
    """Raster WKB (little endian) of 2-D arrays ``bands`` (one array or a list)."""
    if isinstance(bands, np.ndarray):
        bands = [bands]
    if not isinstance(nodata, (list, tuple)):
        nodata = [nodata] * len(bands)
    parts = [
        _HEADER.pack(1, 0, len(bands), header.scale_x, header.scale_y, header.ulx, header.uly,
                     0.0, 0.0, header.srid, header.width, header.height)
    ]
    for arr, nd in zip(bands, nodata):
        if arr.shape != (header.height, header.width):
            raise ValueError(f"band shape {arr.shape} does not match tile {header.height}x{header.width}")
        name = pixel_type_of(arr.dtype)
        code = PIXEL_TYPES[name][0]
        dt = np.dtype(arr.dtype).newbyteorder("<")
        parts.append(bytes([0x40 | code]))
        parts.append(np.array([nd], dtype=dt).tobytes())
        parts.append(np.ascontiguousarray(arr, dtype=dt).tobytes())
    return b"".join(parts)


def decode(data: bytes | memoryview) -> tuple[TileHeader, list[np.ndarray], list[float | None]]:
    """Header, band arrays and band nodata values of raster WKB."""
    buf = memoryview(data)
    endian = buf[0]
    if endian != 1:
        raise ValueError("only little-endian raster WKB is supported")
    (_, _, nbands, sx, sy, ulx, uly, _, _, srid, width, height) = _HEADER.unpack_from(buf, 0)
    header = TileHeader(sx, sy, ulx, uly, srid, width, height)
    pos = _HEADER.size
    bands, nodatas = [], []
    npx = width * height
    for _ in range(nbands):
        flags = buf[pos]
        pos += 1
        if flags & 0x80:
            raise ValueError("out-of-database raster bands are not supported")
        _, dt = _BY_CODE[flags & 0x0F]
        dt = dt.newbyteorder("<")
        nd = np.frombuffer(buf, dtype=dt, count=1, offset=pos)[0].item()
        pos += dt.itemsize
        arr = np.frombuffer(buf, dtype=dt, count=npx, offset=pos).reshape(height, width)
        pos += dt.itemsize * npx
        bands.append(arr)
        nodatas.append(nd if flags & 0x40 else None)
    return header, bands, nodatas


def valid_mask(arr: np.ndarray, nodata) -> np.ndarray:
    """True where a pixel holds data (not the nodata value, not NaN)."""
    mask = np.ones(arr.shape, dtype=bool) if nodata is None else arr != nodata
    if arr.dtype.kind == "f":
        mask &= ~np.isnan(arr)
    return mask
