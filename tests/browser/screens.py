"""The browser tests' hands on the screens: a console tab (:class:`Screen`) and the field
app's sign-in, tap and category search, shared by test_loop and test_field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from sqlalchemy import Engine, text

from tests.city_support import PASSWORD

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
# no queue request on its way and no swap under way (htmx marks the form and the target)
QUEUE_SETTLED = """() => !document.querySelector('#filters.htmx-request')
  && !document.querySelector('#queue-body.htmx-swapping, #queue-body.htmx-settling')"""
MAP_IDLE = """async () => {
  const m = window.__fieldMap;
  for (let round = 0; round < 20; round++) {
    await new Promise((resolve) => { m.once('idle', resolve); m.triggerRepaint(); });
    if (m.loaded()) return true;
  }
  return false;
}"""


class Screen:
    """One browser context (its own sessionStorage) on the console, every request recorded."""

    def __init__(self, browser: Any, server: str, viewport: dict[str, int], shots: Path) -> None:
        self.server = server
        self.shots = shots
        self.context = browser.new_context(viewport=viewport, locale="zh-CN")
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def sign_in(self, username: str) -> None:
        self.page.goto(f"{self.server}/console")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.keyboard.press("Enter")  # by keyboard
        self.page.wait_for_selector("#whoami:not([hidden])")

    def filter_grid(self, grid_id: int) -> None:
        """Filter the queue to one grid and wait for that answer (not the sign-in's own load or
        a poll of the unfiltered queue, which may still be on its way)."""
        if self.page.input_value("#filters input[name=grid]") == "":
            filtered = f"grid={grid_id}"
            with self.page.expect_response(
                lambda r: "/console/queue" in r.url and filtered in r.url
            ):
                self.page.fill("#filters input[name=grid]", str(grid_id))
                self.page.press("#filters input[name=grid]", "Enter")
            self.page.wait_for_function(QUEUE_SETTLED)

    def open_case(self, case_id: int, grid_id: int | None = None) -> None:
        """Find the case in the queue (filtered to its grid, page by page) and open it."""
        if grid_id is not None:
            self.filter_grid(grid_id)
        row = f'#queue-body tr[data-id="{case_id}"] button.open'
        self.page.wait_for_selector("#queue-body table, #queue-body [data-empty]")
        more = "#queue-body button[data-cursor]:not([data-cursor=''])"
        for _ in range(50):
            if self.page.query_selector(row) is not None:
                break
            assert self.page.query_selector(more) is not None, f"case {case_id} is not in the queue"
            # the queue's poll may swap the page under the click: then look again
            try:
                with self.page.expect_response(lambda r: "/console/queue" in r.url, timeout=5000):
                    self.page.click(more, timeout=5000)
            except PlaywrightError:
                continue
            self.page.wait_for_function(QUEUE_SETTLED)
        with self.page.expect_response(lambda r: f"/console/cases/{case_id}" in r.url):
            self.page.click(row)
        self.page.wait_for_selector(f'#case article[data-id="{case_id}"]')

    def act(self, action: str, note: str | None = None, photo: bytes | None = None) -> None:
        form = f'#case form[data-action="{action}"]'
        if note is not None:
            self.page.fill(f"{form} input[name=note]", note)
        if photo is not None:
            files = {"name": "gate.png", "mimeType": "image/png", "buffer": photo}
            self.page.set_input_files(f"{form} input[name=photo]", files)
        self.page.click(f"{form} button[type=submit]")

    def status_is(self, status: str) -> None:
        self.page.wait_for_selector(f'#case article[data-status="{status}"]')

    def shot(self, name: str) -> None:
        self.page.wait_for_timeout(300)  # let the map draw its last frame
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def only_our_server(self) -> None:
        foreign = [u for u in self.requests if not u.startswith((self.server, "blob:", "data:"))]
        assert foreign == [], foreign
        assert self.errors == [], self.errors


def field_sign_in(page: Any, server: str, username: str) -> None:
    page.goto(f"{server}/field/")
    page.wait_for_function("window.__fieldReady === true")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#signin button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_function("window.__fieldMapReady === true")
    assert page.evaluate(MAP_IDLE)


def tap(page: Any, lon: float, lat: float) -> None:
    """A real tap on the map canvas where (lon, lat) is drawn."""
    page.evaluate(
        "([lon, lat]) => window.__fieldMap.jumpTo({center: [lon, lat], zoom: 15})", [lon, lat]
    )
    assert page.evaluate(MAP_IDLE)
    x, y = page.evaluate("(at) => ((p) => [p.x, p.y])(window.__fieldMap.project(at))", [lon, lat])
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


def pick_category(page: Any, store: Engine, code: str) -> None:
    """Type part of the category's Chinese name and choose it from the results."""
    with store.connect() as conn:
        name_zh = conn.execute(
            text("SELECT name_zh FROM incident_categories WHERE code = :c"), {"c": code}
        ).scalar_one()
    page.fill("#cat-search", name_zh[-2:])
    page.click(f"#cat-results button[data-code='{code}']")
    assert code in page.text_content("#cat-chosen")
