"""GET /analysis/hotspots, /analysis/compare and the hotspots tile layer over the tiny city:
RFC 7946 answers equal to the library's, scoped like the tile aggregates, held on the data
version, decoded tiles, and every bad input a 400 naming the field.

The tiny city has 23 grids, fewer than the 30 units a hot-spot statistic needs: hot spots run
on hexagons (``level=hex``), the period comparison on grids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import mapbox_vector_tile
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.routes.tiles import MVT
from gisgrid.access.scope import Scope
from gisgrid.analysis.emerging import CATEGORIES
from gisgrid.analysis.hotspots import GI_CLASSES, hotspots
from gisgrid.tiles.grid import EXTENT, tile_of
from gisgrid.tiles.layers import LAYERS
from gisgrid.times import CITY_TZ
from tests.city_support import point_in

DB = "analysis_scratch"
HEX = {"level": "hex", "cell_m": "200", "permutations": "99"}
SENSITIVE = ("03", "04")


def geojson(client: TestClient, path: str, headers: dict[str, str] | None = None, **params: Any):
    r = client.get(path, params=params, headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/geo+json"
    return r.json()


def incidents(store: Engine) -> list[tuple[str, int, datetime]]:
    with store.connect() as conn:
        return [
            (r.category, r.grid_id, r.reported_at)
            for r in conn.execute(text("SELECT category, grid_id, reported_at FROM incidents"))
        ]


def total(doc: dict[str, Any]) -> int:
    return sum(f["properties"]["count"] for f in doc["features"])


@pytest.fixture(scope="module")
def gistar(client: TestClient, admin: dict[str, str]) -> dict[str, Any]:
    return geojson(client, "/analysis/hotspots", admin, method="gistar", **HEX)


# ---------------------------------------------------------------- the answer


def test_the_answer_is_rfc7946_with_the_library_s_statistics(
    gistar: dict[str, Any], store: Engine
) -> None:
    doc = gistar
    assert doc["type"] == "FeatureCollection"
    ours = hotspots(
        store, "gistar", "hex", scope=Scope.everything(), cell_m=200, permutations=99, seed=0
    )
    assert len(doc["features"]) == len(ours)
    by_id = {f["id"]: f for f in doc["features"]}
    for row in ours.itertuples():
        f = by_id[row.id]
        assert f["type"] == "Feature" and f["properties"]["id"] == row.id
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    z = np.array([by_id[i]["properties"]["z"] for i in ours["id"]])
    np.testing.assert_allclose(z, ours["z"].to_numpy(), atol=1e-9)
    assert [by_id[i]["properties"]["class"] for i in ours["id"]] == ours["class"].tolist()
    # lon/lat, in the city, rounded to 6 decimals
    lon, lat = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert 126 < lon < 128 and 45 < lat < 46.5
    assert round(lon, 6) == lon
    # what it was computed with, and the thresholds, at the top level
    p = doc["parameters"]
    assert p["method"] == "gistar" and p["level"] == "hex" and p["cell_m"] == 200
    assert p["permutations"] == 99 and p["alpha"] == 0.05 and p["fdr"] is True
    assert set(p["fdr_thresholds"]) == {"0.01", "0.05", "0.10"}
    assert doc["summary"]["units"] == len(ours)
    assert doc["summary"]["classes"] == ours["class"].value_counts().to_dict()
    assert set(doc["summary"]["classes"]) <= set(GI_CLASSES)
    assert doc["summary"]["classes"].get("hot_99", 0) > 0, "the tiny city plants hot spots"


def test_each_unit_carries_its_weekly_series(gistar: dict[str, Any], store: Engine) -> None:
    starts = gistar["parameters"]["series_starts"]
    assert gistar["parameters"]["series_step"] == "week" and len(starts) == 52
    assert all(len(f["properties"]["counts"]) == 52 for f in gistar["features"])
    # the series add up to the units' counts, but for the first, partial week left out
    first = datetime.fromisoformat(starts[0])
    before = sum(1 for _, _, t in incidents(store) if t < first)
    assert sum(sum(f["properties"]["counts"]) for f in gistar["features"]) == total(gistar) - before


def test_lisa_and_emerging(client: TestClient, admin: dict[str, str]) -> None:
    lisa = geojson(client, "/analysis/hotspots", admin, method="lisa", **HEX)
    assert {"I", "quadrant", "p", "class"} <= set(lisa["features"][0]["properties"])
    assert set(lisa["summary"]["classes"]) <= {"HH", "LH", "LL", "HL", "not_significant"}
    emerging = geojson(client, "/analysis/hotspots", admin, method="emerging", step="month", **HEX)
    assert emerging["parameters"]["step"] == "month"
    props = emerging["features"][0]["properties"]
    assert props["class"] == props["category"] and props["class"] in CATEGORIES
    assert len(props["z"]) == len(props["counts"]) == 12
    assert set(emerging["summary"]["classes"]) <= set(CATEGORIES)


def test_geometry_false_keeps_the_statistics_only(
    client: TestClient, admin: dict[str, str], gistar: dict[str, Any]
) -> None:
    bare = geojson(client, "/analysis/hotspots", admin, method="gistar", geometry="false", **HEX)
    assert all(f["geometry"] is None for f in bare["features"])
    assert [f["properties"] for f in bare["features"]] == [
        f["properties"] for f in gistar["features"]
    ]


# ---------------------------------------------------------------- scope


def test_scoped_like_the_tile_aggregates(
    client: TestClient,
    store: Engine,
    admin: dict[str, str],
    worker: tuple[dict[str, str], int],
    gistar: dict[str, Any],
) -> None:
    rows = incidents(store)
    sensitive = [g for c, g, _ in rows if c[:2] in SENSITIVE]
    assert sensitive, "the tiny city has cases of the sensitive groups"
    anonymous = geojson(client, "/analysis/hotspots", method="gistar", **HEX)
    headers, grid = worker
    mine = geojson(client, "/analysis/hotspots", headers, method="gistar", **HEX)
    # hexagons cover the grids: each incident with a grid counts once
    assert total(gistar) == sum(1 for _, g, _ in rows if g is not None)
    assert total(anonymous) == total(gistar) - len(sensitive)
    # a grid worker counts the sensitive groups inside their grid only
    assert total(mine) == total(anonymous) + sensitive.count(grid)


# ---------------------------------------------------------------- held on the data version


def test_held_until_areas_or_incidents_change(
    client: TestClient, store: Engine, admin: dict[str, str]
) -> None:
    service = client.app.state.analysis  # type: ignore[attr-defined]
    params = {"method": "gistar", "seed": "7", **HEX}
    r1 = client.get("/analysis/hotspots", params=params, headers=admin)
    computed = service.computed
    r2 = client.get("/analysis/hotspots", params=params, headers=admin)
    assert service.computed == computed, "the second request is served from memory"
    assert r1.content == r2.content and r1.headers["etag"] == r2.headers["etag"]
    again = client.get(
        "/analysis/hotspots", params=params, headers={**admin, "If-None-Match": r1.headers["etag"]}
    )
    assert again.status_code == 304
    # the same answer draws the tiles
    lon, lat = point_in(store, 5)
    z, x, y = 13, *tile_of(lon, lat, 13)
    assert client.get(f"/tiles/hotspots/{z}/{x}/{y}.pbf", params=params, headers=admin).is_success
    assert service.computed == computed
    # a write to incidents (no count changes: a priority) is a new data version
    with store.begin() as conn:
        first = "(SELECT min(id) FROM incidents)"
        conn.execute(text(f"UPDATE incidents SET priority = priority WHERE id = {first}"))
    r3 = client.get("/analysis/hotspots", params=params, headers=admin)
    assert service.computed == computed + 1
    assert r3.headers["etag"] != r1.headers["etag"]
    # another caller's scope is another answer
    client.get("/analysis/hotspots", params=params)
    assert service.computed == computed + 2


# ---------------------------------------------------------------- tiles


def test_tilejson_carries_the_parameters(client: TestClient) -> None:
    doc = client.get("/tiles/hotspots.json", params={**HEX, "method": "lisa", "category": "01"})
    assert doc.status_code == 200, doc.text
    tj = doc.json()
    assert tj["tilejson"] == "3.0.0" and tj["minzoom"] == LAYERS["hotspots"].minzoom
    (url,) = tj["tiles"]
    assert urlsplit(url).path == "/tiles/hotspots/{z}/{x}/{y}.pbf"
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["method"] == "lisa" and query["level"] == "hex" and query["cell_m"] == "200.0"
    assert query["permutations"] == "99" and query["category"] == "01"
    (vl,) = tj["vector_layers"]
    assert vl["id"] == "hotspots" and {"class", "z", "p"} <= set(vl["fields"])
    index = {i["id"]: i for i in client.get("/tiles").json()["layers"]}
    assert index["hotspots"]["computed"] is True and index["grids"]["computed"] is False


def test_a_tile_decodes_to_the_answer_s_units(
    client: TestClient, admin: dict[str, str], gistar: dict[str, Any]
) -> None:
    hot = next(f for f in gistar["features"] if f["properties"]["class"] == "hot_99")
    lon, lat = hot["geometry"]["coordinates"][0][0]
    z, x, y = 14, *tile_of(lon, lat, 14)
    r = client.get(
        f"/tiles/hotspots/{z}/{x}/{y}.pbf", params={"method": "gistar", **HEX}, headers=admin
    )
    assert r.status_code == 200 and r.headers["content-type"] == MVT
    decoded = mapbox_vector_tile.decode(
        r.content, default_options={"y_coord_down": True, "geojson": False}
    )
    assert set(decoded) == {"hotspots"} and decoded["hotspots"]["extent"] == EXTENT
    feats = decoded["hotspots"]["features"]
    by_id = {f["id"]: f for f in gistar["features"]}
    assert hot["id"] in {f["id"] for f in feats}
    for f in feats:
        want = by_id[f["id"]]["properties"]
        assert f["properties"]["class"] == want["class"]
        assert f["properties"]["z"] == pytest.approx(want["z"])
        assert set(f["properties"]) <= set(LAYERS["hotspots"].fields)
        assert "counts" not in f["properties"]
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # far from the city: no unit
    empty = client.get(
        "/tiles/hotspots/14/0/0.pbf", params={"method": "gistar", **HEX}, headers=admin
    )
    assert empty.status_code == 204
    assert client.get("/tiles/hotspots/3/6/2.pbf", params=HEX).status_code == 204  # minzoom


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"method": "kde"}, "method"),
        ({"method": "gistar"}, "level"),  # 23 grids: fewer than 30 units
        ({**HEX, "within": "999999"}, "within"),
        ({**HEX, "permutations": "10000"}, "permutations"),
        ({**HEX, "permutations": "many"}, "permutations"),
        ({**HEX, "k": "4"}, "k"),  # k is for weights=knn
        ({**HEX, "weights": "knn", "k": "0"}, "k"),
        ({**HEX, "weights": "distance"}, "distance_m"),
        ({**HEX, "step": "week"}, "step"),  # step is for emerging
        ({**HEX, "method": "emerging", "step": "day"}, "step"),
        ({**HEX, "alpha": "2"}, "alpha"),
        ({**HEX, "fdr": "perhaps"}, "fdr"),
        ({**HEX, "geometry": "perhaps"}, "geometry"),
        ({**HEX, "value": "per_household"}, "value"),  # hexagons have no base
        ({"level": "hex", "cell_m": "1"}, "cell_m"),  # millions of hexagons
        ({**HEX, "category": "9999"}, "category"),
        ({**HEX, "status": "lost"}, "status"),
        ({**HEX, "from": "yesterday"}, "from"),
        ({**HEX, "from": "2001-01-01", "to": "2001-02-01"}, "value"),  # no incident
        ({**HEX, "method": "emerging", "from": "2026-10-01"}, "from"),  # too few weeks
        ({**HEX, "colour": "red"}, "colour"),
    ],
    ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else v,
)
def test_bad_input_is_a_400_naming_the_field(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    r = client.get("/analysis/hotspots", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field, r.json()
    if field not in ("level", "within", "value", "from", "cell_m"):  # the data tells those
        tile = client.get("/tiles/hotspots.json", params=params)
        assert tile.status_code == 400 and tile.json()["field"] == field


# ---------------------------------------------------------------- the period comparison


def test_compare_counts_this_month_against_the_previous_one(
    client: TestClient, store: Engine, admin: dict[str, str]
) -> None:
    doc = geojson(client, "/analysis/compare", admin, month="2026-10")
    p = doc["parameters"]
    assert p["month"] == "2026-10" and p["now"]["days"] == 31
    mom, yoy = p["comparisons"]["mom"], p["comparisons"]["yoy"]
    assert mom["made"] is True and mom["start"].startswith("2026-09-01") and mom["days"] == 30
    # the tiny city starts on 2025-11-01: October 2025 has no data, which is not zero
    assert yoy["made"] is False and "first incident" in yoy["why"]
    rows = incidents(store)

    def month_of(t: datetime) -> str:
        return t.astimezone(CITY_TZ).strftime("%Y-%m")

    assert len(doc["features"]) == 23
    for f in doc["features"]:
        g = f["id"]
        q = f["properties"]
        assert q["count"] == sum(1 for _, gg, t in rows if gg == g and month_of(t) == "2026-10")
        assert q["mom_count"] == sum(1 for _, gg, t in rows if gg == g and month_of(t) == "2026-09")
        assert q["mom_expected"] == pytest.approx(q["mom_count"] * 31 / 30)
        assert q["mom_class"] in ("up", "down", "not_significant")
        assert q["yoy_count"] is None and q["yoy_class"] is None
    # the default month is the latest incident's
    assert geojson(client, "/analysis/compare", admin)["parameters"]["month"] == "2026-10"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month": "October"}, "month"),
        ({"month": "2027-01"}, "month"),  # after the data
        ({"level": "hex"}, "level"),
        ({"from": "2026-10-01"}, "from"),  # the comparison sets its own periods
        ({"alpha": "0"}, "alpha"),
        ({"within": "999999"}, "within"),
        ({"method": "gistar"}, "method"),
    ],
    ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else v,
)
def test_compare_bad_input(client: TestClient, params: dict[str, str], field: str) -> None:
    r = client.get("/analysis/compare", params=params)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
