"""Strip indexes per tile of a quadtree, each with the strip height its own grids need.

A city's grids differ in size a hundredfold: a few hundred metres in the centre, tens of
kilometres in the countryside. One strip height for the whole city was either too coarse for
the centre (on the city twin half of the urban points fell into edge zones and were walked)
or too fine for the countryside (millions of edge intervals for long rural edges). So the
extent is cut as a quadtree until a tile reaches into at most ``max_polygons`` polygons; each
leaf gets a :class:`~gisgrid.assign.strips.StripIndex` of the polygons that reach into it,
windowed to its box, with the strip height those polygons need; a point finds its leaf
through a raster of the smallest tile size. A leaf holds every polygon that reaches into its
box, in the order of the whole index, so its answers (and the lowest-index tie rule) are the
whole index's.

Examples
--------
>>> boxes = np.array([shapely.box(i, 0, i + 1, 1) for i in range(8)])
>>> idx = TiledIndex.build(boxes, max_polygons=3)
>>> len(idx.leaves) > 1
True
>>> idx.locate(np.array([0.5, 3.0, 7.5, 9.0]), np.array([0.5, 0.5, 0.5, 0.5])).tolist()
[0, 2, 7, -1]
>>> idx.locate_one(3.0, 0.5)
2
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from gisgrid.assign.strips import _SLOW, OUTSIDE, StripIndex

_MAX_DEPTH = 7  # a raster of at most 128 x 128 tiles


@dataclass
class TiledIndex:
    """See the module docstring. Build with :meth:`build`, query with :meth:`locate`."""

    geoms: np.ndarray
    tree: shapely.STRtree
    x0: float
    y0: float
    cw: float  # raster cell width and height, degrees
    ch: float
    n: int  # raster cells per side
    leaf_of_cell: np.ndarray  # (n * n,) leaf number of each raster cell, -1 where none
    leaves: list[tuple[np.ndarray, StripIndex]]  # (polygon numbers, index of those)
    table: np.ndarray  # the leaves' tables one after the other (labels within the leaf)
    members: np.ndarray  # the leaves' polygon numbers one after the other
    leaf_par: dict[str, np.ndarray]  # per leaf: y0, h, bx0, bw, buckets, cell0, member0
    exact_count: int = 0  # points the last locate() had to test exactly
    search_count: int = 0  # points the last locate() had to search (the table left open)

    @classmethod
    def build(
        cls, geoms: np.ndarray, h: float | None = None, max_polygons: int = 3000
    ) -> TiledIndex:
        geoms = np.asarray(geoms, dtype=object)
        shapely.prepare(geoms)
        tree = shapely.STRtree(geoms)
        bounds = shapely.bounds(geoms)
        xmin, ymin = np.nanmin(bounds[:, 0]), np.nanmin(bounds[:, 1])
        xmax, ymax = np.nanmax(bounds[:, 2]), np.nanmax(bounds[:, 3])
        # a hair of margin, so that points on the extent's east and north edges have a cell
        pad = 1e-9 * max(xmax - xmin, ymax - ymin, 1.0)
        x0, y0 = float(xmin - pad), float(ymin - pad)
        n = 2**_MAX_DEPTH
        cw, ch = float(xmax + pad - x0) / n, float(ymax + pad - y0) / n
        leaf_of_cell = np.full((n, n), -1, dtype=np.int32)
        leaves: list[tuple[np.ndarray, StripIndex]] = []
        todo = [(0, 0, n)]  # (first row, first column, cells per side)
        while todo:
            i, j, size = todo.pop()
            box = (x0 + j * cw, y0 + i * ch, x0 + (j + size) * cw, y0 + (i + size) * ch)
            # every polygon whose bounding box reaches into the tile: a superset of those
            # that cover a point in it, in index order (the tie rule)
            members = np.sort(tree.query(shapely.box(*box)))
            if not len(members):
                continue
            if len(members) > max_polygons and size > 1:
                half = size // 2
                todo += [(i + di, j + dj, half) for di in (0, half) for dj in (0, half)]
                continue
            leaf_of_cell[i : i + size, j : j + size] = len(leaves)
            leaves.append((members, StripIndex.build(geoms[members], h, window=box)))
        # one table for all leaves: a point reads its cell without being grouped by leaf
        # (the leaves search for the few points that the table leaves open)
        par: dict[str, list[float]] = {k: [] for k in ("y0", "h", "bx0", "bw", "nb", "c0", "m0")}
        tables, cell0, member0 = [], 0, 0
        for members, idx in leaves:
            assert idx.table is not None
            values = (idx.y0, idx.h, idx.bx0, idx.bw, idx.n_buckets, cell0, member0)
            for k, v in zip(par, values, strict=True):
                par[k].append(v)
            tables.append(idx.table)
            cell0 += len(idx.table)
            member0 += len(members)
            idx.table = None
        # labels within a leaf are small: half the memory of polygon numbers
        small = max((len(m) for m, _ in leaves), default=0) < 2**15
        table = np.concatenate(tables) if tables else np.zeros(0, np.int32)
        return cls(
            geoms, tree, x0, y0, cw, ch, n, leaf_of_cell.ravel(), leaves,
            table.astype(np.int16 if small else np.int32),
            np.concatenate([m for m, _ in leaves]) if leaves else np.zeros(0, np.int64),
            {k: np.array(v, dtype=np.float64) for k, v in par.items()},
        )  # fmt: skip

    def _leaf(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            cx = np.floor((x - self.x0) / self.cw)
            cy = np.floor((y - self.y0) / self.ch)
            ok = (cx >= 0) & (cx < self.n) & (cy >= 0) & (cy < self.n)  # False for NaN
        cell = np.where(ok, cy * self.n + cx, 0).astype(np.int64)
        return np.where(ok, self.leaf_of_cell[cell], -1)

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the polygon covering each point (lowest index on ties), or -1."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        leaf = self._leaf(x, y)
        # the table read of :meth:`StripIndex._locate`, with each point's leaf's parameters;
        # a point is inside its leaf's window (up to rounding, which the table's margins
        # absorb), so only the bucket needs clamping
        lf = np.maximum(leaf, 0)
        p = self.leaf_par
        nb = p["nb"][lf]
        with np.errstate(invalid="ignore"):
            s = np.floor((y - p["y0"][lf]) / p["h"][lf])
            b = np.clip(np.floor((x - p["bx0"][lf]) / p["bw"][lf]), 0, nb - 1)
            cell = np.where(leaf >= 0, p["c0"][lf] + s * nb + b, 0).astype(np.int64)
        label = np.where(leaf >= 0, self.table[cell], OUTSIDE)
        hit = label >= 0
        member = np.where(hit, p["m0"][lf].astype(np.int64) + label, 0)
        out = np.where(hit, self.members[member], label).astype(np.int64)
        slow = np.flatnonzero(out == _SLOW)
        self.exact_count, self.search_count = 0, len(slow)
        if not len(slow):
            return out
        # the rest, grouped by leaf (a radix sort on small integers)
        small = np.int16 if len(self.leaves) < 2**15 else np.int32
        order = slow[np.argsort(leaf[slow].astype(small), kind="stable")]
        ends = np.cumsum(np.bincount(leaf[order], minlength=len(self.leaves)))
        for k, (members, idx) in enumerate(self.leaves):
            lo, hi = (ends[k - 1] if k else 0), ends[k]
            if lo == hi:
                continue
            sel = order[lo:hi]
            got = idx.locate(x[sel], y[sel])
            out[sel] = np.where(got >= 0, members[np.maximum(got, 0)], OUTSIDE)
            self.exact_count += idx.exact_count
        return out

    def locate_one(self, x: float, y: float) -> int:
        """:meth:`locate` for one point, without array set-up: what a single request pays."""
        cx = (x - self.x0) / self.cw
        cy = (y - self.y0) / self.ch
        if not (0 <= cx < self.n and 0 <= cy < self.n):  # False for NaN
            return OUTSIDE
        leaf = int(self.leaf_of_cell[math.floor(cy) * self.n + math.floor(cx)])
        if leaf < 0:
            return OUTSIDE
        members, idx = self.leaves[leaf]
        got = idx.locate_one(x, y)
        return int(members[got]) if got >= 0 else OUTSIDE
