"""The console's HTML: the public shell, and the fragments htmx fetches with a bearer token
(queue with ETag and 304, figures, case view, actions with If-Match and the stale-case message)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text

from gisgrid.access.auth import set_password
from tests.city_support import PASSWORD
from tests.incidents.support import CATEGORY, Beat, beat

DB = "console_pages_scratch"
Headers = dict[str, str]
_tokens: dict[str, Headers] = {}


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    b = beat(store)
    for u in (b.worker, b.street_centre, b.outsider):
        set_password(store, u, PASSWORD)
    with store.connect() as conn:
        for u in list(
            conn.execute(text("SELECT username FROM accounts WHERE role = 'unit'")).scalars()
        ):
            set_password(store, u, PASSWORD)
    return b


def auth(client: TestClient, username: str) -> Headers:
    if username not in _tokens:
        r = client.post("/token", data={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        _tokens[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return _tokens[username]


def report(client: TestClient, here: Beat) -> dict[str, Any]:
    body = {"lon": here.lon, "lat": here.lat, "category": CATEGORY, "description": "broken gate"}
    r = client.post("/incidents", json=body, headers=auth(client, here.worker))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def buttons(html: str) -> list[str]:
    return re.findall(r'data-action="(\w+)"', html)


def test_the_shell_is_public_and_loads_only_our_files(client: TestClient) -> None:
    r = client.get("/console")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert refs and all(ref.startswith("/") or ref.startswith("data:") for ref in refs), refs
    for ref in refs:
        if ref.startswith("/static/"):
            assert client.get(ref).status_code == 200, ref


def test_fragments_need_a_token(client: TestClient) -> None:
    for path in ("/console/queue", "/console/figures", "/console/cases/1"):
        assert client.get(path).status_code == 401, path


def test_queue_fragment_304_and_case_loop(client: TestClient, here: Beat, store: Engine) -> None:
    centre = auth(client, here.street_centre)
    case = report(client, here)
    rows = client.get("/console/queue?limit=1000", headers=centre)
    assert rows.status_code == 200 and f'data-id="{case["id"]}"' in rows.text
    again = client.get(
        "/console/queue?limit=1000", headers={**centre, "If-None-Match": rows.headers["ETag"]}
    )
    assert again.status_code == 304
    view = client.get(f"/console/cases/{case['id']}", headers=centre)
    assert view.status_code == 200 and "broken gate" in view.text
    assert buttons(view.text) == ["accept", "escalate", "reject"]
    assert "recommended" in view.text  # the nearest capable available unit is marked
    path = f"/console/cases/{case['id']}"
    done = client.post(f"{path}/accept", headers={**centre, "If-Match": '"1"'})
    assert done.status_code == 200 and buttons(done.text) == ["dispatch", "escalate", "reject"]
    # a second screen still at version 1 meets the conflict: who changed it, and the new state
    stale = client.post(
        f"{path}/reject", data={"note": "dup"}, headers={**centre, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert "Changed by someone else" in stale.text and "accepted" in stale.text
    with store.connect() as conn:
        name = conn.execute(
            text("SELECT COALESCE(display_name, username) FROM accounts WHERE username = :u"),
            {"u": here.street_centre},
        ).scalar()
    assert str(name) in stale.text
    sent = client.post(f"{path}/dispatch", headers={**centre, "If-Match": '"2"'})
    assert sent.status_code == 200 and 'data-status="dispatched"' in sent.text
    unit_id = client.get(f"/incidents/{case['id']}", headers=centre).json()["assigned_unit_id"]
    with store.connect() as conn:
        unit_user = conn.execute(
            text("SELECT username FROM accounts WHERE unit_id = :u ORDER BY id LIMIT 1"),
            {"u": unit_id},
        ).scalar_one()
    unit = auth(client, unit_user)
    assert f'data-id="{case["id"]}"' in client.get("/console/queue", headers=unit).text
    started = client.post(f"{path}/start", headers={**unit, "If-Match": '"3"'})
    assert buttons(started.text) == ["feedback"]
    # feedback without its note is refused, and the photo sent with it is not kept
    refused = client.post(
        f"{path}/feedback",
        files={"photo": ("gate.png", png(), "image/png")},
        headers={**unit, "If-Match": '"4"'},
    )
    assert refused.status_code == 400 and "note" in refused.text
    assert client.get(f"/incidents/{case['id']}", headers=unit).json()["status"] == "in_progress"
    with store.connect() as conn:
        kept = conn.execute(
            text("SELECT photos FROM incidents WHERE id = :i"), {"i": case["id"]}
        ).scalar()
    assert kept == []
    fed = client.post(
        f"{path}/feedback",
        data={"note": "gate fixed"},
        files={"photo": ("gate.png", png(), "image/png")},
        headers={**unit, "If-Match": '"4"'},
    )
    assert fed.status_code == 200 and "data-photo=" in fed.text and "gate fixed" in fed.text
    closed = client.post(f"{path}/close", headers={**centre, "If-Match": '"5"'})
    assert closed.status_code == 200 and 'data-status="closed"' in closed.text
    assert buttons(closed.text) == []
    figures = client.get("/console/figures", headers=centre)
    assert figures.status_code == 200 and 'data-figure="closed"' in figures.text


@pytest.mark.parametrize(
    ("query", "field"),
    [("category=nope", "category"), ("status=closed", "status"), ("cursor=zz", "cursor")],
    ids=["category", "status", "cursor"],
)
def test_a_bad_filter_shows_its_message_in_the_queue(
    client: TestClient, here: Beat, query: str, field: str
) -> None:
    r = client.get(f"/console/queue?{query}", headers=auth(client, here.street_centre))
    assert r.status_code == 400 and f'data-error="{field}"' in r.text
    ok = client.get("/console/queue?cursor=&grid=", headers=auth(client, here.street_centre))
    assert ok.status_code == 200  # the form's empty fields are no filter


def test_a_case_out_of_scope_is_404(client: TestClient, here: Beat) -> None:
    case = report(client, here)
    r = client.get(f"/console/cases/{case['id']}", headers=auth(client, here.outsider))
    assert r.status_code == 404


def test_evaluation_by_grid_unit_worker_and_the_choropleth(
    client: TestClient, here: Beat, store: Engine
) -> None:
    centre = auth(client, here.street_centre)
    report(client, here)
    for by in ("grid", "unit", "worker"):
        r = client.get(f"/console/evaluation?by={by}", headers=centre)
        assert r.status_code == 200, r.text
        assert ("eval-map" in r.text) == (by == "grid")
    workers = client.get("/stats/incidents?by=worker", headers=centre).json()["groups"]
    mine = [g for g in workers if g["code"] == here.worker]
    assert mine and mine[0]["reported"] >= 1
    fc = client.get("/console/evaluation/grids.geojson", headers=centre).json()
    assert fc["type"] == "FeatureCollection" and fc["features"]
    with store.connect() as conn:
        in_street = set(
            conn.execute(
                text(
                    "SELECT g.id FROM areas g JOIN areas c ON c.id = g.parent_id"
                    " WHERE c.parent_id = :s AND g.level = 'grid'"
                ),
                {"s": here.street_id},
            ).scalars()
        )
    assert {f["id"] for f in fc["features"]} <= in_street  # nothing outside the scope
    assert all("on_time_rate" in f["properties"] for f in fc["features"])
    assert client.get("/console/evaluation/grids.geojson").status_code == 401
