"""/locate, /units/nearest and /query/within against independent answers, and bad input."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod
from sqlalchemy import Engine, text

from gisgrid.assign.index import GridIndex
from gisgrid.crs import convert_xy

DB = "query_scratch"
GEOD = Geod(ellps="WGS84")


def parent_of(store: Engine, area_id: int) -> int:
    with store.connect() as conn:
        parent: int = conn.execute(
            text("SELECT parent_id FROM areas WHERE id = :a"), {"a": area_id}
        ).scalar_one()
    return parent


@pytest.fixture(scope="module")
def index(store: Engine) -> GridIndex:
    return GridIndex.from_areas(store)


@pytest.fixture(scope="module")
def city_box(store: Engine) -> tuple[float, float, float, float]:
    with store.connect() as conn:
        b = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)"
                " FROM (SELECT ST_Extent(geom) AS e FROM areas WHERE level = 'grid') s"
            )
        ).one()
    return float(b[0]), float(b[1]), float(b[2]), float(b[3])


def points_in(box: tuple[float, float, float, float], n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = box
    dx, dy = (xmax - xmin) * 0.1, (ymax - ymin) * 0.1  # some fall outside every grid
    return np.column_stack(
        [rng.uniform(xmin - dx, xmax + dx, n), rng.uniform(ymin - dy, ymax + dy, n)]
    )


# -- /locate ---------------------------------------------------------------------------------


def test_locate_agrees_with_grid_index_and_postgis(
    client: TestClient,
    store: Engine,
    index: GridIndex,
    city_box: tuple[float, float, float, float],
    admin: dict[str, str],
) -> None:
    pts = points_in(city_box, 60, seed=1)
    expected = index.assign(pts[:, 0], pts[:, 1])
    inside = 0
    with store.connect() as conn:
        for (lon, lat), g, c, s, d in zip(
            pts,
            expected.grid_id,
            expected.community_id,
            expected.street_id,
            expected.district_id,
            strict=True,
        ):
            r = client.get("/locate", params={"lon": lon, "lat": lat}, headers=admin)
            covering = conn.execute(
                text(
                    "SELECT min(id) FROM areas WHERE level = 'grid' AND valid_to IS NULL"
                    " AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
                ),
                {"x": float(lon), "y": float(lat)},
            ).scalar_one()
            if g < 0:
                assert r.status_code == 404, r.text
                assert "outside every grid" in r.json()["reason"]
                assert covering is None
                continue
            inside += 1
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["grid"]["id"] == g == covering
            assert [body[k]["id"] for k in ("community", "street", "district")] == [c, s, d]
            names = dict(
                conn.execute(
                    text("SELECT id, name FROM areas WHERE id = ANY(:ids)"), {"ids": [g, c, s, d]}
                ).all()
            )
            assert body["grid"]["name"] == names[g]
            assert body["district"]["name"] == names[d]
            workers = conn.execute(
                text(
                    "SELECT username FROM accounts WHERE role = 'grid_worker'"
                    " AND scope_area_id = :g ORDER BY id"
                ),
                {"g": int(g)},
            ).scalars()
            assert [w["username"] for w in body["workers"]] == list(workers)
            assert body["workers"]
    assert 10 < inside < 60


def test_locate_snaps_to_the_nearest_grid_only_when_asked(
    client: TestClient,
    store: Engine,
    index: GridIndex,
    city_box: tuple[float, float, float, float],
) -> None:
    pts = points_in(city_box, 200, seed=4)
    outside = pts[index.assign(pts[:, 0], pts[:, 1]).grid_id < 0]
    snapped = 0
    for x, y in outside.tolist():
        with store.connect() as conn:
            # geodesic distance from the point to every current grid, by PostGIS
            dist = dict(
                conn.execute(
                    text(
                        "SELECT id, ST_Distance(geom::geography,"
                        " ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography)"
                        " FROM areas WHERE level = 'grid' AND valid_to IS NULL"
                    ),
                    {"x": x, "y": y},
                ).all()
            )
        nearest = min(dist.values())
        assert client.get("/locate", params={"lon": x, "lat": y}).status_code == 404
        r = client.get("/locate", params={"lon": x, "lat": y, "max_distance_m": 3000})
        if nearest > 3000 * 1.001:
            assert r.status_code == 404
            assert "within 3000" in r.json()["reason"]
        elif nearest < 3000 * 0.999:
            assert r.status_code == 200, r.text
            snapped += 1
            body = r.json()
            best = min(g for g, d in dist.items() if d == nearest)
            assert body["grid"]["id"] == best
            assert body["distance_m"] == pytest.approx(nearest, abs=0.01)
            assert body["community"]["id"] == parent_of(store, best)
    assert snapped > 0


def test_locate_hides_worker_accounts_from_anonymous_callers(
    client: TestClient, index: GridIndex
) -> None:
    lon, lat = shapely.get_coordinates(index.geoms[0].representative_point())[0]
    body = client.get("/locate", params={"lon": lon, "lat": lat}).json()
    assert body["grid"]["id"] == int(index.grid_ids[0])
    assert body["workers"] is None


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_locate_takes_and_returns_chinese_coordinates(
    client: TestClient, index: GridIndex, crs: str
) -> None:
    lon, lat = shapely.get_coordinates(index.geoms[3].representative_point())[0]
    x, y = convert_xy(lon, lat, "wgs84", crs)
    body = client.get("/locate", params={"lon": float(x), "lat": float(y), "crs": crs}).json()
    assert body["grid"]["id"] == int(index.grid_ids[3])
    assert body["crs"] == crs
    assert body["lon"] == pytest.approx(float(x), abs=1e-9)
    assert body["lat"] == pytest.approx(float(y), abs=1e-9)
    # the offset is hundreds of metres: read as WGS84, the shifted point is elsewhere
    assert abs(float(x) - lon) + abs(float(y) - lat) > 1e-3


def test_locate_index_follows_a_grid_change(client: TestClient, store: Engine) -> None:
    cache = client.app.state.grid_index  # type: ignore[attr-defined]
    with store.connect() as conn:
        gid, lon, lat = conn.execute(
            text(
                "SELECT id, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom))"
                " FROM areas WHERE level = 'grid' ORDER BY id LIMIT 1"
            )
        ).one()
    assert client.get("/locate", params={"lon": lon, "lat": lat}).json()["grid"]["id"] == gid
    builds = cache.builds
    with store.begin() as conn:
        conn.execute(text("UPDATE areas SET valid_to = now() WHERE id = :g"), {"g": gid})
    try:
        r = client.get("/locate", params={"lon": lon, "lat": lat})
        assert r.status_code == 404
        assert cache.builds == builds + 1
    finally:
        with store.begin() as conn:
            conn.execute(text("UPDATE areas SET valid_to = NULL WHERE id = :g"), {"g": gid})
    assert client.get("/locate", params={"lon": lon, "lat": lat}).json()["grid"]["id"] == gid


# -- /units/nearest --------------------------------------------------------------------------


def brute_force(
    store: Engine, lon: float, lat: float, category: str, available_only: bool
) -> list[tuple[int, float]]:
    with store.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, ST_X(geom), ST_Y(geom), available FROM units"
                " WHERE :c = ANY(categories) ORDER BY id"
            ),
            {"c": category},
        ).all()
    rows = [r for r in rows if r[3] or not available_only]
    ux = np.array([r[1] for r in rows])
    uy = np.array([r[2] for r in rows])
    _, _, dist = GEOD.inv(np.full(len(rows), lon), np.full(len(rows), lat), ux, uy)
    return sorted(
        ((int(r[0]), float(d)) for r, d in zip(rows, dist, strict=True)), key=lambda t: (t[1], t[0])
    )


@pytest.fixture(scope="module")
def unit_categories(store: Engine) -> list[str]:
    with store.connect() as conn:
        cats = conn.execute(
            text("SELECT DISTINCT unnest(categories) AS c FROM units ORDER BY c")
        ).scalars()
        return list(cats)


@pytest.mark.parametrize("available", [True, False], ids=["available", "all"])
def test_nearest_units_order_matches_geodesic_brute_force(
    client: TestClient,
    store: Engine,
    city_box: tuple[float, float, float, float],
    unit_categories: list[str],
    available: bool,
) -> None:
    rng = np.random.default_rng(3)
    pts = points_in(city_box, 12, seed=2)
    for lon, lat in pts:
        category = str(rng.choice(unit_categories))
        r = client.get(
            "/units/nearest",
            params={
                "lon": lon,
                "lat": lat,
                "category": category,
                "k": 4,
                "available": str(available).lower(),
            },
        )
        assert r.status_code == 200, r.text
        got = [(u["id"], u["distance_m"]) for u in r.json()["units"]]
        want = brute_force(store, float(lon), float(lat), category, available)[:4]
        assert [g[0] for g in got] == [w[0] for w in want]
        for (_, gd), (_, wd) in zip(got, want, strict=True):
            assert gd == pytest.approx(wd, abs=0.01)
        assert all(u["available"] for u in r.json()["units"]) or not available


def test_nearest_units_exact_among_many_close_units(
    client: TestClient,
    store: Engine,
    city_box: tuple[float, float, float, float],
    unit_categories: list[str],
) -> None:
    # Hundreds of units: the KNN bound and the degree box must never drop a true neighbour
    # (ranking by degrees alone gets the order wrong for most points at 45.7 N).
    rng = np.random.default_rng(9)
    extra = points_in(city_box, 400, seed=8)
    category = unit_categories[-1]
    with store.begin() as conn:
        first = conn.execute(text("SELECT max(id) + 1 FROM units")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO units (id, name, kind, categories, available, geom) VALUES"
                " (:id, 'extra', 'police', ARRAY[:c], :a, ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            ),
            [
                {"id": first + i, "c": category, "a": bool(rng.random() < 0.8), "x": x, "y": y}
                for i, (x, y) in enumerate(extra.tolist())
            ],
        )
    try:
        for lon, lat in points_in(city_box, 25, seed=10).tolist():
            r = client.get(
                "/units/nearest", params={"lon": lon, "lat": lat, "category": category, "k": 10}
            )
            got = [(u["id"], u["distance_m"]) for u in r.json()["units"]]
            want = brute_force(store, lon, lat, category, True)[:10]
            assert [g[0] for g in got] == [w[0] for w in want]
            assert [g[1] for g in got] == pytest.approx([w[1] for w in want], abs=0.01)
    finally:
        with store.begin() as conn:
            conn.execute(text("DELETE FROM units WHERE id >= :f"), {"f": first})


def test_nearest_units_group_code_matches_items_under_it(
    client: TestClient, store: Engine, unit_categories: list[str]
) -> None:
    group = unit_categories[0][:2]
    r = client.get(
        "/units/nearest", params={"lon": 126.7, "lat": 45.6, "category": group, "k": 100}
    )
    assert r.status_code == 200, r.text
    with store.connect() as conn:
        n = conn.execute(
            text(
                "SELECT count(*) FROM units WHERE available AND categories && ARRAY("
                "SELECT code FROM incident_categories WHERE parent_code = :g)::text[]"
            ),
            {"g": group},
        ).scalar_one()
    assert len(r.json()["units"]) == n > 0


def test_nearest_units_in_gcj02(client: TestClient, unit_categories: list[str]) -> None:
    c = unit_categories[0]
    wgs = client.get("/units/nearest", params={"lon": 126.7, "lat": 45.6, "category": c}).json()
    x, y = convert_xy(126.7, 45.6, "wgs84", "gcj02")
    gcj = client.get(
        "/units/nearest",
        params={"lon": float(x), "lat": float(y), "category": c, "crs": "gcj02"},
    ).json()
    assert [u["id"] for u in gcj["units"]] == [u["id"] for u in wgs["units"]]
    for a, b in zip(gcj["units"], wgs["units"], strict=True):
        assert a["distance_m"] == pytest.approx(b["distance_m"], abs=0.05)
        bx, by = convert_xy(b["lon"], b["lat"], "wgs84", "gcj02")
        assert (a["lon"], a["lat"]) == pytest.approx((float(bx), float(by)), abs=1e-9)


# -- /query/within ---------------------------------------------------------------------------


def frame(store: Engine, sql: str) -> gpd.GeoDataFrame:
    with store.connect() as conn:
        return gpd.read_postgis(text(sql), conn, geom_col="geom")


def expected_counts(
    store: Engine, inside: Any, grid_id: int | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """Counts by shapely/pyproj on every row, restricted to one grid when given."""
    counts: dict[str, int] = {}
    cats: dict[str, int] = {}
    for layer in ("incidents", "places", "buildings"):
        cat = ", category" if layer == "incidents" else ""
        df = frame(store, f"SELECT id, grid_id{cat}, geom FROM {layer}")
        if grid_id is not None:
            df = df[df.grid_id == grid_id]
        hit = df[inside(df.geometry)]
        counts[layer] = len(hit)
        if layer == "incidents":
            cats = {str(k): int(v) for k, v in hit.category.value_counts().sort_index().items()}
    return counts, cats


def circle_test(lon: float, lat: float, radius_m: float) -> Any:
    def inside(geoms: gpd.GeoSeries) -> np.ndarray:
        # nearest point of each geometry to the centre, then the geodesic distance to it
        centre = shapely.Point(lon, lat)
        near = shapely.shortest_line(geoms.to_numpy(), centre)
        c = shapely.get_coordinates(near).reshape(-1, 2, 2)
        _, _, d = GEOD.inv(c[:, 0, 0], c[:, 0, 1], np.full(len(c), lon), np.full(len(c), lat))
        return np.asarray(d <= radius_m)

    return inside


@pytest.fixture(scope="module")
def busy_grid_centre(store: Engine, worker: tuple[dict[str, str], int]) -> tuple[float, float]:
    with store.connect() as conn:
        x, y = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) c FROM areas"
                " WHERE id = :g) s"
            ),
            {"g": worker[1]},
        ).one()
    return float(x), float(y)


def test_within_circle_counts_equal_an_independent_count(
    client: TestClient, store: Engine, admin: dict[str, str], busy_grid_centre: tuple[float, float]
) -> None:
    lon, lat = busy_grid_centre
    r = client.post(
        "/query/within",
        json={"point": [lon, lat], "radius_m": 1500, "limit": 10000},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    counts, cats = expected_counts(store, circle_test(lon, lat, 1500))
    assert body["counts"] == counts
    assert body["incident_categories"] == cats
    assert len(body["incidents"]) == counts["incidents"] > 0
    assert body["truncated"] is False
    with store.connect() as conn:
        direct = conn.execute(
            text(
                "SELECT count(*) FROM incidents WHERE ST_DWithin(geom::geography,"
                " ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography, 1500)"
            ),
            {"x": lon, "y": lat},
        ).scalar_one()
    assert direct == counts["incidents"]


def test_within_polygon_counts_equal_an_independent_count(
    client: TestClient, store: Engine, admin: dict[str, str], busy_grid_centre: tuple[float, float]
) -> None:
    lon, lat = busy_grid_centre
    poly = shapely.Polygon(
        [
            (lon - 0.01, lat - 0.006),
            (lon + 0.012, lat - 0.004),
            (lon + 0.004, lat + 0.009),
            (lon - 0.01, lat - 0.006),
        ]
    )
    r = client.post(
        "/query/within",
        json={"geometry": shapely.geometry.mapping(poly), "limit": 3},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    counts, cats = expected_counts(store, lambda g: g.intersects(poly).to_numpy())
    assert body["counts"] == counts
    assert body["incident_categories"] == cats
    assert counts["incidents"] > 3
    assert len(body["incidents"]) == 3 and body["truncated"] is True
    times = [i["reported_at"] for i in body["incidents"]]
    assert times == sorted(times, reverse=True)


def test_grid_worker_sees_only_their_grid(
    client: TestClient,
    store: Engine,
    admin: dict[str, str],
    worker: tuple[dict[str, str], int],
    busy_grid_centre: tuple[float, float],
) -> None:
    headers, grid = worker
    lon, lat = busy_grid_centre
    req = {"point": {"type": "Point", "coordinates": [lon, lat]}, "radius_m": 3000, "limit": 10000}
    mine = client.post("/query/within", json=req, headers=headers).json()
    everything = client.post("/query/within", json=req, headers=admin).json()
    counts, cats = expected_counts(store, circle_test(lon, lat, 3000), grid_id=grid)
    assert mine["scope"] == {"level": "grid", "area_id": grid}
    assert mine["counts"] == counts
    assert mine["incident_categories"] == cats
    assert {i["grid_id"] for i in mine["incidents"]} == {grid}
    assert everything["counts"]["incidents"] > mine["counts"]["incidents"] > 0
    assert everything["counts"]["places"] >= mine["counts"]["places"]


def test_within_returns_coordinates_in_the_callers_system(
    client: TestClient, admin: dict[str, str], busy_grid_centre: tuple[float, float]
) -> None:
    lon, lat = busy_grid_centre
    wgs = client.post(
        "/query/within", json={"point": [lon, lat], "radius_m": 800}, headers=admin
    ).json()
    x, y = convert_xy(lon, lat, "wgs84", "bd09")
    bd = client.post(
        "/query/within?crs=bd09",
        json={"point": [float(x), float(y)], "radius_m": 800},
        headers=admin,
    ).json()
    assert bd["counts"] == wgs["counts"]
    a, b = bd["incidents"][0], wgs["incidents"][0]
    assert a["id"] == b["id"]
    bx, by = convert_xy(b["lon"], b["lat"], "wgs84", "bd09")
    assert (a["lon"], a["lat"]) == pytest.approx((float(bx), float(by)), abs=1e-9)


def test_within_needs_a_token(client: TestClient) -> None:
    r = client.post("/query/within", json={"point": [126.6, 45.7], "radius_m": 100})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


# -- bad input -------------------------------------------------------------------------------

BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/locate", {"lon": 126.6, "lat": 95}, "lat"),
        ("/locate", {"lon": "NaN", "lat": 45.7}, "lon"),
        ("/locate", {"lon": "abc", "lat": 45.7}, "lon"),
        ("/locate", {"lon": 181, "lat": 45.7}, "lon"),
        ("/locate", {"lon": 126.6}, "lat"),
        ("/locate", {"lon": 126.6, "lat": 45.7, "max_distance_m": -5}, "max_distance_m"),
        ("/locate", {"lon": 126.6, "lat": 45.7, "max_distance_m": "x"}, "max_distance_m"),
        ("/locate", {"lon": 126.6, "lat": 45.7, "crs": "epsg:4326"}, "crs"),
        ("/units/nearest", {"lon": 126.6, "lat": 45.7, "category": "9999"}, "category"),
        ("/units/nearest", {"lon": 126.6, "lat": "inf", "category": "0101"}, "lat"),
        ("/units/nearest", {"lon": 126.6, "lat": 45.7, "category": "0101", "k": 0}, "k"),
        ("/units/nearest", {"lon": 126.6, "lat": 45.7}, "category"),
    ],
    ids=[
        "lat-95",
        "lon-nan",
        "lon-abc",
        "lon-181",
        "lat-missing",
        "snap-negative",
        "snap-text",
        "crs-unknown",
        "unknown-category",
        "lat-inf",
        "k-0",
        "category-missing",
    ],
)
def test_bad_query_parameters_are_400_naming_the_field(
    client: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert r.json()["reason"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"point": [126.6, 45.7], "radius_m": -1}, "radius_m"),
        ({"point": [126.6, 45.7], "radius_m": "far"}, "radius_m"),
        ({"point": [126.6, 45.7]}, "radius_m"),
        ({"point": [126.6, 45.7], "radius_m": 1e9}, "radius_m"),
        ({"point": [126.6, 95], "radius_m": 10}, "point.lat"),
        ({"point": [126.6], "radius_m": 10}, "point"),
        ({"geometry": {"type": "Polygon", "coordinates": [[1, 2]]}}, "geometry.coordinates"),
        ({"geometry": {"type": "Polygon", "coordinates": []}}, "geometry.coordinates"),
        ({"geometry": {"type": "Point", "coordinates": [1, 2]}}, "geometry.type"),
        ({"geometry": {"coordinates": [1, 2]}}, "geometry.type"),
        ({"geometry": BOWTIE}, "geometry.coordinates"),
        (
            {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [0, 1], [0, 0]]]}},
            "geometry.coordinates",
        ),
        ({"geometry": "POLYGON((0 0, 1 0, 1 1, 0 0))"}, "geometry"),
        ({}, "geometry"),
        ({"point": [126.6, 45.7], "radius_m": 10, "limit": -1}, "limit"),
    ],
    ids=[
        "radius-negative",
        "radius-text",
        "radius-missing",
        "radius-huge",
        "point-lat-95",
        "point-short",
        "ring-of-numbers",
        "no-rings",
        "point-type",
        "no-type",
        "bowtie",
        "lon-200",
        "wkt-string",
        "empty-body",
        "limit-negative",
    ],
)
def test_bad_within_bodies_are_400_naming_the_field(
    client: TestClient, admin: dict[str, str], body: dict[str, Any], field: str
) -> None:
    r = client.post("/query/within", json=body, headers=admin)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
