"""A strip index for "which polygon of a tiling covers this point", mostly by lookup.

The plane is cut into horizontal strips of height ``h``. In each strip, every polygon edge
occupies an x-interval (its extent inside the strip, padded by a hair). Merged, these
intervals are the strip's *edge zones*; between them lie *clean zones*, which no edge touches,
so each lies wholly inside one polygon or outside all. Polygons are oriented (exteriors
counter-clockwise, holes clockwise), so every edge knows the polygon on its west and on its
east side; a clean zone's label follows from the edges its strip's midline crosses to its
left. A point is resolved by one read of a table over the strips and x-buckets, which holds
the label of every cell lying wholly in one clean zone; the other points search the
breakpoints of their strip:

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

import math
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
_SLOW = -3  # a table cell that a point must search
_BUCKETS_PER_KEY = 16  # table cells per strip, per key in the strip: most cells hold no key
_FENCE = 1e-7  # degrees beyond a window that stay exact: far above the rounding of which
# window a point is in (about 1e-15), far below the size of a grid


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
    table: np.ndarray | None = None  # (n_strips * n_buckets,) label of each cell, or _SLOW
    exact_count: int = 0  # points the last locate() had to test exactly (the slow path)

    @classmethod
    def build(
        cls,
        geoms: np.ndarray,
        h: float | None = None,
        window: tuple[float, float, float, float] | None = None,
        max_cells: int = 8_000_000,
    ) -> StripIndex:
        """The index of ``geoms`` (strip height ``h``, or one chosen from them).

        With ``window`` (xmin, ymin, xmax, ymax) it answers only for points inside that box:
        it is built over the box's strips, and then keeps only the zones that reach into the
        box and the clean zones between them (their labels counted over whole strips, so
        exactly those of the index without a window). ``geoms`` must then hold every
        polygon that reaches into the box.
        """
        geoms = np.asarray(geoms, dtype=object)
        shapely.prepare(geoms)
        tree = shapely.STRtree(geoms)
        bounds = shapely.bounds(geoms)
        seg, west, east = _sided_segments(geoms)
        gxmin, gxmax = float(np.nanmin(bounds[:, 0])), float(np.nanmax(bounds[:, 2]))
        if window is None:
            window = (gxmin, float(np.nanmin(bounds[:, 1])), gxmax, float(np.nanmax(bounds[:, 3])))
        xmin, ymin, xmax, ymax = window
        if h is None:
            h = _default_h(bounds, seg, ymin, ymax)
        x0 = gxmin - 1.0
        width = (gxmax - x0) + 2.0
        y0 = ymin - h
        n_strips = int(np.floor((ymax - y0) / h)) + 2

        sid, strip, xa, xb = _intervals(seg, y0, h, n_strips)
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
        zones_per_strip = np.bincount(z_strip, minlength=n_strips)
        clean_label = _clean_labels(
            seg, west, east, y0, h, width, x0, z_right, z_strip, zones_per_strip, n_strips
        )
        # the window: keep the zones reaching into it (whole, with all their edges), and in
        # each strip the clean zones from the one left of the first kept zone to the one
        # right of the last (one clean zone where no zone reaches in)
        base = z_strip * width - x0
        keep = (z_right >= base + xmin - _FENCE) & (z_left <= base + xmax + _FENCE)
        left_of = np.bincount(z_strip[~keep & (z_right < base + xmin)], minlength=n_strips)
        kept_per_strip = np.bincount(z_strip[keep], minlength=n_strips)
        c_strip = np.repeat(np.arange(n_strips), zones_per_strip + 1)
        c_first = np.cumsum(zones_per_strip + 1) - (zones_per_strip + 1)
        c_k = np.arange(len(c_strip)) - c_first[c_strip]
        c_keep = (c_k >= left_of[c_strip]) & (c_k <= left_of[c_strip] + kept_per_strip[c_strip])
        clean_label = clean_label[c_keep]
        seg_keep = np.repeat(keep, np.diff(np.append(starts, len(sid))))
        sid = sid[seg_keep]
        zone_ptr = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
        zone_ptr[1:] = np.cumsum(np.diff(np.append(starts, len(seg_keep)))[keep])
        keys = np.empty(2 * int(keep.sum()))
        keys[0::2] = z_left[keep]
        keys[1::2] = z_right[keep]
        strip_off = np.zeros(n_strips + 1, dtype=np.int64)
        strip_off[1:] = np.cumsum(2 * kept_per_strip)
        seg_da, seg_ds = _deltas(west, east)
        index = cls(
            geoms, y0, h, n_strips, width, x0, keys, strip_off, clean_label, zone_ptr, sid,
            seg, west, east, seg_da.astype(np.float64), seg_ds.astype(np.float64), tree,
        )  # fmt: skip
        index._build_table(xmin, xmax, max_cells)
        return index

    def _build_table(self, xmin: float, xmax: float, max_cells: int) -> None:
        """A raster over the window, strip by x-bucket, holding the label of every cell that
        lies wholly in one clean zone (no key within a hair of it), else ``_SLOW``: most
        points are then resolved by one read, and only the rest search the keys."""
        span = max(xmax - xmin, 1e-12)
        per_strip = len(self.keys) / max(self.n_strips, 1)
        n_b = int(max(1, min(np.ceil(_BUCKETS_PER_KEY * per_strip), max_cells // self.n_strips)))
        self.bx0, self.bw, self.n_buckets = xmin, span / n_b, n_b
        k_strip = np.repeat(np.arange(self.n_strips), np.diff(self.strip_off))
        k_x = self.keys - k_strip * self.width + self.x0
        # keys left of each cell: counts per (strip, bucket + 1) slot, then a running sum
        slot = np.clip(np.floor((k_x - xmin) / self.bw) + 1, 0, n_b).astype(np.int64)
        counts = np.bincount(k_strip * (n_b + 1) + slot, minlength=self.n_strips * (n_b + 1))
        pos = np.cumsum(counts).reshape(self.n_strips, n_b + 1)[:, :n_b]
        busy = np.zeros((self.n_strips, n_b), dtype=bool)
        for hair in (-_PAD, _PAD):  # a key near a cell's edge makes both cells busy
            b = np.floor((k_x + hair - xmin) / self.bw)
            inb = (b >= 0) & (b < n_b)
            busy[k_strip[inb], b[inb].astype(np.int64)] = True
        label = self.clean_label[pos // 2 + np.arange(self.n_strips)[:, None]]
        ok = ~busy & (pos % 2 == 0) & (label != _EXACT)
        self.table = np.where(ok, label, _SLOW).astype(np.int32).ravel()

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
        self.exact_count = 0
        if self.table is None:
            return self._search(x, y)
        with np.errstate(invalid="ignore"):
            s = np.floor((y - self.y0) / self.h)
            b = np.floor((x - self.bx0) / self.bw)
            ok = (s >= 0) & (s < self.n_strips) & (b >= 0) & (b < self.n_buckets)  # NaN: False
        cell = np.where(ok, s * self.n_buckets + b, 0).astype(np.int64)
        out = np.where(ok, self.table[cell], _SLOW).astype(np.int64)
        slow = np.flatnonzero(out == _SLOW)
        if len(slow):
            out[slow] = self._search(x[slow], y[slow])
        return out

    def _search(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The points the table does not resolve: search the keys, walk, or test exactly."""
        out = np.full(len(x), OUTSIDE, dtype=np.int64)
        with np.errstate(invalid="ignore"):
            s = np.floor((y - self.y0) / self.h)
            dx = x - self.x0  # outside [0, width) a key would fall into another strip's range
            ok = (s >= 0) & (s < self.n_strips) & (dx >= 0) & (dx < self.width)  # NaN: False
        if ok.all():  # the usual case: no gathers needed
            idx: np.ndarray | slice = slice(None)
            si, px, py = s.astype(np.int64), x, y
        else:
            idx = np.flatnonzero(ok)
            si = s[idx].astype(np.int64)
            px, py = x[idx], y[idx]
        key = si * self.width + (px - self.x0)
        pos = np.searchsorted(self.keys, key, side="right")
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

    def locate_one(self, x: float, y: float) -> int:
        """:meth:`locate` for one point in plain Python: no array set-up, the same steps.

        >>> idx = StripIndex.build(np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]))
        >>> [idx.locate_one(px, 0.5) for px in (0.5, 1.5, 1.0, 3.0)]
        [0, 1, 0, -1]
        """
        s = math.floor((y - self.y0) / self.h) if math.isfinite(y) else -1
        dx = x - self.x0
        if not (0 <= s < self.n_strips and 0 <= dx < self.width):  # False for NaN
            return OUTSIDE
        pos = int(self.keys.searchsorted(s * self.width + dx, side="right"))
        label = int(self.clean_label[pos // 2 + s])  # the clean zone here, or left of here
        if pos % 2 == 1 and label != _EXACT:
            zone = (pos - 1) // 2
            lo, hi = int(self.zone_ptr[zone]), int(self.zone_ptr[zone + 1])
            label = _EXACT if hi - lo > _MAX_WALK else self._walk_one(lo, hi, label, x, y)
        if label == _EXACT:
            return int(self._exact(np.array([x]), np.array([y]))[0])
        return label

    def _walk_one(self, lo: int, hi: int, left_label: int, px: float, py: float) -> int:
        """:meth:`_walk` for one point (the same arithmetic, in Python floats)."""
        inside = 1 if left_label >= 0 else 0
        sums = left_label + 1 if left_label >= 0 else 0
        for k in self.zone_seg[lo:hi].tolist():
            sx0, sy0, sx1, sy1 = self.seg[k].tolist()
            cross = (sx1 - sx0) * (py - sy0) - (sy1 - sy0) * (px - sx0)
            if cross == 0 and min(sx0, sx1) <= px <= max(sx0, sx1) and sy0 <= py <= sy1:
                return _EXACT  # on an edge or a vertex
            if sy0 <= py < sy1 and cross < 0:
                inside += int(self.seg_da[k])
                sums += int(self.seg_ds[k])
        return OUTSIDE if inside == 0 else (sums - 1 if inside == 1 else _EXACT)

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


def _default_h(bounds: np.ndarray, seg: np.ndarray, ymin: float, ymax: float) -> float:
    """A strip height: a sixteenth of a small polygon's height, but not so small that
    the strips' edge intervals explode (they grow with the edges' total height / h, counted
    between ``ymin`` and ``ymax``)."""
    heights = bounds[:, 3] - bounds[:, 1]
    heights = heights[np.isfinite(heights) & (heights > 0)]
    if not len(heights):
        return 1.0
    h = float(np.percentile(heights, 25) / 16)
    dy = np.minimum(seg[:, 3], ymax) - np.maximum(seg[:, 1], ymin)
    total_dy = float(np.sum(np.maximum(dy, 0.0)))
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


def _intervals(seg: np.ndarray, ys: float, h: float, n_strips: int) -> tuple[np.ndarray, ...]:
    """(segment, strip, x from, x to) for every strip (of the first ``n_strips``) that a
    segment touches (padded)."""
    x0, y0, x1, y1 = seg.T
    pad_y = h * 1e-6 + _PAD
    s_lo = np.maximum(np.floor((y0 - pad_y - ys) / h), 0).astype(np.int64)
    s_hi = np.minimum(np.floor((y1 + pad_y - ys) / h), n_strips - 1).astype(np.int64)
    n = np.maximum(s_hi - s_lo + 1, 0)
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
    s_lo = np.maximum(np.ceil((y0 - ys) / h - 0.5), 0).astype(np.int64)
    s_hi = np.minimum(np.ceil((y1 - ys) / h - 0.5) - 1, n_strips - 1).astype(np.int64)
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
    # running sums with a leading 0, so that "crossings up to key position i" is sums[i + 1]
    # and position -1 (none) needs no special case
    a = np.concatenate([[0], np.cumsum(d_a)])
    b = np.concatenate([[0], np.cumsum(d_s)])

    def label_between(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """The label after the crossings with keys in [lo, hi] (a strip's start to x)."""
        last = np.searchsorted(key, hi, side="right")
        before = np.searchsorted(key, lo, side="left")
        n_in = a[last] - a[before]
        return np.where(n_in == 0, OUTSIDE, np.where(n_in == 1, b[last] - b[before] - 1, _EXACT))

    labels = np.full(n_strips + len(z_right), OUTSIDE, dtype=np.int64)
    zone_first_of_strip = np.cumsum(zones_per_strip) - zones_per_strip
    k_in_strip = np.arange(len(z_right)) - zone_first_of_strip[z_strip]
    labels[zone_first_of_strip[z_strip] + z_strip + k_in_strip + 1] = label_between(
        z_strip * width, z_right
    )
    return labels
