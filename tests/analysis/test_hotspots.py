"""GiStar and LocalMoran against esda on the same weights (values to 1e-9, pseudo-p within Monte
Carlo error), the conditional permutation's rules, FDR and the ArcGIS classes, on small
lattices; bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from esda import fdr
from esda.getisord import G_Local
from esda.moran import Moran_Local

from gisgrid.analysis.hotspots import (
    GI_CLASSES,
    GiStar,
    LocalMoran,
    binary_matrix,
    fdr_threshold,
    gi_classes,
)
from gisgrid.analysis.permutation import permutation_counts, two_sided_p
from gisgrid.analysis.weights import lattice
from gisgrid.errors import InvalidInput


def field(seed: int, n: int, kind: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "counts":
        return rng.poisson(4.0, n).astype(float)
    return rng.normal(10.0, 3.0, n)


def esda_quiet(cls, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(*args, **kwargs)


# ----------------------------------------------------------------------- values


@pytest.mark.parametrize("kind", ["counts", "normal"])
@pytest.mark.parametrize("rook", [False, True], ids=["queen", "rook"])
def test_gistar_equals_esda_g_local_star(kind: str, rook: bool) -> None:
    w = lattice(7, 6, rook=rook)
    y = field(1, w.n, kind)
    ours = GiStar(permutations=0).fit(y, w)
    theirs = esda_quiet(G_Local, y, w.to_libpysal(), transform="B", star=True, permutations=0)
    np.testing.assert_allclose(ours.z_, theirs.Zs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.G_, theirs.Gs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.p_norm_, 2 * theirs.p_norm, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["counts", "normal"])
def test_local_moran_equals_esda(kind: str) -> None:
    w = lattice(6, 8)
    y = field(2, w.n, kind)
    ours = LocalMoran(permutations=0).fit(y, w)
    theirs = esda_quiet(Moran_Local, y, w.to_libpysal(), permutations=0)
    np.testing.assert_allclose(ours.I_, theirs.Is, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.EI_, theirs.EIc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.VI_, theirs.VIc, rtol=0, atol=1e-9)
    assert (ours.q_ == theirs.q).all()
    assert set(ours.quadrant_) <= {"HH", "LH", "LL", "HL"}


def test_quadrants_by_hand() -> None:
    # a 1 x 6 strip, mean 4.67: high or low against the mean, and the neighbours' mean z
    w = lattice(1, 6)
    m = LocalMoran(permutations=0).fit([10.0, 9, 0, 1, 8, 0], w)
    assert m.quadrant_.tolist() == ["HH", "HH", "LH", "LL", "HL", "LH"]


# ----------------------------------------------------------------------- permutation


def test_pseudo_p_agrees_with_esda_within_monte_carlo_error() -> None:
    w = lattice(12, 12)
    y = field(3, w.n, "normal")
    p = 9999
    ours = GiStar(permutations=p, seed=5).fit(y, w)
    theirs = esda_quiet(
        G_Local, y, w.to_libpysal(), transform="B", star=True, permutations=p, seed=5
    )
    # esda's p_sim is one-sided towards the observed tail: ours is twice that (two-sided);
    # two independent estimates of p with 9,999 draws differ by < 0.03 (4 standard errors)
    np.testing.assert_allclose(ours.p_sim_, np.minimum(1, 2 * theirs.p_sim), atol=0.03)
    lm = LocalMoran(permutations=p, seed=5).fit(y, w)
    ml = esda_quiet(Moran_Local, y, w.to_libpysal(), permutations=p, seed=5)
    np.testing.assert_allclose(lm.p_sim_, np.minimum(1, 2 * ml.p_sim), atol=0.03)


def test_the_same_seed_gives_the_same_pseudo_p_whatever_n_jobs() -> None:
    w = lattice(9, 9)
    y = field(4, w.n, "counts")
    a = GiStar(permutations=499, seed=11).fit(y, w).p_sim_
    b = GiStar(permutations=499, seed=11, n_jobs=2).fit(y, w).p_sim_
    c = GiStar(permutations=499, seed=12).fit(y, w).p_sim_
    assert a is not None and b is not None and c is not None
    assert (a == b).all()
    assert not (a == c).all()


def test_a_draw_excludes_the_site_itself() -> None:
    # site 0 (value 100) has one neighbour; its draws come from the 3 others (1, 2, 3) only,
    # so a third of them are <= its neighbour's 1. Drawing from all 4 would make it a quarter.
    y = np.array([100.0, 1.0, 2.0, 3.0])
    card = np.array([1, 1, 1, 1])
    obs = np.array([1.0, 100.0, 1.0, 2.0])
    perms = 9999
    larger, smaller = permutation_counts(y, obs, card, perms, seed=0)
    assert abs(smaller[0] / perms - 1 / 3) < 0.02
    assert larger[0] == perms
    # site 1's draws are from {100, 2, 3}: a third are >= 100
    assert abs(larger[1] / perms - 1 / 3) < 0.02


def test_a_draw_is_without_replacement() -> None:
    # 3 neighbours drawn from 3 others: the sum is always their total, never a repeat
    y = np.array([0.0, 1.0, 2.0, 4.0])
    larger, smaller = permutation_counts(
        y, np.array([7.0, 0, 0, 0]), np.array([3, 0, 0, 0]), 999, seed=1
    )
    assert larger[0] == 999 and smaller[0] == 999


def test_two_sided_p_is_twice_the_smaller_tail() -> None:
    assert two_sided_p(np.array([0, 10, 999]), np.array([999, 989, 0]), 999).tolist() == [
        0.002,
        0.022,
        0.002,
    ]


# ----------------------------------------------------------------------- detection


def test_a_planted_cluster_is_hot_and_a_random_field_mostly_not() -> None:
    rng = np.random.default_rng(7)
    w = lattice(20, 20)
    y = rng.poisson(5.0, w.n).astype(float)
    quiet = GiStar(permutations=999, seed=1).fit(y, w)
    assert (quiet.classes_ != "not_significant").mean() <= 0.05
    planted = y.copy()
    block = [r * 20 + c for r in range(8, 11) for c in range(8, 11)]
    planted[block] += 15
    hot = GiStar(permutations=999, seed=1).fit(planted, w)
    assert all(str(c).startswith("hot_") for c in hot.classes_[block])
    assert hot.classes_[9 * 20 + 9] == "hot_99"
    assert not any(str(c).startswith("cold") for c in hot.classes_[block])
    # with FDR over 400 units, a 9-cell cluster needs pseudo-p below 999 permutations' floor
    lm = LocalMoran(permutations=9999, seed=1).fit(planted, w)
    assert (lm.labels_[block] == "HH").sum() >= 5


def test_a_planted_cold_hole_is_cold() -> None:
    rng = np.random.default_rng(8)
    w = lattice(20, 20)
    y = rng.poisson(20.0, w.n).astype(float)
    block = [r * 20 + c for r in range(5, 9) for c in range(5, 9)]
    y[block] = 0
    g = GiStar(permutations=999, seed=1).fit(y, w)
    assert all(str(c).startswith("cold_") for c in g.classes_[[6 * 20 + 6, 7 * 20 + 7]])


# ----------------------------------------------------------------------- FDR and classes


def test_fdr_threshold_equals_esda() -> None:
    rng = np.random.default_rng(9)
    for _ in range(20):
        p = np.concatenate([rng.uniform(0, 0.01, rng.integers(0, 30)), rng.uniform(0, 1, 200)])
        for alpha in (0.1, 0.05, 0.01):
            assert fdr_threshold(p, alpha) == pytest.approx(fdr(p, alpha), abs=0)


def test_classes_follow_fdr_at_each_level() -> None:
    # 10 tests: at 0.01 the 2 smallest pass (0.001 <= 2 x 0.001), at 0.05 the 5 smallest
    # (0.015 <= 5 x 0.005; 0.031 > 6 x 0.005), at 0.10 the 6 smallest (0.031 <= 6 x 0.01)
    p = np.array([0.0005, 0.001, 0.012, 0.013, 0.015, 0.031, 0.2, 0.5, 0.8, 0.9])
    z = np.array([3.5, -3.3, 2.5, -2.5, 2.4, 2.2, 1.3, 0.7, -0.2, 0.1])
    classes, thr = gi_classes(z, p)
    assert thr == {
        0.01: pytest.approx(0.002),
        0.05: pytest.approx(0.025),
        0.10: pytest.approx(0.06),
    }
    assert classes.tolist() == [
        "hot_99",
        "cold_99",
        "hot_95",
        "cold_95",
        "hot_95",
        "hot_90",
        "not_significant",
        "not_significant",
        "not_significant",
        "not_significant",
    ]
    assert set(classes) <= set(GI_CLASSES)


def test_without_fdr_more_would_pass() -> None:
    # 0.03 < 0.05, but with 100 tests and nothing else small, FDR keeps it out
    p = np.full(100, 0.6)
    p[0] = 0.03
    z = np.ones(100)
    classes, _ = gi_classes(z, p)
    assert classes[0] == "not_significant"


def test_p_value_sim_classifies_by_the_pseudo_p() -> None:
    w = lattice(10, 10)
    y = field(10, w.n, "counts")
    y[[44, 45, 54, 55]] += 30
    g = GiStar(permutations=999, seed=0, p_value="sim").fit(y, w)
    assert g.p_ is g.p_sim_
    assert g.significant_.tolist() == (g.p_sim_ <= g.p_fdr_threshold_).tolist()


# ----------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("make", "field_name"),
    [
        (lambda: GiStar(permutations=10_000), "permutations"),
        (lambda: GiStar(permutations=-1), "permutations"),
        (lambda: GiStar(permutations=99.5), "permutations"),  # type: ignore[arg-type]
        (lambda: GiStar(alpha=0), "alpha"),
        (lambda: GiStar(n_jobs=0), "n_jobs"),
        (lambda: GiStar(p_value="exact"), "p_value"),
        (lambda: GiStar(permutations=0, p_value="sim"), "permutations"),
        (lambda: LocalMoran(permutations=True), "permutations"),  # type: ignore[arg-type]
    ],
    ids=[
        "perm-high",
        "perm-negative",
        "perm-float",
        "alpha",
        "n_jobs",
        "p_value",
        "sim-without-perm",
        "perm-bool",
    ],
)
def test_bad_parameters_name_the_field(make, field_name: str) -> None:
    with pytest.raises(InvalidInput) as e:
        make().fit(field(0, 25, "counts"), lattice(5, 5))
    assert e.value.field == field_name


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (np.zeros(25), "all zero"),
        (np.full(25, 3.0), "all 3"),
        (np.r_[np.ones(24), np.nan], "finite"),
    ],
    ids=["zeros", "constant", "nan"],
)
def test_bad_values_are_refused(y: np.ndarray, match: str) -> None:
    for est in (GiStar(permutations=0), LocalMoran(permutations=0)):
        with pytest.raises(InvalidInput, match=match) as e:
            est.fit(y, lattice(5, 5))
        assert e.value.field == "y"


def test_weights_must_fit_the_values() -> None:
    with pytest.raises(InvalidInput, match="25 x 25 for 24 values") as e:
        GiStar(permutations=0).fit(np.arange(24.0), lattice(5, 5))
    assert e.value.field == "w"


def test_weights_must_be_binary() -> None:
    w = lattice(3, 3).to_libpysal()
    w.transform = "r"
    with pytest.raises(InvalidInput, match="binary") as e:
        GiStar(permutations=0).fit(np.arange(9.0), w)
    assert e.value.field == "w"
    # a libpysal W in binary form is accepted, and so is a sparse matrix
    w.transform = "b"
    assert binary_matrix(w, 9).nnz == 40
    assert binary_matrix(w.sparse, 9).nnz == 40


def test_fdr_off_uses_the_levels_themselves() -> None:
    p = np.full(100, 0.6)
    p[0] = 0.03
    classes, thr = gi_classes(np.ones(100), p, fdr=False)
    assert classes[0] == "hot_95"
    assert thr == {0.01: 0.01, 0.05: 0.05, 0.10: 0.10}
    w = lattice(10, 10)
    y = field(11, w.n, "counts")
    g = GiStar(permutations=0, fdr=False).fit(y, w)
    assert g.p_fdr_threshold_ == 0.05
    assert g.significant_.tolist() == (g.p_norm_ <= 0.05).tolist()


def test_local_moran_can_classify_by_the_normal_p() -> None:
    w = lattice(10, 10)
    y = field(12, w.n, "counts")
    y[[44, 45, 54, 55]] += 30
    m = LocalMoran(permutations=99, seed=0, p_value="norm").fit(y, w)
    assert m.p_ is m.p_norm_ and m.p_sim_ is not None
    # without permutations the normal p is the only one
    assert LocalMoran(permutations=0).fit(y, w).p_sim_ is None
    with pytest.raises(InvalidInput) as e:
        LocalMoran(permutations=0, p_value="sim").fit(y, w)
    assert e.value.field == "permutations"
