"""Conditional permutation for local statistics on binary weights, vectorised.

The conditional randomisation of Anselin (1995), as esda's ``crand`` runs it: site i keeps its
own value, and its c_i neighbours' values are replaced by c_i values drawn without
replacement from the other n - 1 sites, ``permutations`` times. With binary weights (every
neighbour weighs 1: queen, k-nearest, distance band) a permuted statistic depends on the draw
only through the sum of the drawn values, so:

- sites with the same cardinality c share one table of random draws (esda shares one table
  across all sites too), and the table's P sums are computed once per c, not once per site;
- a site's reference distribution is those P sums: its pseudo-p is two binary searches in
  the sorted sums, O(n log P) for all sites instead of O(n P c);
- a draw must exclude the site itself. Each draw takes c + 1 distinct sites; when site i is
  among the first c, it is replaced by the spare (c + 1)-th. The first c sites other than i
  in a random order are a uniform c-subset of the n - 1 others, so this is exact, and the
  replacements are few (about P c / n per site) and applied one by one.

Gi* and local Moran's I (row-standardised) are monotone in that sum for a fixed site (Moran's
I through the sign of z_i), so one engine serves both, and the space-time Gi* of
:mod:`gisgrid.analysis.emerging` too.

Examples
--------
>>> import numpy as np
>>> y = np.array([0.0, 0, 0, 0, 0, 0, 0, 0, 0, 10])
>>> card = np.full(10, 2)
>>> obs = np.array([0.0] * 9 + [0.0])
>>> larger, smaller = permutation_counts(y, obs, card, permutations=99, seed=1)
>>> int(smaller[0]) <= 99, int(larger[0]) == 99
(True, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import NDArray

from gisgrid.errors import InvalidInput

MAX_PERMUTATIONS = 9_999
# A draw table holds permutations x (c + 1) indices; above this many cells it is made in
# chunks of permutations, so that memory stays bounded for wide distance bands.
_TABLE_CELLS = 4_000_000

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def check_permutations(permutations: object, field: str = "permutations") -> int:
    """``permutations`` as an int in 0..9999, or InvalidInput naming ``field``.

    >>> check_permutations(999)
    999
    >>> check_permutations(10_000)
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: permutations: permutations=10000; expected an integer in 0..9999
    """
    ok = isinstance(permutations, int | np.integer) and not isinstance(permutations, bool)
    if not ok or not 0 <= int(permutations) <= MAX_PERMUTATIONS:  # type: ignore[call-overload]
        raise InvalidInput(
            f"{field}={permutations!r}; expected an integer in 0..{MAX_PERMUTATIONS}", field=field
        )
    return int(permutations)  # type: ignore[call-overload]


def two_sided_p(larger: IntArray, smaller: IntArray, permutations: int) -> FloatArray:
    """Two-sided pseudo-p from the counts of permuted statistics >= and <= the observed one:
    twice the smaller tail, (min(larger, smaller) + 1) / (P + 1), capped at 1.

    >>> two_sided_p(np.array([0, 50, 99]), np.array([99, 50, 0]), 99).tolist()
    [0.02, 1.0, 0.02]
    """
    tail = np.minimum(larger, smaller)
    return np.minimum(1.0, 2.0 * (tail + 1.0) / (permutations + 1.0))


def _draws(rng: np.random.Generator, n: int, width: int, rows: int) -> IntArray:
    """``rows`` rows of ``width`` distinct indices in 0..n-1, each row a uniform random
    ordered sample without replacement."""
    if width * width > n:
        # a draw of this width among so few sites repeats an index more often than not:
        # sort random keys instead (exact, and cheap when n is small)
        return np.argsort(rng.random((rows, n)), axis=1)[:, :width].astype(np.int64)
    out = rng.integers(0, n, size=(rows, width), dtype=np.int64)
    todo = np.arange(rows)
    while True:
        # a row with a repeated index is drawn again whole: the accepted rows are then
        # uniform among rows of distinct indices (rejection sampling)
        s = np.sort(out[todo], axis=1)
        bad = todo[(s[:, 1:] == s[:, :-1]).any(axis=1)] if width > 1 else todo[:0]
        if bad.size == 0:
            return out
        out[bad] = rng.integers(0, n, size=(bad.size, width), dtype=np.int64)
        todo = bad


def _chunks(permutations: int, width: int) -> Iterator[int]:
    per = max(1, _TABLE_CELLS // max(width, 1))
    done = 0
    while done < permutations:
        take = min(per, permutations - done)
        yield take
        done += take


def _group_counts(
    y: FloatArray,
    obs: FloatArray,
    sites: IntArray,
    c: int,
    permutations: int,
    seed: np.random.SeedSequence,
    tol: float,
) -> tuple[IntArray, IntArray]:
    """(larger, smaller) for the sites of cardinality ``c``."""
    n = len(y)
    rng = np.random.default_rng(seed)
    in_group = np.zeros(n, dtype=bool)
    in_group[sites] = True
    local = np.full(n, -1, dtype=np.int64)
    local[sites] = np.arange(sites.size)
    thr = obs[sites]
    larger = np.zeros(sites.size, dtype=np.int64)
    smaller = np.zeros(sites.size, dtype=np.int64)
    for rows in _chunks(permutations, c + 1):
        idx = _draws(rng, n, c + 1, rows)
        sums = y[idx[:, :c]].sum(axis=1)
        ordered = np.sort(sums)
        larger += rows - np.searchsorted(ordered, thr - tol, side="left")
        smaller += np.searchsorted(ordered, thr + tol, side="right")
        # draws that picked a site of this group among its c: for that site the draw is the
        # other c - 1 plus the spare
        p, j = np.nonzero(in_group[idx[:, :c]])
        if p.size:
            site = idx[p, j]
            old = sums[p]
            new = old - y[site] + y[idx[p, c]]
            t = obs[site]
            k = local[site]
            d_l = (new >= t - tol).astype(np.int64) - (old >= t - tol)
            d_s = (new <= t + tol).astype(np.int64) - (old <= t + tol)
            larger += np.bincount(k, weights=d_l, minlength=sites.size).astype(np.int64)
            smaller += np.bincount(k, weights=d_s, minlength=sites.size).astype(np.int64)
    return larger, smaller


def permutation_counts(
    y: FloatArray,
    obs: FloatArray,
    card: IntArray,
    permutations: int,
    seed: int | None = None,
    n_jobs: int = 1,
) -> tuple[IntArray, IntArray]:
    """For each site i, how many of ``permutations`` conditional draws of ``card[i]`` values
    from the other sites sum to at least (``larger``) and at most (``smaller``) ``obs[i]``,
    the observed sum of its neighbours' values (itself excluded).

    Sites without neighbours get ``larger = smaller = permutations`` (p = 1). The result
    depends on ``seed`` only, not on ``n_jobs``: each cardinality draws from a random stream
    of its own, spawned from the seed.
    """
    y = np.asarray(y, dtype=np.float64)
    obs = np.asarray(obs, dtype=np.float64)
    card = np.asarray(card, dtype=np.int64)
    n = len(y)
    larger = np.full(n, permutations, dtype=np.int64)
    smaller = np.full(n, permutations, dtype=np.int64)
    if permutations == 0 or n < 2:
        return larger, smaller
    if card.max(initial=0) > n - 1:
        raise ValueError(f"a site has {card.max()} neighbours among {n} sites")
    # sums of integer counts are exact in float64; the tolerance absorbs the rounding of
    # sums of fractional values added in a different order
    tol = 1e-9 * max(float(np.abs(y).max(initial=0.0)), 1e-300) * max(int(card.max()), 1)
    root = np.random.SeedSequence(seed)
    cards = np.unique(card[card > 0])
    groups = [np.flatnonzero(card == c) for c in cards]
    # one stream per cardinality, keyed by the cardinality itself
    seeds = [
        np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, int(c))) for c in cards
    ]

    def run(k: int) -> tuple[IntArray, IntArray]:
        return _group_counts(y, obs, groups[k], int(cards[k]), permutations, seeds[k], tol)

    if n_jobs == 1 or len(cards) == 1:
        results = [run(k) for k in range(len(cards))]
    else:
        workers = None if n_jobs < 0 else n_jobs
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(run, range(len(cards))))
    for sites, (lg, sm) in zip(groups, results, strict=True):
        larger[sites] = lg
        smaller[sites] = sm
    return larger, smaller
