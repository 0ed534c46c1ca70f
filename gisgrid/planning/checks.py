"""The checks of a plan: what blocks publishing (hard) and what a planner should look at (soft).

:func:`check_plan` answers ``{"ok": bool, "hard": [failure, ...], "soft": [failure, ...]}``;
``ok`` is True when no hard check fails. A failure is
``{"check", "codes", "message", "message_zh", "area_m2", "bbox", "point"}`` (plus
``building_ids`` for a cut building): ``bbox`` ([w, s, e, n], lon/lat) is where to zoom to,
``point`` ([lon, lat]) where to put a marker.

Hard: the draft tiles the parent exactly (``gap``, ``overlap``, ``outside_parent``, each with
its area in m^2; pieces under 1 m^2 are float noise, not failures), each grid is one valid
polygon (``invalid``, ``multipart``), no building is cut by a grid edge (``cut_building``:
no one grid holds 99 % of its footprint), each grid within the household and resident limits
of Settings (``households_over``, ``households_under``, ``residents_over``,
``residents_under``), and codes are unique (``duplicate_code``).

Soft: ``compactness`` (Polsby-Popper under ``plan_min_polsby_popper``), ``size_outlier``
(area beyond the median times or divided by ``plan_size_outlier_factor``), ``no_worker`` (no
grid worker carries on into the grid: a new grid, or the smaller pieces of a split) and
``crosses_community`` (a grid lying in two communities, when the parent is a street or a
district).

The overlay work is vectorised (shapely 2 and STRtree): pairs of neighbouring grids, not all
pairs; the union for gaps is only built when the areas say there is a gap.

Examples
--------
>>> failure("gap", [], "a gap", "有空隙", area_m2=12.345)["area_m2"]
12.35
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely

from gisgrid.planning.snapshot import NOISE_M2, Conn, Grids, Snapshot, solid_area, solid_parts
from gisgrid.settings import Settings, get_settings

HARD = (
    "invalid",
    "multipart",
    "outside_parent",
    "gap",
    "overlap",
    "cut_building",
    "households_over",
    "households_under",
    "residents_over",
    "residents_under",
    "duplicate_code",
)
SOFT = ("compactness", "size_outlier", "no_worker", "crosses_community")
CUT_SHARE = 0.99  # a building is whole in a grid that holds this share of its footprint


def failure(
    check: str,
    codes: list[str],
    message: str,
    message_zh: str,
    *,
    area_m2: float | None = None,
    bbox: list[float] | None = None,
    point: list[float] | None = None,
    building_ids: list[int] | None = None,
) -> dict[str, Any]:
    """One failure as the contract spells it (areas to the cm^2)."""
    out: dict[str, Any] = {
        "check": check,
        "codes": codes,
        "message": message,
        "message_zh": message_zh,
        "area_m2": None if area_m2 is None else round(float(area_m2), 2),
        "bbox": bbox,
        "point": point,
    }
    if building_ids is not None:
        out["building_ids"] = building_ids
    return out


@dataclass(frozen=True)
class Limits:
    """The rule a grid is checked against (from Settings)."""

    households_min: int
    households_max: int
    residents_min: int
    residents_max: int
    min_polsby_popper: float
    size_outlier_factor: float

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(
            s.plan_households_min,
            s.plan_households_max,
            s.plan_residents_min,
            s.plan_residents_max,
            s.plan_min_polsby_popper,
            s.plan_size_outlier_factor,
        )

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def check_plan(
    conn: Conn, plan_id: int, *, settings: Settings | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The check JSON of a plan (see the module's docstring); NotFound for no such plan.

    It reads the plan as it is in the store and writes nothing.

    Examples
    --------
    >>> check_plan(conn, plan_id)["ok"]  # doctest: +SKIP
    True
    """
    return evaluate(Snapshot(conn, plan_id, now), settings or get_settings())


def evaluate(snap: Snapshot, settings: Settings) -> dict[str, Any]:
    """The checks of a plan already read (:func:`check_plan` reads it and calls this)."""
    limits = Limits.from_settings(settings)
    draft = snap.draft
    stray = _stray(snap, draft)
    hard = [
        *_shape(snap, draft),
        *_outside(snap, draft, stray),
        *_tiling(snap, draft, stray),
        *_cut_buildings(snap, draft),
        *_limits(snap, draft, limits),
        *_duplicates(snap, draft),
    ]
    soft = [
        *_compactness(snap, draft, limits),
        *_size(snap, draft, limits),
        *_no_worker(snap, draft),
        *_communities(snap, draft),
    ]
    return {"ok": not hard, "hard": hard, "soft": soft}


def _at(snap: Snapshot, geom: Any) -> dict[str, Any]:
    """Where a geometry in metres is (bbox and point, lon/lat)."""
    return {"bbox": snap.bbox(geom), "point": snap.point(geom)}


# -- hard --------------------------------------------------------------------------------------


def _shape(snap: Snapshot, d: Grids) -> list[dict[str, Any]]:
    out = []
    valid = shapely.is_valid(d.metric) & ~shapely.is_empty(d.metric)
    for i in np.flatnonzero(~valid):
        reason = shapely.is_valid_reason(d.metric[i])
        out.append(
            failure(
                "invalid",
                [d.codes[i]],
                f"grid {d.codes[i]} is not a valid polygon: {reason}",
                f"网格 {d.codes[i]} 不是有效的多边形：{reason}",
                area_m2=float(d.area_m2[i]),
                **(_at(snap, d.metric[i]) if not shapely.is_empty(d.metric[i]) else {}),
            )
        )
    parts = shapely.get_num_geometries(d.metric)
    for i in np.flatnonzero(valid & (parts > 1)):
        out.append(
            failure(
                "multipart",
                [d.codes[i]],
                f"grid {d.codes[i]} is in {parts[i]} separate parts; a grid is one polygon",
                f"网格 {d.codes[i]} 由 {parts[i]} 块不相连的部分组成；一个网格应为一个多边形",
                area_m2=float(d.area_m2[i]),
                **d.at(i),
            )
        )
    return out


def _stray(snap: Snapshot, d: Grids) -> dict[int, list[Any]]:
    """Grid index -> its pieces outside the parent (for the grids not covered by it)."""
    parent = snap.parent_metric
    shapely.prepare(parent)
    out = {}
    # the parent's boundary has many vertices: clip it to each grid's box before subtracting
    for i in np.flatnonzero(~shapely.covers(parent, d.metric) & shapely.is_valid(d.metric)):
        local = shapely.clip_by_rect(parent, *shapely.bounds(d.metric[i]))
        out[int(i)] = solid_parts(shapely.difference(d.metric[i], local))
    return out


def _outside(snap: Snapshot, d: Grids, stray: dict[int, list[Any]]) -> list[dict[str, Any]]:
    out = []
    for i, pieces in sorted(stray.items()):
        for piece in pieces:
            out.append(
                failure(
                    "outside_parent",
                    [d.codes[i]],
                    f"grid {d.codes[i]} reaches {piece.area:.1f} m² outside the parent area",
                    f"网格 {d.codes[i]} 有 {piece.area:.1f} 平方米超出上级区域",
                    area_m2=piece.area,
                    **_at(snap, piece),
                )
            )
    return out


def _tiling(snap: Snapshot, d: Grids, stray: dict[int, list[Any]]) -> list[dict[str, Any]]:
    """Overlaps between neighbouring grids, and gaps where the grids leave the parent bare."""
    valid = shapely.is_valid(d.metric)
    geoms = np.where(valid, d.metric, shapely.make_valid(d.metric))
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    # neighbours that only share an edge have nothing to measure (touches is cheaper than the
    # intersection it spares)
    shapely.prepare(geoms)
    keep = ~shapely.touches(geoms[a], geoms[b])
    a, b = a[keep], b[keep]
    out = []
    overlap_m2 = 0.0
    if len(a):
        inter = shapely.intersection(geoms[a], geoms[b])
        overlap_m2 = float(shapely.area(inter).sum())
        for k in np.flatnonzero(solid_area(inter) > 0):
            codes = [d.codes[a[k]], d.codes[b[k]]]
            for piece in solid_parts(inter[k]):
                out.append(
                    failure(
                        "overlap",
                        codes,
                        f"grids {codes[0]} and {codes[1]} overlap by {piece.area:.1f} m²",
                        f"网格 {codes[0]} 与 {codes[1]} 重叠 {piece.area:.1f} 平方米",
                        area_m2=piece.area,
                        **_at(snap, piece),
                    )
                )
    # the grids cover the parent exactly when their areas inside it, less the overlaps, add
    # up to its area; only then is the (costly) union skipped
    parent = snap.parent_metric
    outside_m2 = sum(p.area for pieces in stray.values() for p in pieces)
    inside_m2 = float(np.sum(shapely.area(geoms))) - outside_m2
    bare = float(parent.area) - (inside_m2 - overlap_m2)
    if bare < NOISE_M2:
        return out
    cover = shapely.union_all(geoms)
    for piece in solid_parts(shapely.difference(parent, cover)):
        out.append(
            failure(
                "gap",
                _neighbours(d, geoms, piece),
                f"{piece.area:.1f} m² of the parent area lie in no grid",
                f"上级区域有 {piece.area:.1f} 平方米不属于任何网格",
                area_m2=piece.area,
                **_at(snap, piece),
            )
        )
    return out


def _neighbours(d: Grids, geoms: Any, piece: Any) -> list[str]:
    """The codes of the grids that touch a piece (a gap's neighbours, to name it by)."""
    near = shapely.STRtree(geoms).query(shapely.buffer(piece, 0.5), predicate="intersects")
    return sorted(d.codes[i] for i in near)


def _cut_buildings(snap: Snapshot, d: Grids) -> list[dict[str, Any]]:
    ids, footprints, _ = snap.buildings
    holder, share = snap.building_holders(d)
    cut = np.flatnonzero((holder >= 0) & (share < CUT_SHARE))
    if len(cut) == 0:
        return []
    # grouped by the grids that share them, so the planner fixes one edge at a time
    b, g = d.layout.tree.query(footprints[cut], predicate="intersects")
    inter = shapely.area(shapely.intersection(d.geoms[g], footprints[cut][b]))
    by_building: dict[int, set[str]] = defaultdict(set)
    for pair in np.flatnonzero(inter > 0):
        by_building[int(b[pair])].add(d.codes[g[pair]])
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for member, near in by_building.items():
        groups[tuple(sorted(near))].append(member)
    out = []
    for codes, members in sorted(groups.items()):
        which = cut[np.array(members, dtype=np.int64)]
        shape = snap.to_metric(shapely.union_all(footprints[which]))
        n = len(which)
        out.append(
            failure(
                "cut_building",
                list(codes),
                f"{n} building{'s are' if n > 1 else ' is'} cut by the edge between grids"
                f" {', '.join(codes)}",
                f"网格 {'、'.join(codes)} 的边界切分了 {n} 栋建筑",
                area_m2=float(shape.area),
                building_ids=sorted(int(i) for i in ids[which]),
                **_at(snap, shape),
            )
        )
    return out


def _limits(snap: Snapshot, d: Grids, lim: Limits) -> list[dict[str, Any]]:
    counts = snap.draft_counts("households") | snap.draft_counts("residents")
    rules = (
        ("households", "户", lim.households_min, lim.households_max),
        ("residents", "人", lim.residents_min, lim.residents_max),
    )
    out = []
    for what, unit, low, high in rules:
        values = counts[what]
        for i, v in enumerate(values.tolist()):
            code = d.codes[i]
            if v > high:
                check, msg = f"{what}_over", f"grid {code} has {v:.0f} {what}; at most {high}"
                zh = f"网格 {code} 有 {v:.0f} {unit}，超过上限 {high} {unit}"
            elif v < low:
                check, msg = f"{what}_under", f"grid {code} has {v:.0f} {what}; at least {low}"
                zh = f"网格 {code} 只有 {v:.0f} {unit}，低于下限 {low} {unit}"
            else:
                continue
            out.append(failure(check, [code], msg, zh, area_m2=float(d.area_m2[i]), **d.at(i)))
    order = {c: k for k, c in enumerate(HARD)}
    return sorted(out, key=lambda f: (order[f["check"]], f["codes"]))


def _duplicates(snap: Snapshot, d: Grids) -> list[dict[str, Any]]:
    out = []
    for code, n in sorted(Counter(d.codes).items()):
        if n > 1:
            shape = shapely.union_all(d.metric[[c == code for c in d.codes]])
            out.append(
                failure(
                    "duplicate_code",
                    [code],
                    f"code {code} names {n} grids; each grid needs its own",
                    f"编码 {code} 被 {n} 个网格重复使用",
                    **_at(snap, shape),
                )
            )
    return out


# -- soft --------------------------------------------------------------------------------------


def _compactness(snap: Snapshot, d: Grids, lim: Limits) -> list[dict[str, Any]]:
    out = []
    for i in np.flatnonzero(d.polsby_popper < lim.min_polsby_popper):
        pp = float(d.polsby_popper[i])
        out.append(
            failure(
                "compactness",
                [d.codes[i]],
                f"grid {d.codes[i]} is not compact: Polsby-Popper {pp:.2f}, under"
                f" {lim.min_polsby_popper}",
                f"网格 {d.codes[i]} 形状不紧凑：Polsby-Popper 指数 {pp:.2f}，低于"
                f" {lim.min_polsby_popper}",
                area_m2=float(d.area_m2[i]),
                **d.at(i),
            )
        )
    return out


def _size(snap: Snapshot, d: Grids, lim: Limits) -> list[dict[str, Any]]:
    if len(d) < 3:  # a median of two says nothing
        return []
    median = float(np.median(d.area_m2))
    f = lim.size_outlier_factor
    out = []
    for i in np.flatnonzero((d.area_m2 > median * f) | (d.area_m2 < median / f)):
        a = float(d.area_m2[i])
        word, zh = ("large", "过大") if a > median else ("small", "过小")
        out.append(
            failure(
                "size_outlier",
                [d.codes[i]],
                f"grid {d.codes[i]} is {word}: {a:.0f} m², the plan's median is {median:.0f} m²",
                f"网格 {d.codes[i]} 面积{zh}：{a:.0f} 平方米，方案中位数为 {median:.0f} 平方米",
                area_m2=a,
                **d.at(i),
            )
        )
    return out


def _no_worker(snap: Snapshot, d: Grids) -> list[dict[str, Any]]:
    workers = snap.workers_of_draft()
    out = []
    for i in np.flatnonzero(workers == 0):
        out.append(
            failure(
                "no_worker",
                [d.codes[i]],
                f"grid {d.codes[i]} has no grid worker (a new grid, or a piece split off)",
                f"网格 {d.codes[i]} 没有网格员（新网格或拆分出的部分）",
                area_m2=float(d.area_m2[i]),
                **d.at(i),
            )
        )
    return out


def _communities(snap: Snapshot, d: Grids) -> list[dict[str, Any]]:
    if snap.parent_level not in ("street", "district") or len(d) == 0:
        return []
    comm = snap.communities
    if len(comm) < 2:
        return []
    shapely.prepare(comm.metric)
    g, c = shapely.STRtree(comm.metric).query(d.metric, predicate="intersects")
    # a grid that one community covers crosses no line: measure only the others
    inside = np.zeros(len(d), dtype=bool)
    inside[g[shapely.covers(comm.metric[c], d.metric[g])]] = True
    keep = ~inside[g]
    g, c = g[keep], c[keep]
    area = solid_area(shapely.intersection(d.metric[g], comm.metric[c]))
    by_grid: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for k in np.flatnonzero(area > 0):
        by_grid[int(g[k])].append((float(area[k]), int(c[k])))
    out = []
    for i, pieces in sorted(by_grid.items()):
        if len(pieces) < 2:
            continue
        pieces.sort(reverse=True)
        others = [comm.codes[c] for _, c in pieces[1:]]
        stray = sum(a for a, _ in pieces[1:])
        names = ", ".join(others)
        out.append(
            failure(
                "crosses_community",
                [d.codes[i]],
                f"grid {d.codes[i]} crosses the community line: {stray:.0f} m² lie in {names},"
                f" the rest in {comm.codes[pieces[0][1]]}",
                f"网格 {d.codes[i]} 跨越社区边界：{stray:.0f} 平方米位于 {'、'.join(others)}",
                area_m2=stray,
                **d.at(i),
            )
        )
    return out
