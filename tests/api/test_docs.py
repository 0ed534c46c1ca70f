"""The API documentation renders with no internet: every asset comes from this server."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
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
