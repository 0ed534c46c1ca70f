"""unit_values and the hotspots() front against the tiny city in PostGIS: counts as the tiles
count them, rates with empirical Bayes, hexagons, the study area, the weights' boundary key;
every bad input a clear InvalidInput naming its field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pytest
from esda.smoothing import Empirical_Bayes
from sqlalchemy import Connection, Engine, text

from gisgrid.access.scope import Scope
from gisgrid.analysis.heat import area_counts, hex_bins
from gisgrid.analysis.hotspots import GI_CLASSES, LISA_LABELS, hotspots
from gisgrid.analysis.units import empirical_bayes, unit_values
from gisgrid.errors import InvalidInput
from gisgrid.store.cluster import Cluster
from gisgrid.tiles.filters import CITY_ZONE, TileFilters
from tests.api.city_support import tiny_city

ALL = Scope.everything()


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, "units_scratch") as engine:
        yield engine


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        trans = c.begin()
        try:
            yield c
        finally:
            trans.rollback()


def n_incidents(conn: Connection, public: bool = False) -> int:
    where = "WHERE left(category, 2) NOT IN ('03', '04')" if public else ""
    return int(conn.execute(text(f"SELECT count(*) FROM incidents {where}")).scalar_one())


# ----------------------------------------------------------------------- empirical Bayes


def test_empirical_bayes_equals_esda_when_rates_vary() -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(1, 3000, 60).astype(float)
    events = rng.poisson(base * rng.gamma(2.0, 0.005, 60)).astype(float)
    np.testing.assert_allclose(
        empirical_bayes(events, base), Empirical_Bayes(events, base).r.ravel(), atol=1e-12
    )


def test_empirical_bayes_pulls_small_bases_to_the_mean() -> None:
    base = np.array([10.0, 10_000, 10_000, 10_000, 0])
    events = np.array([5.0, 50, 100, 150, 3])
    r = empirical_bayes(events, base)
    mean = events.sum() / base.sum()
    assert abs(r[0] - mean) < abs(0.5 - mean) / 10  # 5 in 10 is mostly noise
    assert r[2] == pytest.approx(0.01, rel=0.05)  # a large base keeps its own rate
    assert r[4] == pytest.approx(mean)  # no base: the overall rate


# ----------------------------------------------------------------------- unit values


def test_grid_counts_are_the_tiles_counts(conn: Connection) -> None:
    units = unit_values(conn, "grid", scope=ALL)
    tiles = area_counts(conn, "grid", scope=ALL).set_index("id")
    assert list(units.columns) == ["id", "code", "name", "count", "base", "value", "geometry"]
    assert units["count"].tolist() == tiles.loc[units["id"], "count"].tolist()
    assert units["count"].sum() == n_incidents(conn)
    assert (units["value"] == units["count"]).all()
    assert units["code"].is_monotonic_increasing
    public = unit_values(conn, "grid", scope=None)
    assert public["count"].sum() == n_incidents(conn, public=True)


@pytest.mark.parametrize(
    ("value", "column", "per"),
    [("per_1000_residents", "population", 1000.0), ("per_household", "households", 1.0)],
)
def test_rates_are_smoothed_by_empirical_bayes(
    conn: Connection, value: str, column: str, per: float
) -> None:
    units = unit_values(conn, "grid", scope=ALL, value=value)
    base = conn.execute(
        text(f"SELECT id, {column} FROM areas WHERE level = 'grid' AND valid_to IS NULL")
    ).all()
    base_of = dict(base)
    assert units["base"].tolist() == [base_of[i] for i in units["id"]]
    expected = per * empirical_bayes(units["count"].to_numpy(float), units["base"].to_numpy())
    np.testing.assert_allclose(units["value"], expected)


def test_communities_and_within(conn: Connection) -> None:
    communities = unit_values(conn, "community", scope=ALL)
    assert communities["count"].sum() == n_incidents(conn)
    one = int(communities["id"].iloc[0])
    grids = unit_values(conn, "grid", scope=ALL, within=one)
    parents = conn.execute(
        text("SELECT id FROM areas WHERE parent_id = :c AND valid_to IS NULL"), {"c": one}
    ).scalars()
    assert sorted(grids["id"]) == sorted(parents)
    assert grids["count"].sum() == communities["count"].iloc[0]


def test_hexagons_cover_the_grids_and_count_as_hex_bins(conn: Connection) -> None:
    units = unit_values(conn, "hex", scope=ALL, cell_m=150)
    assert len(units) > 30
    assert units["id"].is_unique
    bounds = tuple(float(v) for v in units.total_bounds)
    bins = hex_bins(conn, bounds, 150, scope=ALL)
    assert units["count"].sum() == bins["count"].sum() == n_incidents(conn)
    assert (units["count"] == 0).any()  # empty hexagons are units too: they can be cold
    # each hexagon touches a current grid
    hit = conn.execute(
        text(
            "SELECT count(*) FROM unnest(CAST(:wkt AS text[])) AS h(wkt) WHERE EXISTS ("
            " SELECT 1 FROM areas a WHERE a.level = 'grid' AND a.valid_to IS NULL"
            " AND ST_Intersects(a.geom, ST_GeomFromText(h.wkt, 4326)))"
        ),
        {"wkt": [g.wkt for g in units.geometry]},
    ).scalar_one()
    assert hit == len(units)


def test_the_boundary_key_follows_the_boundaries(conn: Connection) -> None:
    key = unit_values(conn, "grid", scope=ALL).attrs["boundary_key"]
    assert unit_values(conn, "grid", scope=None).attrs["boundary_key"] == key
    conn.execute(
        text(
            "UPDATE areas SET valid_to = now() WHERE id ="
            " (SELECT max(id) FROM areas WHERE level = 'grid')"
        )
    )
    assert unit_values(conn, "grid", scope=ALL).attrs["boundary_key"] != key


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"level": "district"}, "level"),
        ({"value": "per_km2"}, "value"),
        ({"level": "hex", "value": "per_household"}, "value"),
        ({"level": "hex", "cell_m": 0}, "cell_m"),
        ({"level": "hex", "cell_m": 2}, "cell_m"),
        ({"at": datetime(2026, 1, 1, tzinfo=CITY_ZONE)}, "at"),
        ({"within": 10**9}, "within"),
    ],
    ids=["level", "value", "hex-rate", "cell_m-zero", "millions-of-hexagons", "at", "within"],
)
def test_bad_unit_requests_name_the_field(conn: Connection, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        unit_values(conn, **kwargs)
    assert e.value.field == field


# ----------------------------------------------------------------------- the front


def test_gistar_on_hexagons(conn: Connection) -> None:
    out = hotspots(conn, "gistar", level="hex", cell_m=150, scope=ALL, permutations=199)
    assert list(out.columns) == [
        "id",
        "code",
        "name",
        "count",
        "base",
        "value",
        "z",
        "p",
        "p_sim",
        "class",
        "geometry",
    ]
    assert set(out["class"]) <= set(GI_CLASSES)
    assert out["class"].str.startswith("hot").any()
    # the hottest hexagon is where the incidents are
    top = out.loc[out["z"].idxmax()]
    assert top["count"] >= np.percentile(out["count"], 90)
    assert out.attrs["method"] == "gistar" and out.attrs["weights"] == "queen"
    assert set(out.attrs["fdr_thresholds"]) == {"0.01", "0.05", "0.10"}
    again = hotspots(conn, "gistar", level="hex", cell_m=150, scope=ALL, permutations=199)
    assert again["p_sim"].tolist() == out["p_sim"].tolist()  # seed=0 by default


def test_lisa_on_hexagons_with_knn(conn: Connection) -> None:
    out = hotspots(
        conn, "lisa", level="hex", cell_m=150, scope=ALL, weights="knn", k=6, permutations=99
    )
    assert {"I", "quadrant", "p", "p_sim", "class"} <= set(out.columns)
    assert set(out["quadrant"]) <= {"HH", "LH", "LL", "HL"}
    assert set(out["class"]) <= set(LISA_LABELS)
    sig = out["class"] != "not_significant"
    assert (out.loc[sig, "class"] == out.loc[sig, "quadrant"]).all()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "emerging"}, "method"),
        ({"weights": "rook"}, "weights"),
        ({"permutations": 10_000}, "permutations"),
        ({"permutations": -1}, "permutations"),
        ({"alpha": 1.5}, "alpha"),
        ({"level": "grid"}, "level"),  # 23 grids: fewer than 30
        ({"level": "hex", "cell_m": 150, "weights": "distance"}, "distance_m"),
        ({"level": "hex", "cell_m": 3}, "cell_m"),
    ],
    ids=[
        "method",
        "weights",
        "perm-high",
        "perm-negative",
        "alpha",
        "too-few-units",
        "distance-without-metres",
        "millions-of-hexagons",
    ],
)
def test_bad_requests_name_the_field(conn: Connection, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as e:
        hotspots(conn, **{"level": "hex", "cell_m": 150, **kwargs})
    assert e.value.field == field


def test_a_period_without_incidents_is_a_clear_error(conn: Connection) -> None:
    empty = TileFilters(
        since=datetime(2001, 1, 1, tzinfo=CITY_ZONE), until=datetime(2001, 2, 1, tzinfo=CITY_ZONE)
    )
    with pytest.raises(InvalidInput, match="no incident matches the filters") as e:
        hotspots(conn, level="hex", cell_m=150, filters=empty)
    assert e.value.field == "value"
    assert "from=2001-01-01" in e.value.reason
