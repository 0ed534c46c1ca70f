"""The web map's server side: content negotiation at ``/``, ``/map/config.json``, the static
files and the vendored MapLibre matching its VENDOR.md. The page itself runs in
tests/browser/test_webmap.py."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, text

from api.app import create_app
from gisgrid.settings import Settings

DB = "webmap_api_scratch"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
STATIC = Path(__file__).resolve().parents[2] / "api" / "static"
VENDOR = STATIC / "vendor" / "maplibre-gl"


# ---------------------------------------------------------------- "/"


def test_a_browser_gets_the_map_page(client: TestClient) -> None:
    r = client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/static/map.js">' in r.text
    assert 'href="/?f=html"' in r.text and 'href="/docs"' in r.text


@pytest.mark.parametrize(
    ("url", "accept", "kind"),
    [
        ("/?f=html", BROWSER_ACCEPT, "ogc-html"),
        ("/?f=json", BROWSER_ACCEPT, "json"),
        ("/", "application/json", "json"),
        ("/", "*/*", "json"),
        ("/", None, "json"),
    ],
    ids=["f=html", "f=json-from-a-browser", "accept-json", "accept-any", "no-accept"],
)
def test_f_or_a_json_client_keeps_the_landing_page(
    client: TestClient, url: str, accept: str | None, kind: str
) -> None:
    headers = {"Accept": accept} if accept else {}
    r = client.get(url, headers=headers)
    assert r.status_code == 200
    if kind == "json":
        assert r.headers["content-type"].startswith("application/json")
        assert {link["rel"] for link in r.json()["links"]} >= {"service-desc", "data"}
    else:
        assert r.headers["content-type"].startswith("text/html")
        assert "<h2>Links</h2>" in r.text and "map.js" not in r.text


def test_a_bad_f_is_still_400(client: TestClient) -> None:
    r = client.get("/?f=png", headers={"Accept": BROWSER_ACCEPT})
    assert r.status_code == 400 and r.json()["field"] == "f"


# ---------------------------------------------------------------- /map/config.json


def test_config_starts_on_the_grids_and_lists_every_category(
    client: TestClient, store: Engine
) -> None:
    engine = store
    body = client.get("/map/config.json").json()
    with engine.connect() as conn:
        box = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT"
                " ST_Extent(geom) e FROM areas WHERE level = 'grid' AND valid_to IS NULL) s"
            )
        ).one()
        city_row = conn.execute(
            text("SELECT code, name FROM areas WHERE level = 'city' AND valid_to IS NULL")
        ).one()
        cats = conn.execute(text("SELECT code, parent_code FROM incident_categories")).all()
    assert body["city"]["bounds"] == pytest.approx(list(box))
    assert body["city"]["center"] == pytest.approx([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    assert (body["city"]["code"], body["city"]["name"]) == tuple(city_row)
    assert body["basemap"] is None
    groups = {g["code"]: {i["code"] for i in g["items"]} for g in body["categories"]}
    assert groups == {
        c.code: {i.code for i in cats if i.parent_code == c.code}
        for c in cats
        if c.parent_code is None
    }
    # the sensitive groups too, which Open311's public services.json leaves out
    assert {"03", "04"} <= groups.keys()
    assert all(g["name_zh"] and g["name_en"] for g in body["categories"])
    assert body["links"]["api"].endswith("/?f=html") and body["links"]["docs"].endswith("/docs")


def test_config_carries_the_basemap_setting(app_settings: Settings) -> None:
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    settings = app_settings.model_copy(update={"basemap_url": url, "basemap_attribution": "© X"})
    with TestClient(create_app(settings)) as c:
        assert c.get("/map/config.json").json()["basemap"] == {"tiles": url, "attribution": "© X"}


@pytest.mark.parametrize(
    "bad",
    ["tiles.example.org/{z}/{x}/{y}.png", "https://t.example.org/{z}/{x}.png", "https://t/a.png"],
    ids=["no-scheme", "no-y", "no-placeholders"],
)
def test_a_bad_basemap_url_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ValidationError, match="basemap_url"):
        Settings(basemap_url=bad, _env_file=None)


# ---------------------------------------------------------------- static files


def test_every_asset_the_page_names_is_served_from_here(client: TestClient) -> None:
    page = (STATIC / "index.html").read_text()
    script = (STATIC / "map.js").read_text()
    urls = re.findall(r"""(?:src|href)=["']([^"'#]+)["']""", page)
    urls += re.findall(r"""from\s+["']([^"']+)["']""", script)
    assets = [u for u in urls if u.startswith("/static/")]
    assert len(assets) >= 4, urls
    assert not [u for u in urls if u.startswith(("http://", "https://", "//"))]
    for url in assets:
        r = client.get(url)
        assert r.status_code == 200, url
        if url.endswith((".js", ".mjs")):
            # a module script or module worker with another type does not run
            assert r.headers["content-type"].startswith("text/javascript"), url
    worker = client.get("/static/vendor/maplibre-gl/maplibre-gl-worker.mjs")
    assert worker.status_code == 200 and worker.headers["content-type"].startswith(
        "text/javascript"
    )


@pytest.mark.parametrize(
    "folder", sorted(p.name for p in VENDOR.parent.iterdir() if p.is_dir()), ids=str
)
def test_each_vendored_package_matches_its_vendor_md(folder: str) -> None:
    """Every file of every vendored package is listed in its VENDOR.md with its size and
    sha256, and nothing else lies in the folder (scripts/vendor_npm.sh writes both)."""
    here = VENDOR.parent / folder
    doc = (here / "VENDOR.md").read_text()
    rows = re.findall(r"^\| (\S+) \| (\d+) \| `([0-9a-f]{64})` \|$", doc, flags=re.M)
    assert rows, folder
    assert {name for name, _, _ in rows} == {p.name for p in here.iterdir()} - {"VENDOR.md"}
    for name, size, sha in rows:
        data = (here / name).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (int(size), sha), name
    assert re.search(r"^- licence: \S+, full text in \S+$", doc, flags=re.M), folder
    assert f"scripts/vendor_npm.sh {folder}" in doc
    assert not list(here.glob("*.map"))


def test_the_vendored_maplibre_is_the_minified_es_module_build() -> None:
    doc = (VENDOR / "VENDOR.md").read_text()
    rows = re.findall(r"^\| (\S+) \| (\d+) \| `([0-9a-f]{64})` \|$", doc, flags=re.M)
    assert {name for name, _, _ in rows} == {
        "maplibre-gl.mjs",
        "maplibre-gl-worker.mjs",
        "maplibre-gl-shared.mjs",
        "maplibre-gl.css",
        "LICENSE.txt",
    }
    version = re.search(r"^# maplibre-gl (\S+)", doc, flags=re.M)
    assert version is not None
    assert f"v{version.group(1)}/LICENSE.txt" in (VENDOR / "maplibre-gl.mjs").read_text()[:400]
    assert "BSD" in doc and "Redistribution" in (VENDOR / "LICENSE.txt").read_text()
