"""Spatial weights for units of analysis (grids, communities, streets, hexagons): who is whose
neighbour, as a binary matrix without the diagonal.

Three kinds, each binary (a neighbour weighs 1), as ArcGIS's Hot Spot Analysis uses them:

- ``queen``: polygons that share at least one boundary point (libpysal's vertex-based
  contiguity). A unit with no contiguous neighbour (an island, e.g. a grid across a river)
  is reported in :attr:`Weights.islands` and linked both ways to its ``islands_k`` nearest
  units by centroid distance, so that no unit is left out of a local statistic;
- ``knn``: the ``k`` nearest units by centroid distance (not symmetric);
- ``distance``: every unit whose centroid lies within ``distance_m`` metres; units with none
  within reach are islands, linked to their nearest as for ``queen``.

Distances are in metres in the UTM zone of the units (:func:`gisgrid.crs.metric_crs`).
Grid boundaries change rarely and queen weights for 33,837 grids take seconds, so weights are
cached on what makes them: the units (their :func:`weights_key`), the kind and its parameters.

Examples
--------
>>> import geopandas as gpd, shapely
>>> cells = [shapely.box(x, y, x + 0.01, y + 0.01) for y in (0, 0.01) for x in (0, 0.01, 0.02)]
>>> units = gpd.GeoDataFrame({"id": range(1, 7)}, geometry=cells, crs=4326)
>>> w = spatial_weights(units, "queen")
>>> w.cardinalities.tolist()
[3, 5, 3, 3, 5, 3]
>>> w.neighbours_of(1)
[2, 4, 5]
"""

from __future__ import annotations

import hashlib
import math
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from gisgrid.crs import metric_crs
from gisgrid.errors import InvalidInput

if TYPE_CHECKING:
    import geopandas as gpd
    import libpysal

KINDS = ("queen", "knn", "distance")
MAX_K = 100
# a distance band that would link more pairs than this is refused (memory, and no analyst
# means a neighbourhood of thousands of grids)
MAX_LINKS = 20_000_000
CACHE_SIZE = 16


@dataclass(frozen=True)
class Weights:
    """Binary spatial weights: ``matrix[i, j] == 1`` when unit j is a neighbour of unit i
    (rows in the order of ``ids``), zero diagonal."""

    ids: NDArray[np.int64]
    matrix: sp.csr_matrix
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    islands: tuple[int, ...] = ()

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def cardinalities(self) -> NDArray[np.int64]:
        """Neighbours per unit (itself not counted)."""
        return np.diff(self.matrix.indptr).astype(np.int64)

    def neighbours_of(self, unit_id: int) -> list[int]:
        """The ids of a unit's neighbours, sorted."""
        pos = np.flatnonzero(self.ids == unit_id)
        if pos.size == 0:
            raise InvalidInput(f"unit_id={unit_id!r} is not among the units", field="unit_id")
        row = self.matrix.indices[self.matrix.indptr[pos[0]] : self.matrix.indptr[pos[0] + 1]]
        return sorted(int(i) for i in self.ids[row])

    def to_libpysal(self) -> libpysal.weights.W:
        """The same weights as a libpysal ``W`` (binary, ids = positions), for esda."""
        from libpysal.weights import W

        m = self.matrix
        neighbours = {i: m.indices[m.indptr[i] : m.indptr[i + 1]].tolist() for i in range(self.n)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # libpysal warns about islands and components
            return W(neighbours, silence_warnings=True)


def lattice(rows: int, cols: int, rook: bool = False) -> Weights:
    """Weights of a ``rows`` x ``cols`` lattice of square cells numbered row by row from 0:
    queen (8 around) or rook (4 around) neighbours. For tests and examples.

    >>> lattice(3, 3).cardinalities.reshape(3, 3).tolist()
    [[3, 5, 3], [5, 8, 5], [3, 5, 3]]
    >>> lattice(3, 3, rook=True).neighbours_of(4)
    [1, 3, 5, 7]
    """
    r, c = np.divmod(np.arange(rows * cols), cols)
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if not rook:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    src, dst = [], []
    for dr, dc in steps:
        rr, cc = r + dr, c + dc
        ok = (rr >= 0) & (rr < rows) & (cc >= 0) & (cc < cols)
        src.append(np.flatnonzero(ok))
        dst.append(rr[ok] * cols + cc[ok])
    i, j = np.concatenate(src), np.concatenate(dst)
    n = rows * cols
    m = _binary(sp.csr_matrix((np.ones(i.size), (i, j)), shape=(n, n)))
    return Weights(np.arange(n, dtype=np.int64), m, "rook" if rook else "queen")


def weights_key(units: gpd.GeoDataFrame) -> str:
    """What identifies a set of units for the cache: ``units.attrs["boundary_key"]`` when the
    caller set one (:func:`gisgrid.analysis.units.unit_values` does: the level and a digest of
    the areas' ids and valid_from), else a digest of the ids and the geometries' WKB."""
    given = units.attrs.get("boundary_key")
    if given:
        return str(given)
    import shapely

    h = hashlib.blake2b(digest_size=16)
    h.update(np.asarray(units["id"], dtype=np.int64).tobytes())
    for wkb in shapely.to_wkb(np.asarray(units.geometry.values)):
        h.update(wkb)
    return "wkb:" + h.hexdigest()


_cache: OrderedDict[tuple[Any, ...], Weights] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every cached weights object."""
    with _lock:
        _cache.clear()


def spatial_weights(
    units: gpd.GeoDataFrame,
    kind: str = "queen",
    k: int = 8,
    distance_m: float | None = None,
    islands_k: int = 1,
    cache: bool = True,
) -> Weights:
    """Binary spatial weights for ``units`` (a GeoDataFrame with a unique ``id`` column and
    polygons or points, lon/lat or any CRS): ``kind`` "queen" (with islands linked to their
    ``islands_k`` nearest), "knn" (``k`` nearest) or "distance" (within ``distance_m``
    metres). Cached on :func:`weights_key` of the units, the kind and its parameters.

    >>> import geopandas as gpd, shapely
    >>> pts = gpd.GeoDataFrame({"id": [1, 2, 3]}, geometry=shapely.points([0, 0.001, 1], 0),
    ...                        crs=4326)
    >>> spatial_weights(pts, "distance", distance_m=500).islands
    (3,)
    >>> spatial_weights(pts, "rook")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: weights: weights='rook'; expected one of \
('queen', 'knn', 'distance')
    """
    params = _check(units, kind, k, distance_m, islands_k)
    key = (weights_key(units), kind, tuple(sorted(params.items())))
    if cache:
        with _lock:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit
    ids = np.asarray(units["id"], dtype=np.int64)
    if kind == "queen":
        matrix, islands = _queen(units, islands_k)
    elif kind == "knn":
        matrix, islands = _knn(_centroids_m(units), params["k"]), np.array([], dtype=np.int64)
    else:
        matrix, islands = _distance(_centroids_m(units), params["distance_m"], islands_k)
    w = Weights(ids, matrix, kind, params, tuple(int(i) for i in ids[islands]))
    if cache:
        with _lock:
            _cache[key] = w
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return w


def _check(
    units: gpd.GeoDataFrame, kind: str, k: int, distance_m: float | None, islands_k: int
) -> dict[str, Any]:
    if kind not in KINDS:
        raise InvalidInput(f"weights={kind!r}; expected one of {KINDS}", field="weights")
    n = len(units)
    if n < 2:
        raise InvalidInput(f"{n} unit(s); spatial weights need at least 2", field="units")
    ids = np.asarray(units["id"])
    if len(np.unique(ids)) != n:
        raise InvalidInput("unit ids are not unique", field="units")
    if units.geometry.isna().any() or units.geometry.is_empty.any():
        raise InvalidInput("a unit has no geometry", field="units")
    for name, value in (("k", k), ("islands_k", islands_k)):
        if not isinstance(value, int | np.integer) or not 1 <= value <= MAX_K:
            raise InvalidInput(f"{name}={value!r}; expected an integer in 1..{MAX_K}", field=name)
    if kind == "knn":
        if k > n - 1:
            raise InvalidInput(f"k={k} but there are only {n} units", field="k")
        return {"k": int(k)}
    if kind == "distance":
        if not (
            isinstance(distance_m, int | float) and math.isfinite(distance_m) and distance_m > 0
        ):
            raise InvalidInput(
                f"distance_m={distance_m!r}; expected a distance in metres > 0 for "
                "weights='distance'",
                field="distance_m",
            )
        return {"distance_m": float(distance_m), "islands_k": int(min(islands_k, n - 1))}
    if not units.geom_type.isin(["Polygon", "MultiPolygon"]).all():
        raise InvalidInput(
            "weights='queen' needs polygons; use 'knn' or 'distance' for points", field="weights"
        )
    return {"islands_k": int(min(islands_k, n - 1))}


def _centroids_m(units: gpd.GeoDataFrame) -> NDArray[np.float64]:
    """Unit centroids (representative points for polygons) in metres, (n, 2)."""
    import shapely

    geoms = units.geometry
    if geoms.crs is not None and not geoms.crs.is_geographic:
        pts = shapely.point_on_surface(np.asarray(geoms.values))
        return np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])
    pts = shapely.point_on_surface(np.asarray(geoms.values))
    lon, lat = shapely.get_x(pts), shapely.get_y(pts)
    from pyproj import Transformer

    tr = Transformer.from_crs("EPSG:4326", metric_crs(lon, lat), always_xy=True)
    x, y = tr.transform(lon, lat)
    return np.column_stack([x, y])


def _binary(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float64)
    m.setdiag(0)
    m.eliminate_zeros()
    m.data[:] = 1.0
    m.sort_indices()
    return m


def _nearest(xy: NDArray[np.float64], rows: NDArray[np.int64], k: int) -> sp.csr_matrix:
    """Links from each of ``rows`` to its k nearest other units (n x n)."""
    from scipy.spatial import cKDTree

    n = len(xy)
    if rows.size == 0:
        return sp.csr_matrix((n, n))
    _, nn = cKDTree(xy).query(xy[rows], k=k + 1)
    nn = np.asarray(nn, dtype=np.int64).reshape(rows.size, k + 1)
    # drop the unit itself, wherever a tie put it in the answer, and keep k of the others
    other = nn != rows[:, None]
    keep = other & (np.cumsum(other, axis=1) <= k)
    r_idx = np.broadcast_to(rows[:, None], nn.shape)[keep]
    return sp.csr_matrix((np.ones(r_idx.size), (r_idx, nn[keep])), shape=(n, n))


def _attach_islands(
    m: sp.csr_matrix, xy: NDArray[np.float64], islands_k: int
) -> tuple[sp.csr_matrix, NDArray[np.int64]]:
    islands = np.flatnonzero(np.diff(m.indptr) == 0).astype(np.int64)
    if islands.size == 0:
        return m, islands
    links = _nearest(xy, islands, islands_k)
    return _binary(m + links + links.T), islands


def _queen(units: gpd.GeoDataFrame, islands_k: int) -> tuple[sp.csr_matrix, NDArray[np.int64]]:
    from libpysal.graph import Graph

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands and disconnected components: handled here
        g = Graph.build_contiguity(units.geometry.reset_index(drop=True), rook=False)
    m = _binary(g.sparse)
    islands = np.flatnonzero(np.diff(m.indptr) == 0)
    if islands.size == 0:
        return m, islands.astype(np.int64)
    return _attach_islands(m, _centroids_m(units), islands_k)


def _knn(xy: NDArray[np.float64], k: int) -> sp.csr_matrix:
    return _binary(_nearest(xy, np.arange(len(xy), dtype=np.int64), k))


def _distance(
    xy: NDArray[np.float64], distance_m: float, islands_k: int
) -> tuple[sp.csr_matrix, NDArray[np.int64]]:
    from scipy.spatial import cKDTree

    tree = cKDTree(xy)
    links = int(tree.query_ball_point(xy, distance_m, return_length=True).sum()) - len(xy)
    if links > MAX_LINKS:
        raise InvalidInput(
            f"distance_m={distance_m:g} links {links:,} pairs of units; at most {MAX_LINKS:,}: "
            "use a shorter distance",
            field="distance_m",
        )
    pairs = tree.query_pairs(distance_m, output_type="ndarray")
    both = np.concatenate([pairs, pairs[:, ::-1]]) if len(pairs) else np.empty((0, 2), np.int64)
    n = len(xy)
    m = _binary(sp.csr_matrix((np.ones(len(both)), (both[:, 0], both[:, 1])), shape=(n, n)))
    return _attach_islands(m, xy, islands_k)
