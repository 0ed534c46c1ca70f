"""Point -> grid assignment: each point to exactly one grid, and the hierarchy above it.

Semantics (tested against shapely ``covers`` and PostGIS ``ST_Covers``):

- A grid *covers* a point when the point is inside it or on its boundary; holes and
  multipolygons are honoured.
- A point covered by more than one grid (on an edge or vertex they share) goes to the grid
  with the **lowest id**: a fixed rule that does not depend on the order of the input.
- A point covered by no grid is unassigned (grid id -1). With ``max_distance_m``, it gets the
  nearest grid within that distance instead, and ``distance_m`` says how far it was
  (0 for covered points, NaN for unassigned ones).
- Time-aware: areas carry ``valid_from``/``valid_to``; given event times, a point is assigned
  among the grids valid at its time (``valid_from <= t < valid_to``). Without times, the
  current grids (``valid_to`` empty) are used.

The work is done by :class:`gisgrid.assign.strips.StripIndex`: most points resolve by a lookup, a
few by one cross product, and only points next to a vertex or on an edge by an exact test;
:class:`gisgrid.assign.tiled.TiledIndex` gives each part of the city a strip index of its
own resolution. One point (what ``/locate`` asks) takes the same steps in plain Python.

Examples
--------
>>> import geopandas as gpd, shapely
>>> areas = gpd.GeoDataFrame({
...     "id": [1, 2, 3], "level": ["community", "grid", "grid"], "parent_id": [None, 1, 1],
...     "geometry": [shapely.box(0, 0, 2, 1), shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)],
... }, crs=4326)
>>> index = GridIndex.from_frame(areas)
>>> a = index.assign([0.5, 1.0, 5.0], [0.5, 0.5, 0.5])
>>> a.grid_id.tolist(), a.community_id.tolist()
([2, 2, -1], [1, 1, -1])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from sqlalchemy import Engine, text

from gisgrid.assign.strips import OUTSIDE
from gisgrid.assign.tiled import TiledIndex
from gisgrid.crs import metric_crs
from gisgrid.errors import InvalidInput
from gisgrid.sql import load_sql
from gisgrid.times import city_to_utc

LEVELS_ABOVE = ("community", "street", "district")
# What a file assignment adds to each row, in this order, after the row's own columns.
ADDED_COLUMNS = ("grid_id", "grid_code", "community_id", "street_id", "district_id", "distance_m")
_ID_COLUMNS = ("grid_id", "community_id", "street_id", "district_id")
_FAR_FUTURE = np.datetime64("2200-01-01T00:00:00", "ns")  # within datetime64[ns]


@dataclass
class Assignment:
    """Per point: the grid id and the ids above it (-1 where none), and the distance."""

    grid_id: np.ndarray
    community_id: np.ndarray
    street_id: np.ndarray
    district_id: np.ndarray
    distance_m: np.ndarray

    @property
    def unassigned(self) -> np.ndarray:
        return self.grid_id < 0

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "grid_id": self.grid_id,
                "community_id": self.community_id,
                "street_id": self.street_id,
                "district_id": self.district_id,
                "distance_m": self.distance_m,
            }
        )


@dataclass
class GridIndex:
    """Grids (all their versions) and their hierarchy, ready to assign points.

    Build it once with :meth:`from_frame` or :meth:`from_areas` (the store) and keep it:
    building costs far more than a query. A grid file is read by
    :func:`gisgrid.io.assign_file.read_grids`, the one reader of grid files.
    """

    grid_ids: np.ndarray  # area id of each grid row
    geoms: np.ndarray
    valid_from: np.ndarray  # datetime64[ns] UTC
    valid_to: np.ndarray  # datetime64[ns] UTC, far future when open
    above: dict[str, np.ndarray]  # level -> id above each grid row (-1 where none)
    codes: np.ndarray | None = None
    h: float | None = None
    _epochs: dict[int, tuple[np.ndarray, TiledIndex]] = field(default_factory=dict, repr=False)
    _changes_cache: np.ndarray | None = field(default=None, repr=False)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        areas: gpd.GeoDataFrame,
        *,
        id_col: str = "id",
        level_col: str = "level",
        parent_col: str = "parent_id",
        grid_level: str = "grid",
        h: float | None = None,
    ) -> GridIndex:
        """From a frame of areas. Without a level column every row is a grid; without a
        parent column there is no hierarchy. Optional ``valid_from``/``valid_to`` columns."""
        if areas.crs is not None and areas.crs.to_epsg() != 4326:
            areas = areas.to_crs(4326)
        if id_col not in areas:
            raise InvalidInput(f"no column {id_col!r} in the areas", field=id_col)
        ids = pd.to_numeric(areas[id_col], errors="coerce")
        if ids.isna().any() or not ids.is_unique:
            raise InvalidInput("area ids must be unique integers", field=id_col)
        ids = ids.astype(np.int64).to_numpy()
        is_grid = (
            (areas[level_col] == grid_level).to_numpy()
            if level_col in areas
            else (np.ones(len(areas), dtype=bool))
        )
        geoms = np.asarray(areas.geometry.to_numpy(), dtype=object)
        bad = shapely.is_missing(geoms) | ~shapely.is_valid(geoms)
        if (bad & is_grid).any():
            first = int(ids[np.flatnonzero(bad & is_grid)[0]])
            raise InvalidInput(f"grid {first} has a missing or invalid geometry", field="geom")
        above = {lvl: np.full(int(is_grid.sum()), -1, dtype=np.int64) for lvl in LEVELS_ABOVE}
        if parent_col in areas and level_col in areas:
            parent = dict(
                zip(ids, pd.to_numeric(areas[parent_col]).fillna(-1).astype(np.int64), strict=True)
            )
            level = dict(zip(ids, areas[level_col], strict=True))
            for lvl in LEVELS_ABOVE:
                cur = np.array([parent[i] for i in ids[is_grid]], dtype=np.int64)
                for _ in range(4):  # walk up until the level is found
                    lv = np.array([level.get(c, "") for c in cur])
                    hit = (lv == lvl) & (above[lvl] < 0)
                    above[lvl][hit] = cur[hit]
                    cur = np.array([parent.get(c, -1) for c in cur], dtype=np.int64)
        vf = (
            _times(areas["valid_from"], np.datetime64("1900-01-01", "ns"))
            if ("valid_from" in areas)
            else np.full(len(areas), np.datetime64("1900-01-01", "ns"))
        )
        vt = (
            _times(areas["valid_to"], _FAR_FUTURE)
            if "valid_to" in areas
            else np.full(len(areas), _FAR_FUTURE)
        )
        codes = areas["code"].astype(str).to_numpy()[is_grid] if "code" in areas else None
        return cls(ids[is_grid], geoms[is_grid], vf[is_grid], vt[is_grid], above, codes, h)

    @classmethod
    def from_areas(cls, engine: Engine, h: float | None = None) -> GridIndex:
        """Every version of every area in the store."""
        sql = text(load_sql("grid_index_areas"))
        with engine.connect() as conn:
            frame = gpd.read_postgis(sql, conn, geom_col="geom")
        return cls.from_frame(frame, h=h)

    # -- queries -------------------------------------------------------------------------
    def epoch_of(self, times: Any | None, n: int) -> np.ndarray:
        """For each point, the index of the period of boundaries in force at its time."""
        changes = self._changes()
        if times is None:
            return np.full(n, len(changes) - 1, dtype=np.int64)
        t = _times(pd.Series(times), None)
        if len(t) != n:
            raise InvalidInput(f"{len(t)} times for {n} points", field="times")
        if np.isnat(t).any():
            raise InvalidInput("missing time (NaT) for a time-aware assignment", field="times")
        return np.searchsorted(changes, t, side="right") - 1

    def _changes(self) -> np.ndarray:
        if self._changes_cache is None:  # kept: a one-point call must not pay for a sort
            pts = np.unique(np.concatenate([self.valid_from, self.valid_to]))
            self._changes_cache = pts[pts < _FAR_FUTURE]
        return self._changes_cache

    def _epoch_index(self, e: int) -> tuple[np.ndarray, TiledIndex]:
        if e not in self._epochs:
            changes = self._changes()
            t = changes[e] if 0 <= e < len(changes) else np.datetime64("1800-01-01", "ns")
            rows = np.flatnonzero((self.valid_from <= t) & (t < self.valid_to))
            # rows sorted by grid id, so "lowest index" in the strip index is "lowest id"
            rows = rows[np.argsort(self.grid_ids[rows], kind="stable")]
            geoms = self.geoms[rows] if len(rows) else np.array([shapely.box(0, 0, 0, 0)])
            self._epochs[e] = (rows, TiledIndex.build(geoms, h=self.h))
        return self._epochs[e]

    def locate_rows(self, lon: Any, lat: Any, times: Any | None = None) -> np.ndarray:
        """Row (in this index) of the grid covering each point, or -1."""
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise InvalidInput("lon and lat must be 1-d arrays of one length", field="lon")
        if times is None and len(x) == 1:  # one point: no array set-up (``/locate``)
            rows, idx = self._epoch_index(len(self._changes()) - 1)
            one = idx.locate_one(float(x[0]), float(y[0])) if len(rows) else OUTSIDE
            return np.array([rows[one] if one >= 0 else OUTSIDE], dtype=np.int64)
        out = np.full(len(x), OUTSIDE, dtype=np.int64)
        if times is None:  # one period, the current one: no per-point epochs to sort out
            groups: list[tuple[int, np.ndarray | slice]] = [(len(self._changes()) - 1, slice(None))]
        else:
            epochs = self.epoch_of(times, len(x))
            present = np.flatnonzero(np.bincount(epochs + 1)) - 1  # epochs are >= -1
            groups = [(int(e), np.flatnonzero(epochs == e)) for e in present]
            if len(groups) == 1:
                groups = [(groups[0][0], slice(None))]
        for e, sel in groups:
            rows, idx = self._epoch_index(e)
            if not len(rows):
                continue
            hit = idx.locate(x[sel], y[sel])
            out[sel] = np.where(hit >= 0, rows[np.maximum(hit, 0)], OUTSIDE)
        return out

    def assign(
        self, lon: Any, lat: Any, times: Any | None = None, max_distance_m: float | None = None
    ) -> Assignment:
        """Assign points (lon/lat WGS84) to grids; see the module docstring for the rules."""
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        rows = self.locate_rows(x, y, times)
        dist = np.where(rows >= 0, 0.0, np.nan)
        if max_distance_m is not None:
            if not max_distance_m > 0:
                raise InvalidInput("must be a positive number of metres", field="max_distance_m")
            miss = np.flatnonzero((rows < 0) & np.isfinite(x) & np.isfinite(y))
            if len(miss):
                epochs = self.epoch_of(times, len(x))[miss]
                r, d = self._nearest(x[miss], y[miss], epochs, max_distance_m)
                rows[miss] = r
                dist[miss] = d
        return self._result(rows, dist)

    def _nearest(
        self, x: np.ndarray, y: np.ndarray, epochs: np.ndarray, max_m: float
    ) -> tuple[np.ndarray, np.ndarray]:
        rows_out = np.full(len(x), OUTSIDE, dtype=np.int64)
        dist_out = np.full(len(x), np.nan)
        # a degree box certainly wider than max_m at these latitudes
        lat_max = min(float(np.max(np.abs(y))) + 1.0, 89.0)
        max_deg = max_m / (111_320.0 * np.cos(np.radians(lat_max)))
        for e in np.unique(epochs):
            sel = np.flatnonzero(epochs == e)
            rows, idx = self._epoch_index(int(e))
            pts = shapely.points(x[sel], y[sel])
            pi, gi = idx.tree.query(pts, predicate="dwithin", distance=max_deg)
            if not len(pi):
                continue
            # Distances in a metric CRS (the UTM zone of these points): the nearest point of
            # a polygon in lon/lat degrees is not the nearest on the ground.
            utm = metric_crs(float(np.mean(x[sel])), float(np.mean(y[sel])))
            fwd = Transformer.from_crs(4326, utm, always_xy=True)

            def to_m(c: np.ndarray, fwd: Transformer = fwd) -> np.ndarray:
                return np.column_stack(fwd.transform(c[:, 0], c[:, 1]))

            metres = shapely.distance(
                shapely.transform(pts[pi], to_m), shapely.transform(idx.geoms[gi], to_m)
            )
            ok = metres <= max_m
            pi, gi, metres = pi[ok], gi[ok], metres[ok]
            order = np.lexsort((gi, metres, pi))  # nearest, then lowest id
            pi, gi, metres = pi[order], gi[order], metres[order]
            first = np.ones(len(pi), dtype=bool)
            first[1:] = pi[1:] != pi[:-1]
            rows_out[sel[pi[first]]] = rows[gi[first]]
            dist_out[sel[pi[first]]] = metres[first]
        return rows_out, dist_out

    def _result(self, rows: np.ndarray, dist: np.ndarray) -> Assignment:
        if not len(self.grid_ids):  # no grid at all: every point is unassigned
            none = np.full(len(rows), -1, dtype=np.int64)
            return Assignment(
                none, none.copy(), none.copy(), none.copy(), np.full(len(rows), np.nan)
            )
        ok = rows >= 0
        safe = np.maximum(rows, 0)

        def pick(values: np.ndarray) -> np.ndarray:
            return np.where(ok, values[safe], -1).astype(np.int64)

        return Assignment(
            grid_id=pick(self.grid_ids),
            community_id=pick(self.above["community"]),
            street_id=pick(self.above["street"]),
            district_id=pick(self.above["district"]),
            distance_m=dist,
        )

    def assign_frame(
        self,
        points: gpd.GeoDataFrame,
        time_col: str | None = None,
        max_distance_m: float | None = None,
    ) -> gpd.GeoDataFrame:
        """A copy of a point frame with grid_id, community_id, street_id, district_id and
        distance_m columns (grid_code too when the grids have codes)."""
        if points.crs is not None and points.crs.to_epsg() != 4326:
            points = points.to_crs(4326)
        geoms = np.asarray(points.geometry.to_numpy(), dtype=object)
        types = shapely.get_type_id(geoms)
        if (types != 0).any():
            raise InvalidInput("point geometries expected", field="geometry")
        empty = shapely.is_empty(geoms)
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise InvalidInput(f"empty point at row {row + 1}", field="geometry")
        times = points[time_col] if time_col else None
        res = self.assign(shapely.get_x(geoms), shapely.get_y(geoms), times, max_distance_m)
        out = points.copy()
        for k, v in res.to_frame().items():
            out[k] = v.to_numpy()  # by position: the frame's own index may be anything
        if self.codes is not None:
            out["grid_code"] = self.codes_of(res.grid_id)
        return out

    def codes_of(self, grid_ids: np.ndarray) -> list[str | None]:
        """The code of each grid id (None for -1, or for any id without a code)."""
        if self.codes is None:
            return [None] * len(grid_ids)
        code_of = dict(zip(self.grid_ids.tolist(), self.codes.tolist(), strict=True))
        return [code_of.get(g) for g in np.asarray(grid_ids).tolist()]


def file_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame with assignment columns (ids -1 where none) laid out as an assignment file
    carries them, whichever path assigned it: the frame's own columns first, then
    :data:`ADDED_COLUMNS` in that order, the ids as nullable integers (blank where none).

    Examples
    --------
    >>> frame = pd.DataFrame({"distance_m": [0.0, np.nan], "grid_id": [7, -1], "name": ["a", "b"],
    ...                       "community_id": -1, "street_id": -1, "district_id": -1})
    >>> out = file_columns(frame)
    >>> list(out.columns)
    ['name', 'grid_id', 'community_id', 'street_id', 'district_id', 'distance_m']
    >>> out["grid_id"].tolist()
    [7, <NA>]
    """
    own = [c for c in frame.columns if c not in ADDED_COLUMNS]
    out = frame[own + [c for c in ADDED_COLUMNS if c in frame.columns]].copy()
    for col in _ID_COLUMNS:
        ids = out[col].to_numpy(dtype=np.int64)
        out[col] = pd.Series(pd.array(ids, dtype="Int64"), index=out.index).mask(ids < 0)
    return out


def _times(values: pd.Series, fill: np.datetime64 | None) -> np.ndarray:
    """UTC datetime64[ns] values; naive times are city time (gisgrid.times.city_to_utc)."""
    s = pd.to_datetime(values, errors="coerce")
    arr = city_to_utc(s).dt.tz_localize(None).to_numpy().astype("datetime64[ns]")
    if fill is not None:
        arr = np.where(np.isnat(arr), fill, arr)
    return arr
