"""The planner mode of the web map in headless Chromium over the tiny city.

The panel is for signed-in planners and admins; turning the mode on loads the vendored
terra-draw (through the page's import map) and hides the heat and fill layers that would hide
the draft's colours. Nothing leaves the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine

from gisgrid.settings import Settings
from tests.browser.test_webmap import Page
from tests.city_support import PASSWORD, username_of

pytestmark = pytest.mark.browser

DB = "planner_browser_scratch"
SHOTS = Path("/work/tools/shots")
PHONE = {"width": 375, "height": 812}


@pytest.fixture()
def page(browser: Any, server: str) -> Iterator[Page]:
    p = Page(browser, server)
    try:
        yield p
        assert p.errors == [], p.errors
        origin = urlsplit(server).netloc
        foreign = [
            r.url
            for r in p.requests
            if not r.url.startswith(("data:", "blob:")) and urlsplit(r.url).netloc != origin
        ]
        assert foreign == [], foreign
    finally:
        p.context.close()


def sign_in(p: Page, engine: Engine, role: str) -> str:
    user = username_of(engine, role)
    p.sign_in(user, PASSWORD)
    p.page.wait_for_selector("#whoami:not([hidden])")
    return user


def test_the_planner_panel_is_for_planners_and_admins(
    page: Page, city: tuple[Engine, Settings]
) -> None:
    engine = city[0]
    page.open()
    assert page.page.is_hidden("#planner-panel")
    sign_in(page, engine, "grid_worker")
    assert page.page.is_hidden("#planner-panel")
    page.page.click("#signout")
    sign_in(page, engine, "planner")
    page.page.wait_for_selector("#planner-panel:not([hidden])")
    page.page.click("#signout")
    page.page.wait_for_selector("#planner-panel", state="hidden")
    sign_in(page, engine, "admin")
    page.page.wait_for_selector("#planner-panel:not([hidden])")


def test_plan_mode_loads_the_vendored_terra_draw(page: Page, city: tuple[Engine, Settings]) -> None:
    page.open()
    sign_in(page, city[0], "planner")
    assert page.page.is_checked('[data-layer="heat"]')
    page.page.click("#pl-toggle")
    page.page.wait_for_function("window.__gisgridPlanner.drawReady === true")
    assert page.page.get_attribute("#pl-toggle", "aria-pressed") == "true"
    assert page.page.is_visible("#pl-body")
    # the heat would hide the draft's colours: off while planning, back on after
    assert not page.page.is_checked('[data-layer="heat"]')
    loaded = {urlsplit(r.url).path for r in page.requests}
    assert "/static/vendor/terra-draw/terra-draw.modern.js" in loaded
    assert (
        "/static/vendor/terra-draw-maplibre-gl-adapter/terra-draw-maplibre-gl-adapter.modern.js"
        in loaded
    )
    # terra-draw's own layers are on the map
    layers = page.js("() => window.__gisgridMap.getStyle().layers.map((l) => l.id)")
    assert any(layer.startswith("td-") for layer in layers), layers
    page.page.click("#pl-toggle")
    assert page.page.is_hidden("#pl-body")
    assert page.page.is_checked('[data-layer="heat"]')
