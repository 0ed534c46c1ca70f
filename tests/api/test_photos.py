"""Photos through the API: real PNG and JPEG, refused content and size, scope."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine

from gisgrid.access.auth import set_password
from gisgrid.errors import InvalidInput
from gisgrid.incidents.photos import find_photo, store_photo
from gisgrid.settings import Settings
from tests.city_support import PASSWORD
from tests.incidents.support import CATEGORY, Beat, beat

DB = "photos_scratch"
LIMIT = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def settings_overrides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {"data_dir": tmp_path_factory.mktemp("photos"), "max_photo_bytes": LIMIT}


def image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    b = beat(store)
    for u in (b.worker, b.street_centre, b.outsider):
        set_password(store, u, PASSWORD)
    return b


def auth(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def incident(client: TestClient, here: Beat) -> dict[str, object]:
    body = {"lon": here.lon, "lat": here.lat, "category": CATEGORY, "description": "bins"}
    r = client.post("/incidents", json=body, headers=auth(client, here.worker))
    assert r.status_code == 201, r.text
    out: dict[str, object] = r.json()
    return out


def upload(
    client: TestClient, who: dict[str, str], inc_id: object, name: str, data: bytes
) -> httpx.Response:
    return client.post(f"/incidents/{inc_id}/photos", files={"photo": (name, data)}, headers=who)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"], ids=["png", "jpeg", "webp"])
def test_round_trip(
    client: TestClient, here: Beat, incident: dict[str, object], app_settings: Settings, fmt: str
) -> None:
    data = image(fmt)
    sha = hashlib.sha256(data).hexdigest()
    worker = auth(client, here.worker)
    r = upload(client, worker, incident["id"], f"x.{fmt.lower()}", data)
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == sha and sha in r.json()["photos"]
    path = find_photo(app_settings, sha)
    ext = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}[fmt]
    assert path == app_settings.data_path / "photos" / sha[:2] / sha[2:4] / f"{sha}.{ext}"
    # idempotent: the same photo again is stored and listed once
    r = upload(client, worker, incident["id"], "again", data)
    assert r.json()["photos"].count(sha) == 1
    got = client.get(f"/photos/{sha}", headers=auth(client, here.street_centre))
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == f"image/{'jpeg' if ext == 'jpg' else ext}"
    Image.open(io.BytesIO(got.content)).verify()
    # a photo does not change the case
    inc = client.get(f"/incidents/{incident['id']}", headers=worker).json()
    assert inc["version"] == incident["version"]


def test_text_named_jpg_is_400_naming_photo(
    client: TestClient, here: Beat, incident: dict[str, object]
) -> None:
    r = upload(client, auth(client, here.worker), incident["id"], "cat.jpg", b"not a photo\n")
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "photo" and "text" in r.json()["reason"]


def test_forged_header_is_400(client: TestClient, here: Beat, incident: dict[str, object]) -> None:
    r = upload(client, auth(client, here.worker), incident["id"], "x.png", image("PNG")[:40])
    assert r.status_code == 400 and r.json()["field"] == "photo"


def test_too_large_is_413_before_it_is_read_and_400_naming_the_limit_just_over(
    client: TestClient, here: Beat, incident: dict[str, object]
) -> None:
    big = image("JPEG") + bytes(20 * 1024 * 1024)
    r = upload(client, auth(client, here.worker), incident["id"], "big.jpg", big)
    assert r.status_code == 413, r.text  # the body over the route's limit (tests/api/test_limits)
    just_over = image("JPEG") + bytes(LIMIT)
    r = upload(client, auth(client, here.worker), incident["id"], "big.jpg", just_over)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "photo" and str(LIMIT) in r.json()["reason"]


def test_default_limit_is_10_mb(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, _env_file=None)
    assert s.max_photo_bytes == 10 * 1024 * 1024
    with pytest.raises(InvalidInput, match="10485760"):
        store_photo(image("PNG") + bytes(11 * 1024 * 1024), s)


def test_out_of_scope_is_404(client: TestClient, here: Beat, incident: dict[str, object]) -> None:
    data = image("PNG")
    sha = hashlib.sha256(data).hexdigest()
    other = auth(client, here.outsider)
    assert upload(client, other, incident["id"], "x.png", data).status_code == 404
    assert client.get(f"/photos/{sha}", headers=other).status_code == 404
    assert client.get(f"/photos/{'0' * 64}", headers=auth(client, here.worker)).status_code == 404
    assert client.get("/photos/not-a-hash", headers=auth(client, here.worker)).status_code == 404
    assert client.get(f"/photos/{sha}").status_code == 401
