"""Hot spots of incidents: Getis-Ord Gi* and Anselin's local Moran's I, in the scikit-learn way
(parameters in ``__init__``, the work in ``fit``, results in trailing-underscore attributes),
and :func:`hotspots`, the one front that the API, the tiles, the CLI and notebooks call.

Both statistics take binary spatial weights (:mod:`gisgrid.analysis.weights`); their values
equal esda's ``G_Local(y, w, transform="B", star=True)`` and ``Moran_Local(y, w)`` on the same
weights (the tests check it to 1e-9). Pseudo-p values come from the vectorised conditional
permutation of :mod:`gisgrid.analysis.permutation` and are two-sided: twice the smaller tail.

Significance with the false discovery rate, as ArcGIS's Hot Spot Analysis applies it: for
each confidence level (90, 95, 99 %) the Benjamini-Hochberg threshold of the p values at that
level (:func:`fdr_threshold`) is found, and a unit is significant at a level only if its p
is at most that level's threshold. A Gi* unit's class is the highest level it passes, hot
when its z is positive and cold when negative (``hot_99`` ... ``cold_90``), else
``not_significant``. Gi* classes use the analytical p (``p_value="norm"``, ArcGIS's choice:
with tens of thousands of units the FDR thresholds fall below the smallest pseudo-p that
999 permutations can give); ``p_value="sim"`` uses the pseudo-p instead.

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from gisgrid.analysis.weights import lattice
>>> w = lattice(10, 10)
>>> y = np.zeros(100); y[[0, 1, 10, 11]] = 50.0   # a cluster in one corner
>>> g = GiStar(permutations=99, seed=0).fit(y, w)
>>> g.classes_[[0, 99]].tolist()
['hot_99', 'not_significant']
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy import stats

from gisgrid.access.scope import Scope
from gisgrid.analysis.heat import Bind
from gisgrid.analysis.permutation import check_permutations, permutation_counts, two_sided_p
from gisgrid.analysis.units import LEVELS, VALUES, check_cell_m, check_choice, unit_values
from gisgrid.analysis.weights import KINDS, Weights, spatial_weights
from gisgrid.errors import InvalidInput
from gisgrid.tiles.filters import TileFilters

if TYPE_CHECKING:
    import geopandas as gpd

FloatArray = NDArray[np.float64]

CONFIDENCE = ((0.01, "99"), (0.05, "95"), (0.10, "90"))
GI_CLASSES = ("hot_99", "hot_95", "hot_90", "cold_99", "cold_95", "cold_90", "not_significant")
QUADRANTS = ("HH", "LH", "LL", "HL")  # esda's q = 1, 2, 3, 4
LISA_LABELS = (*QUADRANTS, "not_significant")
P_VALUES = ("norm", "sim")


# ----------------------------------------------------------------------- shared steps


def fdr_threshold(p: FloatArray, alpha: float = 0.05) -> float:
    """The Benjamini-Hochberg critical p: ``k * alpha / n`` for the largest k such that the
    k-th smallest p is at most ``k * alpha / n``; a test is significant when its p is at most
    this. When no test passes, ``alpha / n`` (as esda's ``fdr``), which none passes either.

    >>> fdr_threshold(np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]))
    0.0125
    """
    p = np.asarray(p, dtype=np.float64)
    n = p.size
    if n == 0:
        return 0.0
    crit = np.arange(1, n + 1) * alpha / n
    passed = np.flatnonzero(np.sort(p) <= crit)
    return float(crit[passed[-1]]) if passed.size else alpha / n


def significance_threshold(p: FloatArray, alpha: float, fdr: bool = True) -> float:
    """The p at or below which a test is significant at ``alpha``: the Benjamini-Hochberg
    threshold with ``fdr`` (ArcGIS's "Apply False Discovery Rate Correction"), else alpha."""
    return fdr_threshold(p, alpha) if fdr else alpha


def _check_alpha(alpha: object) -> float:
    if not isinstance(alpha, int | float) or not 0 < alpha < 1:
        raise InvalidInput(f"alpha={alpha!r}; expected a number in (0, 1)", field="alpha")
    return float(alpha)


def _check_n_jobs(n_jobs: object) -> int:
    if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise InvalidInput(f"n_jobs={n_jobs!r}; expected -1 or an integer >= 1", field="n_jobs")
    return n_jobs


def _check_params(permutations: object, alpha: object, n_jobs: object, p_value: object) -> None:
    """The parameters every estimator shares, each refused with its own field."""
    check_permutations(permutations)
    _check_alpha(alpha)
    _check_n_jobs(n_jobs)
    if p_value not in P_VALUES:
        raise InvalidInput(f"p_value={p_value!r}; expected one of {P_VALUES}", field="p_value")
    if p_value == "sim" and permutations == 0:
        raise InvalidInput("p_value='sim' needs permutations > 0", field="permutations")


def binary_matrix(w: Any, n: int) -> sp.csr_matrix:
    """The n x n binary neighbour matrix (zero diagonal) of ``w``: a :class:`Weights`, a
    libpysal ``W`` or ``Graph``, or a scipy sparse matrix. Weights other than 0/1 are refused:
    the statistics here (and ArcGIS's classes) are defined for binary weights."""
    if isinstance(w, Weights):
        m = w.matrix
    elif sp.issparse(w):
        m = w
    elif hasattr(w, "sparse"):
        m = w.sparse
    else:
        raise InvalidInput(
            f"w is {type(w).__name__}; expected Weights, a libpysal W/Graph or a sparse matrix",
            field="w",
        )
    m = sp.csr_matrix(m, dtype=np.float64, copy=True)
    if m.shape != (n, n):
        raise InvalidInput(f"w is {m.shape[0]} x {m.shape[1]} for {n} values", field="w")
    m.setdiag(0)
    m.eliminate_zeros()
    if m.nnz and not np.all(m.data == 1.0):
        raise InvalidInput("w must be binary (every neighbour weighs 1)", field="w")
    m.sort_indices()
    return m


def check_values(y: Any, n: int | None = None, field: str = "y") -> FloatArray:
    """``y`` as a finite float vector (of length n), not constant."""
    arr = np.asarray(y, dtype=np.float64).reshape(-1)
    if n is not None and arr.size != n:
        raise InvalidInput(f"{arr.size} values for {n} units", field=field)
    if not np.isfinite(arr).all():
        raise InvalidInput("values must be finite numbers (no NaN or infinity)", field=field)
    if arr.size < 3:
        raise InvalidInput(f"{arr.size} value(s); at least 3 are needed", field=field)
    if np.ptp(arr) == 0:
        what = "all zero" if arr[0] == 0 else f"all {arr[0]:g}"
        raise InvalidInput(
            f"the values are {what}: a constant has no hot or cold spots", field=field
        )
    return arr


def gistar_z(total: FloatArray, wsum: FloatArray, n: int, mean: float, sd: float) -> FloatArray:
    """Gi* z-scores with binary weights and the unit itself included (Ord and Getis 1995):
    ``(total - mean * W) / (sd * sqrt((n W - W^2) / (n - 1)))``, where ``total`` is the sum of
    the values in the neighbourhood (itself included), W its number of members and ``mean``,
    ``sd`` (population) those of all n values. A neighbourhood of all n units has z = 0."""
    var = (n * wsum - wsum**2) / (n - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (total - mean * wsum) / (sd * np.sqrt(var))
    return np.where(var > 0, z, 0.0)


def gi_classes(
    z: FloatArray, p: FloatArray, fdr: bool = True
) -> tuple[NDArray[np.str_], dict[float, float]]:
    """The ArcGIS classes (see the module doc) and the p threshold of each level: with FDR
    by default, else the level itself."""
    thresholds = {level: significance_threshold(p, level, fdr) for level, _ in CONFIDENCE}
    out = np.full(z.shape, "not_significant", dtype="<U15")
    # weakest level first, so that a stronger level overwrites it
    for level, name in reversed(CONFIDENCE):
        sig = p <= thresholds[level]
        out[sig & (z > 0)] = f"hot_{name}"
        out[sig & (z < 0)] = f"cold_{name}"
    return out, thresholds


# ----------------------------------------------------------------------- Gi*


class GiStar:
    """Getis-Ord Gi* with binary weights, the unit itself in its neighbourhood.

    Attributes after :meth:`fit`: ``G_`` (esda's Gs: the neighbourhood's share of the total),
    ``z_``, ``p_norm_`` (two-sided, normal), ``p_sim_`` (two-sided pseudo-p of the conditional
    permutation; ``None`` with ``permutations=0``), ``p_`` (the one the classes use),
    ``p_fdr_threshold_`` (Benjamini-Hochberg at ``alpha``; ``alpha`` itself with
    ``fdr=False``), ``fdr_thresholds_`` (the same at 0.10, 0.05 and 0.01), ``significant_``
    (``p_ <= p_fdr_threshold_``) and ``classes_``.
    """

    def __init__(
        self,
        permutations: int = 999,
        seed: int | None = None,
        alpha: float = 0.05,
        n_jobs: int = 1,
        p_value: str = "norm",
        fdr: bool = True,
    ) -> None:
        self.permutations = permutations
        self.seed = seed
        self.alpha = alpha
        self.n_jobs = n_jobs
        self.p_value = p_value
        self.fdr = fdr

    def fit(self, y: Any, w: Any) -> GiStar:
        _check_params(self.permutations, self.alpha, self.n_jobs, self.p_value)
        m = binary_matrix(w, np.asarray(y).size)
        y = check_values(y, m.shape[0])
        n = y.size
        card = np.diff(m.indptr).astype(np.int64)
        lag = m @ y
        total = y + lag
        wsum = card + 1.0
        self.n_ = n
        self.G_ = total / y.sum() if y.sum() != 0 else np.full(n, np.nan)
        self.z_ = gistar_z(total, wsum, n, float(y.mean()), float(y.std()))
        self.p_norm_ = 2.0 * stats.norm.sf(np.abs(self.z_))
        self.p_sim_: FloatArray | None = None
        if self.permutations:
            larger, smaller = permutation_counts(
                y, lag, card, self.permutations, self.seed, self.n_jobs
            )
            self.p_sim_ = two_sided_p(larger, smaller, self.permutations)
        self.p_ = self.p_sim_ if self.p_value == "sim" and self.p_sim_ is not None else self.p_norm_
        self.classes_, self.fdr_thresholds_ = gi_classes(self.z_, self.p_, self.fdr)
        self.p_fdr_threshold_ = significance_threshold(self.p_, self.alpha, self.fdr)
        self.significant_ = self.p_ <= self.p_fdr_threshold_
        return self


# ----------------------------------------------------------------------- local Moran


class LocalMoran:
    """Anselin's local Moran's I on row-standardised binary weights (esda's ``Moran_Local``).

    Attributes after :meth:`fit`: ``I_``, ``q_`` (1 HH, 2 LH, 3 LL, 4 HL, as esda: high means
    above the mean), ``quadrant_`` (the names), ``EI_``, ``VI_`` (moments under conditional
    randomisation, Sokal et al. 1998, esda's ``EIc``/``VIc``), ``z_norm_`` and ``p_norm_``
    (two-sided, from those moments: the normal approximation of the permutation
    distribution), ``p_sim_`` (two-sided pseudo-p; ``None`` with ``permutations=0``), ``p_``
    (the pseudo-p with ``p_value="sim"``, the default with permutations as in ArcGIS's
    Cluster and Outlier Analysis; the normal p with ``p_value="norm"`` or without them),
    ``p_fdr_threshold_`` (Benjamini-Hochberg at ``alpha``; ``alpha`` with ``fdr=False``),
    ``significant_`` and ``labels_``: the quadrant where significant, else
    ``not_significant``.

    With FDR over n units a pseudo-p passes only where k units reach
    ``2 / (permutations + 1) <= k * alpha / n``; with heavy-tailed counts (a few grids of
    thousands) the permutation p of a real cluster stays near 0.002-0.006, so over thousands
    of units nothing passes: use ``p_value="norm"`` or ``fdr=False`` there.
    """

    def __init__(
        self,
        permutations: int = 999,
        seed: int | None = None,
        alpha: float = 0.05,
        n_jobs: int = 1,
        p_value: str | None = None,
        fdr: bool = True,
    ) -> None:
        self.permutations = permutations
        self.seed = seed
        self.alpha = alpha
        self.n_jobs = n_jobs
        self.p_value = p_value
        self.fdr = fdr

    def fit(self, y: Any, w: Any) -> LocalMoran:
        p_value = self.p_value or ("sim" if self.permutations else "norm")
        _check_params(self.permutations, self.alpha, self.n_jobs, p_value)
        m = binary_matrix(w, np.asarray(y).size)
        y = check_values(y, m.shape[0])
        n = y.size
        card = np.diff(m.indptr).astype(np.int64)
        z = (y - y.mean()) / y.std()
        rows = np.where(card > 0, 1.0 / np.maximum(card, 1), 0.0)
        zl = rows * (m @ z)
        self.n_ = n
        self.I_ = (n - 1) * z * zl / (z @ z)
        high, lag_high = z > 0, zl > 0
        self.q_ = np.select(
            [high & lag_high, ~high & lag_high, ~high & ~lag_high], [1, 2, 3], 4
        ).astype(np.int64)
        self.quadrant_ = np.array(QUADRANTS)[self.q_ - 1]
        self.EI_, self.VI_ = _moran_moments(z, rows, card)
        with np.errstate(invalid="ignore", divide="ignore"):
            zn = (self.I_ - self.EI_) / np.sqrt(self.VI_)
        self.z_norm_ = np.where(self.VI_ > 0, zn, 0.0)
        self.p_norm_ = 2.0 * stats.norm.sf(np.abs(self.z_norm_))
        self.p_sim_: FloatArray | None = None
        if self.permutations:
            # I_i is z_i times the mean of the neighbours' z, an increasing function of the
            # neighbours' sum of y: the permuted sums order the permuted I's (reversed when
            # z_i < 0, which a two-sided p does not see)
            larger, smaller = permutation_counts(
                y, m @ y, card, self.permutations, self.seed, self.n_jobs
            )
            p = two_sided_p(larger, smaller, self.permutations)
            self.p_sim_ = np.where(z == 0, 1.0, p)
        self.p_ = self.p_sim_ if p_value == "sim" and self.p_sim_ is not None else self.p_norm_
        self.p_fdr_threshold_ = significance_threshold(self.p_, self.alpha, self.fdr)
        self.significant_ = self.p_ <= self.p_fdr_threshold_
        self.labels_ = np.where(self.significant_, self.quadrant_, "not_significant")
        return self


def _moran_moments(
    z: FloatArray, rows: FloatArray, card: NDArray[np.int64]
) -> tuple[FloatArray, FloatArray]:
    """E[I_i] and Var[I_i] under conditional randomisation (Sokal, Oden and Thomson 1998,
    A7 and A8), for row-standardised binary weights: w_i. = 1 (0 for an island) and
    w_i(2) = 1 / c_i."""
    n = z.size
    m2 = (z @ z) / n
    wi = np.where(card > 0, 1.0, 0.0)
    wi2 = rows * rows * card
    expectation = -(z**2 * wi) / ((n - 1) * m2)
    variance = (z / m2) ** 2 * (n / (n - 2)) * (wi2 - wi**2 / (n - 1)) * (m2 - z**2 / (n - 1))
    return expectation, variance


# ----------------------------------------------------------------------- the front

METHODS = ("gistar", "lisa")
MIN_UNITS = 30  # ArcGIS's Optimized Hot Spot Analysis refuses fewer features


def hotspots(
    bind: Bind,
    method: str = "gistar",
    level: str = "grid",
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
    value: str = "count",
    weights: str = "queen",
    k: int = 8,
    distance_m: float | None = None,
    permutations: int = 999,
    seed: int | None = 0,
    alpha: float = 0.05,
    cell_m: float = 250.0,
    within: int | None = None,
    at: datetime | None = None,
    n_jobs: int = 1,
    p_value: str | None = None,
    fdr: bool = True,
) -> gpd.GeoDataFrame:
    """Hot and cold spots of incidents: one row per unit of ``level`` (see
    :func:`gisgrid.analysis.units.unit_values` for units, values, ``filters``, ``scope``,
    ``cell_m`` and ``within``), with id, code, name, count, base, value, then

    - ``method="gistar"``: z (Gi*), p (the p the classes use), p_sim (two-sided pseudo-p,
      NaN without permutations) and class (hot_99 ... cold_90, not_significant);
    - ``method="lisa"``: I, quadrant (HH, LH, LL, HL), p, p_sim and class (the quadrant
      where significant at ``alpha``, else not_significant);

    and geometry. ``weights`` is "queen", "knn" (``k``) or "distance" (``distance_m``).
    ``p_value`` ("norm" or "sim") chooses the p the classes use: by default "norm" for
    Gi* (ArcGIS's Hot Spot Analysis) and "sim" for LISA (its Cluster and Outlier Analysis);
    ``fdr=False`` drops the false-discovery-rate correction (on by default). ``attrs``
    tells the method, level, value, weights, the islands, permutations, seed, p_value, fdr
    and the significance thresholds.

    >>> hotspots(None, method="kde")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: method: method='kde'; expected one of ('gistar', 'lisa')
    """
    check_choice("method", method, METHODS)
    check_choice("level", level, LEVELS)
    check_choice("value", value, VALUES)
    check_choice("weights", weights, KINDS)
    p_value = p_value or ("norm" if method == "gistar" or not permutations else "sim")
    _check_params(permutations, alpha, n_jobs, p_value)
    if level == "hex":
        check_cell_m(cell_m)
    units = unit_values(bind, level, filters, scope, at, value, cell_m, within)
    _check_units(units, level, within, filters)
    w = spatial_weights(units, weights, k=k, distance_m=distance_m)
    y = units["value"].to_numpy(np.float64)
    out = units.drop(columns="geometry")
    meta: dict[str, Any] = {
        "method": method,
        "weights": weights,
        "weights_params": dict(w.params),
        "islands": list(w.islands),
        "permutations": permutations,
        "seed": seed,
        "alpha": alpha,
        "p_value": p_value,
        "fdr": fdr,
    }
    if method == "gistar":
        g = GiStar(permutations, seed, alpha, n_jobs, p_value, fdr).fit(y, w)
        out["z"] = g.z_
        out["p"] = g.p_
        out["p_sim"] = g.p_sim_ if g.p_sim_ is not None else np.nan
        out["class"] = g.classes_
        meta["fdr_thresholds"] = {f"{lvl:.2f}": t for lvl, t in g.fdr_thresholds_.items()}
        meta["p_fdr_threshold"] = g.p_fdr_threshold_
    else:
        m = LocalMoran(permutations, seed, alpha, n_jobs, p_value, fdr).fit(y, w)
        out["I"] = m.I_
        out["quadrant"] = m.quadrant_
        out["p"] = m.p_
        out["p_sim"] = m.p_sim_ if m.p_sim_ is not None else np.nan
        out["class"] = m.labels_
        meta["p_fdr_threshold"] = m.p_fdr_threshold_
    import geopandas as gpd

    result = gpd.GeoDataFrame(out, geometry=units.geometry.values, crs=units.crs)
    result.attrs.update(units.attrs)
    result.attrs.update(meta)
    return result


def _check_units(
    units: gpd.GeoDataFrame, level: str, within: int | None, filters: TileFilters
) -> None:
    """Enough units, and values that vary: else a 400 that says which parameter to change."""
    n = len(units)
    field = "within" if within is not None else "level"
    if n < MIN_UNITS:
        raise InvalidInput(
            f"{n} {level} unit(s) in the study area; hot-spot statistics need at least "
            f"{MIN_UNITS}: use a finer level or a larger area",
            field=field,
        )
    y = units["value"].to_numpy(np.float64)
    if int(units["count"].sum()) == 0:
        given = filters.query_string()
        which = ", ".join(f"{k}={v}" for k, v in given.items()) or "no filters"
        raise InvalidInput(
            f"no incident matches the filters ({which}) in the {n:,} {level} units: "
            "nothing to test",
            field="value",
        )
    if np.ptp(y) == 0:
        raise InvalidInput(
            f"every {level} unit has the same value ({y[0]:g}): a constant has no hot or "
            "cold spots",
            field="value",
        )
