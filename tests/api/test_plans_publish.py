"""Plans through the API, the publishing part: each edit answers the plan's checks and stats
(kept on the plan), auto-balance, and publish (who may, If-Match, 422 with the failing
checks, 409 for a stale plan); after a publish /locate and the tiles answer the new grids,
and the old ones with ``at=`` before T."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from gisgrid.tiles.grid import tile_of
from tests.city_support import bearer_header, username_of
from tests.planning.support import COMMUNITY, vertical

DB = "plans_publish_api_scratch"
Headers = dict[str, str]
FIRST = f"{COMMUNITY}001"
SECOND_COMMUNITY = "230108001002"


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    # limits the tiny city's grids all meet, so that a plan's checks pass as drawn
    return {
        "plan_households_min": 0,
        "plan_households_max": 100_000,
        "plan_residents_min": 0,
        "plan_residents_max": 100_000,
    }


@pytest.fixture(scope="module")
def planner(client: TestClient, store: Engine) -> Headers:
    return bearer_header(client, username_of(store, "planner"))


@pytest.fixture(scope="module")
def centre(client: TestClient, store: Engine) -> Headers:
    return bearer_header(client, username_of(store, "street_centre"))


def new_plan(client: TestClient, who: Headers, parent: str = COMMUNITY) -> int:
    r = client.post("/plans", json={"parent": parent, "name": "publish"}, headers=who)
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def post(
    client: TestClient, who: Headers, pid: int, what: str, body: Any, version: int | None
) -> Any:
    headers = dict(who) | ({"If-Match": f'"{version}"'} if version is not None else {})
    return client.post(f"/plans/{pid}/{what}", json=body, headers=headers)


def split_first(client: TestClient, planner: Headers, pid: int, version: int = 1) -> Any:
    r = client.get(f"/plans/{pid}", headers=planner)
    g = shape(next(f for f in r.json()["features"] if f["id"] == FIRST)["geometry"])
    r = post(client, planner, pid, "split", {"code": FIRST, "cut": vertical(g)}, version)
    assert r.status_code == 200, r.text
    return r.json()


def test_an_edit_answers_checks_and_stats_and_keeps_them(
    client: TestClient, planner: Headers, store: Engine
) -> None:
    pid = new_plan(client, planner)
    body = split_first(client, planner, pid)
    assert set(body) == {"plan", "changed", "checks", "stats", "balance"}
    assert body["checks"]["ok"] is True
    assert {g["code"] for g in body["stats"]["grids"]} >= set(body["changed"])
    with store.connect() as conn:
        kept = conn.execute(text("SELECT checks, stats FROM plans WHERE id = :p"), {"p": pid}).one()
    assert kept.checks == body["checks"] and kept.stats == body["stats"]


def test_balance(client: TestClient, planner: Headers) -> None:
    pid = new_plan(client, planner)
    assert post(client, planner, pid, "balance", {}, None).status_code == 428
    r = post(client, planner, pid, "balance", {"seed": 1}, 1)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["plan"]["version"] == 2 and r.headers["ETag"] == '"2"'
    assert body["balance"]["codes"] and "spread" in body["balance"]
    assert body["stats"]["grids"] and "ok" in body["checks"]
    assert post(client, planner, pid, "balance", {}, 1).status_code == 412


def test_publish_refusals_change_nothing(
    client: TestClient, planner: Headers, centre: Headers, store: Engine
) -> None:
    pid = new_plan(client, planner)
    v = split_first(client, planner, pid)["plan"]["version"]
    r = post(client, planner, pid, "publish", {}, v)
    assert r.status_code == 403 and r.json()["field"] == "role"
    assert post(client, centre, pid, "publish", {}, None).status_code == 428
    assert post(client, centre, pid, "publish", {}, v - 1).status_code == 412
    # a gap: one draft grid dropped
    with store.begin() as conn:
        conn.execute(
            text("DELETE FROM plan_areas WHERE plan_id = :p AND code = :c"), {"p": pid, "c": FIRST}
        )
    r = post(client, centre, pid, "publish", {}, v)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "checks"
    assert "gap" in {f["check"] for f in r.json()["failures"]}
    assert client.get(f"/plans/{pid}", headers=planner).json()["plan"]["status"] == "draft"


def _locate(client: TestClient, xy: tuple[float, float], **params: str) -> int:
    r = client.get("/locate", params={"lon": xy[0], "lat": xy[1], **params})
    assert r.status_code == 200, r.text
    return int(r.json()["grid"]["id"])


def _tile_ids(client: TestClient, xy: tuple[float, float], **params: str) -> set[int]:
    z = 15
    x, y = tile_of(*xy, z)
    r = client.get(f"/tiles/grids/{z}/{x}/{y}.pbf", params=params)
    assert r.status_code in (200, 204), r.text
    if r.status_code == 204:
        return set()
    decoded = mapbox_vector_tile.decode(r.content)
    return {int(f["id"]) for f in decoded.get("grids", {}).get("features", [])}


def test_publish_then_locate_and_tiles_answer_both_ways(
    client: TestClient, planner: Headers, centre: Headers, store: Engine
) -> None:
    pid = new_plan(client, planner)
    rival = new_plan(client, planner)
    body = split_first(client, planner, pid)
    new_code = body["changed"][1]
    with store.connect() as conn:
        old_id = conn.execute(
            text("SELECT id FROM areas WHERE code = :c AND valid_to IS NULL"), {"c": FIRST}
        ).scalar_one()
        x, y = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM plan_areas"
                " WHERE plan_id = :p AND code = :c) s"
            ),
            {"p": pid, "c": new_code},
        ).one()
    assert _locate(client, (x, y)) == old_id
    before_tiles = _tile_ids(client, (x, y))
    assert old_id in before_tiles

    r = post(client, centre, pid, "publish", {}, body["plan"]["version"])
    assert r.status_code == 200, r.text
    out = r.json()
    assert (
        out["plan"]["status"] == "published" and r.headers["ETag"] == f'"{out["plan"]["version"]}"'
    )
    assert out["closed"] == [old_id] and set(out["opened"]) == {FIRST, new_code}
    at = datetime.fromisoformat(out["at"])
    before = (at - timedelta(seconds=1)).astimezone(UTC).isoformat()

    new_id = out["opened"][new_code]
    assert _locate(client, (x, y)) == new_id
    assert _locate(client, (x, y), at=before) == old_id
    now_tiles = _tile_ids(client, (x, y))
    assert new_id in now_tiles and old_id not in now_tiles
    assert old_id in _tile_ids(client, (x, y), at=before)

    # the rival plan started from the old grids: stale, 409 naming the newer version
    r = post(client, centre, rival, "publish", {}, 1)
    assert r.status_code == 409, r.text
    assert f"by plan {pid}" in r.json()["reason"]
    # and the published plan cannot be published again
    assert post(client, centre, pid, "publish", {}, out["plan"]["version"]).status_code == 409


def test_export_and_import_through_the_api(
    client: TestClient, planner: Headers, centre: Headers
) -> None:
    pid = new_plan(client, planner)
    split_first(client, planner, pid)
    r = client.get(f"/plans/{pid}/export.gpkg", headers=planner)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geopackage+sqlite3"
    data = r.content
    assert data[:16] == b"SQLite format 3\x00"
    form = {"parent": COMMUNITY, "name": "from QGIS"}
    up = {"file": ("plan.gpkg", data, "application/geopackage+sqlite3")}
    r = client.post("/plans/import", data=form, files=up, headers=planner)
    assert r.status_code == 201, r.text
    body = r.json()
    drawn = len(client.get(f"/plans/{pid}", headers=planner).json()["features"])
    assert body["grids"] == drawn and body["checks"]["ok"] is True
    assert r.headers["Location"] == f"/plans/{body['plan']['id']}"
    # a centre reads plans but may not create them; a plan file must be one we read
    assert client.post("/plans/import", data=form, files=up, headers=centre).status_code == 403
    bad = {"file": ("plan.exe", b"MZ", "application/octet-stream")}
    r = client.post("/plans/import", data=form, files=bad, headers=planner)
    assert r.status_code == 400 and r.json()["field"] == "file"
    r = client.post("/plans/import", data=form, files=up)
    assert r.status_code == 401
