"""OGC API - Features over the tiny city: documents, paging, filters, errors, and GDAL."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from fastapi import FastAPI
from fastapi.testclient import TestClient
from shapely.geometry import shape
from sqlalchemy import Engine, text

from api.app import create_app
from gisgrid.access.auth import issue_token
from gisgrid.query.features import COLLECTIONS
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from tests.city_support import tiny_city
from tests.live_server import serving

DB = "ogc_scratch"
CORE = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core"
HTML = "text/html"


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[tuple[Engine, Settings]]:
    with tiny_city(cluster, DB) as engine:
        url = cluster.url(dbname=DB)
        yield engine, Settings(database_url=url, secret_key="k" * 40, _env_file=None)


@pytest.fixture(scope="module")
def app(store: tuple[Engine, Settings]) -> FastAPI:
    return create_app(store[1])


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def _account(engine: Engine, role: str) -> tuple[int, int | None, int]:
    """The first account of a role: its id, scope area and token version."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT id, scope_area_id, token_version FROM accounts WHERE role = :r"
                " ORDER BY id LIMIT 1"
            ),
            {"r": role},
        ).one()
    return int(row[0]), row[1], int(row[2])


def _bearer(store: tuple[Engine, Settings], role: str) -> str:
    account_id, _, version = _account(store[0], role)
    return f"Bearer {issue_token(account_id, role, store[1], version=version).access_token}"


@pytest.fixture()
def as_city(client: TestClient, store: tuple[Engine, Settings]) -> Iterator[None]:
    """The client sends an admin's token (whose scope is everything) during the test."""
    client.headers["Authorization"] = _bearer(store, "admin")
    yield
    del client.headers["Authorization"]


def _ids(engine: Engine, sql: str, params: dict[str, Any] | None = None) -> set[int]:
    with engine.connect() as conn:
        return {int(r[0]) for r in conn.execute(text(sql), params or {})}


def _walk(client: TestClient, url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every feature reached by following rel=next from url, and every page body."""
    feats: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        r = client.get(next_url)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/geo+json")
        body = r.json()
        pages.append(body)
        assert body["numberReturned"] == len(body["features"])
        feats.extend(body["features"])
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        next_url = nxt[0] if nxt else None
        assert len(pages) < 1000
    return feats, pages


# ---------------------------------------------------------------- documents


def test_landing_links(client: TestClient) -> None:
    for url in ("/", "/?f=json"):
        body = client.get(url).json()
        rels = {link["rel"]: link["href"] for link in body["links"]}
        assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
        assert rels["service-desc"].endswith("/openapi.json")
        assert rels["service-doc"].endswith("/docs")
        assert rels["data"].endswith("/collections")
    assert client.get("/?f=xml").status_code == 400


def test_conformance_claims_only_what_is_served(client: TestClient) -> None:
    classes = client.get("/conformance").json()["conformsTo"]
    assert CORE in classes and f"{CORE[:-4]}geojson" in classes and f"{CORE[:-4]}html" in classes
    assert not any(c.endswith("/oas30") for c in classes)
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


@pytest.mark.parametrize(
    "url",
    ["/", "/conformance", "/collections", "/collections/units", "/collections/units/items"],
)
def test_html_view(client: TestClient, url: str) -> None:
    for r in (client.get(url, params={"f": "html"}), client.get(url, headers={"Accept": HTML})):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.text.startswith("<!doctype html>") and "<h1>" in r.text
    # the json documents point at their html alternates, and back
    links = client.get(url).json()["links"]
    alt = next(link for link in links if link["rel"] == "alternate")
    assert alt["type"] == HTML and alt["href"].endswith("f=html")
    assert (
        client.get(url, headers={"Accept": "application/json"})
        .headers["content-type"]
        .startswith("application/")
    )


def test_html_items_keep_paging(client: TestClient) -> None:
    r = client.get("/collections/units/items", params={"f": "html", "limit": 2})
    assert "2 of" in r.text and "cursor=" in r.text and "&amp;f=html" in r.text
    assert '?limit=2&amp;f=json">alternate' in r.text


def test_collections_have_the_required_fields(client: TestClient, store: Any) -> None:
    engine, _ = store
    body = client.get("/collections").json()
    got = {c["id"]: c for c in body["collections"]}
    assert set(got) == set(COLLECTIONS)
    assert "residents" not in got and "households" not in got
    for cid, c in got.items():
        assert c["title"] and c["description"] and c["itemType"] == "feature"
        assert c["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
        items = [link for link in c["links"] if link["rel"] == "items"]
        assert items and items[0]["type"] == "application/geo+json"
        assert items[0]["href"].endswith(f"/collections/{cid}/items")
        [[w, s, e, n]] = c["extent"]["spatial"]["bbox"]
        assert w < e and s < n
        one = client.get(f"/collections/{cid}").json()
        one["links"] = [link for link in one["links"] if link["rel"] != "alternate"]
        assert one == c
    with engine.connect() as conn:
        grid_box = conn.execute(
            text(
                "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT"
                " ST_Extent(geom) b FROM areas WHERE level='grid' AND valid_to IS NULL) x"
            )
        ).one()
        t0, t1 = conn.execute(
            text("SELECT min(reported_at), max(reported_at) FROM incidents")
        ).one()
    assert got["areas_grid"]["extent"]["spatial"]["bbox"][0] == pytest.approx(list(grid_box))
    interval = got["incidents"]["extent"]["temporal"]["interval"]
    assert interval[0][0].startswith(t0.strftime("%Y-%m-%dT%H:%M:%S"))
    assert interval[0][1].startswith(t1.strftime("%Y-%m-%dT%H:%M:%S"))
    assert got["units"]["extent"]["temporal"]["interval"] == [[None, None]]
    assert client.get("/collections/residents").status_code == 404


# ---------------------------------------------------------------- paging


@pytest.mark.parametrize(
    ("cid", "sql"),
    [
        ("areas_grid", "SELECT id FROM areas WHERE level='grid' AND valid_to IS NULL"),
        ("units", "SELECT id FROM units"),
        ("incidents", "SELECT id FROM incidents"),
    ],
    ids=["grids", "units", "incidents"],
)
def test_paging_walks_every_item_once(
    client: TestClient, store: Any, as_city: None, cid: str, sql: str
) -> None:
    want = _ids(store[0], sql)
    limit = max(1, len(want) // 7)
    feats, pages = _walk(client, f"/collections/{cid}/items?limit={limit}")
    ids = [f["id"] for f in feats]
    assert len(ids) == len(set(ids)) and set(ids) == want
    assert all(isinstance(i, int) for i in ids)
    # counted on the first page only: a cursor page does not scan every match again
    assert pages[0]["numberMatched"] == len(want)
    assert all("numberMatched" not in p for p in pages[1:])
    assert len(pages) >= 7
    assert all("timeStamp" in p for p in pages)
    # next links page by key (cursor), never by offset, and keep the limit
    for p in pages[:-1]:
        nxt = next(link["href"] for link in p["links"] if link["rel"] == "next")
        assert "cursor=" in nxt and "offset=" not in nxt and f"limit={limit}" in nxt


def test_cursor_pages_are_stable_while_units_are_added(client: TestClient, store: Any) -> None:
    engine = store[0]
    before = sorted(_ids(engine, "SELECT id FROM units"))
    url: str | None = "/collections/units/items?limit=4"
    got: list[int] = []
    added: list[int] = []
    try:
        while url:
            body = client.get(url).json()
            got.extend(f["id"] for f in body["features"])
            with engine.begin() as conn:  # a unit added between every two pages
                added.append(
                    conn.execute(
                        text(
                            "INSERT INTO units (name, kind, geom) SELECT 'paging ' || id, kind,"
                            " geom FROM units WHERE id = :id RETURNING id"
                        ),
                        {"id": before[0]},
                    ).scalar_one()
                )
            url = next((ln["href"] for ln in body["links"] if ln["rel"] == "next"), None)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM units WHERE id = ANY(:ids)"), {"ids": added})
    # every unit once, in id order; units added meanwhile come after, never in between
    assert got[: len(before)] == before
    assert len(got) == len(set(got)) and set(got[len(before) :]) <= set(added)


def test_offset_still_pages_with_prev(client: TestClient, store: Any) -> None:
    want = sorted(_ids(store[0], "SELECT id FROM units"))
    second = client.get("/collections/units/items?limit=3&offset=3").json()
    assert [f["id"] for f in second["features"]] == want[3:6]
    assert second["numberMatched"] == len(want)
    prev = next(link["href"] for link in second["links"] if link["rel"] == "prev")
    assert [f["id"] for f in client.get(prev).json()["features"]] == want[:3]
    nxt = next(link["href"] for link in second["links"] if link["rel"] == "next")
    assert [f["id"] for f in client.get(nxt).json()["features"]] == want[6:9]


def test_pages_past_the_end_and_at_the_edge(client: TestClient, store: Any) -> None:
    n = len(_ids(store[0], "SELECT id FROM units"))
    past = client.get("/collections/units/items?offset=100000").json()
    assert past["numberReturned"] == 0 and past["numberMatched"] == n
    assert {link["rel"] for link in past["links"]} >= {"self", "prev"}
    assert "next" not in {link["rel"] for link in past["links"]}
    exact = client.get(f"/collections/units/items?limit={n}").json()
    assert exact["numberReturned"] == exact["numberMatched"] == n
    assert "next" not in {link["rel"] for link in exact["links"]}
    last = client.get(f"/collections/units/items?limit=5&offset={n - 2}").json()
    assert last["numberReturned"] == 2 and last["numberMatched"] == n


def test_next_links_keep_filters(client: TestClient, store: Any, as_city: None) -> None:
    want = _ids(store[0], "SELECT id FROM incidents WHERE status = 'closed' AND priority = 'high'")
    feats, pages = _walk(client, "/collections/incidents/items?status=closed&priority=high&limit=7")
    assert {f["id"] for f in feats} == want and len(pages) > 1
    for p in pages[:-1]:
        nxt = next(link["href"] for link in p["links"] if link["rel"] == "next")
        assert "status=closed" in nxt and "priority=high" in nxt and "limit=7" in nxt


# ---------------------------------------------------------------- filters


def test_bbox_equals_direct_sql(client: TestClient, store: Any, as_city: None) -> None:
    engine, _ = store
    with engine.connect() as conn:
        x0, y0, x1, y1 = conn.execute(
            text(
                "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM "
                "(SELECT ST_Extent(geom) b FROM incidents) x"
            )
        ).one()
    box = (x0, y0, (x0 + x1) / 2, (y0 + y1) / 2)
    bbox = ",".join(f"{v:.6f}" for v in box)
    env = "ST_MakeEnvelope(:w, :s, :e, :n, 4326)"
    params = dict(zip("wsen", (float(v) for v in bbox.split(",")), strict=True))
    for cid, table, where in [
        ("incidents", "incidents", "TRUE"),
        ("areas_grid", "areas", "level = 'grid' AND valid_to IS NULL"),
    ]:
        want = _ids(
            engine, f"SELECT id FROM {table} WHERE {where} AND ST_Intersects(geom, {env})", params
        )
        feats, _ = _walk(client, f"/collections/{cid}/items?bbox={bbox}&limit=500")
        assert {f["id"] for f in feats} == want and want
    six = f"{box[0]},{box[1]},-10,{box[2]},{box[3]},100"
    a = client.get(f"/collections/incidents/items?bbox={six}&limit=10000").json()
    b = client.get(f"/collections/incidents/items?bbox={bbox}&limit=10000").json()
    assert a["numberMatched"] == b["numberMatched"]


@pytest.mark.parametrize(
    ("value", "cond"),
    [
        ("2024-06-01T00:00:00Z/2024-07-01T00:00:00Z", "reported_at BETWEEN :a AND :b"),
        ("../2024-03-01T00:00:00Z", "reported_at <= :b"),
        ("2024-09-01T00:00:00+08:00/..", "reported_at >= :a"),
    ],
    ids=["closed", "open-start", "open-end"],
)
def test_datetime_equals_direct_sql(
    client: TestClient, store: Any, as_city: None, value: str, cond: str
) -> None:
    from datetime import datetime

    a, _, b = value.partition("/")
    params = {
        k: datetime.fromisoformat(v.replace("Z", "+00:00"))
        for k, v in (("a", a), ("b", b))
        if v not in ("..", "")
    }
    want = _ids(store[0], f"SELECT id FROM incidents WHERE {cond}", params)
    body = client.get(
        "/collections/incidents/items", params={"datetime": value, "limit": 10000}
    ).json()
    assert {f["id"] for f in body["features"]} == want
    assert body["numberMatched"] == len(want)


def test_datetime_instant_and_untimed_collections(
    client: TestClient, store: Any, as_city: None
) -> None:
    with store[0].connect() as conn:
        t, n = conn.execute(
            text(
                "SELECT reported_at, count(*) OVER (PARTITION BY reported_at) FROM incidents "
                "ORDER BY id LIMIT 1"
            )
        ).one()
    instant = t.isoformat().replace("+", "%2B")
    body = client.get(f"/collections/incidents/items?datetime={instant}").json()
    assert body["numberMatched"] == n
    # a collection without a temporal property answers every item
    units = client.get("/collections/units/items?datetime=2000-01-01T00:00:00Z").json()
    assert units["numberMatched"] == len(_ids(store[0], "SELECT id FROM units"))


def test_property_filters(client: TestClient, store: Any, as_city: None) -> None:
    engine, _ = store
    kind = next(iter(_kind(engine)))
    want = _ids(engine, "SELECT id FROM places WHERE kind = :k", {"k": kind})
    body = client.get(f"/collections/places/items?kind={kind}&limit=10000").json()
    assert {f["id"] for f in body["features"]} == want
    assert all(f["properties"]["kind"] == kind for f in body["features"])
    want = _ids(engine, "SELECT id FROM units WHERE NOT available")
    body = client.get("/collections/units/items?available=false").json()
    assert {f["id"] for f in body["features"]} == want


def _kind(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(text("SELECT DISTINCT kind FROM places"))}


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("cursor=garbage", "cursor"),
        ("cursor=WzQyLCJ4Il0", "cursor"),
        ("cursor=WzQyXQ&offset=3", "offset"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=170,-10,-170,10", "bbox"),
        ("bbox=0,100,1,101", "bbox"),
        ("bbox=0,0,10,1,1,5", "bbox"),
        ("bbox=0,0,1,1,2", "bbox"),
        ("datetime=yesterday", "datetime"),
        ("datetime=../..", "datetime"),
        ("datetime=2024-02-01T00:00:00Z/2024-01-01T00:00:00Z", "datetime"),
        ("datetime=2024-02-01T00:00:00Z/2024-02-01T00:00:00Z", "datetime"),
        ("datetime=0001-01-01T00:00:00%2B01:00", "datetime"),
        ("bbox=1,0,1,1", "bbox"),
        ("grid_id=abc", "grid_id"),
        ("colour=red", "colour"),
        ("f=xml", "f"),
        ("limit=5&limit=6", "limit"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    client: TestClient, as_city: None, query: str, field: str
) -> None:
    r = client.get(f"/collections/incidents/items?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert field in r.json()["reason"] or field in query


def test_filters_of_another_collection_are_unknown(client: TestClient) -> None:
    r = client.get("/collections/units/items?status=closed")
    assert r.status_code == 400 and r.json()["field"] == "status"


def test_one_item_and_404(client: TestClient, store: Any) -> None:
    fid = min(_ids(store[0], "SELECT id FROM units"))
    r = client.get(f"/collections/units/items/{fid}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert body["type"] == "Feature" and body["id"] == fid
    assert body["geometry"]["type"] == "Point"
    for bad in ("999999999", "abc", "-1"):
        assert client.get(f"/collections/units/items/{bad}").status_code == 404
    assert client.get("/collections/nothing/items").status_code == 404


# ---------------------------------------------------------------- scope


@pytest.mark.parametrize("cid", ["incidents", "buildings", "places"])
def test_scoped_collections_need_credentials(client: TestClient, cid: str) -> None:
    assert client.get(f"/collections/{cid}/items").status_code == 401
    assert client.get(f"/collections/{cid}/items/1").status_code == 401


def test_scope_limits_items(client: TestClient, store: Any) -> None:
    engine, _ = store
    _, area, _ = _account(engine, "community")
    client.headers["Authorization"] = _bearer(store, "community")
    try:
        want = _ids(engine, "SELECT id FROM incidents WHERE community_id = :a", {"a": area})
        feats, pages = _walk(client, "/collections/incidents/items?limit=1000")
        assert {f["id"] for f in feats} == want and want
        assert pages[0]["numberMatched"] == len(want)
        others = "SELECT id FROM incidents WHERE community_id <> :a"
        outside = min(_ids(engine, others, {"a": area}))
        assert client.get(f"/collections/incidents/items/{outside}").status_code == 404
        inside = min(want)
        assert client.get(f"/collections/incidents/items/{inside}").status_code == 200
        # public collections are whole whoever asks
        grids = _ids(engine, "SELECT id FROM areas WHERE level='grid' AND valid_to IS NULL")
        body = client.get("/collections/areas_grid/items?limit=1000").json()
        assert body["numberMatched"] == len(grids)
    finally:
        del client.headers["Authorization"]


@pytest.mark.parametrize("table", ["buildings", "places"])
def test_scope_limits_buildings_and_places(client: TestClient, store: Any, table: str) -> None:
    engine, _ = store
    _, area, _ = _account(engine, "community")
    want = _ids(engine, f"SELECT id FROM {table} WHERE community_id = :a", {"a": area})
    every = _ids(engine, f"SELECT id FROM {table}")
    assert 0 < len(want) < len(every)
    headers = {"Authorization": _bearer(store, "community")}
    body = client.get(f"/collections/{table}/items?limit=10000", headers=headers).json()
    assert {f["id"] for f in body["features"]} == want
    assert body["numberMatched"] == len(want)
    headers = {"Authorization": _bearer(store, "admin")}
    body = client.get(f"/collections/{table}/items?limit=10000", headers=headers).json()
    assert {f["id"] for f in body["features"]} == every


def test_a_bad_token_is_401(client: TestClient) -> None:
    r = client.get("/collections/incidents/items", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


# ---------------------------------------------------------------- geometry


def test_exterior_rings_are_counter_clockwise(client: TestClient) -> None:
    feats, _ = _walk(client, "/collections/areas_grid/items?limit=10000")
    for f in feats:
        geom = shape(f["geometry"])
        assert geom.geom_type == "MultiPolygon"
        for poly in geom.geoms:
            assert poly.exterior.is_ccw
            assert all(not ring.is_ccw for ring in poly.interiors)
        coords = shapely.get_coordinates(geom)
        assert ((coords[:, 0] > 100) & (coords[:, 1] < 60)).all()  # lon, lat order


# ---------------------------------------------------------------- GDAL


@pytest.fixture(scope="module")
def server(store: tuple[Engine, Settings]) -> Iterator[str]:
    with serving(create_app(store[1])) as url:
        yield url


needs_gdal = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL is not installed")


def _run(
    *args: str, token: str | None = None, debug: bool = False
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if debug:
        env["CPL_DEBUG"] = "ON"
    if token is not None:
        env["GDAL_HTTP_HEADERS"] = f"Authorization: {token}"
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False, env=env)


@needs_gdal
def test_ogrinfo_lists_the_collections(server: str, store: Any) -> None:
    r = _run("ogrinfo", "-ro", "-so", f"OAPIF:{server}")
    assert r.returncode == 0, r.stderr
    for cid in COLLECTIONS:
        assert cid in r.stdout
    # GDAL samples a page of each layer for its schema; anonymous, the scoped ones say 401
    assert "areas_grid (title: Grids (current boundaries)) (Multi Polygon)" in r.stdout
    assert "units (title: Responsible units) (Point)" in r.stdout
    assert "HTTP error code : 401" in r.stderr and "incidents needs credentials" in r.stderr
    r = _run("ogrinfo", "-ro", "-so", f"OAPIF:{server}", "areas_grid")
    assert r.returncode == 0, r.stderr
    grids = _ids(store[0], "SELECT id FROM areas WHERE level='grid' AND valid_to IS NULL")
    assert f"Feature Count: {len(grids)}" in r.stdout  # from numberMatched
    assert "code: String" in r.stdout and "parent_id: Integer" in r.stdout


@needs_gdal
@pytest.mark.parametrize("page_size", ["7", None], ids=["pages-of-7", "server-default"])
def test_ogr2ogr_copies_every_grid(
    server: str, store: Any, tmp_path: Path, page_size: str | None
) -> None:
    out = tmp_path / "out.gpkg"
    # -preserve_fid: the GeoPackage keeps the integer feature ids GDAL read as FIDs
    args = ["ogr2ogr", "-preserve_fid", "-f", "GPKG", str(out), f"OAPIF:{server}", "areas_grid"]
    if page_size:
        args[1:1] = ["-oo", f"PAGE_SIZE={page_size}"]
    r = _run(*args)
    assert r.returncode == 0, r.stderr
    want = _ids(store[0], "SELECT id FROM areas WHERE level='grid' AND valid_to IS NULL")
    with sqlite3.connect(out) as conn:
        got = {row[0] for row in conn.execute("SELECT fid FROM areas_grid")}
    assert got == want
    r = _run("ogrinfo", "-ro", "-so", str(out), "areas_grid")
    assert f"Feature Count: {len(want)}" in r.stdout


@needs_gdal
def test_gdal_with_a_token_reads_the_scoped_incidents(
    server: str, store: Any, tmp_path: Path
) -> None:
    engine, _ = store
    token = _bearer(store, "community")
    _, area, _ = _account(engine, "community")
    want = _ids(engine, "SELECT id FROM incidents WHERE community_id = :a", {"a": area})
    assert 0 < len(want) < len(_ids(engine, "SELECT id FROM incidents"))
    r = _run("ogrinfo", "-ro", "-so", f"OAPIF:{server}", token=token)
    assert r.returncode == 0 and "401" not in r.stderr, r.stderr
    assert "incidents (title: Incidents) (Point)" in r.stdout
    r = _run("ogrinfo", "-ro", "-so", f"OAPIF:{server}", "incidents", "units", token=token)
    for line in [
        f"Feature Count: {len(want)}",  # numberMatched in the caller's scope
        "TEMPORAL_INTERVAL_MIN=",
        "reported_at: DateTime",
        "grid_id: Integer",
        "categories: StringList",
        "available: Integer(Boolean)",
    ]:
        assert line in r.stdout
    out = tmp_path / "incidents.gpkg"
    args = ["ogr2ogr", "-oo", "PAGE_SIZE=500", "-preserve_fid", "-f", "GPKG", str(out)]
    r = _run(*args, f"OAPIF:{server}", "incidents", token=token)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(out) as conn:
        got = {row[0] for row in conn.execute("SELECT fid FROM incidents")}
        times = conn.execute("SELECT min(reported_at), max(reported_at) FROM incidents").fetchone()
    assert got == want and want
    assert times is not None and times[0] < times[1]


@needs_gdal
def test_gdal_sends_where_and_spat_to_the_server(server: str, store: Any, tmp_path: Path) -> None:
    """-where on a listed property and on reported_at, and -spat, become query parameters."""
    engine, _ = store
    with engine.connect() as conn:
        x0, y0, x1, y1 = conn.execute(
            text(
                "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM "
                "(SELECT ST_Extent(geom) b FROM incidents) x"
            )
        ).one()
    box = (round(x0, 3), round(y0, 3), round((x0 + x1) / 2, 3), round((y0 + y1) / 2, 3))
    want = _ids(
        engine,
        "SELECT id FROM incidents WHERE status = 'closed' AND reported_at >= :t "
        "AND ST_Intersects(geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))",
        {"t": "2026-03-01T00:00:00Z", **dict(zip("wsen", box, strict=True))},
    )
    out = tmp_path / "closed.gpkg"
    where = "status = 'closed' AND reported_at >= '2026/03/01 00:00:00'"
    r = _run(
        "ogr2ogr", "-oo", "PAGE_SIZE=1000", "-preserve_fid", "-f", "GPKG", str(out),
        f"OAPIF:{server}", "incidents", "-where", where, "-spat", *map(str, box),
        token=_bearer(store, "admin"), debug=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    fetched = [line for line in r.stderr.splitlines() if "/incidents/items?" in line]
    assert fetched and all("status=closed" in u and "bbox=" in u for u in fetched[1:])
    assert any("datetime=2026-03-01T00:00:00Z" in u for u in fetched)
    with sqlite3.connect(out) as conn:
        got = {row[0] for row in conn.execute("SELECT fid FROM incidents")}
    assert got == want and want
