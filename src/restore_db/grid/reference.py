"""The reference grid of a study area and its tiles.

A grid is a projected CRS in metres, square pixels of ``pixel_size`` metres, an
upper-left origin, ``width`` x ``height`` cells, cut into ``tile_size`` square
tiles numbered row-major from the upper-left corner. Edge tiles are cut at
the grid border. Every layer of a study area is stored on its grid, so layers
join tile-to-tile on ``tile_id``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from affine import Affine

from restore_db.kernels.wkb import TileHeader


@dataclass(frozen=True)
class Tile:
    tile_id: int
    row0: int
    col0: int
    height: int
    width: int


@dataclass(frozen=True)
class Grid:
    srid: int
    origin_x: float
    origin_y: float
    pixel_size: float
    width: int
    height: int
    tile_size: int = 256

    @classmethod
    def covering(cls, srid: int, bounds: tuple[float, float, float, float], pixel_size: float,
                 tile_size: int = 256) -> Grid:
        """The grid of pixel-size multiples that covers ``bounds`` (xmin, ymin, xmax, ymax)."""
        xmin, ymin, xmax, ymax = bounds
        x0 = math.floor(xmin / pixel_size) * pixel_size
        y0 = math.ceil(ymax / pixel_size) * pixel_size
        width = max(1, math.ceil(round((xmax - x0) / pixel_size, 9)))
        height = max(1, math.ceil(round((y0 - ymin) / pixel_size, 9)))
        return cls(srid, x0, y0, pixel_size, width, height, tile_size)

    @property
    def tiles_x(self) -> int:
        return -(-self.width // self.tile_size)

    @property
    def tiles_y(self) -> int:
        return -(-self.height // self.tile_size)

    @property
    def cells(self) -> int:
        return self.width * self.height

    @property
    def transform(self) -> Affine:
        return Affine(self.pixel_size, 0.0, self.origin_x, 0.0, -self.pixel_size, self.origin_y)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.origin_x, self.origin_y - self.height * self.pixel_size,
                self.origin_x + self.width * self.pixel_size, self.origin_y)

    @property
    def pixel_area_m2(self) -> float:
        return self.pixel_size * self.pixel_size

    def tile(self, tile_id: int) -> Tile:
        trow, tcol = divmod(tile_id, self.tiles_x)
        row0, col0 = trow * self.tile_size, tcol * self.tile_size
        return Tile(tile_id, row0, col0, min(self.tile_size, self.height - row0),
                    min(self.tile_size, self.width - col0))

    def tiles(self) -> Iterator[Tile]:
        for tile_id in range(self.tiles_x * self.tiles_y):
            yield self.tile(tile_id)

    def place(self, row: int, col: int) -> tuple[int, int, int]:
        """(tile_id, row in the tile, column in the tile), all 0-based, of grid pixel (row, col)."""
        ts = self.tile_size
        return (row // ts) * self.tiles_x + col // ts, row % ts, col % ts

    def tile_row(self, trow: int) -> list[Tile]:
        return [self.tile(trow * self.tiles_x + c) for c in range(self.tiles_x)]

    def header(self, tile: Tile) -> TileHeader:
        return TileHeader(self.pixel_size, -self.pixel_size,
                          self.origin_x + tile.col0 * self.pixel_size,
                          self.origin_y - tile.row0 * self.pixel_size,
                          self.srid, tile.width, tile.height)

    def tile_of_header(self, header: TileHeader) -> int:
        """tile_id of a tile given its WKB header (raises when it is off the grid)."""
        col = (header.ulx - self.origin_x) / self.pixel_size
        row = (self.origin_y - header.uly) / self.pixel_size
        if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
            raise ValueError("tile is not aligned with the grid")
        col, row = round(col), round(row)
        if col % self.tile_size or row % self.tile_size:
            raise ValueError("tile does not start on a tile boundary")
        return (row // self.tile_size) * self.tiles_x + col // self.tile_size
