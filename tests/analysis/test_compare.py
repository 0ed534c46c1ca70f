"""The period comparison: the conditional binomial test and Benjamini-Hochberg on numbers that
can be checked by hand, like-for-like periods, and the front on the tiny city (counts equal
to the store's, the scope rule, no comparison where there is no data)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from gisgrid.access.scope import Scope
from gisgrid.analysis.compare import (
    CompareParams,
    classify,
    compare_counts,
    compare_periods,
    periods,
)
from gisgrid.errors import InvalidInput
from gisgrid.store.cluster import Cluster
from gisgrid.tiles.filters import TileFilters
from gisgrid.times import CITY_TZ, parse_month
from tests.city_support import tiny_city

# ----------------------------------------------------------------------- the test by hand


@pytest.mark.parametrize(
    ("now", "before", "t_now", "t_before", "p"),
    [
        (10, 0, 30, 30, 2 * 0.5**10),  # all ten now: P(X >= 10) = 1/1024, doubled
        (0, 3, 30, 30, 2 * 0.5**3),  # none of three now: P(X <= 0) = 1/8, doubled
        (5, 5, 30, 30, 1.0),  # the middle: both tails above 1/2
        (8, 1, 30, 30, 2 * 10 / 512),  # P(X >= 8 | 9, 1/2) = (9 + 1) / 512
        (4, 0, 10, 30, 2 * 0.25**4),  # a third of the time: p0 = 1/4, P(X >= 4) = 1/256
        (0, 0, 30, 30, 1.0),  # nothing in either: no test
    ],
    ids=["10-0", "0-3", "5-5", "8-1", "unequal-periods", "none"],
)
def test_the_conditional_binomial_p(
    now: int, before: int, t_now: float, t_before: float, p: float
) -> None:
    r = compare_counts([now], [before], t_now, t_before)
    assert r.p[0] == pytest.approx(p, rel=1e-12)
    assert r.expected[0] == pytest.approx(before * t_now / t_before)
    assert r.tested[0] == (now + before > 0)


def test_the_ratio_of_rates() -> None:
    r = compare_counts([6, 3, 0, 2], [3, 0, 0, 4], 15.0, 30.0)
    assert r.ratio[0] == pytest.approx((6 / 15) / (3 / 30))  # 4x the daily rate
    assert np.isinf(r.ratio[1]) and np.isnan(r.ratio[2]) and r.ratio[3] == pytest.approx(1.0)


def test_benjamini_hochberg_across_the_areas() -> None:
    # p = 1/512, 1/128, 10/256, 1, 1 over five tests: BH's k * 0.05 / 5 are 0.01 ... 0.05;
    # the two smallest pass (<= 0.01, <= 0.02), the third (0.039 > 0.03) does not
    now, before = [10, 8, 8, 5, 6], [0, 0, 1, 5, 6]
    r = compare_counts(now, before, 30.0, 30.0)
    np.testing.assert_allclose(r.p, [2 / 1024, 2 / 256, 20 / 512, 1, 1])
    classes, threshold = classify(now, r, alpha=0.05)
    assert threshold == pytest.approx(0.02)
    assert classes.tolist() == ["up", "up", "not_significant", "not_significant", "not_significant"]
    # without the correction the third passes at 0.05
    plain, threshold = classify(now, r, alpha=0.05, fdr=False)
    assert threshold == 0.05 and plain.tolist()[:3] == ["up", "up", "up"]
    # a fall is down
    down, _ = classify([0], compare_counts([0], [12], 30.0, 30.0), fdr=False)
    assert down.tolist() == ["down"]


def test_bad_counts_are_refused() -> None:
    with pytest.raises(InvalidInput):
        compare_counts([-1], [2], 1.0, 1.0)
    with pytest.raises(InvalidInput):
        compare_counts([1, 2], [2], 1.0, 1.0)
    with pytest.raises(InvalidInput):
        compare_counts([1], [2], 0.0, 1.0)


# ----------------------------------------------------------------------- periods


def test_periods_are_like_for_like() -> None:
    march = parse_month("2026-03")
    # ten days of March so far: ten days of February, ten of March 2025
    p = periods(march, march + timedelta(days=10))
    assert [(w.start.date().isoformat(), w.days) for w in p.values()] == [
        ("2026-03-01", 10.0),
        ("2026-02-01", 10.0),
        ("2025-03-01", 10.0),
    ]
    # all of March (31 days) against all of February (28), and March 2025
    p = periods(march, parse_month("2026-05"))
    assert p["now"].days == 31 and p["mom"].days == 28 and p["yoy"].days == 31
    assert p["mom"].end == march
    # January against December of the year before
    p = periods(parse_month("2026-01"), parse_month("2026-02"))
    assert p["mom"].start == datetime(2025, 12, 1, tzinfo=CITY_TZ)


# ----------------------------------------------------------------------- in the store


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, "compare_scratch") as engine:
        yield engine


def month_counts(engine: Engine, sensitive: bool = True) -> pd.DataFrame:
    with engine.connect() as conn:
        inc = pd.read_sql(text("SELECT grid_id, category, reported_at FROM incidents"), conn)
    if not sensitive:
        inc = inc[~inc.category.str[:2].isin(["03", "04"])]
    inc["month"] = inc.reported_at.dt.tz_convert(CITY_TZ.key).dt.strftime("%Y-%m")
    return pd.crosstab(inc.grid_id, inc.month)


def test_the_front_counts_what_the_store_holds(store: Engine) -> None:
    out = compare_periods(store, "grid", "2026-08", scope=Scope.everything())
    want = month_counts(store).reindex(out["id"], fill_value=0)
    assert out["count"].tolist() == want["2026-08"].tolist()
    assert out["mom_count"].astype(int).tolist() == want["2026-07"].tolist()
    assert out.attrs["comparisons"]["mom"]["made"] is True
    assert out.attrs["comparisons"]["yoy"]["made"] is False  # 2025-08: before the data
    assert out["yoy_class"].isna().all() and out["yoy_p"].isna().all()
    assert set(out["mom_class"]) <= {"up", "down", "not_significant"}
    # expected: July's count scaled from 31 days to August's 31
    np.testing.assert_allclose(out["mom_expected"], out["mom_count"])


def test_anonymous_counts_leave_out_the_sensitive_groups(store: Engine) -> None:
    public = compare_periods(store, "grid", "2026-08", scope=None)
    want = month_counts(store, sensitive=False).reindex(public["id"], fill_value=0)
    assert public["count"].tolist() == want["2026-08"].tolist()
    everything = compare_periods(store, "grid", "2026-08", scope=Scope.everything())
    assert public["count"].sum() < everything["count"].sum()


def test_within_and_levels(store: Engine) -> None:
    with store.connect() as conn:
        community = conn.execute(
            text("SELECT id FROM areas WHERE level = 'community' ORDER BY id LIMIT 1")
        ).scalar_one()
        grids = set(
            conn.execute(
                text("SELECT id FROM areas WHERE parent_id = :c AND valid_to IS NULL"),
                {"c": community},
            ).scalars()
        )
    inside = compare_periods(store, "grid", "2026-08", within=community)
    assert set(inside["id"]) == grids
    streets = compare_periods(store, "street", "2026-08", scope=Scope.everything())
    grids_all = compare_periods(store, "grid", "2026-08", scope=Scope.everything())
    assert streets["count"].sum() == grids_all["count"].sum()


def test_the_default_month_and_bad_requests(store: Engine) -> None:
    assert compare_periods(store).attrs["month"] == "2026-10"
    with pytest.raises(InvalidInput) as e:
        compare_periods(store, month="2027-01")
    assert e.value.field == "month"
    with pytest.raises(InvalidInput) as e:
        compare_periods(store, filters=TileFilters(since=datetime(2026, 1, 1, tzinfo=CITY_TZ)))
    assert e.value.field == "from"
    with pytest.raises(InvalidInput) as e:
        CompareParams.parse({"level": "hex"})
    assert e.value.field == "level"
