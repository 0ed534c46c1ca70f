"""Emerging hot spots: each of the 17 categories pinned by a hand-made series, the Mann-Kendall
test against scipy and a textbook example, the space-time Gi* against esda on the explicit
space-time weights, a planted emerging cluster found; the cube and the front on the tiny city
in PostGIS."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from esda.getisord import G_Local
from scipy import stats
from sqlalchemy import Engine, text

from gisgrid.access.scope import Scope
from gisgrid.analysis.emerging import (
    CATEGORIES,
    EmergingHotSpots,
    categorize,
    cube_params,
    emerging_hotspots,
    space_time_cube,
)
from gisgrid.analysis.trend import mann_kendall
from gisgrid.analysis.weights import lattice
from gisgrid.errors import InvalidInput
from gisgrid.sql import load_sql
from gisgrid.store.cluster import Cluster
from gisgrid.tiles.filters import TileFilters
from gisgrid.times import CITY_TZ
from tests.city_support import tiny_city

T = 10  # steps in the hand-made series: "90 %" is 9 of them

# ----------------------------------------------------------------------- categories


def series(hot: str) -> tuple[np.ndarray, np.ndarray]:
    """'H' hot, 'C' cold, '.' not significant; oldest first."""
    return np.array([c == "H" for c in hot]), np.array([c == "C" for c in hot])


UP, DOWN, FLAT = (0.6, 0.001), (-0.6, 0.001), (0.1, 0.7)

CASES = [
    # (expected, steps, (tau, p))
    ("no_pattern", "..........", FLAT),
    ("no_pattern", "...H......", FLAT),  # hot once, long ago: not final, not 90 %
    ("new_hot", ".........H", FLAT),
    ("consecutive_hot", ".......HHH", UP),
    ("intensifying_hot", "HHHHHHHHHH", UP),
    ("intensifying_hot", "H.HHHHHHHH", UP),  # 9 of 10 is 90 %
    ("persistent_hot", "HHHHHHHHHH", FLAT),
    ("diminishing_hot", "HHHHHHHHHH", DOWN),
    ("sporadic_hot", "..H..H...H", FLAT),
    ("sporadic_hot", "..H....HHH", FLAT),  # a final run, but hot before it
    ("oscillating_hot", "..C......H", FLAT),
    ("oscillating_hot", "C.......HH", FLAT),  # cold before: not new or consecutive
    ("historical_hot", "HHHHHHHHH.", DOWN),
    ("new_cold", ".........C", FLAT),
    ("consecutive_cold", "........CC", DOWN),
    ("intensifying_cold", "CCCCCCCCCC", DOWN),
    ("persistent_cold", "CCCCCCCCCC", FLAT),
    ("diminishing_cold", "CCCCCCCCCC", UP),
    ("sporadic_cold", ".C..C....C", FLAT),
    ("oscillating_cold", ".H.......C", FLAT),
    ("oscillating_cold", "HHHHHHHHHC", DOWN),  # the final step decides
    ("historical_cold", "CCCCCCCCC.", UP),
    ("historical_cold", ".CCCCCCCCC"[::-1], FLAT),
]


@pytest.mark.parametrize(
    ("expected", "steps", "trend"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES]
)
def test_each_category_by_hand(expected: str, steps: str, trend: tuple[float, float]) -> None:
    hot, cold = series(steps)
    got = categorize(hot[None, :], cold[None, :], np.array([trend[0]]), np.array([trend[1]]))
    assert got.tolist() == [expected]


def test_every_category_is_pinned() -> None:
    assert {c[0] for c in CASES} == set(CATEGORIES)
    assert len(CATEGORIES) == 17


def test_categories_are_row_by_row() -> None:
    hot = np.array([series(s)[0] for _, s, _ in CASES])
    cold = np.array([series(s)[1] for _, s, _ in CASES])
    tau = np.array([c[2][0] for c in CASES])
    p = np.array([c[2][1] for c in CASES])
    assert categorize(hot, cold, tau, p).tolist() == [c[0] for c in CASES]


# ----------------------------------------------------------------------- Mann-Kendall


def test_mann_kendall_textbook() -> None:
    # Hirsch, Slack and Smith (1982)-style worked example: x = 1..5 then the classic
    # sample of Gilbert (1987, ch. 16): 10, 15, 14, 20 has S = 4 (5 + 1 - 2 ... by hand:
    # pairs (10,15)+ (10,14)+ (10,20)+ (15,14)- (15,20)+ (14,20)+ -> S = 4), var = 8.667
    r = mann_kendall([10.0, 15.0, 14.0, 20.0])
    assert r.s[0] == 4
    assert r.var[0] == pytest.approx(4 * 3 * 13 / 18)
    assert r.z[0] == pytest.approx(3 / np.sqrt(4 * 3 * 13 / 18))
    assert r.tau[0] == pytest.approx(4 / 6)
    # ties: 1, 2, 2, 3 has one tie group of 2: var = (4*3*13 - 2*1*9) / 18
    t = mann_kendall([1.0, 2.0, 2.0, 3.0])
    assert t.s[0] == 5 and t.var[0] == pytest.approx((156 - 18) / 18)


def test_mann_kendall_equals_scipy_kendalltau() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, (100, 25)).astype(float)  # many ties
    r = mann_kendall(x, continuity=False)
    for row, tau, p in zip(x, r.tau, r.p, strict=True):
        k = stats.kendalltau(np.arange(25), row, method="asymptotic")
        assert tau == pytest.approx(k.statistic, abs=1e-12)
        assert p == pytest.approx(k.pvalue, abs=1e-12)


def test_mann_kendall_of_a_constant_is_no_trend() -> None:
    r = mann_kendall(np.ones((2, 6)))
    assert r.s.tolist() == [0, 0] and r.p.tolist() == [1, 1] and r.tau.tolist() == [0, 0]


# ----------------------------------------------------------------------- space-time Gi*


def space_time_weights(w: sp.csr_matrix, n_steps: int, k: int) -> sp.csr_matrix:
    """The explicit binary weights of the cube's bins (unit-major: bin = unit * T + t): the
    unit and its neighbours in the same and the k previous steps, the bin itself excluded."""
    n = w.shape[0]
    near = (w + sp.eye(n)).tocoo()
    rows, cols = [], []
    for i, j in zip(near.row, near.col, strict=True):
        for t in range(n_steps):
            for s in range(max(0, t - k), t + 1):
                if (i, t) != (j, s):
                    rows.append(i * n_steps + t)
                    cols.append(j * n_steps + s)
    size = n * n_steps
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size))


@pytest.mark.parametrize("k_time", [0, 1, 2])
def test_space_time_gistar_equals_esda_on_the_explicit_weights(k_time: int) -> None:
    from libpysal.weights import WSP

    w = lattice(4, 3)
    rng = np.random.default_rng(k_time)
    counts = rng.poisson(3, (w.n, 8))
    est = EmergingHotSpots(k_time=k_time, permutations=0).fit(counts, w)
    big = WSP(space_time_weights(w.matrix, 8, k_time)).to_W(silence_warnings=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = G_Local(counts.ravel().astype(float), big, transform="B", star=True, permutations=0)
    np.testing.assert_allclose(est.z_.ravel(), ref.Zs, rtol=0, atol=1e-9)


def test_a_planted_emerging_cluster_is_found() -> None:
    rng = np.random.default_rng(3)
    w = lattice(12, 12)
    counts = rng.poisson(2.0, (w.n, 30))
    block = [r * 12 + c for r in range(5, 8) for c in range(5, 8)]
    counts[block, 22:] += rng.poisson(8.0, (len(block), 8))  # from step 22 on
    est = EmergingHotSpots(permutations=99, seed=0).fit(counts, w)
    found = est.categories_[block]
    assert set(found) <= {"new_hot", "consecutive_hot", "sporadic_hot"}, found
    assert (found == "consecutive_hot").sum() >= 5
    outside = np.delete(est.categories_, block)
    assert (np.char.endswith(outside.astype(str), "_hot")).mean() < 0.1
    # the bins before the surge are not hot
    assert not est.hot_[block, :20].any()


def test_the_same_seed_gives_the_same_pseudo_p() -> None:
    w = lattice(5, 5)
    counts = np.random.default_rng(1).poisson(2, (25, 12))
    a = EmergingHotSpots(permutations=99, seed=4).fit(counts, w)
    b = EmergingHotSpots(permutations=99, seed=4).fit(counts, w)
    assert a.p_sim_ is not None and b.p_sim_ is not None
    assert (a.p_sim_ == b.p_sim_).all()
    assert a.p_sim_.shape == (25, 12)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k_time": -1}, "k_time"),
        ({"k_time": 13}, "k_time"),
        ({"permutations": 10_000}, "permutations"),
        ({"step": "day"}, "step"),
        ({"p_value": "sim", "permutations": 0}, "permutations"),
    ],
    ids=["k_time-negative", "k_time-high", "permutations", "step", "sim-without-permutations"],
)
def test_bad_parameters_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        EmergingHotSpots(**kwargs).fit(
            np.arange(50).reshape(25, 2).repeat(3, axis=1), lattice(5, 5)
        )
    assert e.value.field == field


def test_a_constant_cube_is_refused() -> None:
    with pytest.raises(InvalidInput, match="same count") as e:
        EmergingHotSpots().fit(np.zeros((25, 12)), lattice(5, 5))
    assert e.value.field == "cube"


# ----------------------------------------------------------------------- in the store


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, "emerging_scratch") as engine:
        yield engine


def incidents_frame(engine: Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(
            text("SELECT grid_id, category, status, reported_at FROM incidents"), conn
        )


def test_the_cube_counts_what_pandas_counts(store: Engine) -> None:
    until = datetime(2026, 11, 1, tzinfo=CITY_TZ)
    since = until - timedelta(days=7 * 20)
    cube = space_time_cube(store, "grid", scope=Scope.everything(), since=since, until=until)
    assert cube.counts.shape == (len(cube.units), 20)
    assert cube.starts[0] == since and cube.starts[-1] == until - timedelta(days=7)
    inc = incidents_frame(store)
    inc = inc[(inc.reported_at >= since) & (inc.reported_at < until)]
    # a week holds its first instant: an incident at until - 7 days is in the last one
    back = np.ceil((pd.Timestamp(until) - inc.reported_at) / pd.Timedelta(days=7)).astype(int) - 1
    expected = pd.crosstab(inc.grid_id, 19 - back).reindex(
        index=cube.units["id"], columns=range(20), fill_value=0
    )
    assert (cube.counts == expected.to_numpy()).all()
    assert cube.counts.sum() == len(inc)


def test_the_cube_by_month_and_the_scope_rule(store: Engine) -> None:
    cube = space_time_cube(store, "grid", scope=Scope.everything(), step="month")
    # the city's year, 2025-11-01 to 2026-11-01 in the city's time zone: 12 whole months
    assert len(cube.starts) == 12
    assert cube.starts[0] == datetime(2025, 11, 1, tzinfo=CITY_TZ)
    assert all(t.astimezone(CITY_TZ).day == 1 for t in cube.starts)
    inc = incidents_frame(store)
    assert cube.counts.sum() == len(inc)
    # an anonymous caller does not count the sensitive groups 03 and 04
    public = space_time_cube(store, "grid", scope=None, step="month")
    assert public.counts.sum() == (~inc.category.str[:2].isin(["03", "04"])).sum()


_CUBE_CASES = [
    ("grid", "week", Scope.everything(), TileFilters()),
    ("grid", "month", None, TileFilters()),
    ("community", "week", None, TileFilters(categories=("01",))),
    ("street", "month", Scope.everything(), TileFilters(statuses=("closed",))),
    ("grid", "week", Scope("district", 0), TileFilters()),  # area id set below
    (
        "community",
        "week",
        Scope.everything(),
        TileFilters(
            since=datetime(2026, 3, 1, tzinfo=CITY_TZ),
            until=datetime(2026, 8, 31, 23, 59, 59, 999999, tzinfo=CITY_TZ),
        ),
    ),
]


@pytest.mark.parametrize("case", range(len(_CUBE_CASES)))
def test_the_cube_from_the_rollup_is_the_cube_from_incident_rows(store: Engine, case: int) -> None:
    level, step, scope, filters = _CUBE_CASES[case]
    until = datetime(2026, 11, 1, tzinfo=CITY_TZ)
    since = (
        datetime(2025, 11, 1, tzinfo=CITY_TZ) if step == "month" else until - timedelta(weeks=52)
    )
    with store.connect() as conn:
        if scope is not None and scope.level == "district":
            scope = Scope("district", conn.execute(text(_A_DISTRICT)).scalar_one())
        # incidents on the edges: at since, at a week's first instant, a microsecond before
        # until, and at until (outside)
        for t in (since, until - timedelta(weeks=1), until - timedelta(microseconds=1), until):
            conn.execute(text(_AT), {"t": t})
        params = cube_params(level, step, filters, scope, since, until)
        raw = sorted(map(tuple, conn.execute(text(load_sql("hotspot_cube")), params).all()))
        cube = sorted(map(tuple, conn.execute(text(load_sql("hotspot_cube_rollup")), params)))
        conn.rollback()
    assert raw and sum(n for _, _, n in raw) > 100, "too few incidents to prove anything"
    assert cube == raw
    assert all(0 <= back < (12 if step == "month" else 52) for _, back, _ in raw)


def test_an_incident_at_a_weeks_first_instant_is_in_that_week(store: Engine) -> None:
    until = datetime(2026, 11, 1, tzinfo=CITY_TZ)
    since = until - timedelta(weeks=12)
    scope = Scope.everything()
    with store.connect() as conn:
        before = space_time_cube(conn, "grid", scope=scope, since=since, until=until).counts
        grid = conn.execute(text(_AT), {"t": until - timedelta(weeks=1)}).scalar_one()
        conn.execute(text(_AT), {"t": since})
        after = space_time_cube(conn, "grid", scope=scope, since=since, until=until)
        conn.rollback()
    diff = after.counts - before
    row = list(after.units["id"]).index(grid)
    assert diff[row].tolist() == [1] + [0] * 10 + [1]
    assert diff.sum() == 2


def test_whole_days_read_the_rollup_and_other_instants_the_rows(store: Engine) -> None:
    until = datetime(2026, 11, 1, tzinfo=CITY_TZ)
    since = until - timedelta(weeks=12)
    scope = Scope.everything()
    with store.connect() as conn:
        rows = space_time_cube(conn, "grid", scope=scope, since=since, until=until).counts.sum()
        # a marker in the rollup alone: seen where the cube reads the rollup
        conn.execute(text("UPDATE incident_rollup SET n = n + 1000"))
        marked = space_time_cube(conn, "grid", scope=scope, since=since, until=until)
        noon = space_time_cube(
            conn, "grid", scope=scope, since=since, until=until - timedelta(hours=12)
        )
        no_rollup = space_time_cube(
            conn,
            "grid",
            filters=TileFilters(until=until - timedelta(hours=12)),
            scope=scope,
            since=since,
            until=until,
        )
        conn.rollback()
    assert marked.counts.sum() > rows + 1000
    assert noon.counts.sum() <= rows
    assert no_rollup.counts.sum() <= rows


_A_DISTRICT = "SELECT min(id) FROM areas WHERE level = 'district'"
# a copy of the first incident (in a grid, not a sensitive group) reported at :t
_AT = """
INSERT INTO incidents (category, description, reported_at, status, priority, grid_id,
                       community_id, street_id, district_id, geom)
SELECT category, 'edge', :t, status, priority, grid_id, community_id, street_id,
       district_id, geom
FROM incidents WHERE grid_id IS NOT NULL AND left(category, 2) NOT IN ('03', '04')
ORDER BY id LIMIT 1
RETURNING grid_id
"""


def test_the_default_period_is_whole_weeks(store: Engine) -> None:
    cube = space_time_cube(store, "grid", scope=Scope.everything())
    assert cube.until == datetime(2026, 11, 1, tzinfo=CITY_TZ)
    assert len(cube.starts) == 52  # 365 days: 52 whole weeks, the first day left out
    assert cube.starts[0] == cube.until - timedelta(days=7 * 52)


def test_the_front_on_hexagons(store: Engine) -> None:
    out = emerging_hotspots(
        store, level="hex", cell_m=120, scope=Scope.everything(), permutations=49
    )
    assert len(out) >= 30
    assert set(out["category"]) <= set(CATEGORIES)
    n_steps = len(out.attrs["starts"])
    assert all(len(z) == n_steps for z in out["z"])
    assert all(len(c) == n_steps for c in out["counts"])
    assert sum(sum(c) for c in out["counts"]) <= len(incidents_frame(store))
    assert out.attrs["step"] == "week" and out.attrs["method"] == "emerging"


def test_the_front_refuses_too_few_units_and_short_periods(store: Engine) -> None:
    with pytest.raises(InvalidInput, match="at least 30") as e:
        emerging_hotspots(store, level="grid")  # the tiny city has 23 grids
    assert e.value.field == "level"
    until = datetime(2026, 11, 1, tzinfo=CITY_TZ)
    with pytest.raises(InvalidInput, match="at least 10 time steps") as e:
        emerging_hotspots(
            store, level="hex", cell_m=120, since=until - timedelta(days=30), until=until
        )
    assert e.value.field == "since"
    with pytest.raises(InvalidInput) as e:
        emerging_hotspots(
            store,
            level="hex",
            cell_m=120,
            step="month",
            since=until - timedelta(days=200),
            until=until,
        )
    assert e.value.field == "since"
