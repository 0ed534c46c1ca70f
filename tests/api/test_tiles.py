"""Vector tiles through the API: decoded, checked against the store, scoped, cached."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.routes.tiles import MVT
from gisgrid.settings import Settings
from gisgrid.tiles.grid import BUFFER, EXTENT, tile_bounds, tile_of, tiles_in_bbox
from gisgrid.tiles.layers import LAYERS
from tests.city_support import (
    grid_extent,
    point_in,
)
from tests.live_server import serving

DB = "tiles_scratch"
# the layers drawn by SQL functions; the computed hotspots layer is tests/api/test_analysis.py's
VECTOR = [layer.id for layer in LAYERS.values() if layer.kind == "vector" and not layer.computed]


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    return {"cors_origins": "https://map.example.org"}


@pytest.fixture(scope="module")
def box(store: Engine) -> tuple[float, float, float, float]:
    return grid_extent(store)


def busiest_tile(store: Engine, z: int, table: str = "incidents") -> tuple[int, int, int]:
    """The zoom-z tile holding the most rows of ``table`` (incidents by default)."""
    with store.connect() as conn:
        pts = conn.execute(
            text(f"SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM {table}) s")
        ).all()
    counts: dict[tuple[int, int], int] = {}
    for lon, lat in pts:
        k = tile_of(lon, lat, z)
        counts[k] = counts.get(k, 0) + 1
    x, y = max(counts, key=lambda k: counts[k])
    return z, x, y


def get_tile(
    client: TestClient,
    layer: str,
    zxy: tuple[int, int, int],
    headers: dict[str, str] | None = None,
    **params: str,
) -> tuple[int, dict[str, Any]]:
    z, x, y = zxy
    r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", params=params, headers=headers or {})
    if r.status_code == 204:
        return 204, {}
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MVT
    return 200, mapbox_vector_tile.decode(
        r.content, default_options={"y_coord_down": True, "geojson": False}
    )


def features(decoded: dict[str, Any], layer: str) -> list[dict[str, Any]]:
    return list(decoded.get(layer, {}).get("features", []))


def ring_area(ring: list[list[float]]) -> float:
    """Shoelace area in tile coordinates (y down): positive for a clockwise-on-screen ring."""
    return (
        sum(
            x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, [*ring[1:], ring[0]], strict=True)
        )
        / 2
    )


def all_points(geom: dict[str, Any]) -> Iterator[tuple[float, float]]:
    def walk(c: Any) -> Iterator[tuple[float, float]]:
        if c and isinstance(c[0], (int, float)):
            yield (c[0], c[1])
        else:
            for part in c:
                yield from walk(part)

    yield from walk(geom["coordinates"])


# ---------------------------------------------------------------- decoding every layer


@pytest.mark.parametrize("layer", VECTOR)
@pytest.mark.parametrize("z", [12, 14, 16])
def test_every_layer_decodes_to_a_valid_mvt(
    client: TestClient, store: Engine, admin: dict[str, str], layer: str, z: int
) -> None:
    table = {"buildings": "buildings", "places": "places", "units": "units"}.get(layer)
    zxy = busiest_tile(store, z, table or "incidents")
    status, decoded = get_tile(client, layer, zxy, admin)
    lay = LAYERS[layer]
    if z < lay.minzoom:
        assert status == 204
        return
    assert status == 200, f"{layer} has nothing at {zxy}"
    assert set(decoded) == {layer}
    assert decoded[layer]["extent"] == EXTENT
    feats = features(decoded, layer)
    ids = [f["id"] for f in feats]
    assert all(isinstance(i, int) for i in ids)
    assert len(ids) == len(set(ids)), "feature ids repeat"
    for f in feats:
        assert set(f["properties"]) <= set(lay.fields), set(f["properties"]) - set(lay.fields)
        for px, py in all_points(f["geometry"]):
            assert -BUFFER <= px <= EXTENT + BUFFER
            assert -BUFFER <= py <= EXTENT + BUFFER
        if f["geometry"]["type"] in ("Polygon", "MultiPolygon"):
            polys = f["geometry"]["coordinates"]
            if f["geometry"]["type"] == "Polygon":
                polys = [polys]
            for rings in polys:
                # MVT 2.1 4.3.4.4: exterior rings clockwise, interior anticlockwise (y down)
                assert ring_area(rings[0]) > 0
                for hole in rings[1:]:
                    assert ring_area(hole) < 0


def test_grid_tile_counts_equal_the_store(
    client: TestClient, store: Engine, admin: dict[str, str]
) -> None:
    zxy = busiest_tile(store, 13)
    _, decoded = get_tile(client, "grids", zxy, admin, category="01", **{"from": "2000-01-01"})
    feats = features(decoded, "grids")
    assert feats
    with store.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT grid_id, count(*) AS n,"
                " count(*) FILTER (WHERE status NOT IN ('closed', 'rejected')) AS open,"
                " count(*) FILTER (WHERE status NOT IN ('closed', 'rejected')"
                "   AND due_at < now()) AS overdue"
                " FROM incidents WHERE left(category, 2) = '01' GROUP BY grid_id"
            )
        ).all()
        codes = dict(conn.execute(text("SELECT id, code FROM areas")).all())
    want = {r.grid_id: (r.n, r.open, r.overdue) for r in rows}
    for f in feats:
        p = f["properties"]
        assert p["code"] == codes[f["id"]]
        assert (p["incidents"], p["open"], p["overdue"]) == want.get(f["id"], (0, 0, 0))
    assert sum(f["properties"]["incidents"] for f in feats) > 0


def test_clusters_count_the_non_sensitive_incidents_for_anonymous_callers(
    client: TestClient, store: Engine, admin: dict[str, str]
) -> None:
    # zoom 13: raw rows (below it the clusters come from the rollup, which places a grid's
    # incidents at its label point; tests/tiles/test_rollup_tiles.py pins those)
    zxy = busiest_tile(store, 13)
    w, s, e, n = tile_bounds(*zxy)
    sql = (
        "SELECT count(*) FROM incidents WHERE geom && ST_MakeEnvelope(:w, :s, :e, :n, 4326)"
        " AND (:all OR left(category, 2) NOT IN ('03', '04'))"
    )
    with store.connect() as conn:
        every = conn.execute(text(sql), {"w": w, "s": s, "e": e, "n": n, "all": True}).scalar()
        public = conn.execute(text(sql), {"w": w, "s": s, "e": e, "n": n, "all": False}).scalar()
    assert every and public and every > public, "the tiny city should have sensitive cases"
    for headers, want in (({}, public), (admin, every)):
        _, decoded = get_tile(client, "incidents", zxy, headers)
        feats = features(decoded, "incidents")
        assert all(f["properties"]["cluster"] is True for f in feats)
        assert len(feats) <= 64, "at most one cluster per cell of the 8 x 8 grid"
        assert sum(f["properties"]["point_count"] for f in feats) == want


def test_hexagons_agree_with_st_hexagongrid(store: Engine) -> None:
    z, x, y = busiest_tile(store, 12)
    qp = '{"scope_level": "all", "rollup": false}'  # raw rows; the rollup's below
    with store.connect() as conn:
        size = conn.execute(
            text("SELECT (ST_XMax(e) - ST_XMin(e)) / 24 FROM ST_TileEnvelope(:z, :x, :y) e"),
            {"z": z, "x": x, "y": y},
        ).scalar_one()
        ours = conn.execute(
            text(
                "SELECT i, j, count FROM gisgrid_incident_hexes("
                " ST_TileEnvelope(:z, :x, :y), :size, CAST(:qp AS json))"
            ),
            {"z": z, "x": x, "y": y, "size": size, "qp": qp},
        ).all()
        theirs = conn.execute(
            text(
                "SELECT h.i, h.j, count(*) FROM"
                " ST_HexagonGrid(:size, ST_Expand(ST_TileEnvelope(:z, :x, :y), 2 * :size)) h"
                " JOIN incidents ie ON ST_Intersects(h.geom, ST_Transform(ie.geom, 3857))"
                " WHERE ST_Intersects(h.geom, ST_TileEnvelope(:z, :x, :y))"
                " GROUP BY h.i, h.j"
            ),
            {"z": z, "x": x, "y": y, "size": size},
        ).all()
    assert len(ours) > 3
    assert {(r.i, r.j): r.count for r in ours} == {(r.i, r.j): r.count for r in theirs}

    # from the rollup (zoom 12 and below): each grid's incidents at its label point
    with store.connect() as conn:
        ours = conn.execute(
            text(
                "SELECT i, j, count FROM gisgrid_incident_hexes("
                ' ST_TileEnvelope(:z, :x, :y), :size, \'{"scope_level": "all"}\')'
            ),
            {"z": z, "x": x, "y": y, "size": size},
        ).all()
        theirs = conn.execute(
            text(
                "SELECT h.i, h.j, count(*) FROM"
                " ST_HexagonGrid(:size, ST_Expand(ST_TileEnvelope(:z, :x, :y), 2 * :size)) h"
                " JOIN incidents ie ON TRUE"
                " JOIN areas a ON a.id = ie.grid_id"
                " WHERE ST_Intersects(h.geom, ST_SetSRID(ST_MakePoint(a.label_x, a.label_y), 3857))"
                " AND ST_Intersects(h.geom, ST_TileEnvelope(:z, :x, :y))"
                " GROUP BY h.i, h.j"
            ),
            {"z": z, "x": x, "y": y, "size": size},
        ).all()
    assert len(ours) > 3
    assert {(r.i, r.j): r.count for r in ours} == {(r.i, r.j): r.count for r in theirs}


def test_tilejson_has_the_required_fields_and_carries_the_filters(
    client: TestClient, box: tuple[float, float, float, float]
) -> None:
    index = client.get("/tiles").json()["layers"]
    assert {i["id"] for i in index} == set(LAYERS)
    for item in index:
        doc = client.get(item["tilejson"].split("testserver", 1)[1]).json()
        assert doc["tilejson"] == "3.0.0"
        assert doc["tiles"] and "{z}/{x}/{y}" in doc["tiles"][0]
        assert doc["minzoom"] == item["minzoom"] and doc["maxzoom"] == item["maxzoom"]
        w, s, e, n = doc["bounds"]
        assert w <= box[0] and s <= box[1] and e >= box[2] and n >= box[3]
        if item["type"] == "vector":
            (vl,) = doc["vector_layers"]
            assert vl["id"] == item["id"] and vl["fields"]
        else:
            assert doc["tiles"][0].endswith(".png")
            assert doc["legend"] == client.get("/tiles/heat/legend.json").json()
            assert doc["legend"]["stops"]
    doc = client.get("/tiles/hex.json", params={"category": "01,0201", "status": "reported"})
    assert doc.status_code == 200
    assert doc.json()["tiles"][0].endswith("?category=01%2C0201&status=reported")


# ---------------------------------------------------------------- errors and HTTP


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/tiles/streams/12/0/0.pbf", "layer"),
        ("/tiles/grids/12/0/0.png", "fmt"),
        ("/tiles/grids/23/0/0.pbf", "z"),
        ("/tiles/grids/12/4096/0.pbf", "x"),
        ("/tiles/grids/12/0/4096.pbf", "y"),
        ("/tiles/grids/12/0/0.pbf?categroy=01", "categroy"),
        ("/tiles/grids/12/0/0.pbf?category=9999", "category"),
        ("/tiles/grids/12/0/0.pbf?status=lost", "status"),
        ("/tiles/grids/12/0/0.pbf?from=yesterday", "from"),
        ("/tiles/grids/12/0/0.pbf?from=2026-02-01&to=2026-01-01", "to"),
        ("/tiles/units/12/0/0.pbf?category=01", "category"),
        ("/tiles/nothing.json", "layer"),
    ],
)
def test_bad_requests_name_the_field(client: TestClient, path: str, field: str) -> None:
    r = client.get(path)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field


def test_empty_tiles_are_204_and_below_minzoom_too(client: TestClient) -> None:
    assert client.get("/tiles/districts/12/0/0.pbf").status_code == 204
    assert client.get("/tiles/grids/8/0/0.pbf").status_code == 204


def test_gzip_etag_and_cors(client: TestClient, store: Engine) -> None:
    z, x, y = busiest_tile(store, 13)
    url = f"/tiles/grids/{z}/{x}/{y}.pbf"
    r = client.get(url, headers={"Accept-Encoding": "gzip", "Origin": "https://map.example.org"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["access-control-allow-origin"] == "https://map.example.org"
    assert "no-cache" in r.headers["cache-control"]
    # httpx undid the gzip; the plain body decodes too
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == r.content
    assert mapbox_vector_tile.decode(plain.content)["grids"]["features"]
    again = client.get(url, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


# ---------------------------------------------------------------- scope


def test_anonymous_callers_get_no_raw_rows(client: TestClient, store: Engine) -> None:
    zxy = busiest_tile(store, 15)
    for layer in ("buildings", "places"):
        z, x, y = zxy
        r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf")
        assert r.status_code == 401
        assert r.json()["field"] == "Authorization"
    _, decoded = get_tile(client, "incidents", zxy)
    feats = features(decoded, "incidents")
    assert feats and all(f["properties"].get("cluster") is True for f in feats)
    assert all("category" not in f["properties"] for f in feats)


def test_a_grid_worker_sees_only_the_rows_of_their_grid(
    client: TestClient, store: Engine, worker: tuple[dict[str, str], int], admin: dict[str, str]
) -> None:
    headers, grid = worker
    lon, lat = point_in(store, grid)
    zxy = (14, *tile_of(lon, lat, 14))
    seen_other = False
    for layer in ("buildings", "places", "incidents"):
        _, mine = get_tile(client, layer, zxy, headers)
        _, every = get_tile(client, layer, zxy, admin)
        mine_f, every_f = features(mine, layer), features(every, layer)
        assert all(f["properties"]["grid_id"] == grid for f in mine_f), layer
        assert {f["id"] for f in mine_f} == {
            f["id"] for f in every_f if f["properties"]["grid_id"] == grid
        }
        seen_other |= any(f["properties"]["grid_id"] != grid for f in every_f)
    assert seen_other, "the tile should also hold rows of other grids"


def test_no_layer_carries_personal_data(
    client: TestClient, store: Engine, admin: dict[str, str]
) -> None:
    zxy = busiest_tile(store, 15)
    for layer in VECTOR:
        _, decoded = get_tile(client, layer, zxy, admin)
        assert set(decoded) <= {layer}
        for f in features(decoded, layer):
            keys = set(f["properties"])
            assert not keys & {"id_hash", "phone_hash", "reporter_name", "reporter_id"}
    assert "residents" not in LAYERS and "households" not in LAYERS


# ---------------------------------------------------------------- the cache follows the data


def test_a_write_by_any_path_shows_in_the_next_tile(
    client: TestClient, store: Engine, admin: dict[str, str], worker: tuple[dict[str, str], int]
) -> None:
    headers, grid = worker
    lon, lat = point_in(store, grid)
    zxy = (13, *tile_of(lon, lat, 13))

    def count() -> int:
        _, decoded = get_tile(client, "grids", zxy, admin)
        (f,) = [f for f in features(decoded, "grids") if f["id"] == grid]
        return int(f["properties"]["incidents"])

    def etag() -> str:
        z, x, y = zxy
        return client.get(f"/tiles/grids/{z}/{x}/{y}.pbf", headers=admin).headers["etag"]

    cache = client.app.state.tile_cache  # type: ignore[attr-defined]
    before = count()
    hits = cache.hits
    assert count() == before and cache.hits == hits + 1, "the second read is a cache hit"
    tag = etag()

    # 1. the API: a grid worker reports a case in their grid
    r = client.post(
        "/incidents",
        json={"category": "0101", "lon": lon, "lat": lat, "description": "tile test"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert count() == before + 1
    assert etag() != tag

    # 2. plain SQL, as psql or another service would write
    with store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incidents (category, reported_at, status, geom)"
                " VALUES ('0101', now(), 'reported', ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            ),
            {"x": lon, "y": lat},
        )
    assert count() == before + 2

    # 3. a reassignment moves the cases to another grid
    with store.begin() as conn:
        conn.execute(
            text(
                "UPDATE incidents SET grid_id = NULL WHERE description = 'tile test'"
                " OR (reporter_id IS NULL AND reported_at > now() - interval '1 minute')"
            )
        )
    assert count() == before

    # 4. a rolled-back write changes nothing
    with store.connect() as conn:
        conn.execute(text("DELETE FROM incidents WHERE grid_id = :g"), {"g": grid})
        conn.rollback()
    assert count() == before


# ---------------------------------------------------------------- a real client


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL is not installed")
def test_gdal_reads_a_tile(app_settings: Settings, store: Engine) -> None:
    z, x, y = busiest_tile(store, 13)
    with serving(create_app(app_settings)) as base:
        r = subprocess.run(
            ["ogrinfo", "-ro", "-al", "-so", f"MVT:{base}/tiles/grids/{z}/{x}/{y}.pbf"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert r.returncode == 0, r.stderr
    assert "Layer name: grids" in r.stdout
    n = int(r.stdout.split("Feature Count:")[1].split()[0])
    assert n > 0
    assert "incidents: Integer" in r.stdout or "incidents: Real" in r.stdout, r.stdout


# ---------------------------------------------------------------- low zoom stays small

LOW_ZOOM_MAX_BYTES = 200_000  # gzipped, per tile


def test_low_zoom_tiles_stay_small(
    client: TestClient, store: Engine, admin: dict[str, str]
) -> None:
    """Districts are the real Harbin boundaries (73k vertices), the same in every twin; they
    are simplified to the tile's pixel. Incidents aggregate to at most 64 clusters and hexagons
    to a fixed lattice, whatever the number of incidents."""
    harbin = (125.68, 44.06, 130.24, 46.68)
    for z in range(4, 10):
        for zxy in tiles_in_bbox(harbin, z):
            for layer in ("districts", "streets", "incidents", "hex", "units"):
                if z < LAYERS[layer].minzoom:
                    continue
                zz, x, y = zxy
                r = client.get(
                    f"/tiles/{layer}/{zz}/{x}/{y}.pbf",
                    headers={**admin, "Accept-Encoding": "gzip"},
                )
                assert r.status_code in (200, 204)
                size = int(r.headers.get("content-length", 0))
                assert size < LOW_ZOOM_MAX_BYTES, (layer, zxy, size)
                if layer == "incidents" and r.status_code == 200:
                    feats = mapbox_vector_tile.decode(r.content)["incidents"]["features"]
                    assert len(feats) <= 64
    z, x, y = 8, *tile_of(126.63, 45.76, 8)
    r = client.get(f"/tiles/districts/{z}/{x}/{y}.pbf", headers={"Accept-Encoding": "gzip"})
    full = mapbox_vector_tile.decode(r.content)["districts"]["features"]
    vertices = sum(1 for f in full for _ in all_points(f["geometry"]))
    assert 0 < vertices < 20_000, "the districts are simplified at zoom 8"


def test_a_new_category_is_a_valid_filter_at_once(client: TestClient, store: Engine) -> None:
    url = "/tiles/hex/12/0/0.pbf?category=0199"
    assert client.get(url).json()["field"] == "category"
    with store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO incident_categories (code, parent_code, name_zh, name_en)"
                " VALUES ('0199', '01', '其他', 'Other')"
            )
        )
    try:
        assert client.get(url).status_code == 204
    finally:
        with store.begin() as conn:
            conn.execute(text("DELETE FROM incident_categories WHERE code = '0199'"))
    assert client.get(url).status_code == 400


def test_a_case_turning_overdue_shows_without_any_write(
    client: TestClient, store: Engine, admin: dict[str, str], worker: tuple[dict[str, str], int]
) -> None:
    """Time alone turns an open case overdue: the cached tile must not keep the old count."""
    _, grid = worker
    lon, lat = point_in(store, grid)
    zxy = (13, *tile_of(lon, lat, 13))

    def overdue() -> int:
        _, decoded = get_tile(client, "grids", zxy, admin)
        (f,) = [f for f in features(decoded, "grids") if f["id"] == grid]
        return int(f["properties"]["overdue"])

    with store.begin() as conn:
        case = conn.execute(
            text(
                "INSERT INTO incidents (category, reported_at, status, due_at, geom)"
                " VALUES ('0101', now() - interval '1 hour', 'reported',"
                " clock_timestamp() + interval '1.5 seconds',"
                " ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"
            ),
            {"x": lon, "y": lat},
        ).scalar_one()
    try:
        before = overdue()
        assert overdue() == before  # cached
        time.sleep(2.0)  # no write from here on: the due time passes
        assert overdue() == before + 1
    finally:
        with store.begin() as conn:
            conn.execute(text("DELETE FROM incidents WHERE id = :i"), {"i": case})


def test_uncached_renders_go_through_the_clients_share(
    client: TestClient, admin: dict[str, str]
) -> None:
    """The audit: anonymous low-zoom hex tiles with a new from/to each force a render each.
    Misses render within the client's share (gisgrid.tiles.gate, 2 at once by default):
    concurrent misses of one client all succeed, never more than 2 render at once, and a
    signed-in caller is counted by account."""
    gate = client.app.state.tiles.gate  # type: ignore[attr-defined]
    days = [f"2025-{m:02d}-01" for m in range(1, 13)]

    def fetch(day: str, headers: dict[str, str]) -> int:
        r = client.get("/tiles/hex/3/6/2.pbf", params={"from": day}, headers=headers)
        return r.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(lambda d: fetch(d, {}), days))
        signed = list(pool.map(lambda d: fetch(d, admin), days[:4]))
    assert set(codes) <= {200, 204} and set(signed) <= {200, 204}
    assert 1 <= gate.peak["addr:testclient"] <= 2
    assert any(k.startswith("account:") for k in gate.peak)
    assert gate.refused == 0
