"""Emerging hot spots (ArcGIS's Emerging Hot Spot Analysis): a space-time cube of incident
counts per unit and week or month, a space-time Gi* for every bin, the Mann-Kendall trend of
each unit's z-scores, and one of 17 categories per unit.

The space-time Gi*: a bin's neighbourhood is the unit and its spatial neighbours (binary
weights) in the same time step and in the ``k_time`` steps before it (ArcGIS's neighbourhood
time step), so a bin in step t has (c + 1) * (min(t, k_time) + 1) members, itself included;
the mean and standard deviation are those of every bin of the cube (ArcGIS's "entire cube"
window). A bin is significant when its p passes the Benjamini-Hochberg threshold at ``alpha``
over all bins of the cube (ArcGIS applies FDR too); hot when its z is positive, cold when
negative. By default p is the analytical one (``p_value="norm"``, as ArcGIS): with a cube of
a million bins the FDR threshold lies far below the smallest pseudo-p that a few hundred
permutations can give. The pseudo-p of the conditional permutation is computed as well
(``p_sim_``) unless ``permutations=0``.

The categories (ArcGIS's definitions; "90 %" means at least 90 % of the time steps, the
trend is significant when its Mann-Kendall p < ``alpha``), for hot spots, and the same
with hot and cold swapped (and the trend reversed) for cold spots:

- ``new_hot``: hot in the final step, and never significant before it (neither hot nor
  cold);
- ``consecutive_hot``: a single run of at least two hot steps at the end, never significant
  before the run, and less than 90 % of the steps hot;
- ``intensifying_hot``: hot in 90 % of the steps, the final one included, and a significant
  rising trend of z;
- ``persistent_hot``: hot in 90 % of the steps, the final one included, no significant trend;
- ``diminishing_hot``: hot in 90 % of the steps, the final one included, and a significant
  falling trend of z;
- ``sporadic_hot``: hot in the final step, hot on and off before it, less than 90 % of the
  steps hot and never cold;
- ``oscillating_hot``: hot in the final step, cold in some earlier step, less than 90 % of
  the steps hot;
- ``historical_hot``: not significant in the final step, but hot in at least 90 % of the
  steps;
- ``no_pattern``: none of these.

Where ArcGIS's wording leaves two categories open, the final step decides: a unit hot in the
final step gets a hot category, cold in the final step a cold one (so a long hot history
ending on a cold step is ``oscillating_cold``, as in R's sfdep), and a location cold before
and hot now is ``oscillating_hot`` rather than new.

Examples
--------
>>> import numpy as np
>>> hot = np.array([[False] * 9 + [True], [False] * 7 + [True] * 3])
>>> cold = np.zeros_like(hot)
>>> categorize(hot, cold, trend_tau=np.zeros(2), trend_p=np.ones(2)).tolist()
['new_hot', 'consecutive_hot']
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from sqlalchemy import text

from gisgrid.access.scope import Scope
from gisgrid.analysis.heat import hex_bins
from gisgrid.analysis.hotspots import (
    MIN_UNITS,
    _check_params,
    binary_matrix,
    gistar_z,
    significance_threshold,
)
from gisgrid.analysis.permutation import permutation_counts, two_sided_p
from gisgrid.analysis.trend import mann_kendall
from gisgrid.analysis.units import LEVELS, check_cell_m, check_choice, unit_values
from gisgrid.analysis.weights import KINDS, spatial_weights
from gisgrid.errors import InvalidInput
from gisgrid.sql import load_sql
from gisgrid.store.engine import Bind, connection
from gisgrid.tiles.filters import TileFilters, query_params
from gisgrid.times import CITY_TZ, add_months

if TYPE_CHECKING:
    import geopandas as gpd

STEPS = ("week", "month")
MIN_STEPS = 10  # ArcGIS asks a cube for at least 10 time steps for the trend test
MAX_STEPS = 520
MAX_K_TIME = 12
HOT = (
    "new",
    "consecutive",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "oscillating",
    "historical",
)
CATEGORIES = (
    "no_pattern",
    *(f"{c}_hot" for c in HOT),
    *(f"{c}_cold" for c in HOT),
)

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


# ----------------------------------------------------------------------- categories


def _side(
    sig: BoolArray, other: BoolArray, rising: BoolArray, falling: BoolArray
) -> NDArray[np.str_]:
    """The hot categories of rows whose final step is in ``sig`` (call with cold and hot
    swapped, and the trend reversed, for the cold ones); '' for rows not final in sig."""
    n_steps = sig.shape[1]
    count = sig.sum(axis=1)
    run = np.cumprod(sig[:, ::-1], axis=1).sum(axis=1)  # the final uninterrupted run
    ninety = count >= 0.9 * n_steps
    before = (count - run) > 0
    other_ever = other.any(axis=1)
    out = np.full(sig.shape[0], "", dtype="<U20")
    final = sig[:, -1]
    conditions = [
        ninety & rising,
        ninety & falling,
        ninety,
        other_ever,
        ~before & (run == 1),
        ~before,
    ]
    names = ["intensifying", "diminishing", "persistent", "oscillating", "new", "consecutive"]
    out[final] = np.select([c[final] for c in conditions], names, "sporadic")
    return out


def categorize(
    hot: BoolArray, cold: BoolArray, trend_tau: FloatArray, trend_p: FloatArray, alpha: float = 0.05
) -> NDArray[np.str_]:
    """The category of each unit (see the module doc) from its (units, steps) significant hot
    and cold bins, oldest first, and the Mann-Kendall tau and p of its z series."""
    hot = np.asarray(hot, dtype=bool)
    cold = np.asarray(cold, dtype=bool)
    if hot.ndim != 2 or hot.shape != cold.shape:
        raise ValueError("hot and cold must be (units, steps) arrays of the same shape")
    if (hot & cold).any():
        raise ValueError("a bin cannot be both hot and cold")
    up = (trend_p < alpha) & (trend_tau > 0)
    down = (trend_p < alpha) & (trend_tau < 0)
    hot_side = _side(hot, cold, up, down)
    cold_side = _side(cold, hot, down, up)
    n_steps = hot.shape[1]
    out = np.full(hot.shape[0], "no_pattern", dtype="<U20")
    out[hot[:, -1]] = np.char.add(hot_side[hot[:, -1]], "_hot")
    out[cold[:, -1]] = np.char.add(cold_side[cold[:, -1]], "_cold")
    neither = ~hot[:, -1] & ~cold[:, -1]
    out[neither & (hot.sum(axis=1) >= 0.9 * n_steps)] = "historical_hot"
    out[neither & (cold.sum(axis=1) >= 0.9 * n_steps)] = "historical_cold"
    return out


# ----------------------------------------------------------------------- the cube


@dataclass(frozen=True)
class SpaceTimeCube:
    """Counts per unit (rows, in the order of ``units``) and time step (columns, oldest
    first); ``starts[t]`` is when step t begins, ``until`` when the last one ends."""

    units: gpd.GeoDataFrame
    counts: IntArray
    starts: tuple[datetime, ...]
    until: datetime
    step: str


def _period(
    conn: Any,
    filters: TileFilters,
    scope: Scope | None,
    step: str,
    since: datetime | None,
    until: datetime | None,
) -> tuple[datetime, datetime]:
    """[since, until) from the arguments, else the filters, else the data: from the first
    whole step after the first matching incident to the end of the last one's day."""
    since = since or filters.since
    until = until or filters.until
    if since is None or until is None:
        sql = text(
            "WITH p AS MATERIALIZED (SELECT gisgrid_tile_parse(CAST(:qp AS json)) AS p) "
            "SELECT min(i.reported_at), max(i.reported_at) FROM incidents i CROSS JOIN p "
            "WHERE gisgrid_tile_match(p.p, i.category, i.status, i.reported_at)"
        )
        lo, hi = conn.execute(sql, {"qp": json.dumps(query_params(filters, scope))}).one()
        if lo is None:
            raise InvalidInput("no incident matches the filters: nothing to test", field="since")
        end = datetime.combine(hi.astimezone(CITY_TZ).date(), datetime.min.time(), CITY_TZ)
        until = until or end + timedelta(days=1)
        # a partial first step would look like a drop in incidents: start at a whole one
        since = since or _whole_steps_from(lo, until, step)
    for name, t in (("since", since), ("until", until)):
        if t.tzinfo is None:
            raise InvalidInput(f"{name}={t.isoformat()} has no time zone", field=name)
    if until <= since:
        raise InvalidInput(f"until={until.isoformat()} is not after since", field="until")
    return since, until


def _whole_steps_from(first: datetime, until: datetime, step: str) -> datetime:
    """The start of the oldest step that holds ``first`` within its first day, or else of
    the step after it (steps as :func:`_starts` lays them)."""
    if step == "week":
        weeks = max((until - first + timedelta(days=1)) // timedelta(days=7), 1)
        return until - timedelta(days=7 * weeks)
    local = first.astimezone(CITY_TZ)
    start = datetime(local.year, local.month, 1, tzinfo=CITY_TZ)
    if local - start < timedelta(days=1):
        return start
    return add_months(start, 1)


def _starts(step: str, since: datetime, until: datetime) -> tuple[datetime, ...]:
    if step == "week":
        n = math.ceil((until - since) / timedelta(days=7))
        return tuple(max(since, until - timedelta(days=7 * (n - t))) for t in range(n))
    local_since, last = (
        since.astimezone(CITY_TZ),
        (until - timedelta(microseconds=1)).astimezone(CITY_TZ),
    )
    n = (last.year - local_since.year) * 12 + last.month - local_since.month + 1
    return tuple(max(since, add_months(since, k)) for k in range(n))


def space_time_cube(
    bind: Bind,
    level: str = "grid",
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
    step: str = "week",
    since: datetime | None = None,
    until: datetime | None = None,
    cell_m: float = 250.0,
    within: int | None = None,
) -> SpaceTimeCube:
    """Counts of incidents per unit of ``level`` and ``step`` in [since, until), counted as
    the tiles count them. Weeks are 7-day windows back from ``until`` (only the oldest may be
    short), months calendar months in the city's time zone. By default the period runs from
    the first whole step of the matching incidents to the end of the last one's day."""
    check_choice("level", level, LEVELS)
    check_choice("step", step, STEPS)
    units = unit_values(bind, level, filters, scope, None, "count", cell_m, within)
    with connection(bind) as conn:
        since, until = _period(conn, filters, scope, step, since, until)
        starts = _starts(step, since, until)
        if len(starts) > MAX_STEPS:
            raise InvalidInput(
                f"{len(starts)} {step}s from {since.date()} to {until.date()}; at most "
                f"{MAX_STEPS}: use a shorter period or step='month'",
                field="since",
            )
        if len(starts) < MIN_STEPS:
            raise InvalidInput(
                f"{len(starts)} {step}(s) from {since.date()} to {until.date()}; emerging hot "
                f"spots need at least {MIN_STEPS} time steps: use a longer period"
                + (" or step='week'" if step == "month" else ""),
                field="since",
            )
        if level == "hex":
            counts = _hex_counts(conn, units, filters, scope, starts, until)
        else:
            counts = _area_counts(
                conn, units, level, filters, scope, step, since, until, len(starts)
            )
    return SpaceTimeCube(
        units.drop(columns=["count", "base", "value"]), counts, starts, until, step
    )


def cube_params(
    level: str,
    step: str,
    filters: TileFilters,
    scope: Scope | None,
    since: datetime,
    until: datetime,
) -> dict[str, Any]:
    """The bind parameters of hotspot_cube.sql and hotspot_cube_rollup.sql."""
    return {
        "qp": json.dumps(query_params(filters, scope)),
        "level": level,
        "step": step,
        "since": since,
        "until": until,
        "tz": CITY_TZ.key,
    }


def _area_counts(
    conn: Any,
    units: gpd.GeoDataFrame,
    level: str,
    filters: TileFilters,
    scope: Scope | None,
    step: str,
    since: datetime,
    until: datetime,
    n_steps: int,
) -> IntArray:
    params = cube_params(level, step, filters, scope, since, until)
    rows = conn.execute(text(load_sql(_cube_sql(conn, params, since, until))), params).all()
    row_of = {int(i): k for k, i in enumerate(units["id"])}
    counts = np.zeros((len(units), n_steps), dtype=np.int64)
    for area_id, back, n in rows:
        r = row_of.get(int(area_id))
        if r is not None and 0 <= back < n_steps:
            counts[r, n_steps - 1 - back] += n
    return counts


def _city_midnight(t: datetime) -> bool:
    return t.astimezone(CITY_TZ).time() == datetime.min.time()


def _cube_sql(conn: Any, params: dict[str, Any], since: datetime, until: datetime) -> str:
    """hotspot_cube_rollup (the counts from the rollup's days) when the period is whole city
    days and the rollup answers the filters, else hotspot_cube (every incident row)."""
    if not (_city_midnight(since) and _city_midnight(until)):
        return "hotspot_cube"
    answers = conn.execute(
        text("SELECT gisgrid_rollup_answers(gisgrid_tile_parse(CAST(:qp AS json)))"),
        {"qp": params["qp"]},
    ).scalar_one()
    return "hotspot_cube_rollup" if answers else "hotspot_cube"


def _hex_counts(
    conn: Any,
    units: gpd.GeoDataFrame,
    filters: TileFilters,
    scope: Scope | None,
    starts: tuple[datetime, ...],
    until: datetime,
) -> IntArray:
    # one hex_bins call per step: the hexagon rounding has one owner (tiles.sql)
    box = tuple(float(v) for v in units.total_bounds)
    bounds = (box[0], box[1], box[2], box[3])
    row_of = {int(i): k for k, i in enumerate(units["id"])}
    counts = np.zeros((len(units), len(starts)), dtype=np.int64)
    ends = (*starts[1:], until)
    for t, (lo, hi) in enumerate(zip(starts, ends, strict=True)):
        # the filters' until is included, the step's end is not
        start = max(lo, filters.since or lo)
        last = min(hi - timedelta(microseconds=1), filters.until or hi)
        if start > last:
            continue
        window = replace(filters, since=start, until=last)
        got = hex_bins(conn, bounds, float(units.attrs["cell_m"]), window, scope)
        ids = (got["i"].to_numpy(np.int64) << 32) + (got["j"].to_numpy(np.int64) & 0xFFFFFFFF)
        for unit_id, n in zip(ids, got["count"], strict=True):
            r = row_of.get(int(unit_id))
            if r is not None:
                counts[r, t] += int(n)
    return counts


# ----------------------------------------------------------------------- the estimator


class EmergingHotSpots:
    """Space-time Gi* and the 17 categories (see the module doc).

    :meth:`fit` takes a :class:`SpaceTimeCube` (or a (units, steps) array of counts) and the
    units' binary spatial weights. Attributes after it: ``z_``, ``p_norm_``, ``p_sim_``
    (``None`` with ``permutations=0``), ``p_`` (the one significance uses), ``hot_``,
    ``cold_`` (all (units, steps)), ``p_fdr_threshold_``, ``trend_tau_``, ``trend_z_``,
    ``trend_p_`` (Mann-Kendall of each unit's z series) and ``categories_``.
    """

    def __init__(
        self,
        step: str = "week",
        k_time: int = 1,
        permutations: int = 199,
        seed: int | None = 0,
        alpha: float = 0.05,
        n_jobs: int = 1,
        p_value: str = "norm",
        fdr: bool = True,
    ) -> None:
        self.step = step
        self.k_time = k_time
        self.permutations = permutations
        self.seed = seed
        self.alpha = alpha
        self.n_jobs = n_jobs
        self.p_value = p_value
        self.fdr = fdr

    def _check(self) -> None:
        check_choice("step", self.step, STEPS)
        if not isinstance(self.k_time, int) or not 0 <= self.k_time <= MAX_K_TIME:
            raise InvalidInput(
                f"k_time={self.k_time!r}; expected an integer in 0..{MAX_K_TIME}", field="k_time"
            )
        _check_params(self.permutations, self.alpha, self.n_jobs, self.p_value)

    def fit(self, cube: SpaceTimeCube | Any, w: Any) -> EmergingHotSpots:
        self._check()
        if isinstance(cube, SpaceTimeCube):
            if cube.step != self.step:
                raise InvalidInput(f"the cube is by {cube.step}, not {self.step}", field="step")
            counts = cube.counts
        else:
            counts = cube
        x = np.asarray(counts, dtype=np.float64)
        if x.ndim != 2:
            raise InvalidInput("counts must be a (units, steps) array", field="cube")
        n_units, n_steps = x.shape
        if n_steps < 3:
            raise InvalidInput(f"{n_steps} time step(s); at least 3 are needed", field="cube")
        if not np.isfinite(x).all():
            raise InvalidInput("counts must be finite", field="cube")
        if np.ptp(x) == 0:
            raise InvalidInput("every bin has the same count: nothing to test", field="cube")
        m = binary_matrix(w, n_units)
        card = np.diff(m.indptr).astype(np.int64)
        k = self.k_time
        space = x + m @ x  # the unit and its neighbours, per step
        csum = np.cumsum(space, axis=1)
        total = csum.copy()
        total[:, k + 1 :] -= csum[:, : n_steps - k - 1]
        steps_in = np.minimum(np.arange(n_steps), k) + 1
        wsum = (card[:, None] + 1.0) * steps_in[None, :]
        n = x.size
        self.z_ = gistar_z(total, wsum, n, float(x.mean()), float(x.std()))
        self.p_norm_ = 2.0 * stats.norm.sf(np.abs(self.z_))
        self.p_sim_: FloatArray | None = None
        if self.permutations:
            others = (wsum - 1).astype(np.int64).ravel()
            larger, smaller = permutation_counts(
                x.ravel(), (total - x).ravel(), others, self.permutations, self.seed, self.n_jobs
            )
            self.p_sim_ = two_sided_p(larger, smaller, self.permutations).reshape(x.shape)
        self.p_ = self.p_sim_ if self.p_value == "sim" and self.p_sim_ is not None else self.p_norm_
        self.p_fdr_threshold_ = significance_threshold(self.p_.ravel(), self.alpha, self.fdr)
        sig = self.p_ <= self.p_fdr_threshold_
        self.hot_ = sig & (self.z_ > 0)
        self.cold_ = sig & (self.z_ < 0)
        mk = mann_kendall(self.z_)
        self.trend_tau_, self.trend_z_, self.trend_p_ = mk.tau, mk.z, mk.p
        self.categories_ = categorize(self.hot_, self.cold_, mk.tau, mk.p, self.alpha)
        return self


# ----------------------------------------------------------------------- the front


def emerging_hotspots(
    bind: Bind,
    level: str = "grid",
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
    step: str = "week",
    since: datetime | None = None,
    until: datetime | None = None,
    weights: str = "queen",
    k: int = 8,
    distance_m: float | None = None,
    k_time: int = 1,
    permutations: int = 199,
    seed: int | None = 0,
    alpha: float = 0.05,
    cell_m: float = 250.0,
    within: int | None = None,
    n_jobs: int = 1,
    p_value: str = "norm",
    fdr: bool = True,
) -> gpd.GeoDataFrame:
    """Emerging hot spots of incidents: one row per unit of ``level`` with id, code, name,
    category (one of :data:`CATEGORIES`), trend_tau, trend_p (Mann-Kendall of its z-scores),
    hot_steps and cold_steps (how many steps were significantly hot or cold), z (its z-score
    per step, a list), counts (its count per step, a list) and geometry. ``attrs`` holds the
    step starts (ISO 8601), the period and the parameters.

    >>> emerging_hotspots(None, step="day")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: step: step='day'; expected one of ('week', 'month')
    """
    check_choice("level", level, LEVELS)
    check_choice("step", step, STEPS)
    check_choice("weights", weights, KINDS)
    if level == "hex":
        check_cell_m(cell_m)
    est = EmergingHotSpots(step, k_time, permutations, seed, alpha, n_jobs, p_value, fdr)
    est._check()
    cube = space_time_cube(bind, level, filters, scope, step, since, until, cell_m, within)
    units = cube.units
    if len(units) < MIN_UNITS:
        raise InvalidInput(
            f"{len(units)} {level} unit(s) in the study area; hot-spot statistics need at "
            f"least {MIN_UNITS}: use a finer level or a larger area",
            field="within" if within is not None else "level",
        )
    if cube.counts.sum() == 0:
        raise InvalidInput("no incident matches the filters in the period", field="since")
    w = spatial_weights(units, weights, k=k, distance_m=distance_m)
    est.fit(cube, w)
    import geopandas as gpd

    out = gpd.GeoDataFrame(
        {
            "id": units["id"].to_numpy(),
            "code": units["code"].to_numpy(),
            "name": units["name"].to_numpy(),
            "category": est.categories_,
            "trend_tau": est.trend_tau_,
            "trend_p": est.trend_p_,
            "hot_steps": est.hot_.sum(axis=1),
            "cold_steps": est.cold_.sum(axis=1),
            "z": [row.tolist() for row in np.round(est.z_, 6)],
            "counts": [row.tolist() for row in cube.counts],
        },
        geometry=units.geometry.values,
        crs=units.crs,
    )
    out.attrs.update(units.attrs)
    out.attrs.update(
        {
            "method": "emerging",
            "step": step,
            "starts": [t.isoformat() for t in cube.starts],
            "until": cube.until.isoformat(),
            "k_time": k_time,
            "weights": weights,
            "weights_params": dict(w.params),
            "islands": list(w.islands),
            "permutations": permutations,
            "seed": seed,
            "alpha": alpha,
            "p_value": p_value,
            "fdr": fdr,
            "p_fdr_threshold": est.p_fdr_threshold_,
        }
    )
    return out
