"""The Hotspots panel in headless Chromium over the tiny city: run Gi* on hexagons, see the
hot spots coloured on the map, click one for its z, p, class and weekly series; emerging
categories in the legend; the period comparison's table. Screenshots at desktop and phone
width land in ``tests/artifacts/`` for a human to look at.

The tiny city has 23 grids (a statistic needs 30 units), so the panel runs on hexagons; the
panel's answer to a grid run is the library's 400, shown in the panel.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import shapely

from tests.browser.test_webmap import ARTIFACTS, Page

pytestmark = pytest.mark.browser

DB = "hotspots_browser_scratch"
PHONE = {"width": 390, "height": 844}
GI_HOT_99 = (0xD6, 0x2F, 0x27)


@pytest.fixture()
def page(browser: Any, server: str) -> Iterator[Page]:
    p = Page(browser, server)
    try:
        yield p
        assert p.errors == [], p.errors
        assert "tile errors" not in p.page.text_content("#status")
        origin = urlsplit(server).netloc
        foreign = [
            r.url
            for r in p.requests
            if not r.url.startswith(("data:", "blob:")) and urlsplit(r.url).netloc != origin
        ]
        assert foreign == [], foreign
    finally:
        p.context.close()


def run_panel(p: Page, method: str = "gistar", level: str = "hex", cell_m: str = "200") -> None:
    p.page.select_option("#hs-method", method)
    p.page.select_option("#hs-level", level)
    if level == "hex":
        p.page.fill("#hs-cell", cell_m)
    p.page.click("#hs-run")
    p.page.wait_for_selector("[data-hs-summary], [data-hs-error]")


def hottest(server: str) -> tuple[dict[str, Any], float, float]:
    """The anonymous Gi* answer's hot spot with the most incidents, and a point inside it."""
    doc = httpx.get(
        f"{server}/analysis/hotspots",
        params={"method": "gistar", "level": "hex", "cell_m": "200"},
        timeout=120,
    ).json()
    hot = [f for f in doc["features"] if f["properties"]["class"] == "hot_99"]
    assert hot, doc["summary"]
    best = max(hot, key=lambda f: f["properties"]["count"])
    pt = shapely.geometry.shape(best["geometry"]).point_on_surface()
    return best, pt.x, pt.y


def red_pixels(p: Page) -> int:
    """Pixels of the map near the 99 % hot colour (drawn at 0.8 opacity over the background)."""
    from PIL import Image

    img = Image.open(io.BytesIO(p.page.locator("#map").screenshot())).convert("RGB")
    r0, g0, b0 = GI_HOT_99
    bg = (0xEE, 0xF0, 0xEC)
    want = tuple(round(0.8 * c + 0.2 * b) for c, b in zip((r0, g0, b0), bg, strict=True))
    return sum(
        n
        for n, (r, g, b) in img.getcolors(img.width * img.height) or []
        if abs(r - want[0]) < 24 and abs(g - want[1]) < 24 and abs(b - want[2]) < 24
    )


def test_gistar_colours_the_hot_spots_and_a_click_shows_z_p_and_the_series(
    page: Page, server: str
) -> None:
    best, lon, lat = hottest(server)
    page.open()
    # points off, so that a click lands on the hot spot; the heatmap off, to see the colours
    for layer in ("incidents", "units", "heat"):
        page.page.uncheck(f'[data-layer="{layer}"]')
    # grids first: the tiny city is too small, and the panel says why
    run_panel(page, level="grid")
    error = page.page.text_content("[data-hs-error]")
    assert "level" in error and "at least 30" in error
    run_panel(page)
    summary = page.page.locator("[data-hs-summary]")
    assert summary.get_attribute("data-method") == "gistar"
    assert "Hot spot 99%" in summary.inner_text()
    page.jump(lon, lat, 14)
    rendered = page.rendered("hotspots-fill")
    classes = {f["props"]["class"] for f in rendered}
    assert "hot_99" in classes and "not_significant" in classes
    assert best["id"] in {f["id"] for f in rendered}
    assert red_pixels(page) > 500, "the 99 % hot spots are drawn in #d62f27"
    legend = page.page.text_content("[data-legend=hotspots]")
    assert "Hot spot 99%" in legend and "Cold spot 90%" in legend and "Not significant" in legend

    page.click_lonlat(lon, lat)
    pop = page.page.wait_for_selector(".pop[data-kind=hotspot]")
    assert pop.get_attribute("data-unit-id") == str(best["id"])
    assert pop.get_attribute("data-class") == "hot_99"
    text = pop.inner_text()
    assert "z (Gi*)" in text and f"{best['properties']['z']:.3f}" in text
    assert "p" in text and "Hot spot 99%" in text
    weeks = len(best["properties"]["counts"])
    assert page.page.get_attribute(".pop .spark", "data-series") == str(weeks)
    assert page.js("() => document.querySelector('.pop .spark polyline').points.length") == weeks

    # the popup stays where it was opened; the city around it for the screenshot
    page.js("() => window.__gisgridMap.jumpTo({zoom: 12.8})")
    page.idle()
    ARTIFACTS.mkdir(exist_ok=True)
    page.page.screenshot(path=str(ARTIFACTS / "hotspots.png"))


def test_emerging_categories_and_the_period_comparison(page: Page, server: str) -> None:
    page.open()
    page.page.uncheck('[data-layer="heat"]')
    run_panel(page, method="emerging", cell_m="250")
    summary = page.page.text_content("[data-hs-summary]")
    assert "Emerging" in summary and "hot spot" in summary
    legend = page.page.text_content("[data-legend=hotspots]")
    assert "No pattern" in legend and "hot spot 热点" in legend

    page.page.click("#cmp-run")
    table = page.page.wait_for_selector("[data-compare]")
    assert table.get_attribute("data-month") == "2026-10"
    rows = page.js("() => document.querySelectorAll('[data-compare] tbody tr').length")
    assert rows == 10
    assert "同比" in table.inner_text()  # October 2025 has no data: said, not zero


def test_the_panel_at_phone_width(browser: Any, server: str) -> None:
    _, lon, lat = hottest(server)
    p = Page(browser, server)
    p.context.close()
    p.context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2)
    p.page = p.context.new_page()
    p.page.on("pageerror", lambda e: p.errors.append(str(e)))
    try:
        p.open()
        p.page.uncheck('[data-layer="heat"]')
        run_panel(p)
        p.jump(lon, lat, 12.5)
        assert {f["props"]["class"] for f in p.rendered("hotspots-fill")} >= {"hot_99"}
        p.page.locator("#hotspots-panel").scroll_into_view_if_needed()
        p.page.screenshot(path=str(ARTIFACTS / "hotspots_phone.png"))
        assert p.errors == []
    finally:
        p.context.close()
