"""Links and the Host header (issue 14): ``Host: evil.example`` never reaches a link.

With GISGRID_PUBLIC_URL every absolute link is built from it; without it, a Host that is not
trusted (GISGRID_TRUSTED_HOSTS, the loopback names, GISGRID_HOST) is refused with 400.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gisgrid.settings import Settings

EVIL = {"Host": "evil.example"}
PUBLIC = "https://grid.example.org/gis"
LINKED = [
    "/tiles",
    "/tiles/grids.json",
    "/",
    "/collections",
    "/collections/units",
    "/collections/units/items?limit=2",
    "/collections/units/items/1",
    "/map/config.json",
]


def _hrefs(doc: Any) -> list[str]:
    """Every absolute link in the document (not the OGC's identifiers of CRSs and the like)."""
    if isinstance(doc, dict):
        return [h for v in doc.values() for h in _hrefs(v)]
    if isinstance(doc, list):
        return [h for v in doc for h in _hrefs(v)]
    if isinstance(doc, str) and doc.startswith("http") and "www.opengis.net" not in doc:
        return [doc]
    return []


@pytest.mark.parametrize("path", LINKED)
def test_an_untrusted_host_is_refused(client: TestClient, path: str) -> None:
    r = client.get(path, headers=EVIL)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "Host"
    assert "evil.example/" not in r.text


@pytest.mark.parametrize("path", LINKED)
def test_links_come_from_the_request_of_a_trusted_host(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"Host": "127.0.0.1:8000", "Accept": "application/json"})
    assert r.status_code == 200, r.text
    links = _hrefs(r.json())
    assert links, "the document has links"
    assert all(h.startswith("http://127.0.0.1:8000/") for h in links), links


@pytest.fixture(scope="module")
def public_client(app_settings: Settings) -> Iterator[TestClient]:
    settings = Settings(**{**app_settings.model_dump(), "public_url": PUBLIC + "/"})
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.mark.parametrize("path", LINKED)
def test_with_a_public_url_links_ignore_the_host(public_client: TestClient, path: str) -> None:
    r = public_client.get(path, headers={**EVIL, "Accept": "application/json"})
    assert r.status_code == 200, r.text
    assert "evil.example" not in r.text
    links = _hrefs(r.json())
    assert links and all(h.startswith(PUBLIC + "/") for h in links), links


def test_tilejson_tiles_and_ogc_self_under_the_public_url(public_client: TestClient) -> None:
    doc = public_client.get("/tiles/hex.json?status=reported", headers=EVIL).json()
    assert doc["tiles"][0].startswith(f"{PUBLIC}/tiles/hex/{{z}}/{{x}}/{{y}}.pbf?")
    items = public_client.get("/collections/units/items?limit=1", headers=EVIL).json()
    selves = [link["href"] for link in items["links"] if link["rel"] == "self"]
    assert selves == [f"{PUBLIC}/collections/units/items?limit=1"]


@pytest.mark.parametrize(
    ("patterns", "host", "ok"),
    [
        ("grid.example.org", "grid.example.org:443", True),
        ("*.example.org", "a.example.org", True),
        ("*.example.org", "example.org.evil.example", False),
        ("*", "anything.example", True),
    ],
)
def test_trusted_host_patterns(app_settings: Settings, patterns: str, host: str, ok: bool) -> None:
    settings = Settings(**{**app_settings.model_dump(), "trusted_hosts": patterns})
    with TestClient(create_app(settings)) as c:
        r = c.get("/tiles", headers={"Host": host})
    assert r.status_code == (200 if ok else 400), r.text


def test_a_public_url_must_be_an_http_url() -> None:
    with pytest.raises(ValueError, match="public_url"):
        Settings(public_url="grid.example.org", _env_file=None)
