"""The API docs render with no internet, and the response schemas are the library's own."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from gisgrid.access.auth import Caller, Token
from gisgrid.assign.locate import Location
from gisgrid.incidents.workflow import Incident
from gisgrid.query.nearest import UnitHit
from gisgrid.settings import Settings


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(settings: Settings, page: str) -> None:
    with TestClient(create_app(settings)) as client:
        html = client.get(page)
        assert html.status_code == 200
        urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
        urls += re.findall(r"""url:\\s*['"]([^'"]+)['"]""", html.text)
        assert urls, "the page names its assets"
        external = [u for u in urls if u.startswith(("http://", "https://", "//"))]
        assert external == []
        for url in urls:
            if url.endswith((".js", ".css", ".png")):
                assert client.get(url).status_code == 200, url
        spec = client.get("/openapi.json")
        assert spec.status_code == 200 and spec.json()["info"]["title"] == "gisgrid"


@pytest.mark.parametrize(
    ("method", "path", "cls", "computed"),
    [
        ("get", "/incidents/{incident_id}", Incident, {"overdue"}),
        ("get", "/me", Caller, set()),
        ("post", "/token", Token, set()),
        ("get", "/locate", Location, set()),
        ("get", "/units/nearest", UnitHit, set()),
        ("get", "/incidents/{incident_id}/units", UnitHit, set()),
    ],
    ids=["incident", "me", "token", "locate", "nearest-units", "suggested-units"],
)
def test_responses_are_the_library_dataclasses(
    method: str, path: str, cls: type, computed: set[str]
) -> None:
    """One shape per object: the API answers with the library's dataclass (every field, and
    the computed ones), not a copy of it that could drift."""
    spec = create_app(Settings(_env_file=None, secret_key="d" * 40)).openapi()
    schemas = spec["components"]["schemas"]
    response = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    schema = schemas[response["schema"]["$ref"].rsplit("/", 1)[-1]]
    if cls is UnitHit:  # inside a wrapper: {"units": [UnitHit, ...], ...}
        schema = schemas[schema["properties"]["units"]["items"]["$ref"].rsplit("/", 1)[-1]]
    assert schema["title"] == cls.__name__
    assert set(schema["properties"]) == {f.name for f in fields(cls)} | computed
