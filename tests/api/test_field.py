"""The field app's API: duplicates, photos by hash, idempotent and on-the-spot reports,
support, visit logs, households and tag edits with If-Match; 4xx naming the field."""

from __future__ import annotations

import io
import os
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text

from gisgrid.access.auth import set_password
from tests.city_support import PASSWORD
from tests.incidents.field_support import png
from tests.incidents.support import CATEGORY, Beat, beat

DB = "field_api_scratch"
Headers = dict[str, str]
PHOTO_LIMIT = 4096


@pytest.fixture(scope="module")
def settings_overrides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"data_dir": tmp_path_factory.mktemp("field"), "max_photo_bytes": PHOTO_LIMIT}


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    b = beat(store)
    for u in (b.worker, b.street_centre, b.outsider):
        set_password(store, u, PASSWORD)
    return b


def auth(client: TestClient, username: str) -> Headers:
    r = client.post("/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def me(client: TestClient, here: Beat) -> Headers:
    return auth(client, here.worker)


def photo(client: TestClient, who: Headers, colour: tuple[int, int, int] = (9, 9, 9)) -> str:
    r = client.post("/photos", files={"photo": ("p.png", png(colour), "image/png")}, headers=who)
    assert r.status_code == 201, r.text
    sha: str = r.json()["sha256"]
    return sha


def report(client: TestClient, who: Headers, here: Beat, **kw: Any) -> Any:
    headers = dict(who)
    if "key" in kw:
        headers["Idempotency-Key"] = kw.pop("key")
    body = {"lon": here.lon, "lat": here.lat, "category": CATEGORY, **kw}
    return client.post("/incidents", json=body, headers=headers)


def rows(store: Engine, sql: str, **params: Any) -> int:
    with store.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def test_a_resend_with_the_same_key_answers_200_with_the_first_case(
    client: TestClient, me: Headers, here: Beat, store: Engine
) -> None:
    key = str(uuid.uuid4())
    first = report(client, me, here, key=key, description="gate")
    again = report(client, me, here, key=key, description="gate")
    assert (first.status_code, again.status_code) == (201, 200), again.text
    assert again.json()["id"] == first.json()["id"]
    assert rows(store, "SELECT count(*) FROM incidents WHERE idempotency_key = :k", k=key) == 1
    # the field works as the header does
    body_key = report(client, me, here, idempotency_key=key)
    assert (body_key.status_code, body_key.json()["id"]) == (200, first.json()["id"])
    clash = report(client, me, here, key=key, idempotency_key=str(uuid.uuid4()))
    assert clash.status_code == 400 and clash.json()["field"] == "idempotency_key"


def test_photos_upload_and_refusals(client: TestClient, me: Headers) -> None:
    r = client.post("/photos", files={"photo": ("x.jpg", b"hello", "image/jpeg")}, headers=me)
    assert r.status_code == 400 and r.json()["field"] == "photo"
    assert client.post("/photos", files={"photo": ("p.png", png())}).status_code == 401
    assert len(photo(client, me)) == 64
    noise = io.BytesIO()
    Image.frombytes("RGB", (64, 64), os.urandom(64 * 64 * 3)).save(noise, "PNG")
    assert len(noise.getvalue()) > PHOTO_LIMIT
    r = client.post("/photos", files={"photo": ("big.png", noise.getvalue())}, headers=me)
    assert r.status_code == 400 and r.json()["field"] == "photo", r.text
    assert str(PHOTO_LIMIT) in r.json()["reason"]


def test_resolved_on_the_spot(client: TestClient, me: Headers, here: Beat, store: Engine) -> None:
    before = rows(store, "SELECT count(*) FROM incidents")
    r = report(client, me, here, resolved_on_spot=True)
    assert r.status_code == 400 and r.json()["field"] == "photos"
    r = report(client, me, here, resolved_on_spot=True, photos=["f" * 64])
    assert r.status_code == 400 and r.json()["field"] == "photos"
    assert rows(store, "SELECT count(*) FROM incidents") == before  # nothing half-written
    sha = photo(client, me, (1, 200, 1))
    r = report(client, me, here, resolved_on_spot=True, photos=[sha])
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["resolved_on_spot"]) == ("closed", True)
    evs = client.get(f"/incidents/{r.json()['id']}/events", headers=me).json()["events"]
    assert [(e["from_status"], e["to_status"]) for e in evs] == [
        (None, "reported"),
        ("reported", "closed"),
    ]
    assert client.get(f"/photos/{sha}", headers=me).status_code == 200
    centre = auth(client, here.street_centre)
    r = report(client, centre, here, resolved_on_spot=True, photos=[sha])
    assert r.status_code == 403


def test_duplicates_then_support(client: TestClient, me: Headers, here: Beat) -> None:
    inc = report(client, me, here, description="broken gate").json()
    r = client.get(
        "/incidents/duplicates",
        params={"lon": here.lon, "lat": here.lat, "category": CATEGORY},
        headers=me,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["radius_m"], body["days"]) == (50, 30)
    assert inc["id"] in [d["id"] for d in body["duplicates"]]
    sha = photo(client, me, (3, 3, 250))
    r = client.post(
        f"/incidents/{inc['id']}/support", json={"note": "me too", "photos": [sha]}, headers=me
    )
    assert r.status_code == 201, r.text
    assert r.json()["supporters"] == 1 and r.json()["incident"]["version"] == inc["version"]
    evs = client.get(f"/incidents/{inc['id']}/events", headers=me).json()["events"]
    assert evs[-1]["kind"] == "support" and evs[-1]["photos"] == [sha]
    outsider = auth(client, here.outsider)
    r = client.post(f"/incidents/{inc['id']}/support", json={"note": "x"}, headers=outsider)
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"radius_m": "600"}, "radius_m"),
        ({"days": "0"}, "days"),
        ({"lat": "abc"}, "lat"),
        ({"category": "zz"}, "category"),
    ],
    ids=["radius", "days", "lat", "category"],
)
def test_duplicates_bad_input(
    client: TestClient, me: Headers, here: Beat, params: dict[str, str], field: str
) -> None:
    q = {"lon": str(here.lon), "lat": str(here.lat), "category": CATEGORY, **params}
    r = client.get("/incidents/duplicates", params=q, headers=me)
    assert r.status_code == 400 and r.json()["field"] == field, r.text


def _household(store: Engine, grid_id: int, other: bool = False) -> int:
    op = "<>" if other else "="
    return rows(store, f"SELECT min(id) FROM households WHERE grid_id {op} :g", g=grid_id)


def test_visit_log(client: TestClient, me: Headers, here: Beat, store: Engine) -> None:
    h = _household(store, here.grid_id)
    body = {"household_id": h, "mood": "worried", "need_category": "0601", "note": "ramp"}
    r = client.post("/visit-logs", json=body, headers=me)
    assert r.status_code == 201, r.text
    assert r.json()["grid_id"] == here.grid_id
    r = client.post("/visit-logs", json={**body, "mood": "ecstatic"}, headers=me)
    assert r.status_code == 400 and r.json()["field"] == "mood"
    other = _household(store, here.grid_id, other=True)
    r = client.post("/visit-logs", json={**body, "household_id": other}, headers=me)
    assert r.status_code == 404


def test_households_and_tag_edits(
    client: TestClient, me: Headers, here: Beat, store: Engine
) -> None:
    r = client.get("/households", headers=me)
    assert r.status_code == 200, r.text
    homes = r.json()["households"]
    assert homes and {h["grid_id"] for h in homes} == {here.grid_id}
    h = homes[0]
    url = f"/households/{h['id']}"
    assert client.patch(url, json={"tags": ["rental"]}, headers=me).status_code == 428
    r = client.patch(
        url, json={"tags": ["rental"]}, headers={**me, "If-Match": f'"{h["version"]}"'}
    )
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == f'"{h["version"] + 1}"' and r.json()["tags"] == ["rental"]
    stale = client.patch(url, json={"tags": []}, headers={**me, "If-Match": f'"{h["version"]}"'})
    assert stale.status_code == 412
    bad = client.patch(
        url, json={"tags": ["castle"]}, headers={**me, "If-Match": r.headers["ETag"]}
    )
    assert bad.status_code == 400 and bad.json()["field"] == "tags"
    other = _household(store, here.grid_id, other=True)
    r = client.patch(f"/households/{other}", json={"tags": []}, headers={**me, "If-Match": '"1"'})
    assert r.status_code == 404
    resident = rows(store, "SELECT min(id) FROM residents WHERE grid_id = :g", g=here.grid_id)
    r = client.patch(
        f"/residents/{resident}",
        json={"tags": ["elderly_alone"]},
        headers={**me, "If-Match": '"1"'},
    )
    assert r.status_code == 200 and r.json()["version"] == 2, r.text
