"""The Mann-Kendall trend test, vectorised over many series at once.

For a series x_1 .. x_n: S = sum over i < j of sign(x_j - x_i); under no trend S has mean 0
and variance (n(n-1)(2n+5) - sum over tie groups t(t-1)(2t+5)) / 18. The test statistic is
Z = (S - 1) / sqrt(var) for S > 0, (S + 1) / sqrt(var) for S < 0 and 0 for S = 0 (the
continuity correction of Mann 1945 and Kendall 1975; ``continuity=False`` drops it, which
is what ``scipy.stats.kendalltau(t, x)`` reports), p is two-sided from the normal, and tau is
Kendall's tau-b between time and x: S / sqrt((n(n-1)/2 - ties) * n(n-1)/2).

Examples
--------
A strictly rising series of 5 (S = 10, var = 5 * 4 * 15 / 18 = 16.67, Z = 9 / 4.08):

>>> r = mann_kendall([1.0, 2.0, 3.0, 4.0, 5.0])
>>> int(r.s[0]), round(float(r.var[0]), 4), round(float(r.z[0]), 4), round(float(r.p[0]), 4)
(10, 16.6667, 2.2045, 0.0275)
>>> float(r.tau[0])
1.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class MannKendall:
    """One entry per series: S, its variance, Z, the two-sided p and Kendall's tau-b."""

    s: FloatArray
    var: FloatArray
    z: FloatArray
    p: FloatArray
    tau: FloatArray


def _tie_terms(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per row: sum over tie groups of t(t-1)(2t+5), and of t(t-1)/2."""
    s = np.sort(x, axis=1)
    rows, n = s.shape
    var_term = np.zeros(rows)
    pair_term = np.zeros(rows)
    run = np.ones(rows)
    for j in range(1, n + 1):
        same = s[:, j] == s[:, j - 1] if j < n else np.zeros(rows, dtype=bool)
        ended = ~same
        t = np.where(ended, run, 0.0)
        var_term += t * (t - 1) * (2 * t + 5)
        pair_term += t * (t - 1) / 2
        run = np.where(same, run + 1, 1.0)
    return var_term, pair_term


def mann_kendall(x: Any, continuity: bool = True) -> MannKendall:
    """The Mann-Kendall test of each row of ``x`` (a series, or an (m, n) array of m series
    of n time steps, oldest first). A series with every value tied has S = 0, Z = 0, p = 1
    and tau = 0."""
    arr = np.atleast_2d(np.asarray(x, dtype=np.float64))
    rows, n = arr.shape
    if n < 3:
        raise ValueError(f"a series of {n} value(s); the trend test needs at least 3")
    s = np.zeros(rows)
    for i in range(n - 1):
        s += np.sign(arr[:, i + 1 :] - arr[:, i : i + 1]).sum(axis=1)
    ties_var, ties_pairs = _tie_terms(arr)
    var = (n * (n - 1) * (2 * n + 5) - ties_var) / 18.0
    corr = np.sign(s) if continuity else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, (s - corr) / np.sqrt(var), 0.0)
        pairs = n * (n - 1) / 2.0
        denom = np.sqrt((pairs - ties_pairs) * pairs)
        tau = np.where(denom > 0, s / denom, 0.0)
    z = np.where(s == 0, 0.0, z)
    p = 2.0 * stats.norm.sf(np.abs(z))
    return MannKendall(s=s, var=var, z=z, p=p, tau=tau)
