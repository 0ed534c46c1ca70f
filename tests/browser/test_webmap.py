"""The web map in headless Chromium, against a real server over the tiny city.

Playwright drives Debian's ``/usr/bin/chromium`` (no browser download); WebGL comes from
SwiftShader. Every wait is on a condition (the map's ``idle`` event, a request, a selector),
never on a clock. The screenshot lands in ``tests/artifacts/`` for a human to look at.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine, text

from gisgrid.query.nearest import nearest_units
from gisgrid.settings import Settings
from tests.browser.conftest import CHROMIUM
from tests.city_support import PASSWORD, username_of

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
DB = "webmap_scratch"
VIEWPORT = {"width": 1280, "height": 800}
# Resolves on an 'idle' (every tile loaded, nothing moving) after which the map is still
# loaded: the page's own idle handler may restyle the choropleth, which lays tiles out anew.
IDLE = """async () => {
  const m = window.__gisgridMap;
  for (let round = 0; round < 20; round++) {
    await new Promise((resolve) => { m.once('idle', resolve); m.triggerRepaint(); });
    if (m.loaded() && m.areTilesLoaded()) return true;
  }
  return false;
}"""
RENDERED = """(layer) => window.__gisgridMap.queryRenderedFeatures({layers: [layer]})
  .map((f) => ({id: f.id, props: f.properties}))"""

if not Path(CHROMIUM).exists():
    # make test installs Chromium and sets GISGRID_REQUIRE_BROWSER: there a missing browser
    # is a failure, not a silent skip
    if os.environ.get("GISGRID_REQUIRE_BROWSER"):
        raise RuntimeError(f"{CHROMIUM} is missing; run scripts/sysdeps.sh --browser as root")
    pytest.skip("Chromium is not installed (scripts/sysdeps.sh --browser)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


# ---------------------------------------------------------------- fixtures


class Page:
    """A fresh browser context (its own sessionStorage) with every request recorded."""

    def __init__(self, browser: Any, server: str) -> None:
        self.server = server
        self.context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        self.page = self.context.new_page()
        self.requests: list[Any] = []
        self.errors: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self) -> None:
        self.page.goto(f"{self.server}/")
        self.page.wait_for_function("window.__gisgridReady === true")
        self.idle()

    def idle(self) -> None:
        assert self.page.evaluate(IDLE), "the map kept reloading tiles"

    def js(self, expr: str, arg: Any = None) -> Any:
        return self.page.evaluate(expr, arg)

    def rendered(self, layer: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self.js(RENDERED, layer)
        return out

    def jump(self, lon: float, lat: float, zoom: float) -> None:
        self.js(
            "([lon, lat, zoom]) => window.__gisgridMap.jumpTo({center: [lon, lat], zoom})",
            [lon, lat, zoom],
        )
        self.idle()

    def click_lonlat(self, lon: float, lat: float) -> None:
        """A real mouse click on the map canvas where (lon, lat) is drawn."""
        x, y = self.js(
            "(at) => ((p) => [p.x, p.y])(window.__gisgridMap.project(at))",
            [lon, lat],
        )
        box = self.page.locator("#map").bounding_box()
        self.page.mouse.click(box["x"] + x, box["y"] + y)

    def sign_in(self, username: str, password: str) -> None:
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("#signin button[type=submit]")

    def tile_requests(self, layer: str) -> list[Any]:
        return [r for r in self.requests if f"/tiles/{layer}/" in r.url]


@pytest.fixture()
def page(browser: Any, server: str) -> Iterator[Page]:
    p = Page(browser, server)
    try:
        yield p
        assert p.errors == [], p.errors
        # the page reports any tile that failed to load in its status line
        assert "tile errors" not in p.page.text_content("#status")
    finally:
        p.context.close()


# ---------------------------------------------------------------- helpers


def _grid_point(engine: Engine) -> tuple[str, float, float]:
    """A current grid and a point surely inside it (the largest grid, for an easy click)."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT code, ST_X(p), ST_Y(p) FROM (SELECT code, ST_PointOnSurface(geom) AS p,"
                " ST_Area(geom) AS a FROM areas WHERE level = 'grid' AND valid_to IS NULL) s"
                " ORDER BY a DESC, code LIMIT 1"
            )
        ).one()
    return str(row[0]), float(row[1]), float(row[2])


def _grid_codes_in(engine: Engine, bounds: list[float]) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT code FROM areas WHERE level = 'grid' AND valid_to IS NULL"
                " AND ST_Intersects(geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))"
            ),
            dict(zip("wsen", bounds, strict=True)),
        ).scalars()
        return {str(c) for c in rows}


def _bounds(p: Page, shrink: float = 0.0) -> list[float]:
    w, s, e, n = p.js("() => window.__gisgridMap.getBounds().toArray().flat()")
    dx, dy = (e - w) * shrink, (n - s) * shrink
    return [w + dx, s + dy, e - dx, n - dy]


def _map_pixels(p: Page) -> tuple[int, int]:
    """(distinct colours, pixels that are not the background) of the map area."""
    from PIL import Image

    png = p.page.locator("#map").screenshot()
    img = Image.open(io.BytesIO(png)).convert("RGB")
    background = (0xEE, 0xF0, 0xEC)
    counts = img.getcolors(maxcolors=img.width * img.height) or []
    behind = sum(n for n, colour in counts if colour == background)
    return len(counts), img.width * img.height - behind


# ---------------------------------------------------------------- tests


def test_the_page_loads_everything_from_this_server(page: Page, server: str) -> None:
    page.open()
    urls = [r.url for r in page.requests]
    origin = urlsplit(server)
    foreign = [
        u
        for u in urls
        if not u.startswith(("data:", f"blob:{server}/"))
        and (urlsplit(u).scheme, urlsplit(u).netloc) != (origin.scheme, origin.netloc)
    ]
    assert foreign == [], foreign
    paths = {urlsplit(u).path for u in urls}
    # the vendored MapLibre, its worker, the tile catalogue and some vector tiles
    assert "/static/vendor/maplibre-gl/maplibre-gl.mjs" in paths
    assert "/static/vendor/maplibre-gl/maplibre-gl-worker.mjs" in paths
    assert {"/map/config.json", "/tiles", "/tiles/districts.json"} <= paths
    assert any(p.endswith(".pbf") for p in paths)
    # the page links to the API's own landing page and its docs
    hrefs = page.js("() => [...document.querySelectorAll('nav a')].map((a) => a.href)")
    assert [urlsplit(h).path + "?" + urlsplit(h).query for h in hrefs] == ["/?f=html", "/docs?"]


def test_the_map_renders_the_grids_in_view(page: Page, city: tuple[Engine, Settings]) -> None:
    engine, _ = city
    code, lon, lat = _grid_point(engine)
    page.open()
    # a whole-city start: district outlines, the city's name in the panel
    assert page.rendered("districts-line")
    assert "哈尔滨" in page.page.text_content("#city-name")
    page.jump(lon, lat, 13)
    assert page.js("() => window.__gisgridMap.loaded()")
    # the heatmap is the first look; the choropleth is a click away
    assert not page.rendered("grids-fill")
    page.page.check('[data-layer="choropleth"]')
    page.idle()
    rendered = {f["props"]["code"] for f in page.rendered("grids-fill")}
    assert code in rendered
    # no grid drawn that the store does not have there; every grid well inside the view drawn
    assert rendered <= _grid_codes_in(engine, _bounds(page, shrink=-0.05))
    assert _grid_codes_in(engine, _bounds(page, shrink=0.1)) <= rendered
    # the legend follows the level on screen
    assert "Grid 网格" in page.page.text_content("[data-legend=choropleth]")

    # the whole city at the zoom where grids appear, for the screenshot
    with engine.connect() as conn:
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)::geometry) c"
                " FROM areas WHERE level = 'grid' AND valid_to IS NULL) s"
            )
        ).one()
    page.jump(lon, lat, 12.3)
    # the default view: grid outlines, the heatmap, incident clusters and units
    assert len({f["props"]["code"] for f in page.rendered("grids-line")}) > 1
    assert page.tile_requests("heat")
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / "webmap.png"))
    colours, drawn = _map_pixels(page)
    assert colours > 20 and drawn > VIEWPORT["width"] * VIEWPORT["height"] // 4, (colours, drawn)


def test_a_click_in_a_grid_shows_its_codes_and_the_nearest_units(
    page: Page, city: tuple[Engine, Settings]
) -> None:
    engine, _ = city
    code, lon, lat = _grid_point(engine)
    page.open()
    # points off, so the click lands on the grid and not on an incident or a unit
    page.page.uncheck('[data-layer="incidents"]')
    page.page.uncheck('[data-layer="units"]')
    page.jump(lon, lat, 14)
    page.click_lonlat(lon, lat)
    pop = page.page.wait_for_selector(".pop[data-kind=locate][data-grid-code]")
    assert pop.get_attribute("data-grid-code") == code
    assert code in pop.inner_text()
    page.page.wait_for_selector(".pop [data-nearest] li")
    shown = page.js("() => [...document.querySelectorAll('.pop [data-nearest] li')].length")
    with engine.connect() as conn:
        # the popup asks for the first category group, three units
        first = conn.execute(
            text("SELECT min(code) FROM incident_categories WHERE parent_code IS NULL")
        ).scalar_one()
        want = nearest_units(conn, lon, lat, first, k=3)
    assert shown == len(want) and want
    assert want[0].name in page.page.inner_text(".pop [data-nearest] li:first-child")


def test_a_filter_change_refetches_the_tiles_with_the_filter(
    page: Page, city: tuple[Engine, Settings]
) -> None:
    engine, _ = city
    _, lon, lat = _grid_point(engine)
    page.open()
    page.jump(lon, lat, 13)
    page.page.check('[data-layer="choropleth"]')
    page.idle()
    before = {f["id"]: f["props"]["incidents"] for f in page.rendered("grids-fill")}

    def filtered(category: str, name: str = "category", value: str | None = None) -> Any:
        """A grids tile request whose query has this category (and name=value)."""

        def check(r: Any) -> bool:
            parts = urlsplit(r.url)
            q = parse_qs(parts.query)
            return (
                parts.path.startswith("/tiles/grids/")
                and q.get("category") == [category]
                and q.get(name) == [value or category]
            )

        return check

    with page.page.expect_request(filtered("01")):
        page.page.select_option("#group", "01")
    page.idle()
    leaf = page.page.eval_on_selector("#category", "(s) => s.options[1].value")
    assert leaf.startswith("01")
    with page.page.expect_request(filtered(leaf)):
        page.page.select_option("#category", leaf)
    page.idle()
    after = {f["id"]: f["props"]["incidents"] for f in page.rendered("grids-fill")}
    assert after.keys() == before.keys()
    assert all(after[k] <= before[k] for k in after) and sum(after.values()) < sum(before.values())
    # layers without filters are not asked again with them
    assert not [r for r in page.tile_requests("units") if "category=" in r.url]

    # a date range: whole days in the city's zone, `to` included; the page sends the dates,
    # the server's TileJSON puts the instants it read them as into the tile URLs
    with page.page.expect_request(filtered(leaf, "from", "2026-03-01T00:00:00+08:00")):
        page.page.fill("#from", "2026-03-01")
    with page.page.expect_request(filtered(leaf, "to", "2026-03-31T23:59:59.999999+08:00")) as req:
        page.page.fill("#to", "2026-03-31")
    assert parse_qs(urlsplit(req.value.url).query)["from"] == ["2026-03-01T00:00:00+08:00"]
    page.idle()
    assert req.value.response().status in (200, 204)


def test_heat_and_hex_layers_load_with_their_legends(
    page: Page, city: tuple[Engine, Settings]
) -> None:
    engine, _ = city
    _, lon, lat = _grid_point(engine)
    page.open()
    page.page.uncheck('[data-layer="heat"]')
    page.jump(lon, lat, 13)
    assert not page.tile_requests("hex")
    with page.page.expect_request(lambda r: "/tiles/heat/" in r.url) as req:
        page.page.check('[data-layer="heat"]')
    page.idle()
    assert urlsplit(req.value.url).path.endswith(".png")
    statuses = {r.response().status for r in page.tile_requests("heat")}
    assert statuses <= {200, 204} and 200 in statuses
    heat = page.page.wait_for_selector("[data-legend=heat]").inner_text()
    assert "km²" in heat  # the unit from the heat TileJSON's own legend

    page.page.check('[data-layer="hex"]')
    page.idle()
    cells = page.rendered("hex-fill")
    assert cells and all(f["props"]["count"] >= 1 for f in cells)
    assert "Hexagons" in page.page.text_content("[data-legend=hex]")
    # the heat tiles follow the filters too
    with page.page.expect_request(lambda r: "/tiles/heat/" in r.url and "category=05" in r.url):
        page.page.select_option("#group", "05")
    page.idle()


def test_sign_in_shows_the_callers_own_incidents(page: Page, city: tuple[Engine, Settings]) -> None:
    engine, _ = city
    user = username_of(engine, "community")
    with engine.connect() as conn:
        scope = conn.execute(
            text("SELECT scope_area_id FROM accounts WHERE username = :u"), {"u": user}
        ).scalar_one()
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Collect(geom)) AS c"
                " FROM incidents WHERE community_id = :a) s"
            ),
            {"a": scope},
        ).one()
        in_scope = set(
            conn.execute(
                text("SELECT id FROM incidents WHERE community_id = :a"), {"a": scope}
            ).scalars()
        )
    page.open()
    page.jump(lon, lat, 14.5)
    # anonymous: clusters only, never one incident
    assert page.rendered("incident-points") == []
    assert page.rendered("incident-clusters")
    assert page.page.is_disabled('[data-layer="places"]')

    page.sign_in(user, "not the password")
    assert "错误" in page.page.wait_for_selector("#signin-error:not([hidden])").inner_text()

    with page.page.expect_request(
        lambda r: "/tiles/incidents/" in r.url and "authorization" in r.headers
    ) as req:
        page.sign_in(user, PASSWORD)
    assert req.value.headers["authorization"].startswith("Bearer ")
    assert user in page.page.wait_for_selector("#whoami:not([hidden])").inner_text()
    assert page.js("() => JSON.parse(sessionStorage.getItem('gisgrid.session')).token")
    page.idle()
    points = page.rendered("incident-points")
    assert points and {f["id"] for f in points} <= in_scope
    assert all(f["props"]["grid_code"] for f in points)
    assert page.page.is_enabled('[data-layer="places"]')

    # an incident's popup: its category, status, due time and grid
    one = points[0]
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_X(i.geom), ST_Y(i.geom), a.code FROM incidents i"
                " JOIN areas a ON a.id = i.grid_id WHERE i.id = :i"
            ),
            {"i": one["id"]},
        ).one()
    page.page.uncheck('[data-layer="units"]')
    page.click_lonlat(row[0], row[1])
    pop = page.page.wait_for_selector(".pop[data-kind=incident]")
    body = pop.inner_text()
    assert row[2] in body and "Due 期限" in body and "Status 状态" in body

    # a reload in the same tab keeps the session
    page.page.reload()
    page.page.wait_for_function("window.__gisgridReady === true")
    assert user in page.page.wait_for_selector("#whoami:not([hidden])").inner_text()

    # sign-out drops the token, and the tiles go back to the anonymous view
    page.page.click("#signout")
    page.page.wait_for_selector("#signin:not([hidden])")
    assert page.js("() => sessionStorage.getItem('gisgrid.session')") is None
    page.idle()
    assert page.rendered("incident-points") == []
    assert page.page.is_disabled('[data-layer="places"]')


def test_a_dead_token_from_before_is_dropped(page: Page) -> None:
    page.open()
    page.js(
        """() => sessionStorage.setItem('gisgrid.session', JSON.stringify({token: 'not-a-jwt',
        expiresAt: Date.now() + 3600e3, me: {username: 'ghost', role: 'admin', scope: {}}}))"""
    )
    page.page.reload()
    page.page.wait_for_function("window.__gisgridReady === true")
    page.idle()
    assert "过期" in page.page.wait_for_selector("#signin-error:not([hidden])").inner_text()
    assert page.page.is_hidden("#whoami")
    assert page.js("() => sessionStorage.getItem('gisgrid.session')") is None
    # no tile went out with the dead token
    tiles = [r for r in page.requests if "/tiles/" in r.url]
    assert tiles and not [r for r in tiles if "authorization" in r.headers]
