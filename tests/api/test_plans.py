"""Plans through the API: create, read (GeoJSON + ETag), list, the edits with If-Match,
refusals naming their field with nothing changed, scope and staleness."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import mapping, shape
from sqlalchemy import Connection, Engine, text

from gisgrid.access.auth import set_password
from tests.city_support import PASSWORD, bearer_header, username_of
from tests.planning.support import (
    COMMUNITY,
    STREET,
    assert_tiles,
    buildings_of,
    neighbours,
    snapshot,
    vertical,
)

DB = "plans_api_scratch"
Headers = dict[str, str]
FIRST = f"{COMMUNITY}001"
OTHER = "230108001002"  # the second community


@pytest.fixture(scope="module")
def planner(client: TestClient, store: Engine) -> Headers:
    """The first planner (city scope)."""
    return bearer_header(client, username_of(store, "planner"))


@pytest.fixture(scope="module")
def outsider(client: TestClient, store: Engine) -> Headers:
    """The second planner, scoped to the second community only."""
    with store.begin() as conn:
        name = conn.execute(
            text(
                "UPDATE accounts SET scope_area_id = (SELECT id FROM areas WHERE code = :c)"
                " WHERE id = (SELECT id FROM accounts WHERE role = 'planner' ORDER BY id"
                " OFFSET 1 LIMIT 1) RETURNING username"
            ),
            {"c": OTHER},
        ).scalar_one()
    set_password(store, name, PASSWORD)
    return bearer_header(client, name)


def new_plan(client: TestClient, who: Headers, parent: str = STREET) -> dict[str, Any]:
    r = client.post("/plans", json={"parent": parent, "name": "api plan"}, headers=who)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    assert r.headers["Location"] == f"/plans/{body['id']}"
    assert r.headers["ETag"] == '"1"'
    return body


def grid(client: TestClient, who: Headers, plan_id: int, code: str) -> Any:
    r = client.get(f"/plans/{plan_id}", headers=who)
    assert r.status_code == 200, r.text
    return shape(next(f for f in r.json()["features"] if f["id"] == code)["geometry"])


def post(
    client: TestClient, who: Headers, plan_id: int, edit: str, body: dict[str, Any], version: Any
) -> Any:
    headers = dict(who)
    if version is not None:
        headers["If-Match"] = f'"{version}"'
    return client.post(f"/plans/{plan_id}/{edit}", json=body, headers=headers)


def test_create_read_list(client: TestClient, planner: Headers) -> None:
    p = new_plan(client, planner)
    assert p["parent"]["code"] == STREET and p["status"] == "draft" and p["stale"] is False
    r = client.get(f"/plans/{p['id']}", headers=planner)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    assert r.headers["ETag"] == '"1"'
    body = r.json()
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 23
    assert body["plan"]["id"] == p["id"] and body["plan"]["version"] == 1
    listed = client.get("/plans", params={"parent": STREET}, headers=planner)
    assert listed.status_code == 200
    assert p["id"] in {x["id"] for x in listed.json()["plans"]}


def test_each_edit_answers_the_plan_and_what_changed(
    client: TestClient, planner: Headers, store: Engine
) -> None:
    p = new_plan(client, planner)
    pid = p["id"]
    g = grid(client, planner, pid, FIRST)
    r = post(client, planner, pid, "split", {"code": FIRST, "cut": vertical(g)}, 1)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"2"'
    assert r.json()["plan"]["version"] == 2
    assert r.json()["changed"] == [FIRST, f"{COMMUNITY}008"]
    r = post(client, planner, pid, "merge", {"codes": [FIRST, f"{COMMUNITY}008"]}, 2)
    assert r.status_code == 200, r.text
    r = post(client, planner, pid, "rename", {"code": FIRST, "name": "一格"}, 3)
    assert r.status_code == 200 and r.json()["changed"] == [FIRST]
    with store.connect() as conn:
        to = neighbours(conn, pid, FIRST)[0]
        b = _nearest(conn, pid, FIRST, to)
    r = post(client, planner, pid, "move", {"to": to, "building_ids": [b]}, 4)
    assert r.status_code == 200, r.text
    assert r.json()["changed"] == [FIRST, to]
    g = grid(client, planner, pid, FIRST)
    r = post(client, planner, pid, "reshape", {"code": FIRST, "polygon": mapping(g)}, 5)
    assert r.status_code == 200, r.text
    with store.connect() as conn:
        assert b in buildings_of(conn, pid, to)
        assert_tiles(conn, pid)


def _nearest(conn: Connection, plan_id: int, source: str, to: str) -> int:
    return int(
        conn.execute(
            text(
                "SELECT b.id FROM buildings b JOIN plan_areas s ON s.plan_id = :p AND s.code = :s"
                " AND ST_Contains(s.geom, ST_PointOnSurface(b.geom))"
                " JOIN plan_areas t ON t.plan_id = :p AND t.code = :t"
                " ORDER BY ST_Distance(b.geom, t.geom) LIMIT 1"
            ),
            {"p": plan_id, "s": source, "t": to},
        ).scalar_one()
    )


def test_if_match_is_required_and_must_be_current(
    client: TestClient, planner: Headers, store: Engine
) -> None:
    p = new_plan(client, planner)
    g = grid(client, planner, p["id"], FIRST)
    with store.connect() as conn:
        before = snapshot(conn, p["id"])
    body = {"code": FIRST, "cut": vertical(g)}
    missing = post(client, planner, p["id"], "split", body, None)
    assert missing.status_code == 428, missing.text
    assert missing.json()["field"] == "If-Match"
    stale = post(client, planner, p["id"], "split", body, 7)
    assert stale.status_code == 412, stale.text
    gone = client.delete(f"/plans/{p['id']}", headers=planner)
    assert gone.status_code == 428
    with store.connect() as conn:
        assert snapshot(conn, p["id"]) == before


def _lasso_outside(store: Engine) -> dict[str, Any]:
    with store.connect() as conn:
        wkb = conn.execute(text("SELECT ST_AsBinary(geom) FROM areas WHERE code = :c"),
                           {"c": STREET}).scalar_one()  # fmt: skip
    return mapping(shapely.from_wkb(bytes(wkb)).envelope.buffer(0.01))


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ("split-point", "cut"),
        ("split-unknown", "code"),
        ("merge-apart", "codes"),
        ("merge-one", "codes"),
        ("reshape-bow", "polygon"),
        ("move-far", "to"),
        ("move-unknown", "building_ids"),
        ("move-lasso-out", "lasso"),
        ("rename-empty", "name"),
        ("split-extra", "colour"),
    ],
)
def test_refusals_name_the_field_and_change_nothing(
    client: TestClient, planner: Headers, store: Engine, edit: str, field: str
) -> None:
    p = new_plan(client, planner)
    pid = p["id"]
    g = grid(client, planner, pid, FIRST)
    with store.connect() as conn:
        near = neighbours(conn, pid, FIRST)
        far = next(c for c in (f"{COMMUNITY}{i:03d}" for i in range(2, 8)) if c not in near)
        mine = buildings_of(conn, pid, FIRST)
        before = snapshot(conn, pid)
    x0, y0, x1, y1 = g.bounds
    bow = {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y1], [x1, y0], [x0, y1], [x0, y0]]]}
    route, body = {
        "split-point": (
            "split",
            {"code": FIRST, "cut": {"type": "Point", "coordinates": [x0, y0]}},
        ),
        "split-unknown": ("split", {"code": "nope", "cut": vertical(g)}),
        "merge-apart": ("merge", {"codes": [FIRST, far]}),
        "merge-one": ("merge", {"codes": [FIRST]}),
        "reshape-bow": ("reshape", {"code": FIRST, "polygon": bow}),
        "move-far": ("move", {"to": far, "building_ids": mine[:1]}),
        "move-unknown": ("move", {"to": near[0], "building_ids": [999999999]}),
        "move-lasso-out": ("move", {"to": near[0], "lasso": _lasso_outside(store)}),
        "rename-empty": ("rename", {"code": FIRST, "name": " "}),
        "split-extra": ("split", {"code": FIRST, "cut": vertical(g), "colour": "red"}),
    }[edit]
    r = post(client, planner, pid, route, body, 1)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field, r.json()
    with store.connect() as conn:
        assert snapshot(conn, pid) == before


def test_a_plan_of_another_scope_is_not_found(
    client: TestClient, planner: Headers, outsider: Headers, store: Engine
) -> None:
    p = new_plan(client, planner, COMMUNITY)
    assert client.get(f"/plans/{p['id']}", headers=outsider).status_code == 404
    g = grid(client, planner, p["id"], FIRST)
    r = post(client, outsider, p["id"], "split", {"code": FIRST, "cut": vertical(g)}, 1)
    assert r.status_code == 404, r.text
    assert p["id"] not in {x["id"] for x in client.get("/plans", headers=outsider).json()["plans"]}
    r = client.post("/plans", json={"parent": COMMUNITY, "name": "x"}, headers=outsider)
    assert r.status_code == 400 and r.json()["field"] == "parent"
    r = client.post("/plans", json={"parent": STREET, "name": "x"}, headers=outsider)
    assert r.status_code == 403 and r.json()["field"] == "parent"
    own = client.post("/plans", json={"parent": OTHER, "name": "mine"}, headers=outsider)
    assert own.status_code == 201, own.text


def test_other_roles_may_not_create(client: TestClient, store: Engine) -> None:
    worker = bearer_header(client, username_of(store, "grid_worker"))
    r = client.post("/plans", json={"parent": STREET, "name": "x"}, headers=worker)
    assert r.status_code == 403 and r.json()["field"] == "role"
    assert client.get("/plans", headers=worker).status_code == 403
    assert client.post("/plans", json={"parent": STREET, "name": "x"}).status_code == 401


def test_a_stale_plan_is_409(client: TestClient, planner: Headers, store: Engine) -> None:
    p = new_plan(client, planner, OTHER)
    code = f"{OTHER}002"
    with store.begin() as conn:  # as a publish would: a new version of one of its grids
        conn.execute(
            text("UPDATE areas SET valid_to = now() WHERE code = :c AND valid_to IS NULL"),
            {"c": code},
        )
        conn.execute(
            text(
                "INSERT INTO areas (code, name, level, parent_id, geom, valid_from)"
                " SELECT code, name, level, parent_id, geom, now() FROM areas"
                " WHERE code = :c AND valid_to = now()"
            ),
            {"c": code},
        )
    r = client.get(f"/plans/{p['id']}", headers=planner)
    assert r.json()["plan"]["stale"] is True
    r = post(client, planner, p["id"], "rename", {"code": code, "name": "late"}, 1)
    assert r.status_code == 409, r.text
    assert "newer boundary version" in r.json()["reason"]


def test_discard(client: TestClient, planner: Headers) -> None:
    p = new_plan(client, planner, COMMUNITY)
    r = client.delete(f"/plans/{p['id']}", headers={**planner, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "discarded" and r.headers["ETag"] == '"2"'
    r = post(client, planner, p["id"], "rename", {"code": FIRST, "name": "x"}, 2)
    assert r.status_code == 409


def test_autosplit(client: TestClient, planner: Headers, store: Engine) -> None:
    p = new_plan(client, planner, COMMUNITY)
    code = f"{COMMUNITY}007"
    r = post(client, planner, p["id"], "autosplit", {"code": code}, 1)
    assert r.status_code == 200, r.text
    assert r.json()["changed"][0] == code and len(r.json()["changed"]) == 2
    assert r.headers["ETag"] == '"2"'
    r = post(client, planner, p["id"], "autosplit", {"code": "nope"}, 2)
    assert r.status_code == 400 and r.json()["field"] == "code"
    with store.connect() as conn:
        assert_tiles(conn, p["id"])
