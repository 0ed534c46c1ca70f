"""The period comparison a command centre asks for (分析研判): this month against the previous
month (环比, month on month, ``mom_``) and against the same month a year before (同比, year on
year, ``yoy_``), per area, with significance.

The test, per area: given the n = a + b incidents of the two periods (a now, b before), under
"the rate did not change" a follows a binomial of n trials with p0 = t_a / (t_a + t_b), the
share of the time the current period holds (the conditional test of two Poisson counts;
Przyborowski and Wilenski 1940). The p value is two-sided: twice the smaller tail, at most 1
(the doubling rule the hot-spot pseudo-p uses too). An area with no incident in either
period is no test. Across the areas tested, the Benjamini-Hochberg threshold at ``alpha``
(:func:`gisgrid.analysis.hotspots.fdr_threshold`) decides which changes are significant:
``up`` or ``down``, else ``not_significant``.

The periods are like for like: "this month" runs from its first day to the end of the data
(the day of the latest incident in the store) or of the month, whichever is first; each
comparison period holds the same days of its own month (days 1..d, as many as that month
has). A comparison whose period starts before the store's first incident day is not made
(its columns are null and ``attrs["comparisons"]`` says why): no data is not zero incidents.

Examples
--------
Ten incidents now against none in a period as long: p = 2 * 0.5 ** 10.

>>> r = compare_counts(np.array([10, 5, 0]), np.array([0, 5, 0]), 30.0, 30.0)
>>> r.p.round(6).tolist(), r.expected.tolist(), r.ratio.tolist()
([0.001953, 1.0, 1.0], [0.0, 5.0, 0.0], [inf, 1.0, nan])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from sqlalchemy import text

from gisgrid.access.scope import Scope
from gisgrid.analysis.heat import LEVELS, area_counts
from gisgrid.analysis.hotspots import _check_alpha, significance_threshold
from gisgrid.analysis.units import _under, check_choice
from gisgrid.errors import InvalidInput
from gisgrid.store.engine import Bind, connection
from gisgrid.tiles.filters import TileFilters
from gisgrid.times import CITY_TZ, add_months, parse_month

if TYPE_CHECKING:
    import geopandas as gpd

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
COMPARISONS = {"mom": "the previous month (环比)", "yoy": "the same month a year before (同比)"}
CLASSES = ("up", "down", "not_significant")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class CountTest:
    """Per area: ``expected`` (the earlier count scaled to the current period's length),
    ``ratio`` (the rate now over the rate before; inf from none, NaN for none in both), ``p``
    (two-sided) and ``tested`` (any incident in either period)."""

    expected: FloatArray
    ratio: FloatArray
    p: FloatArray
    tested: NDArray[np.bool_]


def compare_counts(now: Any, before: Any, t_now: float, t_before: float) -> CountTest:
    """The conditional binomial test of each area's count now against its count before, for
    periods of length ``t_now`` and ``t_before`` (any unit, e.g. days)."""
    a = np.asarray(now, dtype=np.int64)
    b = np.asarray(before, dtype=np.int64)
    if a.shape != b.shape or (a < 0).any() or (b < 0).any():
        raise InvalidInput("counts must be non-negative and of one shape", field="counts")
    if not (t_now > 0 and t_before > 0):
        raise InvalidInput("period lengths must be > 0", field="period")
    n = a + b
    p0 = t_now / (t_now + t_before)
    lower = stats.binom.cdf(a, n, p0)  # P(X <= a)
    upper = stats.binom.sf(a - 1, n, p0)  # P(X >= a)
    p = np.minimum(1.0, 2.0 * np.minimum(lower, upper))
    tested = n > 0
    p = np.where(tested, p, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (a / t_now) / (b / t_before)
    expected = b.astype(np.float64) * (t_now / t_before)
    return CountTest(expected, ratio.astype(np.float64), p.astype(np.float64), tested)


def classify(
    now: Any, test: CountTest, alpha: float = 0.05, fdr: bool = True
) -> tuple[NDArray[np.str_], float]:
    """``up``, ``down`` or ``not_significant`` per area, and the p threshold used: the
    Benjamini-Hochberg one over the areas tested (``alpha`` itself with ``fdr=False``)."""
    a = np.asarray(now, dtype=np.float64)
    threshold = (
        significance_threshold(test.p[test.tested], alpha, fdr) if test.tested.any() else 0.0
    )
    sig = test.tested & (test.p <= threshold)
    out = np.full(a.shape, "not_significant", dtype="<U15")
    out[sig & (a > test.expected)] = "up"
    out[sig & (a < test.expected)] = "down"
    return out, threshold


# ----------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Window:
    """A half-open period [start, end) and its length in days."""

    start: datetime
    end: datetime

    @property
    def days(self) -> float:
        return (self.end - self.start) / DAY

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days}


def _same_days(month_start: datetime, days: float) -> Window:
    """Days 1..d of the month beginning ``month_start``: as many as it has."""
    end = min(month_start + timedelta(days=days), add_months(month_start, 1))
    return Window(month_start, end)


def periods(month: datetime, data_end: datetime) -> dict[str, Window]:
    """The current period (``now``) and the two it is compared with.

    >>> from gisgrid.times import parse_month
    >>> p = periods(parse_month("2026-03"), parse_month("2026-03") + timedelta(days=10))
    >>> {k: (w.start.date().isoformat(), w.days) for k, w in p.items()}
    {'now': ('2026-03-01', 10.0), 'mom': ('2026-02-01', 10.0), 'yoy': ('2025-03-01', 10.0)}
    """
    now = Window(month, min(add_months(month, 1), max(data_end, month + DAY)))
    return {
        "now": now,
        "mom": _same_days(add_months(month, -1), now.days),
        "yoy": _same_days(add_months(month, -12), now.days),
    }


_DATA_SQL = text("SELECT min(reported_at), max(reported_at) FROM incidents")


def _city_day(t: datetime) -> datetime:
    local = t.astimezone(CITY_TZ)
    return datetime(local.year, local.month, local.day, tzinfo=CITY_TZ)


# ----------------------------------------------------------------------- the front


def compare_periods(
    bind: Bind,
    level: str = "grid",
    month: str | datetime | None = None,
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
    within: int | None = None,
    alpha: float = 0.05,
    fdr: bool = True,
) -> gpd.GeoDataFrame:
    """This month against the previous month and the same month a year before, per current
    area of ``level`` (district, street, community or grid; ``within``: only those under an
    area), counted as the area tiles count them (``scope=None``: an anonymous caller, who
    does not count the sensitive groups).

    ``month`` is ``YYYY-MM`` (a datetime: its month); by default the month of the latest
    incident in the store. ``filters`` may hold categories and statuses; the periods are the
    comparison's own, so a time filter is refused. Columns: id, code, name, count (now), and
    for ``mom`` and ``yoy`` each: ``*_count``, ``*_expected``, ``*_ratio``, ``*_p`` and
    ``*_class`` (up, down, not_significant), then geometry. ``attrs`` holds the periods, the
    thresholds and which comparisons were made.

    >>> compare_periods(None, month="March")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: month: month='March' is not a month; expected YYYY-MM, \
e.g. 2026-03
    """
    check_choice("level", level, LEVELS)
    start = parse_month(month) if isinstance(month, str) else None
    if isinstance(month, datetime):
        start = parse_month(month.astimezone(CITY_TZ).date())
    alpha = _check_alpha(alpha)
    if filters.since is not None or filters.until is not None:
        field = "from" if filters.since is not None else "to"
        raise InvalidInput(
            "a comparison sets its own periods: give month=YYYY-MM, not a time filter",
            field=field,
        )
    with connection(bind) as conn:
        first, last = conn.execute(_DATA_SQL).one()
        if first is None:
            raise InvalidInput("the store holds no incidents to compare", field="month")
        data_start, data_end = _city_day(first), _city_day(last) + DAY
        if start is None:
            start = parse_month(last.astimezone(CITY_TZ).date())
        if start >= data_end:
            raise InvalidInput(
                f"month={start:%Y-%m} is after the latest incident ({last:%Y-%m-%d})",
                field="month",
            )
        windows = periods(start, data_end)
        counts = {name: _counts(conn, level, filters, scope, w) for name, w in windows.items()}
        under = _under(conn, within) if within is not None else None
    out = counts["now"].drop(columns=["open", "overdue"])
    if under is not None:
        out = out[out["id"].isin(under).to_numpy()]
    out = out.reset_index(drop=True)
    now = out["count"].to_numpy(np.int64)
    made: dict[str, Any] = {}
    for name in ("mom", "yoy"):
        w = windows[name]
        by_id = counts[name].set_index("id")["count"]
        before = by_id.reindex(out["id"], fill_value=0).to_numpy(np.int64)
        covered = data_start <= w.start
        made[name] = {"against": COMPARISONS[name], **w.as_dict(), "made": covered}
        if not covered:
            made[name]["why"] = (
                f"the store's first incident is on {data_start.date()}, after this period "
                "starts: no data is not zero incidents"
            )
            for col in ("count", "expected", "ratio", "p"):
                out[f"{name}_{col}"] = np.nan
            out[f"{name}_class"] = None
            continue
        test = compare_counts(now, before, windows["now"].days, w.days)
        classes, threshold = classify(now, test, alpha, fdr)
        out[f"{name}_count"] = before
        out[f"{name}_expected"] = test.expected
        out[f"{name}_ratio"] = np.where(np.isfinite(test.ratio), test.ratio, np.nan)
        out[f"{name}_p"] = test.p
        out[f"{name}_class"] = classes
        made[name].update({"tested": int(test.tested.sum()), "p_threshold": threshold})
    geometry = out.pop("geometry")
    import geopandas as gpd

    result = gpd.GeoDataFrame(out, geometry=geometry.values, crs="EPSG:4326")
    result.attrs.update(
        {
            "method": "compare",
            "level": level,
            "month": f"{start:%Y-%m}",
            "now": windows["now"].as_dict(),
            "comparisons": made,
            "alpha": alpha,
            "fdr": fdr,
            "test": "conditional binomial of two Poisson counts, two-sided (doubled tail)",
        }
    )
    return result


def _counts(
    conn: Any, level: str, filters: TileFilters, scope: Scope | None, w: Window
) -> gpd.GeoDataFrame:
    window = replace(filters, since=w.start, until=w.end - timedelta(microseconds=1))
    return area_counts(conn, level, window, scope)


# ----------------------------------------------------------------------- a request


@dataclass(frozen=True)
class CompareParams:
    """The parameters of ``GET /analysis/compare``, read from a query string like
    :class:`gisgrid.analysis.params.HotspotParams` (the filters category and status are the
    caller's to parse; a time filter is refused by :func:`compare_periods`).

    >>> CompareParams.parse({"level": "community", "month": "2026-10"}).as_dict()
    {'level': 'community', 'month': '2026-10', 'alpha': 0.05, 'fdr': True}
    """

    level: str = "grid"
    month: str | None = None
    within: int | None = None
    alpha: float = 0.05
    fdr: bool = True

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> CompareParams:
        from gisgrid.analysis.params import read_query

        kinds = {"level": "str", "month": "str", "within": "int", "alpha": "float", "fdr": "bool"}
        return cls(**read_query(params, kinds)).check()

    def check(self) -> CompareParams:
        check_choice("level", self.level, LEVELS)
        if self.month is not None:
            parse_month(self.month)
        _check_alpha(self.alpha)
        return self

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: v for k, v in out.items() if v is not None}

    def run(
        self, bind: Bind, filters: TileFilters = TileFilters(), scope: Scope | None = None
    ) -> gpd.GeoDataFrame:
        return compare_periods(
            bind, self.level, self.month, filters, scope, self.within, self.alpha, self.fdr
        )
