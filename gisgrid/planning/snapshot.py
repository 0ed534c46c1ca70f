"""A plan as arrays, read once: its draft grids and parent in lon/lat and in metres, the
parent's current grids and communities, and the registers inside the parent as points and
footprints.

The checks, the workload and the diff all read a plan through :class:`Snapshot`, so they
agree on what lies in a grid: a point (household, place, incident, visit) lies in the first
grid that holds it (a point on a shared edge goes to one grid, never to two), a building in
the grid that holds most of its footprint (:func:`allocate`). Each part is read from the
store on first use (``functools.cached_property``), so the checks never read the visit logs.

Geometry that is measured (areas, perimeters, slivers) is projected to the city's metric CRS
(:func:`gisgrid.crs.metric_crs` of the parent, UTM 52N in Harbin); containment is decided on
the stored lon/lat.

Examples
--------
>>> import shapely
>>> grids = Layout(np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]))
>>> grids.locate(np.array([[0.5, 0.5], [1.0, 0.5], [5.0, 5.0]])).tolist()
[0, 0, -1]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from gisgrid.crs import metric_crs
from gisgrid.errors import NotFound
from gisgrid.incidents.lifecycle import OPEN_STATUSES

Conn = Connection | Session
Geoms = NDArray[np.object_]
IntArray = NDArray[np.int64]

YEAR = timedelta(days=365)
# Float noise between polygons that share an edge (a re-projected vertex, a rounded
# coordinate) leaves slivers: a gap, overlap or piece under NOISE_M2 is not one, nor is one
# thinner than SLIVER_M on average (2 area / perimeter). The synthetic city's grids were drawn
# apart from their community's outline: they part from it and from each other in wedges up to
# ~1.5 m wide along edges kilometres long (hundreds of m^2, 0.7 m wide on average), where no
# building stands; a planner's edit moves an edge by a building (metres to tens of metres).
NOISE_M2 = 1.0
SLIVER_M = 2.0


def solid_parts(geom: Any) -> list[Any]:
    """The polygons of a geometry (in metres) that are more than float noise.

    Examples
    --------
    >>> import shapely
    >>> g = shapely.union_all([shapely.box(0, 0, 10, 10), shapely.box(20, 0, 3020, 0.1)])
    >>> [p.area for p in solid_parts(g)]
    [100.0]
    """
    parts = shapely.get_parts(shapely.get_parts(geom))
    parts = parts[shapely.get_type_id(parts) == 3]  # polygons: lines and points have no area
    area, length = shapely.area(parts), shapely.length(parts)
    keep = (area >= NOISE_M2) & (2 * area >= SLIVER_M * length)
    return list(parts[keep])


def solid_area(geoms: Any) -> NDArray[np.float64]:
    """The area of each geometry (in metres) without its noise parts (:func:`solid_parts`).

    Examples
    --------
    >>> import shapely
    >>> solid_area(np.array([shapely.box(0, 0, 10, 10), shapely.box(0, 0, 3000, 0.1)]))
    array([100.,   0.])
    """
    geoms = np.atleast_1d(np.asarray(geoms, dtype=object))
    parts, index = shapely.get_parts(geoms, return_index=True)
    # twice: a collection's members may be multipolygons themselves
    parts, inner = shapely.get_parts(parts, return_index=True)
    index = index[inner]
    poly = shapely.get_type_id(parts) == 3
    area, length = shapely.area(parts), shapely.length(parts)
    keep = poly & (area >= NOISE_M2) & (2 * area >= SLIVER_M * length)
    return np.bincount(index[keep], weights=area[keep], minlength=len(geoms)).astype(np.float64)


class Layout:
    """Polygons (lon/lat) with an STRtree over them, to locate points and footprints in."""

    def __init__(self, geoms: Geoms) -> None:
        self.geoms = geoms
        self.tree = shapely.STRtree(geoms)
        shapely.prepare(geoms)

    def __len__(self) -> int:
        return len(self.geoms)

    def locate(self, xy: NDArray[np.float64]) -> IntArray:
        """The index of the first polygon holding each point (edges included), -1 for none."""
        out = np.full(len(xy), -1, dtype=np.int64)
        if len(xy) == 0 or len(self.geoms) == 0:
            return out
        pts, grids = self.tree.query(shapely.points(xy), predicate="intersects")
        # numpy keeps the last of repeated indices: reversed, the lowest polygon index wins
        out[pts[::-1]] = grids[::-1]
        return out

    def allocate(self, footprints: Geoms) -> tuple[IntArray, NDArray[np.float64]]:
        """:func:`allocate` against these polygons."""
        return allocate(self, footprints)


def allocate(layout: Layout, footprints: Geoms) -> tuple[IntArray, NDArray[np.float64]]:
    """For each footprint, the polygon holding most of it (-1 for none) and the share of its
    area inside the polygons that this one holds (1.0 when one polygon covers it).

    A footprint partly outside every polygon is shared out by what lies inside: the part
    outside is another check's business (a gap, or the parent's edge).

    Examples
    --------
    >>> import shapely
    >>> grids = Layout(np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]))
    >>> holder, share = grids.allocate(np.array([shapely.box(0.1, 0.1, 0.2, 0.2),
    ...     shapely.box(0.9, 0.1, 1.3, 0.2), shapely.box(5, 5, 6, 6)]))
    >>> holder.tolist(), share.round(2).tolist()
    ([0, 1, -1], [1.0, 0.75, 0.0])
    """
    n = len(footprints)
    holder = np.full(n, -1, dtype=np.int64)
    share = np.zeros(n)
    if n == 0 or len(layout) == 0:
        return holder, share
    b, g = layout.tree.query(footprints, predicate="intersects")
    covered = shapely.covers(layout.geoms[g], footprints[b])
    holder[b[covered][::-1]] = g[covered][::-1]
    share[b[covered]] = 1.0
    # the rest touch or straddle edges: measure what each polygon holds of them (ratios of
    # lon/lat areas: the scale is constant across one footprint)
    rest = ~np.isin(b, b[covered])
    b, g = b[rest], g[rest]
    if len(b) == 0:
        return holder, share
    inside = shapely.area(shapely.intersection(layout.geoms[g], footprints[b]))
    total = np.bincount(b, weights=inside, minlength=n)
    order = np.lexsort((-inside, b))  # by footprint, the largest piece first
    b, g, inside = b[order], g[order], inside[order]
    first = np.r_[True, b[1:] != b[:-1]]
    keep = first & (inside > 0)
    holder[b[keep]] = g[keep]
    share[b[keep]] = inside[keep] / total[b[keep]]
    return holder, share


def _transformer(src: pyproj.CRS | int, dst: pyproj.CRS | int) -> Callable[[Any], Any]:
    t = pyproj.Transformer.from_crs(src, dst, always_xy=True)

    def apply(geoms: Any) -> Any:
        def xy(coords: NDArray[np.float64]) -> NDArray[np.float64]:
            x, y = t.transform(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        return shapely.transform(geoms, xy)

    return apply


def _geoms(wkbs: list[Any]) -> Geoms:
    return np.asarray(shapely.from_wkb(np.array([bytes(w) for w in wkbs], dtype=object)))


@dataclass(frozen=True)
class Grids:
    """Grid polygons of one kind (a plan's draft, or the current boundaries)."""

    ids: IntArray  # plan_areas.id or areas.id
    codes: list[str]
    parent_ids: IntArray  # the community (or area above) each falls under; -1 for none
    replaces: IntArray  # plan_areas.replaces_area_id (the grid's own id for current grids)
    layout: Layout  # lon/lat, with its index
    metric: Geoms  # the same polygons in metres

    @property
    def geoms(self) -> Geoms:
        return self.layout.geoms

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def area_m2(self) -> NDArray[np.float64]:
        return np.asarray(shapely.area(self.metric), dtype=np.float64)

    def at(self, i: int | np.integer[Any]) -> dict[str, Any]:
        """Where grid ``i`` is: its ``bbox`` [w, s, e, n] and a ``point`` inside, lon/lat."""
        return {"bbox": self._boxes[i].tolist(), "point": self._points[i].tolist()}

    @cached_property
    def _boxes(self) -> NDArray[np.float64]:
        return np.round(shapely.bounds(self.geoms), 7)

    @cached_property
    def _points(self) -> NDArray[np.float64]:
        return np.round(shapely.get_coordinates(shapely.point_on_surface(self.geoms)), 7)

    @cached_property
    def polsby_popper(self) -> NDArray[np.float64]:
        """4 pi area / perimeter^2: 1 for a disc, pi/4 for a square, near 0 for a strip."""
        length = np.asarray(shapely.length(self.metric), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            pp = 4 * np.pi * self.area_m2 / length**2
        return np.nan_to_num(pp)


@dataclass(frozen=True)
class Points:
    """Points (lon/lat) with a count column or flag per point."""

    xy: NDArray[np.float64]
    columns: dict[str, NDArray[np.float64]]

    def sums(self, where: IntArray, n: int) -> dict[str, NDArray[np.float64]]:
        """Each column summed per polygon index ``where`` (-1, in none, is dropped)."""
        ok = where >= 0
        return {
            k: np.bincount(where[ok], weights=v[ok], minlength=n).astype(np.float64)
            for k, v in self.columns.items()
        }


@dataclass(frozen=True)
class Worker:
    id: int
    username: str
    grid_id: int  # the current grid the account is scoped to


_PLAN_SQL = (
    "SELECT p.id, p.name, p.status, p.version, p.parent_area_id, p.weights, p.base_grid_ids,"
    " a.code AS parent_code, a.level AS parent_level, ST_AsBinary(a.geom) AS geom"
    " FROM plans p JOIN areas a ON a.id = p.parent_area_id WHERE p.id = :id"
)
_AREA_SQL = (
    "SELECT id, level, ST_AsBinary(geom) AS geom FROM areas WHERE id = :id AND valid_to IS NULL"
)
_DRAFT_SQL = (
    "SELECT id, code, coalesce(parent_id, -1) AS parent_id,"
    " coalesce(replaces_area_id, -1) AS replaces, ST_AsBinary(geom) AS geom"
    " FROM plan_areas WHERE plan_id = :id ORDER BY code, id"
)
# the current areas of one level under an area, walking parent_id through current areas
_UNDER_SQL = (
    "WITH RECURSIVE down(id) AS (SELECT CAST(:parent AS bigint)"
    " UNION ALL SELECT c.id FROM areas c JOIN down d ON c.parent_id = d.id"
    " WHERE c.valid_to IS NULL)"
    " SELECT a.id, a.code, coalesce(a.parent_id, -1) AS parent_id, ST_AsBinary(a.geom) AS geom"
    " FROM areas a WHERE a.id IN (SELECT id FROM down) AND a.level = :level"
    " AND a.valid_to IS NULL ORDER BY a.code"
)
_WINDOW = "(reported_at >= :since AND reported_at < :now)"
# per kind of register: the counts per assigned grid (``:grids``, the current grids), and the
# rows of some grids as points (those a draft redraws), both with the same count columns
REGISTERS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "households": (
        ("households",),
        "SELECT grid_id AS g, count(*) AS households FROM households"
        " WHERE grid_id = ANY(:grids) GROUP BY 1",
        "SELECT ST_X(h.geom) AS x, ST_Y(h.geom) AS y, h.grid_id AS g, count(*) AS households,"
        " coalesce(sum(r.n), 0) AS residents FROM households h LEFT JOIN (SELECT household_id,"
        " count(*) AS n FROM residents WHERE household_id IN (SELECT id FROM households"
        " WHERE grid_id = ANY(:grids)) GROUP BY 1) r ON r.household_id = h.id"
        " WHERE h.grid_id = ANY(:grids) AND h.geom IS NOT NULL GROUP BY h.geom, h.grid_id",
    ),
    "residents": (
        ("residents",),
        "SELECT grid_id AS g, count(*) AS residents FROM residents"
        " WHERE grid_id = ANY(:grids) GROUP BY 1",
        "",  # located through their household (above)
    ),
    "places": (
        ("places",),
        "SELECT grid_id AS g, count(*) AS places FROM places WHERE grid_id = ANY(:grids)"
        " GROUP BY 1",
        "SELECT ST_X(geom) AS x, ST_Y(geom) AS y, grid_id AS g, 1 AS places FROM places"
        " WHERE grid_id = ANY(:grids)",
    ),
    "incidents": (
        ("last_12m", "open"),
        f"SELECT grid_id AS g, count(*) FILTER (WHERE {_WINDOW}) AS last_12m,"
        " count(*) FILTER (WHERE status = ANY(:open)) AS open FROM incidents"
        f" WHERE grid_id = ANY(:grids) AND ({_WINDOW} OR status = ANY(:open)) GROUP BY 1",
        f"SELECT ST_X(geom) AS x, ST_Y(geom) AS y, grid_id AS g, ({_WINDOW})::int AS last_12m,"
        " (status = ANY(:open))::int AS open FROM incidents"
        f" WHERE grid_id = ANY(:grids) AND ({_WINDOW} OR status = ANY(:open))",
    ),
    "visits": (
        ("visit_logs",),
        "SELECT grid_id AS g, count(*) AS visit_logs FROM visit_logs"
        " WHERE grid_id = ANY(:grids) AND visited_at >= :since AND visited_at < :now GROUP BY 1",
        "SELECT ST_X(geom) AS x, ST_Y(geom) AS y, grid_id AS g, 1 AS visit_logs FROM visit_logs"
        " WHERE grid_id = ANY(:grids) AND visited_at >= :since AND visited_at < :now",
    ),
    "buildings": (
        ("buildings",),
        "SELECT grid_id AS g, count(*) AS buildings FROM buildings WHERE grid_id = ANY(:grids)"
        " GROUP BY 1",
        "",  # allocated by footprint (Snapshot.moved_buildings)
    ),
}
_NEAR_BUILDINGS_SQL = (
    "SELECT id, grid_id AS g, ST_AsBinary(geom) AS geom FROM buildings"
    " WHERE grid_id = ANY(:grids) ORDER BY id"
)
_WORKERS_SQL = (
    "SELECT id, username, scope_area_id FROM accounts WHERE role = 'grid_worker' AND active"
    " AND scope_area_id = ANY(:grids) ORDER BY id"
)


class Snapshot:
    """One plan read from the store, each part on first use (so the checks never read the
    visit logs).

    ``now`` fixes "the last 12 months" and "open now" (the store's clock by default, so that
    a demo dated in the past can be looked at as of its own end).
    """

    def __init__(self, conn: Conn, plan_id: int | None, now: datetime | None = None) -> None:
        self.conn = conn
        self.now = now or datetime.now(UTC)
        self.plan_id = plan_id
        self.plan: dict[str, Any] = {}
        self._cache: dict[str, Any] = {}
        if plan_id is not None:
            row = conn.execute(text(_PLAN_SQL), {"id": plan_id}).mappings().one_or_none()
            if row is None:
                raise NotFound(f"no plan {plan_id}", field="plan_id")
            self.plan = dict(row)
            self._set_parent(row["parent_area_id"], row["parent_level"], row["geom"])

    @classmethod
    def of_area(cls, conn: Conn, area_id: int, now: datetime | None = None) -> Snapshot:
        """The current grids under an area and the registers inside it, with no plan (the
        draft is empty)."""
        snap = cls(conn, None, now)
        row = conn.execute(text(_AREA_SQL), {"id": area_id}).one_or_none()
        if row is None:
            raise NotFound(f"no current area {area_id}", field="parent_id")
        snap._set_parent(row.id, row.level, row.geom)
        return snap

    def _set_parent(self, area_id: int, level: str, wkb: Any) -> None:
        self.parent_id = int(area_id)
        self.parent_level = str(level)
        self.parent: Any = shapely.from_wkb(bytes(wkb))
        c = self.parent.centroid
        crs = metric_crs(c.x, c.y)
        self.to_metric = _transformer(4326, crs)
        self.to_lonlat = _transformer(crs, 4326)
        self.parent_metric: Any = self.to_metric(self.parent)

    # -- grids ---------------------------------------------------------------------------------

    def _grids(self, rows: list[Any], own_id_replaces: bool) -> Grids:
        geoms = _geoms([r.geom for r in rows]) if rows else np.array([], dtype=object)
        ids = np.array([r.id for r in rows], dtype=np.int64)
        return Grids(
            ids=ids,
            codes=[str(r.code) for r in rows],
            parent_ids=np.array([r.parent_id for r in rows], dtype=np.int64),
            replaces=ids if own_id_replaces else np.array([r.replaces for r in rows], np.int64),
            layout=Layout(geoms),
            metric=self.to_metric(geoms),
        )

    @cached_property
    def draft(self) -> Grids:
        """The plan's draft grids, by code (none for a snapshot of an area)."""
        rows = []
        if self.plan_id is not None:
            rows = list(self.conn.execute(text(_DRAFT_SQL), {"id": self.plan_id}).all())
        return self._grids(rows, own_id_replaces=False)

    def _under(self, level: str) -> list[Any]:
        return list(
            self.conn.execute(text(_UNDER_SQL), {"parent": self.parent_id, "level": level}).all()
        )

    @cached_property
    def current(self) -> Grids:
        """The parent's current grids (valid_to IS NULL), by code."""
        return self._grids(self._under("grid"), own_id_replaces=True)

    @cached_property
    def communities(self) -> Grids:
        """The current communities under the parent (none when the parent is one)."""
        return self._grids(self._under("community"), own_id_replaces=True)

    # -- registers -----------------------------------------------------------------------------
    # A register row lies in the grid it is assigned to (its grid_id) as long as the draft
    # keeps that grid's polygon as it is: a draft grid that copies a current one exactly
    # takes its counts from one indexed GROUP BY. Only the rows of the current grids that a
    # draft redraws are read as points and located in the draft polygons.

    def _params(self, grids: IntArray) -> dict[str, Any]:
        return {
            "grids": [int(g) for g in grids],
            "since": self.now - YEAR,
            "now": self.now,
            "open": list(OPEN_STATUSES),
        }

    @cached_property
    def copies(self) -> IntArray:
        """For each draft grid, the current grid (index) it copies exactly, else -1."""
        d, c = self.draft, self.current
        out = np.full(len(d), -1, dtype=np.int64)
        where = {int(g): j for j, g in enumerate(c.ids)}
        i = np.array([k for k, r in enumerate(d.replaces) if int(r) in where], dtype=np.int64)
        if len(i):
            j = np.array([where[int(r)] for r in d.replaces[i]], dtype=np.int64)
            same = shapely.equals_exact(d.geoms[i], c.geoms[j], tolerance=0.0)
            out[i[same]] = j[same]
        return out

    @cached_property
    def redrawn(self) -> IntArray:
        """The current grids (indices) that no draft grid copies: their rows are located."""
        kept = np.zeros(len(self.current), dtype=bool)
        kept[self.copies[self.copies >= 0]] = True
        return np.flatnonzero(~kept)

    def assigned(self, kind: str) -> dict[str, NDArray[np.float64]]:
        """Counts of a kind of register per current grid, by the rows' grid_id."""
        key = f"assigned_{kind}"
        if key not in self._cache:
            columns, sql, _ = REGISTERS[kind]
            c = self.current
            rows = self.conn.execute(text(sql), self._params(c.ids)).all()
            at = {int(g): j for j, g in enumerate(c.ids)}
            out = {col: np.zeros(len(c)) for col in columns}
            for r in rows:
                for col in columns:
                    out[col][at[int(r.g)]] = float(getattr(r, col))
            self._cache[key] = out
        return self._cache[key]

    def moved(self, kind: str) -> Points:
        """The rows of the redrawn current grids as points; column ``grid`` is the current
        grid (index) each is assigned to."""
        key = f"moved_{kind}"
        if key not in self._cache:
            columns, _, sql = REGISTERS[kind]
            if kind == "households":
                columns = ("households", "residents")
            grids = self.current.ids[self.redrawn]
            rows = self.conn.execute(text(sql), self._params(grids)).all() if len(grids) else []
            at = {int(g): j for j, g in enumerate(self.current.ids)}
            xy = np.array([(r.x, r.y) for r in rows], dtype=np.float64).reshape(-1, 2)
            cols = {c: np.array([getattr(r, c) for r in rows], dtype=np.float64) for c in columns}
            cols["grid"] = np.array([at.get(int(r.g), -1) for r in rows], dtype=np.float64)
            self._cache[key] = Points(xy, cols)
        points: Points = self._cache[key]
        return points

    def draft_counts(self, kind: str) -> dict[str, NDArray[np.float64]]:
        """Counts of a kind of register per draft grid: a copied grid's own, plus the rows of
        the redrawn grids located in the draft polygons."""
        d = self.draft
        if kind == "buildings":
            base = self.assigned("buildings")["buildings"]
            built = np.where(self.copies >= 0, base[np.maximum(self.copies, 0)], 0.0)
            _, footprints, _ = self.moved_buildings
            holder, _ = d.layout.allocate(footprints)
            built += np.bincount(holder[holder >= 0], minlength=len(d))
            return {"buildings": built.astype(np.float64)}
        source = "households" if kind == "residents" else kind
        copied = np.maximum(self.copies, 0)
        out = {
            k: np.where(self.copies >= 0, v[copied], 0.0) for k, v in self.assigned(kind).items()
        }
        pts = self.moved(source)
        located = pts.sums(d.layout.locate(pts.xy), len(d))
        for k in out:
            out[k] += located[k]
        return out

    @cached_property
    def near_redrawn(self) -> IntArray:
        """The redrawn current grids and their neighbours (indices)."""
        c = self.current
        if len(self.redrawn) == 0:
            return self.redrawn
        _, near = c.layout.tree.query(c.geoms[self.redrawn], predicate="intersects")
        return np.union1d(self.redrawn, near)

    @cached_property
    def buildings(self) -> tuple[IntArray, Geoms, IntArray]:
        """Ids, footprints (lon/lat) and current grid (index) of the buildings assigned to a
        redrawn grid or a neighbour of one: the only ones a line the draft draws can cut (the
        edges it keeps between two grids it keeps are the current boundary's)."""
        grids = self.current.ids[self.near_redrawn]
        rows = (
            self.conn.execute(text(_NEAR_BUILDINGS_SQL), self._params(grids)).all()
            if len(grids)
            else []
        )
        at = {int(g): j for j, g in enumerate(self.current.ids)}
        ids = np.array([r.id for r in rows], dtype=np.int64)
        geoms = _geoms([r.geom for r in rows]) if rows else np.array([], dtype=object)
        return ids, geoms, np.array([at.get(int(r.g), -1) for r in rows], dtype=np.int64)

    @property
    def moved_buildings(self) -> tuple[IntArray, Geoms, IntArray]:
        """:attr:`buildings` assigned to a redrawn grid."""
        ids, geoms, grid = self.buildings
        mine = np.isin(grid, self.redrawn)
        return ids[mine], geoms[mine], grid[mine]

    def building_holders(self, grids: Grids) -> tuple[IntArray, NDArray[np.float64]]:
        """:func:`allocate` of :attr:`buildings` to ``grids``."""
        return grids.layout.allocate(self.buildings[1])

    # -- workers -------------------------------------------------------------------------------

    @cached_property
    def workers(self) -> list[Worker]:
        """Active grid workers scoped to a current grid of the parent or a replaced grid."""
        grids = {int(i) for i in self.current.ids} | {int(i) for i in self.draft.replaces}
        grids.discard(-1)
        rows = self.conn.execute(text(_WORKERS_SQL), {"grids": sorted(grids)}).all()
        return [Worker(int(r.id), str(r.username), int(r.scope_area_id)) for r in rows]

    def heirs(self) -> dict[int, int]:
        """Replaced grid id -> the draft grid (index) that carries it on: of the draft grids
        that name it in ``replaces_area_id``, the one holding most of its current polygon (a
        split grid's worker stays with the biggest piece; the other pieces are new ground)."""
        draft, current = self.draft, self.current
        where = {int(g): j for j, g in enumerate(current.ids)}
        i = np.flatnonzero(draft.replaces >= 0)
        j = np.array([where.get(int(r), -1) for r in draft.replaces[i]], dtype=np.int64)
        held = draft.area_m2[i].copy()  # a grid replacing one that is gone: its own size
        redrawn = (j >= 0) & (self.copies[i] < 0)  # a copy holds all of its original
        held[redrawn] = shapely.area(
            shapely.intersection(draft.metric[i[redrawn]], current.metric[j[redrawn]])
        )
        best: dict[int, tuple[float, int]] = {}
        for k, r in enumerate(draft.replaces[i].tolist()):
            if r not in best or held[k] > best[r][0]:
                best[r] = (float(held[k]), int(i[k]))
        return {r: k for r, (_, k) in best.items()}

    def workers_of_draft(self) -> IntArray:
        """The number of grid workers each draft grid inherits (see :meth:`heirs`)."""
        out = np.zeros(len(self.draft), dtype=np.int64)
        heirs = self.heirs()
        for w in self.workers:
            if w.grid_id in heirs:
                out[heirs[w.grid_id]] += 1
        return out

    # -- drawing -------------------------------------------------------------------------------

    def bbox(self, metric_geom: Any) -> list[float]:
        """[w, s, e, n] in lon/lat of a geometry in metres (to zoom to)."""
        w, s, e, n = shapely.bounds(self.to_lonlat(metric_geom)).tolist()
        return [round(v, 7) for v in (w, s, e, n)]

    def point(self, metric_geom: Any) -> list[float]:
        """[lon, lat] of a point inside a geometry in metres (to put a marker on)."""
        p = self.to_lonlat(shapely.point_on_surface(metric_geom))
        return [round(float(p.x), 7), round(float(p.y), 7)]
