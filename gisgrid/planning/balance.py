"""Auto-balance: propose the grids of a parent area from its building cells.

Each community under the parent is balanced on its own (grids never cross a community line),
with as many grids as it has now when that count can meet the limits (so the workers stay),
else the nearest count that can. Its building cells (:mod:`gisgrid.planning.cells`) are cut
into that many contiguous regions, even in workload and compact
(:class:`gisgrid.planning.regions.RegionSearch`); a grid is the union of its cells, so it
never cuts a building. Workload = households x w_h + residents x w_r + incidents of the last
12 months x w_i.

A community that cannot meet the limits (fewer households than one grid's minimum, say) is
still given its best grids, and named in ``Proposal.unmet`` with the reason;
:func:`balance_plan` refuses to write such a proposal (InvalidInput on ``limits``).

Examples
--------
>>> Limits(households_min=300, households_max=100)
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: limits: households_min=300 > households_max=100
>>> feasible_counts(900, 2000, Limits(50, 300, 100, 1000))
(3, 18)
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, RowMapping, text

from gisgrid.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, translate_db_errors
from gisgrid.planning.cells import building_cells, shared_edges
from gisgrid.planning.regions import COMPACTNESS, Bounds, RegionSearch
from gisgrid.settings import Settings
from gisgrid.store.engine import Bind, connection

WEIGHT_KEYS = ("households", "residents", "incidents_12m")
# The names gisgrid.settings gives the rule and the weights (Settings.plan_*), and the values
# used when a Settings does not carry them.
_LIMIT_SETTINGS = {
    "households_min": ("plan_households_min", 50),
    "households_max": ("plan_households_max", 300),
    "residents_min": ("plan_residents_min", 100),
    "residents_max": ("plan_residents_max", 1000),
}
_WEIGHT_SETTINGS = {
    "households": ("plan_weight_households", 1.0),
    "residents": ("plan_weight_residents", 0.3),
    "incidents_12m": ("plan_weight_incidents", 1.0),
}
EDITABLE = ("draft", "validated")


@dataclass(frozen=True)
class Limits:
    """The household/people rule a grid must meet (inclusive bounds)."""

    households_min: float = 50
    households_max: float = 300
    residents_min: float = 100
    residents_max: float = 1000

    def __post_init__(self) -> None:
        for name in ("households_min", "households_max", "residents_min", "residents_max"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or math.isnan(v) or v < 0:
                raise InvalidInput(f"{name}={v!r}; expected a number >= 0", field="limits")
        for what in ("households", "residents"):
            lo, hi = getattr(self, f"{what}_min"), getattr(self, f"{what}_max")
            if lo > hi:
                raise InvalidInput(f"{what}_min={lo} > {what}_max={hi}", field="limits")
        if self.households_max <= 0 or self.residents_max <= 0:
            raise InvalidInput("households_max and residents_max must be > 0", field="limits")

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Limits:
        """The limits ``settings`` name (``plan_households_min`` ...), or the defaults."""
        return cls(**{k: getattr(settings, n, d) for k, (n, d) in _LIMIT_SETTINGS.items()})

    def bounds(self) -> Bounds:
        return Bounds(
            self.households_min, self.households_max, self.residents_min, self.residents_max
        )

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in _LIMIT_SETTINGS}


def workload_weights(
    weights: Mapping[str, float] | None = None, settings: Settings | None = None
) -> dict[str, float]:
    """The workload weights: ``weights`` over those of ``settings`` (``plan_weight_*``) over
    the defaults; an unknown key or a negative weight is InvalidInput on ``weights``.

    Examples
    --------
    >>> workload_weights({"incidents_12m": 2})
    {'households': 1.0, 'residents': 0.3, 'incidents_12m': 2.0}
    >>> workload_weights({"shops": 1})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: weights: weights key 'shops'; expected some of ...
    """
    out = {k: float(getattr(settings, n, d)) for k, (n, d) in _WEIGHT_SETTINGS.items()}
    for key, value in (weights or {}).items():
        if key not in WEIGHT_KEYS:
            raise InvalidInput(
                f"weights key {key!r}; expected some of {WEIGHT_KEYS}", field="weights"
            )
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        if not math.isfinite(v) or v < 0:
            raise InvalidInput(
                f"weights[{key!r}]={value!r}; expected a number >= 0", field="weights"
            )
        out[key] = v
    if not any(out.values()):
        raise InvalidInput("every workload weight is 0; give at least one > 0", field="weights")
    return out


def feasible_counts(households: float, residents: float, limits: Limits) -> tuple[int, int]:
    """The fewest and most grids a community of these totals can be cut into, each grid
    within the limits on average (lo > hi: no count can).

    Examples
    --------
    >>> feasible_counts(40, 120, Limits(50, 300, 100, 1000))
    (1, 0)
    """
    lo = max(
        1,
        math.ceil(households / limits.households_max - 1e-9),
        math.ceil(residents / limits.residents_max - 1e-9),
    )
    hi_h = math.floor(households / limits.households_min + 1e-9) if limits.households_min else 10**9
    hi_r = math.floor(residents / limits.residents_min + 1e-9) if limits.residents_min else 10**9
    return lo, min(hi_h, hi_r)


@dataclass
class Proposal:
    """Auto-balanced grids for a parent (metric CRS), and what could not be met.

    ``grids``: one row per proposed grid, with ``community_id``, ``households``,
    ``residents``, ``incidents_12m``, ``workload``, ``buildings`` (their ids), ``area_m2``,
    ``polsby_popper``, ``meets`` (within the limits) and the polygon. ``cells``: the building
    cells with the ``grid`` (row of ``grids``) each went to. ``unmet``: one entry per
    community whose grids do not all meet the limits: {"community_id", "code", "reason"}.
    """

    parent_area_id: int
    grids: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    limits: Limits
    weights: dict[str, float]
    seed: int
    unmet: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def spread(self) -> dict[str, dict[str, float]]:
        """min, max, max/min and coefficient of variation of households, residents and
        workload over the proposed grids."""
        return {
            k: spread(self.grids[k].to_numpy(dtype=float))
            for k in ("households", "residents", "workload")
        }


def spread(values: np.ndarray) -> dict[str, float]:
    """min, max, max_min_ratio (inf when min is 0) and cv (population standard deviation over
    the mean) of ``values``.

    Examples
    --------
    >>> spread(np.array([100.0, 200.0, 300.0]))
    {'min': 100.0, 'max': 300.0, 'max_min_ratio': 3.0, 'cv': 0.408248}
    """
    if not len(values):
        return {"min": 0.0, "max": 0.0, "max_min_ratio": math.nan, "cv": math.nan}
    lo, hi, mean = float(values.min()), float(values.max()), float(values.mean())
    return {
        "min": lo,
        "max": hi,
        "max_min_ratio": round(hi / lo, 6) if lo > 0 else math.inf,
        "cv": round(float(values.std()) / mean, 6) if mean > 0 else math.nan,
    }


def auto_balance(
    bind: Bind,
    parent_area_id: int,
    *,
    weights: Mapping[str, float] | None = None,
    limits: Limits | None = None,
    seed: int = 0,
    settings: Settings | None = None,
    cells: gpd.GeoDataFrame | None = None,
    compactness: float = COMPACTNESS,
) -> Proposal:
    """Proposed grids for ``parent_area_id`` (a community, street or district): each
    community's building cells cut into contiguous grids within ``limits`` (default: the
    settings' rule), even in workload (``weights`` over the settings') and compact
    (``compactness`` weighs 1 - Polsby-Popper against the squared relative deviation of
    workload). The same seed gives the same proposal. ``cells`` may pass building cells
    already made for this parent.

    Examples
    --------
    >>> auto_balance(None, 1, weights={"households": -1})
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: weights: weights['households']=-1; expected a number >= 0
    """
    w = workload_weights(weights, settings)
    lim = limits if limits is not None else Limits.from_settings(settings)
    t0 = time.perf_counter()
    with connection(bind) as conn:
        if cells is None:
            cells = building_cells(conn, parent_area_id)
        now = _current_grid_counts(conn, [int(c) for c in cells["community_id"].unique()])
        codes = _codes(conn, [int(c) for c in cells["community_id"].unique()])
    cells = cells.copy()
    cells["workload"] = sum(w[k] * cells[k].to_numpy(dtype=float) for k in WEIGHT_KEYS)
    edges = shared_edges(cells.geometry.to_numpy(), min_edge_m=0.0)
    comm = cells["community_id"].to_numpy()
    labels = np.full(len(cells), -1, dtype=np.int64)
    unmet: list[dict[str, Any]] = []
    next_label = 0
    for cid in sorted(set(comm.tolist())):
        members = np.flatnonzero(comm == cid)
        lab, note = _balance_community(
            cells, members, edges, now.get(cid, 1), lim, seed, compactness
        )
        labels[members] = lab + next_label
        next_label += int(lab.max()) + 1
        if note:
            unmet.append({"community_id": int(cid), "code": codes.get(cid), "reason": note})
    cells["grid"] = labels
    grids = _dissolve(cells, lim)
    for u in unmet:  # the reason also says which grids miss, now they are numbered
        bad = grids[(grids["community_id"] == u["community_id"]) & ~grids["meets"]]
        u["grids"] = bad.index.tolist()
    return Proposal(parent_area_id, grids, cells, lim, w, seed, unmet, time.perf_counter() - t0)


def _balance_community(
    cells: gpd.GeoDataFrame,
    members: np.ndarray,
    edges: list[tuple[int, int, float]],
    current: int,
    limits: Limits,
    seed: int,
    compactness: float,
) -> tuple[np.ndarray, str | None]:
    """Labels 0..k-1 for the community's cells, and why it misses the limits (None if not)."""
    sub = cells.iloc[members]
    hh, rs = float(sub["households"].sum()), float(sub["residents"].sum())
    lo, hi = feasible_counts(hh, rs, limits)
    n = len(members)
    if lo > hi:
        k = max(1, min(n, lo if hh > limits.households_max or rs > limits.residents_max else 1))
        tries = [k]
    else:
        span = range(lo, min(hi, n) + 1)
        tries = sorted(span, key=lambda c: (abs(c - current), c))[:3] or [min(lo, n)]
    pos = {int(m): i for i, m in enumerate(members)}
    local = [(pos[i], pos[j], d) for i, j, d in edges if i in pos and j in pos]
    geoms = sub.geometry.to_numpy()
    cxy = shapely.get_coordinates(shapely.point_on_surface(geoms))
    best: tuple[float, np.ndarray] | None = None
    for k in tries:
        s = RegionSearch(
            workload=sub["workload"].to_numpy(dtype=float),
            households=sub["households"].to_numpy(dtype=float),
            residents=sub["residents"].to_numpy(dtype=float),
            area=shapely.area(geoms),
            perimeter=shapely.length(geoms),
            xy=cxy,
            edges=[e for e in local if e[2] > 1.0],
            k=k,
            bounds=limits.bounds(),
            seed=seed,
            compactness=compactness,
        ).solve()
        breach = sum(
            limits.bounds().breach(h, r) for h, r in zip(s.households_, s.residents_, strict=True)
        )
        if best is None or breach < best[0]:
            best = (breach, s.labels_)
        if breach == 0:
            break
    assert best is not None
    if best[0] == 0:
        return best[1], None
    if lo > hi:
        why = (
            f"its {hh:.0f} households and {rs:.0f} residents cannot be cut into grids of"
            f" {limits.households_min:g}..{limits.households_max:g} households and"
            f" {limits.residents_min:g}..{limits.residents_max:g} residents"
        )
    else:
        why = (
            f"no cut into {lo}..{hi} contiguous grids of whole buildings found that keeps every"
            " grid within the limits (a building too large, or too few to share out)"
        )
    return best[1], why


def _dissolve(cells: gpd.GeoDataFrame, limits: Limits) -> gpd.GeoDataFrame:
    bounds = limits.bounds()
    rows = []
    for _, part in cells.groupby("grid", sort=True):
        geom = shapely.union_all(part.geometry.to_numpy())
        h, r = float(part["households"].sum()), float(part["residents"].sum())
        area, per = geom.area, geom.length
        rows.append(
            {
                "community_id": int(part["community_id"].iat[0]),
                "households": int(h),
                "residents": int(r),
                "incidents_12m": int(part["incidents_12m"].sum()),
                "workload": round(float(part["workload"].sum()), 6),
                "buildings": [int(b) for b in part["building_id"].dropna()],
                "area_m2": round(area, 3),
                "polsby_popper": round(4 * math.pi * area / per**2, 6) if per else 0.0,
                "meets": bounds.breach(h, r) == 0,
                "geometry": geom,
            }
        )
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=cells.crs)


def _current_grid_counts(conn: Connection, community_ids: list[int]) -> dict[int, int]:
    rows = conn.execute(
        text(
            "SELECT parent_id, count(*) FROM areas WHERE level = 'grid' AND valid_to IS NULL"
            " AND parent_id = ANY(:ids) GROUP BY parent_id"
        ),
        {"ids": community_ids},
    ).all()
    return {int(p): int(n) for p, n in rows}


def _codes(conn: Connection, area_ids: list[int]) -> dict[int, str]:
    rows = conn.execute(
        text("SELECT id, code FROM areas WHERE id = ANY(:ids)"), {"ids": area_ids}
    ).all()
    return {int(i): str(c) for i, c in rows}


def balance_plan(
    bind: Connection | Engine,
    plan_id: int,
    *,
    weights: Mapping[str, float] | None = None,
    limits: Limits | None = None,
    seed: int = 0,
    version: int | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Replace the draft grids of plan ``plan_id`` with an auto-balanced proposal for its
    parent, and raise the plan's version; returns {"plan_id", "version", "codes",
    "kept", "new", "retired", "spread", "unmet": []}.

    Codes: a proposed grid that covers most of a current grid keeps that grid's code (and
    names it in ``replaces_area_id``); any other gets its community's code plus the next
    3-digit number no version of any area has used, and ``replaces_area_id`` = the current
    grid it overlaps most. ``version`` (from If-Match), when given, must be the plan's. A
    plan that is not a draft is a Conflict; a parent whose limits some community cannot meet
    is InvalidInput on ``limits`` naming them, and nothing is written. The plan's checks
    and stats are emptied (the caller recomputes them), its weights set to those used.

    Examples
    --------
    >>> balance_plan(None, 1, limits=Limits(households_min=-1))
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: limits: households_min=-1; expected a number >= 0
    """
    w = workload_weights(weights, settings)
    lim = limits if limits is not None else Limits.from_settings(settings)
    if isinstance(bind, Engine):
        with translate_db_errors(), bind.begin() as conn:
            return balance_plan(conn, plan_id, weights=w, limits=lim, seed=seed, version=version)
    conn = bind
    with translate_db_errors():
        plan = _lock_plan(conn, plan_id, version)
        proposal = auto_balance(conn, int(plan["parent_area_id"]), weights=w, limits=lim, seed=seed)
        if proposal.unmet:
            raise InvalidInput(
                "the limits cannot be met in "
                + "; ".join(f"community {u['code']} ({u['reason']})" for u in proposal.unmet),
                field="limits",
            )
        rows, kept, retired = _coded(conn, proposal, list(plan["base_grid_ids"] or []))
        conn.execute(text("DELETE FROM plan_areas WHERE plan_id = :p"), {"p": plan_id})
        conn.execute(
            text(
                "INSERT INTO plan_areas (plan_id, code, parent_id, name, replaces_area_id, geom)"
                " VALUES (:plan_id, :code, :parent_id, :name, :replaces,"
                " ST_Multi(ST_GeomFromWKB(:wkb, 4326)))"
            ),
            [{"plan_id": plan_id, **r} for r in rows],
        )
        new_version = conn.execute(
            text(
                "UPDATE plans SET version = version + 1, updated_at = now(), status = 'draft',"
                " checks = '{}'::jsonb, stats = '{}'::jsonb, weights = CAST(:w AS jsonb)"
                " WHERE id = :p RETURNING version"
            ),
            {"p": plan_id, "w": _json(w)},
        ).scalar_one()
    codes = [r["code"] for r in rows]
    return {
        "plan_id": plan_id,
        "version": int(new_version),
        "codes": codes,
        "kept": sorted(kept),
        "new": sorted(set(codes) - kept),
        "retired": sorted(retired),
        "spread": proposal.spread(),
        "unmet": [],
    }


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _lock_plan(conn: Connection, plan_id: int, version: int | None) -> RowMapping:
    plan = (
        conn.execute(
            text(
                "SELECT id, parent_area_id, status, version, base_grid_ids FROM plans"
                " WHERE id = :p FOR UPDATE"
            ),
            {"p": plan_id},
        )
        .mappings()
        .one_or_none()
    )
    if plan is None:
        raise NotFound(f"plan_id={plan_id}: no such plan", field="plan_id")
    if plan["status"] not in EDITABLE:
        raise Conflict(
            f"plan {plan_id} is {plan['status']}; only a plan that is one of {EDITABLE} can be"
            " balanced",
            field="status",
        )
    if version is not None and int(plan["version"]) != version:
        raise PreconditionFailed(
            f"plan {plan_id} is at version {plan['version']}, not {version}", field="If-Match"
        )
    return plan


def _coded(
    conn: Connection, proposal: Proposal, base_ids: list[int]
) -> tuple[list[dict[str, Any]], set[str], set[str]]:
    """The proposal's rows for plan_areas (codes, names, replaces_area_id, WKB in 4326), the
    codes kept and the codes retired."""
    if not base_ids:
        base_ids = [
            int(i)
            for i in conn.execute(
                text(
                    "SELECT id FROM areas WHERE level = 'grid' AND valid_to IS NULL"
                    " AND parent_id = ANY(:c)"
                ),
                {"c": [int(c) for c in proposal.grids["community_id"].unique()]},
            ).scalars()
        ]
    old = pd.DataFrame(
        conn.execute(
            text("SELECT id, code, name, ST_AsBinary(geom) AS wkb FROM areas WHERE id = ANY(:i)"),
            {"i": base_ids},
        )
        .mappings()
        .all(),
        columns=["id", "code", "name", "wkb"],
    )
    old_m = gpd.GeoSeries(shapely.from_wkb(old["wkb"].to_numpy()), crs=4326).to_crs(
        proposal.grids.crs
    )
    new_m = proposal.grids.geometry.to_numpy()
    overlap = np.zeros((len(new_m), len(old)))
    if len(old):
        ni, oi = shapely.STRtree(old_m.to_numpy()).query(new_m, predicate="intersects")
        overlap[ni, oi] = shapely.area(shapely.intersection(new_m[ni], old_m.to_numpy()[oi]))
    old_area = shapely.area(old_m.to_numpy()) if len(old) else np.zeros(0)
    # a new grid keeps an old code when it covers most of that old grid; one to one, the
    # largest overlaps first
    keep: dict[int, int] = {}
    taken: set[int] = set()
    for flat in np.argsort(-overlap, axis=None, kind="stable"):
        n, o = divmod(int(flat), max(len(old), 1))
        if not len(old) or overlap[n, o] <= 0.5 * old_area[o]:
            break
        if n not in keep and o not in taken:
            keep[n] = o
            taken.add(o)
    comms = pd.DataFrame(
        conn.execute(
            text("SELECT id, code, name FROM areas WHERE id = ANY(:c)"),
            {"c": [int(c) for c in proposal.grids["community_id"].unique()]},
        )
        .mappings()
        .all()
    ).set_index("id")
    next_seq = _next_sequences(conn, [str(c) for c in comms["code"]])
    wgs = proposal.grids.to_crs(4326).geometry.to_numpy()
    rows: list[dict[str, Any]] = []
    for n in range(len(new_m)):
        replaces: int | None
        cid = int(proposal.grids["community_id"].iat[n])
        if n in keep:
            o = keep[n]
            code, name, replaces = (
                str(old["code"].iat[o]),
                str(old["name"].iat[o]),
                int(old["id"].iat[o]),
            )
        else:
            ccode = str(comms.at[cid, "code"])
            seq = next_seq[ccode]
            if seq > 999:
                raise InvalidInput(
                    f"community {ccode} has used every grid number 001..999", field="limits"
                )
            next_seq[ccode] = seq + 1
            code, name = f"{ccode}{seq:03d}", f"{comms.at[cid, 'name']}第{seq}网格"
            replaces = int(old["id"].iat[int(np.argmax(overlap[n]))]) if overlap[n].any() else None
        geom = wgs[n]
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        rows.append(
            {
                "code": code,
                "parent_id": cid,
                "name": name,
                "replaces": replaces,
                "wkb": shapely.to_wkb(geom),
            }
        )
    kept = {r["code"] for n, r in enumerate(rows) if n in keep}
    retired = {str(c) for c in old["code"]} - kept
    return rows, kept, retired


def _next_sequences(conn: Connection, community_codes: list[str]) -> dict[str, int]:
    """For each community code, 1 + the highest 3-digit grid number any area version (current
    or closed) has had under it, so a retired code is never used again."""
    rows = conn.execute(
        text(
            "SELECT c.code, coalesce(max(CAST(substr(a.code, length(c.code) + 1) AS int)), 0)"
            " FROM unnest(CAST(:codes AS text[])) AS c(code)"
            " LEFT JOIN areas a ON a.code LIKE c.code || '___'"
            " AND substr(a.code, length(c.code) + 1) ~ '^[0-9]{3}$'"
            " GROUP BY c.code"
        ),
        {"codes": community_codes},
    ).all()
    return {str(c): int(m) + 1 for c, m in rows}
