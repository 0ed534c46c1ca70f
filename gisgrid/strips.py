"""A strip index for "which polygon of a tiling covers this point", mostly by lookup.

The plane is cut into horizontal strips of height ``h``. In each strip, every polygon edge
occupies an x-interval (its extent inside the strip, padded by a hair). Merged, these
intervals are the strip's *edge zones*; between them lie *clean zones*, which no edge touches,
so each lies wholly inside one polygon or outside all: its label is read once, at build time,
from the crossings of the strip's midline (even-odd, per polygon). A point is then resolved by
one binary search over the breakpoints of all strips:

- in a clean zone: its label, no geometry at all (most points);
- in an edge zone holding one edge that crosses the whole strip: the side of that edge, one
  cross product, gives the label of the clean zone on that side;
- anywhere else (a vertex or several edges in the zone, a point exactly on an edge, overlapping
  polygons): the exact test, GEOS ``intersects`` (closed: a point on the boundary counts) on
  the candidates of an STRtree, keeping the lowest polygon index among those that cover it.

Coordinates are used as given (lon/lat), so results agree with planar predicates such as
PostGIS ``ST_Covers`` on SRID 4326. Paddings keep float rounding of a point's strip or key on
the safe side: a point near a zone boundary falls into the edge zone and is tested.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

OUTSIDE = -1
_EXACT = -2
_PAD = 1e-9  # degrees; far above the rounding of the keys (about 1e-11)


@dataclass
class StripIndex:
    """See the module docstring. Build with :meth:`build`, query with :meth:`locate`.

    Examples
    --------
    >>> a = shapely.box(0, 0, 1, 1)
    >>> b = shapely.box(1, 0, 2, 1)
    >>> idx = StripIndex.build(np.array([a, b]))
    >>> idx.locate(np.array([0.5, 1.5, 1.0, 3.0]), np.array([0.5, 0.5, 0.5, 0.5])).tolist()
    [0, 1, 0, -1]
    """

    geoms: np.ndarray
    y0: float
    h: float
    n_strips: int
    width: float
    x0: float
    keys: np.ndarray  # sorted breakpoints, strip * width + (x - x0)
    strip_off: np.ndarray  # first key of each strip (n_strips + 1)
    clean_label: np.ndarray  # label of clean zone j (global numbering)
    zone_kind: np.ndarray  # per edge zone: 0 exact, 1 one edge
    zone_seg: np.ndarray  # per edge zone: (x0, y0, x1, y1) of its edge, upward
    tree: shapely.STRtree
    bx0: float = 0.0  # x of the first hint bucket
    bw: float = 1.0  # width of a hint bucket
    n_buckets: int = 0
    hint: np.ndarray | None = None  # keys <= each bucket's left edge, per strip and bucket

    @classmethod
    def build(cls, geoms: np.ndarray, h: float | None = None) -> StripIndex:
        geoms = np.asarray(geoms, dtype=object)
        shapely.prepare(geoms)
        tree = shapely.STRtree(geoms)
        bounds = shapely.bounds(geoms)
        if h is None:
            heights = bounds[:, 3] - bounds[:, 1]
            h = float(np.median(heights[heights > 0]) / 25) if (heights > 0).any() else 1.0
        ymin, ymax = float(np.nanmin(bounds[:, 1])), float(np.nanmax(bounds[:, 3]))
        xmin, xmax = float(np.nanmin(bounds[:, 0])), float(np.nanmax(bounds[:, 2]))
        x0 = xmin - 1.0
        width = (xmax - x0) + 2.0
        y0 = ymin - h
        n_strips = int(np.floor((ymax - y0) / h)) + 2

        sx0, sy0, sx1, sy1, spoly = _segments(geoms)
        # Edge intervals per strip, from the segments without their duplicates (a shared edge
        # is stored once per polygon).
        ux0, uy0, ux1, uy1 = _unique_segments(sx0, sy0, sx1, sy1)
        seg, strip, xa, xb, spans = _intervals(ux0, uy0, ux1, uy1, y0, h)
        order = np.lexsort((xa, strip))
        seg, strip, xa, xb, spans = seg[order], strip[order], xa[order], xb[order], spans[order]
        gxa = strip * width + (xa - x0)
        gxb = strip * width + (xb - x0)
        run_max = np.maximum.accumulate(gxb)
        new_zone = np.ones(len(gxa), dtype=bool)
        new_zone[1:] = gxa[1:] > run_max[:-1]
        zone_of = np.cumsum(new_zone) - 1
        n_zones = int(zone_of[-1]) + 1 if len(zone_of) else 0
        z_left = gxa[new_zone]
        z_right = np.maximum.reduceat(gxb, np.flatnonzero(new_zone)) if n_zones else gxb[:0]
        z_strip = strip[new_zone]
        z_count = np.bincount(zone_of, minlength=n_zones)
        z_first = np.flatnonzero(new_zone)
        one = (z_count == 1) & spans[z_first]
        zone_kind = one.astype(np.int8)
        zone_seg = np.column_stack(
            [ux0[seg[z_first]], uy0[seg[z_first]], ux1[seg[z_first]], uy1[seg[z_first]]]
        )
        keys = np.empty(2 * n_zones)
        keys[0::2] = z_left
        keys[1::2] = z_right
        zones_per_strip = np.bincount(z_strip, minlength=n_strips)
        strip_off = np.zeros(n_strips + 1, dtype=np.int64)
        strip_off[1:] = np.cumsum(2 * zones_per_strip)
        clean_label = _clean_labels(
            sx0,
            sy0,
            sx1,
            sy1,
            spoly,
            y0,
            h,
            width,
            x0,
            z_right,
            z_strip,
            zones_per_strip,
            n_strips,
        )
        index = cls(
            geoms,
            y0,
            h,
            n_strips,
            width,
            x0,
            keys,
            strip_off,
            clean_label,
            zone_kind,
            zone_seg,
            tree,
        )
        index._build_hint(xmin, xmax)
        return index

    def _build_hint(self, xmin: float, xmax: float, max_cells: int = 8_000_000) -> None:
        """A table of starting positions per strip and x-bucket, so a lookup reads a few
        neighbouring keys instead of binary-searching all of them (cache misses dominate)."""
        span = max(xmax - xmin, 1e-12)
        n_b = int(max(1, min(np.ceil(span / self.h), max_cells // max(self.n_strips, 1))))
        self.bx0, self.bw, self.n_buckets = xmin, span / n_b, n_b
        # count keys per (strip, bucket) cell; a cumulative sum gives each cell's first key
        k_strip = (self.keys // self.width).astype(np.int64)
        k_x = self.keys - k_strip * self.width + self.x0
        k_b = np.clip(np.floor((k_x - xmin) / self.bw) + 1, 0, n_b).astype(np.int64)
        counts = np.bincount(k_strip * (n_b + 1) + k_b, minlength=self.n_strips * (n_b + 1))
        self.hint = np.cumsum(counts)  # keys of earlier strips, or left of the bucket's edge

    def _positions(self, si: np.ndarray, xs: np.ndarray, key: np.ndarray) -> np.ndarray:
        """searchsorted(keys, key, 'right'), through the hint table."""
        if self.hint is None:
            return np.searchsorted(self.keys, key, side="right")
        b = np.clip(np.floor((xs - self.bx0) / self.bw), 0, self.n_buckets - 1).astype(np.int64)
        cell = si * (self.n_buckets + 1) + b
        pos = self.hint[cell].copy()
        hi = self.hint[cell + 1]
        keys = self.keys
        n_keys = len(keys)
        # x below the first bucket, or rounding at a bucket edge: step back while needed
        act = np.flatnonzero(pos > 0)
        while len(act):
            back = keys[pos[act] - 1] > key[act]
            act = act[back]
            pos[act] -= 1
            act = act[pos[act] > 0]
        # forward over the few keys inside the bucket (and past it, for x beyond the last)
        hi = np.where(b == self.n_buckets - 1, self.strip_off[si + 1], hi)
        act = np.flatnonzero(pos < hi)
        while len(act):
            fwd = keys[np.minimum(pos[act], n_keys - 1)] <= key[act]
            act = act[fwd]
            pos[act] += 1
            act = act[pos[act] < hi[act]]
        return pos

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Index of the polygon covering each point (lowest index on ties), or -1."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        out = np.full(len(x), OUTSIDE, dtype=np.int64)
        ok = np.isfinite(x) & np.isfinite(y)
        s = np.floor((y - self.y0) / self.h)
        ok &= (s >= 0) & (s < self.n_strips)
        idx = np.flatnonzero(ok)
        si = s[idx].astype(np.int64)
        key = si * self.width + (x[idx] - self.x0)
        pos = self._positions(si, x[idx], key)
        local = pos - self.strip_off[si]
        clean = (local % 2) == 0
        # clean zone j of strip s has global number (strip_off[s] / 2) + s + j
        cz = self.strip_off[si] // 2 + si + local // 2
        label = np.where(clean, self.clean_label[np.where(clean, cz, 0)], _EXACT)
        edge = ~clean
        if edge.any():
            zi = (pos[edge] - 1) // 2  # global edge-zone number
            kind = self.zone_kind[zi]
            line = kind == 1
            sub = np.flatnonzero(edge)[line]
            zl = zi[line]
            sx0, sy0, sx1, sy1 = self.zone_seg[zl].T
            px, py = x[idx[sub]], y[idx[sub]]
            cross = (sx1 - sx0) * (py - sy0) - (sy1 - sy0) * (px - sx0)
            # clean zone left of edge zone k in strip s is number k - ... : left = cz, right = cz+1
            left_cz = self.strip_off[si[sub]] // 2 + si[sub] + (local[sub] - 1) // 2
            lab = np.where(cross > 0, self.clean_label[left_cz], self.clean_label[left_cz + 1])
            lab = np.where(cross == 0, _EXACT, lab)
            label[sub] = lab
        out[idx] = label
        exact = np.flatnonzero(out == _EXACT)
        if len(exact):
            out[exact] = self._exact(x[exact], y[exact])
        return out

    def _exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        pts = shapely.points(x, y)
        pi, gi = self.tree.query(pts, predicate="intersects")
        res = np.full(len(pts), OUTSIDE, dtype=np.int64)
        if len(pi):
            # lowest polygon index among those covering the point: the tie rule
            order = np.lexsort((gi, pi))
            pi, gi = pi[order], gi[order]
            first = np.ones(len(pi), dtype=bool)
            first[1:] = pi[1:] != pi[:-1]
            res[pi[first]] = gi[first]
        return res


def _segments(geoms: np.ndarray) -> tuple[np.ndarray, ...]:
    parts, part_poly = shapely.get_parts(geoms, return_index=True)
    ring_geoms, ring_part = shapely.get_rings(parts, return_index=True)
    ring_poly = part_poly[ring_part]
    coords, ring_of = shapely.get_coordinates(ring_geoms, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    a = coords[:-1][same]
    b = coords[1:][same]
    poly = ring_poly[ring_of[:-1][same]]
    nz = (a[:, 0] != b[:, 0]) | (a[:, 1] != b[:, 1])
    return a[nz, 0], a[nz, 1], b[nz, 0], b[nz, 1], poly[nz]


def _unique_segments(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Segments oriented upward (y0 <= y1), duplicates removed."""
    flip = (y0 > y1) | ((y0 == y1) & (x0 > x1))
    ax = np.where(flip, x1, x0)
    ay = np.where(flip, y1, y0)
    bx = np.where(flip, x0, x1)
    by = np.where(flip, y0, y1)
    u = np.unique(np.column_stack([ax, ay, bx, by]), axis=0)
    return u[:, 0], u[:, 1], u[:, 2], u[:, 3]


def _intervals(
    x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray, ys: float, h: float
) -> tuple[np.ndarray, ...]:
    """(segment, strip, x from, x to, spans the whole padded strip) for every strip touched."""
    pad_y = h * 1e-6 + _PAD
    s_lo = np.floor((y0 - pad_y - ys) / h).astype(np.int64)
    s_hi = np.floor((y1 + pad_y - ys) / h).astype(np.int64)
    n = s_hi - s_lo + 1
    seg = np.repeat(np.arange(len(x0)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    strip = s_lo[seg] + (np.arange(len(seg)) - start)
    lo = ys + strip * h - pad_y
    hi = ys + (strip + 1) * h + pad_y
    dy = y1[seg] - y0[seg]
    dx = x1[seg] - x0[seg]
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = np.clip((lo - y0[seg]) / dy, 0.0, 1.0)
        tb = np.clip((hi - y0[seg]) / dy, 0.0, 1.0)
    flat = dy == 0
    ta = np.where(flat, 0.0, ta)
    tb = np.where(flat, 1.0, tb)
    xa = x0[seg] + ta * dx
    xb = x0[seg] + tb * dx
    left = np.minimum(xa, xb) - _PAD
    right = np.maximum(xa, xb) + _PAD
    spans = (y0[seg] < lo) & (y1[seg] > hi)
    return seg, strip, left, right, spans


def _clean_labels(
    x0: np.ndarray,
    y0: np.ndarray,
    x1: np.ndarray,
    y1: np.ndarray,
    poly: np.ndarray,
    ys: float,
    h: float,
    width: float,
    xs: float,
    z_right: np.ndarray,
    z_strip: np.ndarray,
    zones_per_strip: np.ndarray,
    n_strips: int,
) -> np.ndarray:
    """Label of every clean zone, from the even-odd state along each strip's midline."""
    lo = np.minimum(y0, y1)
    hi = np.maximum(y0, y1)
    s_lo = np.ceil((lo - ys) / h - 0.5).astype(np.int64)
    s_hi = np.ceil((hi - ys) / h - 0.5).astype(np.int64) - 1
    n = np.maximum(s_hi - s_lo + 1, 0)
    seg = np.repeat(np.arange(len(x0)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    strip = s_lo[seg] + (np.arange(len(seg)) - start)
    ym = ys + (strip + 0.5) * h
    # the half-open rule lo <= ym < hi, re-checked after rounding
    keep = (lo[seg] <= ym) & (ym < hi[seg])
    seg, strip, ym = seg[keep], strip[keep], ym[keep]
    xm = x0[seg] + (ym - y0[seg]) * (x1[seg] - x0[seg]) / (y1[seg] - y0[seg])
    p = poly[seg]
    key = strip * width + (xm - xs)
    order = np.lexsort((key, p, strip))  # by strip, polygon, x: parity per polygon
    strip_o, p_o = strip[order], p[order]
    grp_start = np.ones(len(order), dtype=bool)
    grp_start[1:] = (strip_o[1:] != strip_o[:-1]) | (p_o[1:] != p_o[:-1])
    grp_id = np.cumsum(grp_start) - 1
    first_of_grp = np.flatnonzero(grp_start)
    rank = np.arange(len(order)) - first_of_grp[grp_id]
    sign = np.empty(len(order), dtype=np.int64)
    sign[order] = np.where(rank % 2 == 0, 1, -1)  # odd count so far: inside
    # now in x order within strip
    xorder = np.argsort(key, kind="stable")
    sx = sign[xorder]
    sp = p[xorder] + 1  # polygon number + 1, so "outside" sums to 0
    a = np.cumsum(sx)
    b = np.cumsum(sx * sp)
    k_sorted = key[xorder]
    # state just after each edge zone = cumulative values at its last crossing
    n_zones = len(z_right)
    last = np.searchsorted(k_sorted, z_right, side="right") - 1
    # subtract what came before the strip of each zone
    strip_start_key = z_strip * width
    before = np.searchsorted(k_sorted, strip_start_key, side="left") - 1
    a_z = np.where(last >= 0, a[np.maximum(last, 0)], 0) - np.where(
        before >= 0, a[np.maximum(before, 0)], 0
    )
    b_z = np.where(last >= 0, b[np.maximum(last, 0)], 0) - np.where(
        before >= 0, b[np.maximum(before, 0)], 0
    )
    after = np.where(a_z == 0, OUTSIDE, np.where(a_z == 1, b_z - 1, _EXACT))
    # clean zones: per strip, one before the first edge zone, then one after each
    total = n_strips + n_zones
    labels = np.full(total, OUTSIDE, dtype=np.int64)
    zone_idx = np.arange(n_zones)
    zone_first_of_strip = np.cumsum(zones_per_strip) - zones_per_strip
    k_in_strip = zone_idx - zone_first_of_strip[z_strip]
    # clean zone after edge zone k of strip s: global number zone_first*1 + s + k + 1
    labels[zone_first_of_strip[z_strip] + z_strip + k_in_strip + 1] = after
    return labels
