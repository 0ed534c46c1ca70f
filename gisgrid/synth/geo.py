"""Geometry helpers for the synthetic city: a local metric plane and Voronoi partitions.

The generator works in a local equirectangular plane in metres (an affine map of lon/lat),
not a projected CRS: an affine map goes back to lon/lat exactly (up to rounding), so the
grids still tile their real district outline, and at city scale its distortion (a few % over
Harbin's 3 degrees of latitude) does not matter for a synthetic twin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQ = 111_320.0


@dataclass(frozen=True)
class Plane:
    """lon/lat <-> local metres around (lon0, lat0).

    >>> p = Plane(126.6, 45.75)
    >>> x, y = p.to_xy(np.array([126.7]), np.array([45.75]))
    >>> round(float(x[0]))
    7768
    """

    lon0: float
    lat0: float

    @property
    def kx(self) -> float:
        return M_PER_DEG_LON_EQ * float(np.cos(np.radians(self.lat0)))

    def to_xy(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(lon) - self.lon0) * self.kx, (
            np.asarray(lat) - self.lat0
        ) * M_PER_DEG_LAT

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x) / self.kx + self.lon0, np.asarray(y) / M_PER_DEG_LAT + self.lat0

    def geom_to_xy(self, geoms: np.ndarray | BaseGeometry) -> np.ndarray | BaseGeometry:
        return shapely.transform(geoms, lambda c: np.column_stack(self.to_xy(c[:, 0], c[:, 1])))

    def geom_to_lonlat(self, geoms: np.ndarray | BaseGeometry) -> np.ndarray | BaseGeometry:
        return shapely.transform(geoms, lambda c: np.column_stack(self.to_lonlat(c[:, 0], c[:, 1])))


def where_or_none(cond: np.ndarray, values: np.ndarray) -> np.ndarray:
    """values where cond holds, None elsewhere (an object array, for nullable columns)."""
    out = np.asarray(values, dtype=object).copy()
    out[~np.asarray(cond, dtype=bool)] = None
    return out


def polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Only the polygonal parts of a geometry, as a MultiPolygon (possibly empty)."""
    if geom.is_empty:
        return shapely.MultiPolygon()
    if geom.geom_type == "Polygon":
        return shapely.MultiPolygon([geom])
    if geom.geom_type == "MultiPolygon":
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    polys: list[BaseGeometry] = []
    for p in parts:
        polys.extend(shapely.get_parts(p))
    return shapely.MultiPolygon(polys)


def sample_in(poly: BaseGeometry, n: int, rng: np.random.Generator) -> np.ndarray:
    """n uniform random points (x, y) inside a polygon, by rejection from its bounds."""
    if n <= 0:
        return np.empty((0, 2))
    shapely.prepare(poly)
    minx, miny, maxx, maxy = poly.bounds
    out: list[np.ndarray] = []
    got = 0
    ratio = max(poly.area / max((maxx - minx) * (maxy - miny), 1e-9), 0.02)
    while got < n:
        k = int((n - got) / ratio * 1.2) + 16
        pts = np.column_stack([rng.uniform(minx, maxx, k), rng.uniform(miny, maxy, k)])
        keep = pts[shapely.contains_xy(poly, pts[:, 0], pts[:, 1])]
        out.append(keep)
        got += len(keep)
    return np.concatenate(out)[:n]


def nearest_seed(points: np.ndarray, seeds: np.ndarray, chunk: int = 200_000) -> np.ndarray:
    """Index of the nearest seed for each point (brute force, chunked; seeds are few)."""
    labels = np.empty(len(points), dtype=np.int64)
    for start in range(0, len(points), chunk):
        p = points[start : start + chunk]
        d = (p[:, None, 0] - seeds[None, :, 0]) ** 2 + (p[:, None, 1] - seeds[None, :, 1]) ** 2
        labels[start : start + chunk] = np.argmin(d, axis=1)
    return labels


def partition(
    poly: BaseGeometry,
    points: np.ndarray,
    weights: np.ndarray,
    n_parts: int,
    rng: np.random.Generator,
    lloyd_iters: int = 4,
) -> tuple[list[BaseGeometry], np.ndarray]:
    """Cut ``poly`` into ``n_parts`` cells around weighted points.

    Seeds are drawn from the points by weight and moved by a few weighted Lloyd steps; the
    cells are the seeds' Voronoi cells clipped to ``poly``, so they tile it exactly. Returns
    the cells and, for each point, the index of its cell. Cells that would be empty are
    dropped and the labels renumbered.
    """
    n_parts = max(1, min(n_parts, max(len(points), 1)))
    if n_parts == 1:
        return [polygonal(poly)], np.zeros(len(points), dtype=np.int64)
    w = weights / weights.sum()
    idx = rng.choice(len(points), size=n_parts, replace=False, p=w)
    seeds = points[idx].astype(float)
    for _ in range(lloyd_iters):
        labels = nearest_seed(points, seeds)
        sums = np.zeros((n_parts, 2))
        np.add.at(sums, labels, points * weights[:, None])
        tot = np.bincount(labels, weights=weights, minlength=n_parts)
        ok = tot > 0
        seeds[ok] = sums[ok] / tot[ok, None]
    # Identical seeds would make a degenerate Voronoi diagram.
    seeds += rng.normal(0, 1e-3, seeds.shape)
    labels = nearest_seed(points, seeds)
    cells_gc = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=poly, ordered=True)
    cells = shapely.get_parts(cells_gc)
    clipped = [polygonal(shapely.intersection(c, poly)) for c in cells]
    keep = [i for i, c in enumerate(clipped) if not c.is_empty and c.area > 0]
    remap = np.full(n_parts, -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    new_labels = remap[labels]
    if (new_labels < 0).any():  # a point whose clipped cell vanished: give it its nearest kept
        bad = new_labels < 0
        new_labels[bad] = nearest_seed(points[bad], seeds[keep])
    return [clipped[i] for i in keep], new_labels


def reading_order(centroids: np.ndarray) -> np.ndarray:
    """Order cells west to east, north to south (the grid-code numbering rule)."""
    n = len(centroids)
    if n <= 1:
        return np.arange(n)
    rows = max(1, round(float(np.sqrt(n))))
    y = centroids[:, 1]
    span = (y.max() - y.min()) or 1.0
    band = np.floor((y.max() - y) / span * rows * 0.999).astype(int)
    return np.lexsort((centroids[:, 0], band))
