"""The console's API: GET /queue (order, filters, paging, ETag and 304, scope),
GET /queue/figures and GET /incidents/{id}/actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gisgrid.access.auth import set_password
from tests.city_support import PASSWORD
from tests.incidents.support import CATEGORY, Beat, beat

DB = "queue_api_scratch"
Headers = dict[str, str]
_tokens: dict[str, Headers] = {}


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    b = beat(store)
    for u in (b.worker, b.street_centre, b.district_centre, b.outsider):
        set_password(store, u, PASSWORD)
    return b


def auth(client: TestClient, username: str) -> Headers:
    if username not in _tokens:
        r = client.post("/token", data={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        _tokens[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return _tokens[username]


def report(client: TestClient, here: Beat) -> dict[str, Any]:
    body = {"lon": here.lon, "lat": here.lat, "category": CATEGORY}
    r = client.post("/incidents", json=body, headers=auth(client, here.worker))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def walk(client: TestClient, url: str, headers: Headers) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    nxt: str | None = url
    while nxt:
        r = client.get(nxt, headers=headers)
        assert r.status_code == 200, r.text
        rows += r.json()["incidents"]
        nxt = r.json()["next"]
    return rows


def key(row: dict[str, Any]) -> tuple[datetime, int]:
    due = row["due_at"] or "9999-12-31T00:00:00+00:00"
    return datetime.fromisoformat(due), row["id"]


def test_the_queue_is_ordered_paged_and_scoped(
    client: TestClient, here: Beat, store: Engine
) -> None:
    for _ in range(3):
        report(client, here)
    centre = auth(client, here.street_centre)
    rows = walk(client, "/queue?limit=4", centre)
    assert rows == sorted(rows, key=key)  # least time left first, ties by id
    assert len({r["id"] for r in rows}) == len(rows)
    with store.connect() as conn:
        want = conn.execute(
            text(
                "SELECT count(*) FROM incidents WHERE street_id = :s"
                " AND status NOT IN ('closed', 'rejected')"
            ),
            {"s": here.street_id},
        ).scalar()
    assert len(rows) == want and all(r["street_id"] == here.street_id for r in rows)
    assert all(r["status"] not in ("closed", "rejected") for r in rows)
    overdue = walk(client, "/queue?overdue=true", centre)
    assert all(r["overdue"] for r in overdue) and overdue == [r for r in rows if r["overdue"]]
    outsider = walk(client, "/queue", auth(client, here.outsider))
    assert not {r["id"] for r in outsider} & {r["id"] for r in rows if r["grid_id"] == here.grid_id}


def test_polling_with_the_etag_gets_304_until_something_changes(
    client: TestClient, here: Beat
) -> None:
    centre = auth(client, here.street_centre)
    first = client.get("/queue", headers=centre)
    tag = first.headers["ETag"]
    again = client.get("/queue", headers={**centre, "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == tag
    other = client.get("/queue?overdue=true", headers={**centre, "If-None-Match": tag})
    assert other.status_code == 200  # another filter is another answer
    case = report(client, here)
    moved = client.get("/queue", headers={**centre, "If-None-Match": tag})
    assert moved.status_code == 200 and moved.headers["ETag"] != tag
    assert case["id"] in [r["id"] for r in walk(client, "/queue?limit=1000", centre)]
    # another caller's tag never matches this caller's answer
    theirs = client.get("/queue", headers=auth(client, here.district_centre)).headers["ETag"]
    mine = client.get("/queue", headers={**centre, "If-None-Match": theirs})
    assert mine.status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=closed", "status"),
        ("category=nope", "category"),
        ("grid=nowhere", "grid"),
        ("cursor=abc", "cursor"),
        ("limit=0", "limit"),
    ],
    ids=["status", "category", "grid", "cursor", "limit"],
)
def test_bad_input_is_400_naming_the_field(
    client: TestClient, here: Beat, query: str, field: str
) -> None:
    r = client.get(f"/queue?{query}", headers=auth(client, here.street_centre))
    assert r.status_code in (400, 422), r.text
    assert field in r.text


def test_no_token_is_401(client: TestClient) -> None:
    assert client.get("/queue").status_code == 401
    assert client.get("/queue/figures").status_code == 401


def test_figures_and_actions(client: TestClient, here: Beat) -> None:
    centre = auth(client, here.street_centre)
    before = client.get("/queue/figures", headers=centre).json()
    case = report(client, here)
    after = client.get("/queue/figures", headers=centre).json()
    assert after["reported"] == before["reported"] + 1
    assert set(after) >= {"day", "reported", "closed", "overdue", "escalated", "on_time_rate"}
    r = client.get(f"/incidents/{case['id']}/actions", headers=centre)
    assert r.status_code == 200 and r.json()["actions"] == ["accept", "escalate", "reject"]
    assert r.headers["ETag"] == '"1"'
    worker = client.get(f"/incidents/{case['id']}/actions", headers=auth(client, here.worker))
    assert worker.json()["actions"] == []
    hidden = client.get(f"/incidents/{case['id']}/actions", headers=auth(client, here.outsider))
    assert hidden.status_code == 404
