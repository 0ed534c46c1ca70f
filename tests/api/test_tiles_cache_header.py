"""``X-Cache``: a tile response says whether it came from the cache (load tests read it)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gisgrid.tiles.grid import tile_of
from tests.city_support import point_in

DB = "tiles_cache_header_scratch"


def test_a_tile_is_a_miss_then_a_hit_then_a_miss_after_a_write_inside_it(
    client: TestClient, store: Engine, worker: tuple[dict[str, str], int]
) -> None:
    _, grid = worker
    lon, lat = point_in(store, grid)
    z = 13
    x, y = tile_of(lon, lat, z)
    url = f"/tiles/grids/{z}/{x}/{y}.pbf"
    first = client.get(url)
    assert first.status_code == 200, first.text
    assert first.headers["x-cache"] == "miss"
    assert client.get(url).headers["x-cache"] == "hit"
    with store.begin() as conn:  # a new case inside the tile changes its counts
        conn.execute(
            text(
                "INSERT INTO incidents (category, reported_at, status, due_at, geom)"
                " VALUES ('0101', now(), 'reported', now() + interval '1 day',"
                " ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
            ),
            {"x": lon, "y": lat},
        )
    after = client.get(url)
    assert after.headers["x-cache"] == "miss"
    assert after.headers["etag"] != first.headers["etag"]
    assert client.get(url).headers["x-cache"] == "hit"
