"""Building cells: the atoms a planner (or the balancer) moves between grids.

A parent area (a community, street or district) is cut into one cell per building: the land
nearer to that building's footprint than to any other building of the same community.

Method, in the city's metric CRS (:func:`gisgrid.crs.metric_crs`, UTM 52N for Harbin):

1. the parent's communities are the current areas one level above grid under it (the parent
   itself when it is a community); each building belongs to the community holding a point on
   its surface;
2. per community, every footprint's outline is densified to points at most ``step_m`` apart,
   and the Voronoi polygons of all those points are dissolved per building and clipped to the
   community: a Voronoi of the footprint boundaries, so a long block claims the land along
   its whole length, not only around its centre;
3. the discretisation can leave a sliver of one footprint in a neighbour's cell, so each cell
   gives up the footprints of the other buildings and takes its own whole: a cell never cuts
   a building;
4. pieces of a cell cut off from its building (a community made of two parts, land behind a
   neighbour's footprint) join the cell of the same community they share the longest edge
   with; a piece with no such neighbour, and a community without buildings, stay as atoms of
   their own with no building and zero weight.

So the cells tile the communities, never cross a community line, and hold each building
whole. Households and residents are counted from their rows (by building); incidents are
those reported in the 12 months before ``as_of`` that fall in the cell.

Examples
--------
>>> import shapely
>>> fp = [shapely.box(0, 0, 10, 10), shapely.box(30, 0, 40, 10)]
>>> cells = _community_cells(shapely.box(-10, -10, 50, 20), fp, step_m=2.0)
>>> [round(c.area) for c in cells]
[900, 900]
>>> all(c.contains(f) for c, f in zip(cells, fp))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from libpysal.weights import W
from numpy.typing import NDArray
from sqlalchemy import text

from gisgrid.crs import metric_crs
from gisgrid.errors import InvalidInput, NotFound
from gisgrid.sql import load_sql
from gisgrid.store.engine import Bind, connection

STEP_M = 3.0  # footprint outlines are sampled this densely for the Voronoi
MIN_EDGE_M = 1.0  # cells that share less than this are not rook neighbours
COLUMNS = ("building_id", "community_id", "households", "residents", "incidents_12m")


def building_cells(
    bind: Bind,
    parent_area_id: int,
    *,
    as_of: datetime | None = None,
    step_m: float = STEP_M,
) -> gpd.GeoDataFrame:
    """The building cells tiling ``parent_area_id`` (a community, street or district).

    One row per cell, in the city's metric CRS, indexed 0..n-1: ``building_id`` (``<NA>`` for
    an atom of land with no building), ``community_id``, ``households``, ``residents``,
    ``incidents_12m`` (reported in the 12 months up to ``as_of``, default now) and the
    geometry. See the module for the method.

    Examples
    --------
    >>> building_cells(None, 1, step_m=0)
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: step_m: step_m=0; expected > 0 metres
    """
    if not step_m > 0:
        raise InvalidInput(f"step_m={step_m}; expected > 0 metres", field="step_m")
    with connection(bind) as conn:
        comms = _communities(conn, parent_area_id)
        ids = [int(i) for i in comms["id"]]
        b = pd.DataFrame(
            conn.execute(text(load_sql("plan_cells_buildings")), {"community_ids": ids})
            .mappings()
            .all(),
            columns=["id", "community_id", "households", "residents", "wkb"],
        )
        when = as_of if as_of is not None else conn.execute(text("SELECT now()")).scalar_one()
        inc = np.array(
            conn.execute(
                text(load_sql("plan_cells_incidents")), {"community_ids": ids, "as_of": when}
            ).all(),
            dtype=float,
        ).reshape(-1, 2)
    comm_geoms = shapely.from_wkb(comms["wkb"].to_numpy())
    crs = metric_crs(*_middle(comm_geoms))
    comm_m = gpd.GeoSeries(comm_geoms, crs=4326).to_crs(crs).to_numpy()
    fp_m = (
        gpd.GeoSeries(shapely.from_wkb(b["wkb"].to_numpy()), crs=4326).to_crs(crs).to_numpy()
        if len(b)
        else np.empty(0, dtype=object)
    )
    frames = []
    for cid, cgeom in zip(ids, comm_m, strict=True):
        members = np.flatnonzero(b["community_id"].to_numpy() == cid)
        geoms, owner = _atoms(cgeom, list(fp_m[members]), step_m)
        bid = pd.array(
            [int(b["id"].iat[members[o]]) if o >= 0 else None for o in owner], dtype="Int64"
        )
        hh = [int(b["households"].iat[members[o]]) if o >= 0 else 0 for o in owner]
        rs = [int(b["residents"].iat[members[o]]) if o >= 0 else 0 for o in owner]
        frames.append(
            pd.DataFrame(
                {"building_id": bid, "community_id": cid, "households": hh, "residents": rs}
            ).assign(geometry=geoms)
        )
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    out["incidents_12m"] = _count_points(out.geometry.to_numpy(), inc, crs)
    return out[[*COLUMNS, "geometry"]]


def cell_adjacency(
    cells: gpd.GeoDataFrame, *, min_edge_m: float = MIN_EDGE_M, by_community: bool = False
) -> W:
    """Rook neighbours among ``cells`` (from :func:`building_cells`): cells that share an edge
    longer than ``min_edge_m``, as a libpysal ``W`` keyed by the cells' positions 0..n-1 whose
    weights are the shared edge lengths in metres (so a region's perimeter can be kept up to
    date as cells move). ``by_community`` keeps only neighbours in the same community.

    Examples
    --------
    >>> import shapely
    >>> sq = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(1, 1, 2, 2)]
    >>> cells = gpd.GeoDataFrame({"community_id": [1, 1, 1]}, geometry=sq, crs=32652)
    >>> w = cell_adjacency(cells, min_edge_m=0.5)
    >>> w.neighbors
    {0: [1], 1: [0, 2], 2: [1]}
    >>> w.weights[1]
    [1.0, 1.0]
    """
    geoms = cells.geometry.to_numpy()
    comm = cells["community_id"].to_numpy() if "community_id" in cells else None
    pairs = shared_edges(geoms, min_edge_m=min_edge_m)
    neighbors: dict[int, list[int]] = {i: [] for i in range(len(geoms))}
    weights: dict[int, list[float]] = {i: [] for i in range(len(geoms))}
    for i, j, length in pairs:
        if by_community and comm is not None and comm[i] != comm[j]:
            continue
        neighbors[i].append(j)
        weights[i].append(length)
        neighbors[j].append(i)
        weights[j].append(length)
    for i in neighbors:
        order = np.argsort(neighbors[i], kind="stable")
        neighbors[i] = [neighbors[i][k] for k in order]
        weights[i] = [weights[i][k] for k in order]
    return W(neighbors, weights, silence_warnings=True)


def shared_edges(
    geoms: Sequence[Any] | NDArray[Any], *, min_edge_m: float = MIN_EDGE_M
) -> list[tuple[int, int, float]]:
    """(i, j, length) for each pair i < j of polygons whose shared boundary is longer than
    ``min_edge_m`` (a corner, or a touch shorter than that, is not an edge).

    Examples
    --------
    >>> import shapely
    >>> shared_edges([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 3)], min_edge_m=0.1)
    [(0, 1, 1.0)]
    """
    arr = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if not len(left):
        return []
    common = shapely.intersection(shapely.boundary(arr[left]), shapely.boundary(arr[right]))
    length = shapely.length(common)
    ok = length > min_edge_m
    return [
        (int(i), int(j), round(float(d), 6))
        for i, j, d in zip(left[ok], right[ok], length[ok], strict=True)
    ]


def _communities(conn: Any, parent_area_id: int) -> pd.DataFrame:
    level = conn.execute(
        text("SELECT level FROM areas WHERE id = :p AND valid_to IS NULL"), {"p": parent_area_id}
    ).scalar_one_or_none()
    if level is None:
        raise NotFound(
            f"parent_area_id={parent_area_id}: no current area has this id",
            field="parent_area_id",
        )
    if level == "grid":
        raise InvalidInput(
            f"parent_area_id={parent_area_id} is a grid; expected a community, street or"
            " district (the area whose grids are redrawn)",
            field="parent_area_id",
        )
    rows = conn.execute(text(load_sql("plan_cells_communities")), {"parent": parent_area_id})
    comms = pd.DataFrame(rows.mappings().all(), columns=["id", "code", "name", "wkb"])
    if comms.empty:
        raise InvalidInput(
            f"parent_area_id={parent_area_id} ({level}) has no current grids or communities"
            " under it",
            field="parent_area_id",
        )
    return comms


def _middle(geoms: NDArray[Any]) -> tuple[float, float]:
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0


def _count_points(cells: NDArray[Any], lonlat: NDArray[np.float64], crs: Any) -> NDArray[Any]:
    """How many of the lon/lat points fall in each cell (a point on a shared edge counts once,
    in the first cell found)."""
    counts = np.zeros(len(cells), dtype=np.int64)
    if not len(lonlat) or not len(cells):
        return counts
    pts = gpd.GeoSeries(gpd.points_from_xy(lonlat[:, 0], lonlat[:, 1]), crs=4326).to_crs(crs)
    pt_idx, cell_idx = shapely.STRtree(cells).query(pts.to_numpy(), predicate="intersects")
    _, first = np.unique(pt_idx, return_index=True)
    np.add.at(counts, cell_idx[first], 1)
    return counts


def _atoms(community: Any, footprints: list[Any], step_m: float) -> tuple[list[Any], list[int]]:
    """The atoms of one community (metric): geometries and, for each, the position of its
    building in ``footprints`` (-1: land with no building)."""
    if not footprints:
        return [community], [-1]
    cells = _community_cells(community, footprints, step_m)
    return _adopt_orphans(cells, footprints)


def _community_cells(community: Any, footprints: Sequence[Any], step_m: float) -> list[Any]:
    """One cell per footprint: the Voronoi of the densified outlines, dissolved per building,
    clipped to ``community``, minus the other footprints, plus its own (it may be multi-part)."""
    fps = shapely.make_valid(np.asarray(footprints, dtype=object))
    if len(fps) == 1:
        return [community]
    rings = shapely.segmentize(shapely.boundary(fps), step_m)
    xy, owner = shapely.get_coordinates(rings, return_index=True)
    # duplicate points (the closing vertex of each ring, buildings that touch) would leave
    # voronoi_polygons with fewer cells than points, and the order would no longer hold
    key = np.round(xy, 3)
    _, first = np.unique(key, axis=0, return_index=True)
    first.sort()
    xy, owner = xy[first], owner[first]
    box = shapely.box(*shapely.bounds(community)).buffer(10 * step_m + 100.0)
    vor = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=box, ordered=True)
    )
    if len(vor) != len(xy):  # GEOS merged points closer than its tolerance: place by location
        hit_pt, hit_poly = shapely.STRtree(vor).query(shapely.points(xy), predicate="intersects")
        label = np.full(len(vor), -1)
        label[hit_poly] = owner[hit_pt]
    else:
        label = owner
    out: list[Any] = []
    fp_tree = shapely.STRtree(fps)
    for k in range(len(fps)):
        mine = vor[label == k]
        cell = shapely.coverage_union_all(mine) if len(mine) else shapely.Polygon()
        cell = shapely.intersection(cell, community)
        others = [o for o in fp_tree.query(cell, predicate="intersects") if o != k]
        if others:
            cell = shapely.difference(cell, shapely.union_all(fps[others]))
        cell = shapely.union(cell, shapely.intersection(fps[k], community))
        out.append(_polygonal(cell))
    return out


def _adopt_orphans(cells: list[Any], footprints: list[Any]) -> tuple[list[Any], list[int]]:
    """Split each cell into the part holding its building and the rest; the rest joins the
    neighbouring main part it shares the longest edge with, or stays an atom of its own."""
    mains: list[Any] = []
    orphans: list[Any] = []
    for k, cell in enumerate(cells):
        parts = shapely.get_parts(cell)
        if len(parts) <= 1:
            mains.append(cell)
            continue
        overlap = shapely.area(shapely.intersection(parts, footprints[k]))
        best = int(np.argmax(overlap))
        mains.append(parts[best])
        orphans += [p for i, p in enumerate(parts) if i != best]
    owner = list(range(len(mains)))
    if not orphans:
        return mains, owner
    tree = shapely.STRtree(np.asarray(mains, dtype=object))
    joins: dict[int, list[Any]] = {}
    alone: list[Any] = []
    for piece in orphans:
        near = tree.query(piece, predicate="intersects")
        lengths = [shapely.intersection(piece.boundary, mains[n].boundary).length for n in near]
        if lengths and max(lengths) > 0.0:
            joins.setdefault(int(near[int(np.argmax(lengths))]), []).append(piece)
        else:
            alone.append(piece)
    for n, pieces in joins.items():
        mains[n] = _polygonal(shapely.union_all([mains[n], *pieces]))
    return mains + alone, owner + [-1] * len(alone)


def _polygonal(geom: Any) -> Any:
    """The polygons of ``geom`` (dropping the lines and points an intersection may leave)."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()
