"""RegionSearch on hand-checkable rows of squares: the limits outrank evenness, regions stay
whole, and a seed gives one answer."""

from __future__ import annotations

import numpy as np
import pytest

from gisgrid.planning.regions import Bounds, RegionSearch


def _row(workload: list[float], households: list[float], k: int, **kw: object) -> RegionSearch:
    n = len(workload)
    return RegionSearch(
        workload=np.array(workload, dtype=float),
        households=np.array(households, dtype=float),
        residents=np.array(households, dtype=float) * 2,
        area=np.ones(n),
        perimeter=np.full(n, 4.0),
        xy=np.c_[np.arange(n, dtype=float), np.zeros(n)],
        edges=[(i, i + 1, 1.0) for i in range(n - 1)],
        k=k,
        **kw,  # type: ignore[arg-type]
    ).solve()


def test_the_limits_outrank_evenness() -> None:
    # the evenest cut is {0,1,2}{3} (workload 5 and 3), but its second grid holds only 10
    # households; the only cut within 50 households is {0}{1,2,3}, however uneven
    work, hh = [1.0, 1.0, 3.0, 3.0], [60.0, 60.0, 10.0, 10.0]
    free = _row(work, hh, 2)
    assert free.labels_.tolist() == [0, 0, 0, 1]
    bound = _row(work, hh, 2, bounds=Bounds(households_min=50))
    assert bound.labels_.tolist() == [0, 1, 1, 1]
    assert bound.households_.tolist() == [60.0, 80.0]


def test_regions_stay_whole() -> None:
    # heavy ends, light middle: the evenest pair of regions would be {0, 5} and {1..4}, which
    # is not contiguous on a row
    s = _row([5.0, 1.0, 1.0, 1.0, 1.0, 5.0], [1.0] * 6, 2)
    for r in range(2):
        idx = np.flatnonzero(s.labels_ == r)
        assert idx.tolist() == list(range(idx.min(), idx.max() + 1))


def test_a_seed_gives_one_answer() -> None:
    rng = np.random.default_rng(1)
    n = 8 * 8
    xy = np.array([(i % 8, i // 8) for i in range(n)], dtype=float)
    edges = [(i, i + 1, 1.0) for i in range(n) if i % 8 < 7]
    edges += [(i, i + 8, 1.0) for i in range(n - 8)]
    w = rng.integers(1, 20, n).astype(float)
    kw = dict(
        workload=w,
        households=w,
        residents=w,
        area=np.ones(n),
        perimeter=np.full(n, 4.0),
        xy=xy,
        edges=edges,
        k=5,
    )
    a = RegionSearch(**kw, seed=3).solve()  # type: ignore[arg-type]
    b = RegionSearch(**kw, seed=3).solve()  # type: ignore[arg-type]
    assert a.labels_.tolist() == b.labels_.tolist()
    assert sorted(set(a.labels_.tolist())) == [0, 1, 2, 3, 4]
    cv = a.workload_.std() / a.workload_.mean()
    assert cv < 0.1


def test_k_must_fit_the_atoms() -> None:
    with pytest.raises(ValueError, match="k=3"):
        _row([1.0, 1.0], [1.0, 1.0], 3)
