"""The live workload of a plan: per draft grid what a grid worker would carry, and its spread
beside the current boundaries' spread, so the planner sees whether a draft is better or worse.

Per grid: ``buildings`` (a building counts in the grid holding most of its footprint),
``households`` (the household points inside), ``residents`` (via their household),
``places``, ``incidents_12m`` (reported in the 12 months before ``now``), ``open_incidents``
(open now, whenever reported), ``visit_logs`` (12 months), ``workers`` (grid workers carried
on into the grid), ``area_m2``, ``polsby_popper`` and ``workload``: households x w_h +
residents x w_r + incidents_12m x w_i, weights from Settings (``plan_weight_*``), overridden
by the plan's own ``plans.weights`` (keys ``households``, ``residents``, ``incidents``), then
by the caller's ``weights``.

The spread of households, residents and workload is its min, max, max/min (None when the
min is 0) and coefficient of variation (population standard deviation / mean).

Examples
--------
>>> spread(np.array([100.0, 200.0, 300.0]))
{'min': 100.0, 'max': 300.0, 'max_min_ratio': 3.0, 'cv': 0.408}
>>> spread(np.array([]))
{'min': None, 'max': None, 'max_min_ratio': None, 'cv': None}
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gisgrid.errors import InvalidInput
from gisgrid.planning.checks import Limits
from gisgrid.planning.snapshot import Conn, Snapshot
from gisgrid.settings import Settings, get_settings

WEIGHT_KEYS = ("households", "residents", "incidents")
# balance.py spells the incident weight as the stats column does (and stores it so on
# plans.weights): read it as this module's "incidents"
WEIGHT_ALIASES = {"incidents_12m": "incidents"}
SPREAD_OF = ("households", "residents", "workload")


def spread(values: NDArray[np.float64]) -> dict[str, float | None]:
    """min, max, max/min and the coefficient of variation of per-grid values."""
    if len(values) == 0:
        return {"min": None, "max": None, "max_min_ratio": None, "cv": None}
    lo, hi, mean = float(values.min()), float(values.max()), float(values.mean())
    return {
        "min": round(lo, 3),
        "max": round(hi, 3),
        "max_min_ratio": round(hi / lo, 3) if lo > 0 else None,
        "cv": round(float(values.std()) / mean, 3) if mean > 0 else None,
    }


def weights_for(
    settings: Settings, plan: Mapping[str, Any] | None, weights: Mapping[str, Any] | None
) -> dict[str, float]:
    """The workload weights: Settings, then the plan's ``weights``, then the caller's.

    Examples
    --------
    >>> s = Settings(_env_file=None)
    >>> weights_for(s, {"residents": 0.5}, {"incidents": 2})
    {'households': 1.0, 'residents': 0.5, 'incidents': 2.0}
    >>> weights_for(s, {"incidents_12m": 3.0}, None)["incidents"]
    3.0
    >>> weights_for(s, None, {"people": 1})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: weights: unknown weight 'people'; expected some of (...)
    """
    out = {
        "households": settings.plan_weight_households,
        "residents": settings.plan_weight_residents,
        "incidents": settings.plan_weight_incidents,
    }
    for given in (plan or {}, weights or {}):
        for key, v in given.items():
            k = WEIGHT_ALIASES.get(key, key)
            if k not in WEIGHT_KEYS:
                raise InvalidInput(
                    f"unknown weight {k!r}; expected some of {WEIGHT_KEYS}", field="weights"
                )
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1e6:
                raise InvalidInput(
                    f"weights.{k}={v!r}; expected a number from 0 to 1e6", field="weights"
                )
            out[k] = float(v)
    return out


KINDS = ("households", "residents", "places", "incidents", "visits", "buildings")
RENAME = {"last_12m": "incidents_12m", "open": "open_incidents"}


def _workload(cols: dict[str, np.ndarray], w: Mapping[str, float]) -> np.ndarray:
    return np.asarray(
        cols["households"] * w["households"]
        + cols["residents"] * w["residents"]
        + cols["incidents_12m"] * w["incidents"]
    )


def draft_table(snap: Snapshot, w: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Every per-grid figure of the plan's draft grids, as arrays."""
    cols: dict[str, np.ndarray] = {}
    for kind in KINDS:
        cols |= {RENAME.get(k, k): v for k, v in snap.draft_counts(kind).items()}
    cols["workload"] = _workload(cols, w)
    return cols


def current_table(snap: Snapshot, w: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Every per-grid figure of the parent's current grids, as arrays (by grid_id)."""
    cols: dict[str, np.ndarray] = {}
    for kind in KINDS:
        cols |= {RENAME.get(k, k): v for k, v in snap.assigned(kind).items()}
    cols["workload"] = _workload(cols, w)
    return cols


COLUMNS = (
    "buildings",
    "households",
    "residents",
    "places",
    "incidents_12m",
    "open_incidents",
    "visit_logs",
)


def _spreads(cols: Mapping[str, np.ndarray]) -> dict[str, Any]:
    return {k: spread(np.asarray(cols[k], dtype=np.float64)) for k in SPREAD_OF}


def plan_stats(
    conn: Conn,
    plan_id: int,
    weights: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The stats JSON of a plan: per draft grid, the spread, the current spread, the limits.

    Examples
    --------
    >>> plan_stats(conn, plan_id)["spread"]["households"]["max"]  # doctest: +SKIP
    287.0
    """
    return stats_of(Snapshot(conn, plan_id, now), settings or get_settings(), weights)


def stats_of(
    snap: Snapshot, settings: Settings, weights: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """:func:`plan_stats` of a plan already read."""
    w = weights_for(settings, snap.plan.get("weights"), weights)
    d = snap.draft
    cols = draft_table(snap, w)
    workers = snap.workers_of_draft()
    grids = []
    for i, code in enumerate(d.codes):
        row: dict[str, Any] = {"code": code}
        row |= {k: int(cols[k][i]) for k in COLUMNS}
        row |= {
            "workers": int(workers[i]),
            "area_m2": round(float(d.area_m2[i]), 1),
            "polsby_popper": round(float(d.polsby_popper[i]), 3),
            "workload": round(float(cols["workload"][i]), 1),
        }
        grids.append(row)
    current = current_table(snap, w)
    return {
        "grids": grids,
        "spread": _spreads(cols),
        "current": {"grids": len(snap.current), "spread": _spreads(current)},
        "limits": Limits.from_settings(settings).as_dict(),
        "weights": w,
        "now": snap.now.isoformat(),
    }


def current_stats(
    conn: Conn,
    parent_id: int,
    weights: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The same figures for the current grids under an area (no plan needed): per grid and
    their spread. NotFound for no such area.

    Examples
    --------
    >>> current_stats(conn, street_id)["spread"]["workload"]["cv"]  # doctest: +SKIP
    0.31
    """
    settings = settings or get_settings()
    snap = Snapshot.of_area(conn, parent_id, now)
    w = weights_for(settings, None, weights)
    g = snap.current
    cols = current_table(snap, w)
    staff = Counter(wk.grid_id for wk in snap.workers)
    grids = [
        {"code": code, "id": int(g.ids[i])}
        | {k: int(cols[k][i]) for k in COLUMNS}
        | {
            "workers": staff[int(g.ids[i])],
            "area_m2": round(float(g.area_m2[i]), 1),
            "polsby_popper": round(float(g.polsby_popper[i]), 3),
            "workload": round(float(cols["workload"][i]), 1),
        }
        for i, code in enumerate(g.codes)
    ]
    return {
        "grids": grids,
        "spread": _spreads(cols),
        "limits": Limits.from_settings(settings).as_dict(),
        "weights": w,
        "now": snap.now.isoformat(),
    }
