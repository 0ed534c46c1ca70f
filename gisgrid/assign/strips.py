"""A strip index for "which polygon of a tiling covers this point", mostly by lookup.

The plane is cut into horizontal strips of height ``h``. In each strip, every polygon edge
occupies an x-interval (its extent inside the strip, padded by a hair). Merged, these
intervals are the strip's *edge zones*; between them lie *clean zones*, which no edge touches,
so each lies wholly inside one polygon or outside all. Polygons are oriented (exteriors
counter-clockwise, holes clockwise), so every edge knows the polygon on its west and on its
east side; a clean zone's label follows from the edges its strip's midline crosses to its
left. A point is resolved by one search over the breakpoints of all strips (through a hint
table per strip and x-bucket):

- in a clean zone: its label, no geometry at all (most points);
- in an edge zone: start from the clean zone on its left and walk east along the point's own
  row across the zone's few edges (left of the point), leaving the polygon west of each edge
  and entering the one east of it;
- a point on an edge or a vertex, or where polygons overlap: the exact test, GEOS
  ``intersects`` (closed: a point on the boundary counts) on the candidates of an STRtree,
  keeping the lowest polygon index among those that cover it (the tie rule).

Coordinates are used as given (lon/lat), so results agree with planar predicates such as
PostGIS ``ST_Covers`` on SRID 4326. Paddings keep float rounding of a point's strip or key on
the safe side: a point near a zone boundary falls into the edge zone and is walked.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely

OUTSIDE = -1
_EXACT = -2
_PAD = 1e-9  # degrees; far above the rounding of the keys (about 1e-11)
_BAD = 1 << 40  # makes the running polygon count impossible: "resolve exactly"
_MAX_WALK = 64  # edges in a zone beyond which its points take the exact test
_PAIRS = 1_000_000  # (point, edge) pairs walked at once: bounds the memory
_BLOCK = 500_000  # points located at once in large calls


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
    keys: np.ndarray  # sorted breakpoints: strip * width + (x - x0)
    strip_off: np.ndarray  # first key of each strip (n_strips + 1)
    clean_label: np.ndarray  # label of each clean zone (global numbering)
    zone_ptr: np.ndarray  # edge zone z holds segments zone_seg[zone_ptr[z]:zone_ptr[z + 1]]
    zone_seg: np.ndarray
    seg: np.ndarray  # unique segments, upward: x0, y0, x1, y1 (n, 4)
    seg_west: np.ndarray  # polygon west of each segment (-1 none; _BAD overlapping)
    seg_east: np.ndarray
    seg_da: np.ndarray  # crossing a segment eastward: change of the count of polygons inside
    seg_ds: np.ndarray  # ... and of the sum of (polygon number + 1)
    tree: shapely.STRtree
    bx0: float = 0.0
    bw: float = 1.0
    n_buckets: int = 0
    hint: np.ndarray | None = None
    exact_count: int = 0  # points the last locate() had to test exactly (the slow path)

    @classmethod
    def build(cls, geoms: np.ndarray, h: float | None = None) -> StripIndex:
        geoms = np.asarray(geoms, dtype=object)
        shapely.prepare(geoms)
        tree = shapely.STRtree(geoms)
        bounds = shapely.bounds(geoms)
        seg, west, east = _sided_segments(geoms)
        if h is None:
            h = _default_h(bounds, seg)
        ymin, ymax = float(np.nanmin(bounds[:, 1])), float(np.nanmax(bounds[:, 3]))
        xmin, xmax = float(np.nanmin(bounds[:, 0])), float(np.nanmax(bounds[:, 2]))
        x0 = xmin - 1.0
        width = (xmax - x0) + 2.0
        y0 = ymin - h
        n_strips = int(np.floor((ymax - y0) / h)) + 2

        sid, strip, xa, xb = _intervals(seg, y0, h)
        gxa = strip * width + (xa - x0)
        order = np.argsort(gxa)  # by strip, then x: one float key
        sid, strip, gxa = sid[order], strip[order], gxa[order]
        gxb = strip * width + (xb[order] - x0)
        run_max = np.maximum.accumulate(gxb) if len(gxb) else gxb
        new_zone = np.ones(len(gxa), dtype=bool)
        new_zone[1:] = gxa[1:] > run_max[:-1]
        starts = np.flatnonzero(new_zone)
        n_zones = len(starts)
        z_left = gxa[starts]
        z_right = np.maximum.reduceat(gxb, starts) if n_zones else gxb[:0]
        z_strip = strip[starts]
        zone_ptr = np.append(starts, len(sid)).astype(np.int64)
        keys = np.empty(2 * n_zones)
        keys[0::2] = z_left
        keys[1::2] = z_right
        zones_per_strip = np.bincount(z_strip, minlength=n_strips)
        strip_off = np.zeros(n_strips + 1, dtype=np.int64)
        strip_off[1:] = np.cumsum(2 * zones_per_strip)
        clean_label = _clean_labels(
            seg, west, east, y0, h, width, x0, z_right, z_strip, zones_per_strip, n_strips
        )
        seg_da, seg_ds = _deltas(west, east)
        index = cls(
            geoms, y0, h, n_strips, width, x0, keys, strip_off, clean_label, zone_ptr, sid,
            seg, west, east, seg_da.astype(np.float64), seg_ds.astype(np.float64), tree,
        )  # fmt: skip
        index._build_hint(xmin, xmax)
        return index

    def _build_hint(self, xmin: float, xmax: float, max_cells: int = 8_000_000) -> None:
        """A table of starting positions per strip and x-bucket, so a lookup reads a few
        neighbouring keys instead of binary-searching all of them (cache misses dominate)."""
        span = max(xmax - xmin, 1e-12)
        n_b = int(max(1, min(np.ceil(span / self.h), max_cells // max(self.n_strips, 1))))
        self.bx0, self.bw, self.n_buckets = xmin, span / n_b, n_b
        # count keys per (strip, bucket) cell; the cumulative sum gives each cell's first key
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
        # rounding at a bucket edge, or x left of the first bucket: step back while needed
        # (only points within a hair of their bucket's left edge can need it)
        near_edge = (xs - (self.bx0 + b * self.bw)) < 1e-9
        act = np.flatnonzero(near_edge & (pos > 0))
        while len(act):
            back = keys[pos[act] - 1] > key[act]
            act = act[back]
            pos[act] -= 1
            act = act[pos[act] > 0]
        # forward over the few keys inside the bucket (past it, for x beyond the last one)
        hi = np.where(b == self.n_buckets - 1, self.strip_off[si + 1], hi)
        act = np.flatnonzero(pos < hi)
        while len(act):
            fwd = keys[np.minimum(pos[act], n_keys - 1)] <= key[act]
            act = act[fwd]
            pos[act] += 1
            act = act[pos[act] < hi[act]]
        return pos

    def locate(self, x: np.ndarray, y: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
        """Index of the polygon covering each point (lowest index on ties), or -1.

        ``n_jobs`` threads each take a slice of the points (numpy releases the GIL inside
        its array operations). Default 1: on the 2-core machine this was built on, two
        threads were slower than one (memory-bound gathers), so it is opt-in.
        """
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        jobs = min(n_jobs or 1, os.cpu_count() or 1, max(1, len(x) // 100_000))
        if jobs > 1:
            bounds = np.linspace(0, len(x), jobs + 1).astype(int)
            out = np.empty(len(x), dtype=np.int64)

            def run(i: int) -> None:
                sl = slice(bounds[i], bounds[i + 1])
                out[sl] = self._locate(x[sl], y[sl])

            with ThreadPoolExecutor(max_workers=jobs) as pool:
                list(pool.map(run, range(jobs)))
            return out
        if len(x) > 2 * _BLOCK:
            # Blocks keep every temporary array small enough to stay in cache: whole 10M-point
            # temporaries made the work memory-bound and slower than linear.
            out = np.empty(len(x), dtype=np.int64)
            for lo in range(0, len(x), _BLOCK):
                out[lo : lo + _BLOCK] = self._locate(x[lo : lo + _BLOCK], y[lo : lo + _BLOCK])
            return out
        return self._locate(x, y)

    def _locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.full(len(x), OUTSIDE, dtype=np.int64)
        with np.errstate(invalid="ignore"):
            s = np.floor((y - self.y0) / self.h)
            ok = np.isfinite(x) & np.isfinite(y) & (s >= 0) & (s < self.n_strips)
        if ok.all():  # the usual case: no gathers needed
            idx: np.ndarray | slice = slice(None)
            si, px, py = s.astype(np.int64), x, y
        else:
            idx = np.flatnonzero(ok)
            si = s[idx].astype(np.int64)
            px, py = x[idx], y[idx]
        key = si * self.width + (px - self.x0)
        pos = self._positions(si, px, key)
        # Each strip's keys come in pairs (edge zone left, right) and strip_off is even, so
        # pos is even exactly in a clean zone; the clean zone there (or, in an edge zone, the
        # one to its left) has the global number pos // 2 + strip.
        clean = (pos % 2) == 0
        cz = pos // 2 + si
        label = self.clean_label[cz]
        edge = np.flatnonzero(~clean)
        zone = (pos[edge] - 1) // 2
        # a zone crowded with edges (a tiny polygon, a long sliver) goes to the exact test:
        # walking it would cost more than GEOS
        n_seg = self.zone_ptr[zone + 1] - self.zone_ptr[zone]
        crowded = n_seg > _MAX_WALK
        label[edge[crowded]] = _EXACT
        edge, zone, n_seg = edge[~crowded], zone[~crowded], n_seg[~crowded]
        # walk in groups of at most _PAIRS (point, edge) pairs, to bound the memory
        cut = np.searchsorted(np.cumsum(n_seg), np.arange(_PAIRS, n_seg.sum(), _PAIRS), "right")
        for lo, hi in zip(np.r_[0, cut], np.r_[cut, len(edge)], strict=True):
            e, z = edge[lo:hi], zone[lo:hi]
            label[e] = self._walk(z, label[e], px[e], py[e])
        out[idx] = label
        exact = np.flatnonzero(out == _EXACT)
        self.exact_count = len(exact)
        if len(exact):
            out[exact] = self._exact(x[exact], y[exact])
        return out

    def _walk(
        self, zone: np.ndarray, left_label: np.ndarray, px: np.ndarray, py: np.ndarray
    ) -> np.ndarray:
        """Label of points in edge zones: the left clean zone's, updated by every zone edge
        that the point's row crosses west of the point."""
        n_seg = self.zone_ptr[zone + 1] - self.zone_ptr[zone]
        pair_pt = np.repeat(np.arange(len(zone)), n_seg)
        first = np.repeat(np.cumsum(n_seg) - n_seg, n_seg)
        k = self.zone_seg[np.repeat(self.zone_ptr[zone], n_seg) + np.arange(len(pair_pt)) - first]
        sx0, sy0, sx1, sy1 = self.seg[k].T
        qx, qy = px[pair_pt], py[pair_pt]
        cross = (sx1 - sx0) * (qy - sy0) - (sy1 - sy0) * (qx - sx0)
        # segments are upward: the row crosses one when y0 <= y < y1; west of the point when
        # the point is right of it going up (cross < 0)
        hits = (sy0 <= qy) & (qy < sy1) & (cross < 0)
        hk = k[hits]
        hp = pair_pt[hits]
        a = np.where(left_label >= 0, 1, 0) + np.bincount(hp, self.seg_da[hk], len(zone)).astype(
            np.int64
        )
        s = np.where(left_label >= 0, left_label + 1, 0) + np.bincount(
            hp, self.seg_ds[hk], len(zone)
        ).astype(np.int64)
        res = np.where(a == 0, OUTSIDE, np.where(a == 1, s - 1, _EXACT))
        res[left_label == _EXACT] = _EXACT
        # on an edge or a vertex: the tie rule needs every polygon that covers the point
        z = np.flatnonzero(cross == 0)
        on = z[
            (np.minimum(sx0[z], sx1[z]) <= qx[z])
            & (qx[z] <= np.maximum(sx0[z], sx1[z]))
            & (sy0[z] <= qy[z])
            & (qy[z] <= sy1[z])
        ]
        res[pair_pt[on]] = _EXACT
        return res

    def _exact(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        pts = shapely.points(x, y)
        pi, gi = self.tree.query(pts, predicate="intersects")
        res = np.full(len(pts), OUTSIDE, dtype=np.int64)
        if len(pi):
            # the lowest polygon index among those covering the point: the tie rule
            order = np.lexsort((gi, pi))
            pi, gi = pi[order], gi[order]
            first = np.ones(len(pi), dtype=bool)
            first[1:] = pi[1:] != pi[:-1]
            res[pi[first]] = gi[first]
        return res


def _deltas(west: np.ndarray, east: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Change of (polygons inside, sum of their numbers + 1) when crossing edges eastward:
    leave the west polygon, enter the east one. An overlap poisons the count."""
    bad = (west == _BAD) | (east == _BAD)
    d_a = (east >= 0).astype(np.int64) - (west >= 0)
    d_s = np.where(east >= 0, east + 1, 0) - np.where(west >= 0, west + 1, 0)
    return np.where(bad, _BAD, d_a), np.where(bad, 0, d_s)


def _default_h(bounds: np.ndarray, seg: np.ndarray) -> float:
    """A strip height: about a tenth of a typical polygon's height, but not so small that
    the strips' edge intervals explode (they grow with the edges' total height / h)."""
    heights = bounds[:, 3] - bounds[:, 1]
    heights = heights[np.isfinite(heights) & (heights > 0)]
    if not len(heights):
        return 1.0
    h = float(np.percentile(heights, 25) / 8)
    total_dy = float(np.sum(seg[:, 3] - seg[:, 1]))
    return max(h, total_dy / 500_000)


def _sided_segments(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique edges, upward (y0 <= y1), with the polygon west and east of each."""
    parts, part_poly = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    a = coords[:-1][same]
    b = coords[1:][same]
    ring = ring_of[:-1][same]
    poly = part_poly[ring_part[ring]]
    # Which side of an edge is inside depends on its ring's turn: an exterior ring turning
    # counter-clockwise (or a hole turning clockwise) has the inside on the left. Rather than
    # re-orient every ring, read each ring's turn from its signed area (shoelace formula).
    first = np.searchsorted(ring, np.arange(len(rings)))  # first edge of each ring
    o = a[np.minimum(first, len(a) - 1)][ring]  # measured from the ring's first vertex
    ra, rb = a - o, b - o
    twice_area = np.bincount(ring, ra[:, 0] * rb[:, 1] - rb[:, 0] * ra[:, 1], minlength=len(rings))
    is_exterior = np.ones(len(rings), dtype=bool)
    is_exterior[1:] = ring_part[1:] != ring_part[:-1]  # get_rings lists a part's exterior first
    inside_left = (twice_area > 0) == is_exterior
    flip = ~inside_left[ring]
    a, b = np.where(flip[:, None], b, a), np.where(flip[:, None], a, b)
    keep = (a[:, 0] != b[:, 0]) | (a[:, 1] != b[:, 1])
    a, b, poly = a[keep], b[keep], poly[keep]
    up = (a[:, 1] < b[:, 1]) | ((a[:, 1] == b[:, 1]) & (a[:, 0] < b[:, 0]))
    lo = np.where(up[:, None], a, b)
    hi = np.where(up[:, None], b, a)
    segs = np.column_stack([lo, hi])
    # duplicates (an edge shared by two polygons) become one segment with both sides
    order = np.lexsort((segs[:, 3], segs[:, 2], segs[:, 1], segs[:, 0]))
    srt = segs[order]
    new = np.ones(len(srt), dtype=bool)
    new[1:] = (srt[1:] != srt[:-1]).any(axis=1)
    uniq = srt[new]
    inv = np.empty(len(segs), dtype=np.int64)
    inv[order] = np.cumsum(new) - 1
    n = len(uniq)
    # an upward directed edge has its polygon on the west; a downward one on the east
    west = np.full(n, -1, dtype=np.int64)
    east = np.full(n, -1, dtype=np.int64)
    w_cnt = np.bincount(inv[up], minlength=n)
    e_cnt = np.bincount(inv[~up], minlength=n)
    west[inv[up]] = poly[up]
    east[inv[~up]] = poly[~up]
    # two polygons on one side: they overlap there; resolve such points exactly
    west[w_cnt > 1] = _BAD
    east[e_cnt > 1] = _BAD
    return uniq, west, east


def _intervals(seg: np.ndarray, ys: float, h: float) -> tuple[np.ndarray, ...]:
    """(segment, strip, x from, x to) for every strip a segment touches (padded)."""
    x0, y0, x1, y1 = seg.T
    pad_y = h * 1e-6 + _PAD
    s_lo = np.floor((y0 - pad_y - ys) / h).astype(np.int64)
    s_hi = np.floor((y1 + pad_y - ys) / h).astype(np.int64)
    n = s_hi - s_lo + 1
    sid = np.repeat(np.arange(len(x0)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    strip = s_lo[sid] + (np.arange(len(sid)) - start)
    lo = ys + strip * h - pad_y
    hi = ys + (strip + 1) * h + pad_y
    dy = y1[sid] - y0[sid]
    dx = x1[sid] - x0[sid]
    flat = dy == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = np.where(flat, 0.0, np.clip((lo - y0[sid]) / dy, 0.0, 1.0))
        tb = np.where(flat, 1.0, np.clip((hi - y0[sid]) / dy, 0.0, 1.0))
    xa = x0[sid] + ta * dx
    xb = x0[sid] + tb * dx
    return sid, strip, np.minimum(xa, xb) - _PAD, np.maximum(xa, xb) + _PAD


def _clean_labels(
    seg: np.ndarray,
    west: np.ndarray,
    east: np.ndarray,
    ys: float,
    h: float,
    width: float,
    xs: float,
    z_right: np.ndarray,
    z_strip: np.ndarray,
    zones_per_strip: np.ndarray,
    n_strips: int,
) -> np.ndarray:
    """Label of every clean zone, from the edges its strip's midline crosses to its left."""
    x0, y0, x1, y1 = seg.T
    s_lo = np.ceil((y0 - ys) / h - 0.5).astype(np.int64)
    s_hi = np.ceil((y1 - ys) / h - 0.5).astype(np.int64) - 1
    n = np.maximum(s_hi - s_lo + 1, 0)
    sid = np.repeat(np.arange(len(x0)), n)
    start = np.repeat(np.cumsum(n) - n, n)
    strip = s_lo[sid] + (np.arange(len(sid)) - start)
    ym = ys + (strip + 0.5) * h
    keep = (y0[sid] <= ym) & (ym < y1[sid])  # the half-open rule, re-checked after rounding
    sid, strip, ym = sid[keep], strip[keep], ym[keep]
    xm = x0[sid] + (ym - y0[sid]) * (x1[sid] - x0[sid]) / (y1[sid] - y0[sid])
    key = strip * width + (xm - xs)
    order = np.argsort(key)  # ties are crossings of one zone: their order does not matter
    sid, key = sid[order], key[order]
    d_a, d_s = _deltas(west[sid], east[sid])
    a = np.cumsum(d_a)
    b = np.cumsum(d_s)
    last = np.searchsorted(key, z_right, side="right") - 1
    before = np.searchsorted(key, z_strip * width, side="left") - 1
    a_z = np.where(last >= 0, a[np.maximum(last, 0)], 0) - np.where(
        before >= 0, a[np.maximum(before, 0)], 0
    )
    b_z = np.where(last >= 0, b[np.maximum(last, 0)], 0) - np.where(
        before >= 0, b[np.maximum(before, 0)], 0
    )
    after = np.where(a_z == 0, OUTSIDE, np.where(a_z == 1, b_z - 1, _EXACT))
    labels = np.full(n_strips + len(z_right), OUTSIDE, dtype=np.int64)
    zone_first_of_strip = np.cumsum(zones_per_strip) - zones_per_strip
    k_in_strip = np.arange(len(z_right)) - zone_first_of_strip[z_strip]
    labels[zone_first_of_strip[z_strip] + z_strip + k_in_strip + 1] = after
    return labels
