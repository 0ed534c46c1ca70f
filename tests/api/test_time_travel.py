"""Time travel over the tiny city: one grid is redrawn by a versioned load at T; /locate,
the OGC area collections and the grid tiles answer the new grid at once and the old one
before T (``at=`` / ``datetime=``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import mapbox_vector_tile
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from gisgrid.io.load import load_file
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from gisgrid.tiles.grid import tile_of
from tests.city_support import tiny_city

DB = "time_travel_scratch"
T = "2026-11-15T00:00:00+08:00"  # after the synthetic incidents, before the clock's now
BEFORE = "2026-11-14T23:00:00+08:00"
NEW_NAME = "Redrawn grid"


@pytest.fixture(scope="module")
def redrawn(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A client whose grid index was built before grid G lost its eastern half (and got a
    new name) by a versioned load at T; the old and new ids, and a point in each half."""
    with tiny_city(cluster, DB) as engine:
        settings = Settings(
            database_url=cluster.url(dbname=DB), secret_key="t" * 40, _env_file=None
        )
        with TestClient(create_app(settings)) as client:
            g = _grid(engine)
            keep = shapely.Point(g["keep"])
            r = client.get("/locate", params={"lon": keep.x, "lat": keep.y})
            assert r.status_code == 200 and r.json()["grid"]["id"] == g["old_id"], r.text
            path = Path(tmp_path_factory.mktemp("redraw")) / "grid.gpkg"
            gpd.GeoDataFrame(
                [{"code": g["code"], "name": NEW_NAME, "level": "grid",
                  "parent_id": g["parent_id"], "geometry": g["new_geom"]}],
                geometry="geometry", crs=4326,
            ).to_file(path, driver="GPKG")  # fmt: skip
            report = load_file(engine, "areas", path, key="code", valid_from=T)
            assert report.updated == 1
            assert report.versions is not None
            g["new_id"] = report.versions.opened[g["code"]]
            yield {**g, "client": client, "engine": engine}


def _grid(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "WITH g AS (SELECT id, code, name, parent_id, geom, ST_Envelope(geom) AS b"
                " FROM areas WHERE level = 'grid' AND valid_to IS NULL ORDER BY id LIMIT 1),"
                " w AS (SELECT g.*, ST_Multi(ST_CollectionExtract(ST_Intersection(g.geom,"
                "  ST_MakeEnvelope(ST_XMin(b), ST_YMin(b), (ST_XMin(b) + ST_XMax(b)) / 2,"
                "  ST_YMax(b), 4326)), 3)) AS west FROM g)"
                " SELECT id, code, name, parent_id, ST_AsText(west) AS west,"
                " ST_AsText(ST_PointOnSurface(west)) AS keep,"
                " ST_AsText(ST_PointOnSurface(ST_Difference(geom, west))) AS drop FROM w"
            )
        ).one()
    return {
        "old_id": int(row.id),
        "code": row.code,
        "old_name": row.name,
        "parent_id": int(row.parent_id),
        "new_geom": shapely.from_wkt(row.west),
        "keep": shapely.from_wkt(row.keep).coords[0],
        "drop": shapely.from_wkt(row.drop).coords[0],
    }


def _locate(g: dict[str, Any], point: str, **params: str) -> Any:
    lon, lat = g[point]
    return g["client"].get("/locate", params={"lon": lon, "lat": lat, **params})


# -- /locate ---------------------------------------------------------------------------------
def test_locate_answers_the_new_grid_right_after_the_load(redrawn: dict[str, Any]) -> None:
    r = _locate(redrawn, "keep")
    assert r.status_code == 200, r.text
    assert (r.json()["grid"]["id"], r.json()["grid"]["name"]) == (redrawn["new_id"], NEW_NAME)
    assert _locate(redrawn, "drop").status_code == 404  # that half is in no grid now


@pytest.mark.parametrize(
    ("at", "which"),
    [
        (BEFORE, "old"),
        ("2026-11-14", "old"),  # a bare date: 00:00 of that city day
        ("2026-11-14T23:59:59", "old"),  # no zone: city time
        (T, "new"),
        ("2026-11-15", "new"),
        ("2026-11-14T16:00:00Z", "new"),  # = T
    ],
    ids=["instant-before", "date-before", "naive-before", "at-T", "date-of-T", "utc-T"],
)
def test_locate_at_answers_the_grid_in_force_then(
    redrawn: dict[str, Any], at: str, which: str
) -> None:
    r = _locate(redrawn, "keep", at=at)
    assert r.status_code == 200, r.text
    want = (redrawn["old_id"], redrawn["old_name"])
    if which == "new":
        want = (redrawn["new_id"], NEW_NAME)
    assert (r.json()["grid"]["id"], r.json()["grid"]["name"]) == want
    dropped = _locate(redrawn, "drop", at=at)
    assert dropped.status_code == (200 if which == "old" else 404), dropped.text


def test_locate_at_refuses_what_is_not_a_time(redrawn: dict[str, Any]) -> None:
    r = _locate(redrawn, "keep", at="yesterday")
    assert r.status_code == 400
    assert r.json()["field"] == "at"


# -- OGC API Features --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "which"),
    [
        (None, {"new"}),
        (BEFORE, {"old"}),
        (T, {"new"}),
        ("2026-11-14", {"old"}),  # the whole city day, before T
        ("2026-11-14/2026-11-15", {"old", "new"}),  # in force at some time of the interval
        ("../2026-11-14T23:00:00+08:00", {"old"}),
        ("2026-11-15T00:00:00+08:00/..", {"new"}),
    ],
    ids=["default-current", "instant-before", "instant-T", "date", "interval", "open-start",
         "open-end"],
)  # fmt: skip
def test_area_collections_answer_the_versions_in_force(
    redrawn: dict[str, Any], value: str | None, which: set[str]
) -> None:
    params = {"code": redrawn["code"]} | ({"datetime": value} if value else {})
    r = redrawn["client"].get("/collections/areas_grid/items", params=params)
    assert r.status_code == 200, r.text
    ids = {f["id"] for f in r.json()["features"]}
    assert ids == {redrawn[f"{w}_id"] for w in which}


def test_a_closed_version_is_an_item_with_its_valid_to(redrawn: dict[str, Any]) -> None:
    r = redrawn["client"].get(f"/collections/areas_grid/items/{redrawn['old_id']}")
    assert r.status_code == 200, r.text
    assert r.json()["properties"]["valid_to"] is not None
    assert r.json()["properties"]["name"] == redrawn["old_name"]


# -- tiles -------------------------------------------------------------------------------------
def _tile_ids(redrawn: dict[str, Any], **params: str) -> set[int]:
    z = 15
    x, y = tile_of(*redrawn["drop"], z)
    r = redrawn["client"].get(f"/tiles/grids/{z}/{x}/{y}.pbf", params=params)
    assert r.status_code in (200, 204), r.text
    if r.status_code == 204:
        return set()
    decoded = mapbox_vector_tile.decode(r.content)
    return {int(f["id"]) for f in decoded.get("grids", {}).get("features", [])}


def test_grid_tiles_draw_the_grids_in_force_at(redrawn: dict[str, Any]) -> None:
    now = _tile_ids(redrawn)
    then = _tile_ids(redrawn, at=BEFORE)
    assert redrawn["old_id"] in then and redrawn["new_id"] not in then
    assert redrawn["old_id"] not in now
    assert _tile_ids(redrawn, at=T) == now  # cached apart: at is in the key


def test_at_is_for_the_boundary_layers_only(redrawn: dict[str, Any]) -> None:
    r = redrawn["client"].get("/tiles/units/15/0/0.pbf", params={"at": T})
    assert r.status_code == 400 and r.json()["field"] == "at"
    r = redrawn["client"].get("/tiles/grids/15/0/0.pbf", params={"at": "soon"})
    assert r.status_code == 400 and r.json()["field"] == "at"


def test_area_collections_say_how_far_back_they_go(redrawn: dict[str, Any]) -> None:
    body = redrawn["client"].get("/collections/areas_grid").json()
    # from the synthetic city's first versions (gisgrid.synth.city.VALID_FROM), open-ended
    assert body["extent"]["temporal"]["interval"] == [["2020-01-01T00:00:00Z", None]]
