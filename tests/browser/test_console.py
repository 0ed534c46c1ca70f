"""The command-centre console in headless Chromium: the closed loop by clicking.

A street centre signs in, sees a case reported through the API in its queue, opens it, accepts
it and dispatches it to the recommended unit; the unit signs in on a 375 px screen, starts it
and feeds back with a photo; the centre closes it. A second browser still showing the case
before the dispatch tries to act and sees who changed it and its new state. Every request of
every page goes to the server. Screenshots (desktop and 375 px) land in /work/tools/shots
when that folder's parent exists, else in tests/artifacts.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import Engine, text

from gisgrid.access.auth import set_password
from gisgrid.settings import Settings
from tests.browser.conftest import CHROMIUM
from tests.city_support import PASSWORD
from tests.incidents.support import CATEGORY, Beat, beat

pytestmark = pytest.mark.browser
DB = "console_browser_scratch"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
SHOTS = (
    Path("/work/tools/shots")
    if Path("/work/tools").is_dir()
    else Path(__file__).resolve().parent.parent / "artifacts"
)

if not Path(CHROMIUM).exists():
    if os.environ.get("GISGRID_REQUIRE_BROWSER"):
        raise RuntimeError(f"{CHROMIUM} is missing; run scripts/sysdeps.sh --browser as root")
    pytest.skip("Chromium is not installed (scripts/sysdeps.sh --browser)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


class Screen:
    """One browser context (its own sessionStorage) on the console, every request recorded."""

    def __init__(self, browser: Any, server: str, viewport: dict[str, int]) -> None:
        self.server = server
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

    def open_case(self, case_id: int, grid_id: int | None = None) -> None:
        """Find the case in the queue (filtered to its grid, page by page) and open it."""
        if grid_id is not None and self.page.input_value("#filters input[name=grid]") == "":
            with self.page.expect_response(lambda r: "/console/queue" in r.url):
                self.page.fill("#filters input[name=grid]", str(grid_id))
                self.page.press("#filters input[name=grid]", "Enter")
        row = f'#queue-body tr[data-id="{case_id}"] button.open'
        self.page.wait_for_selector("#queue-body table, #queue-body [data-empty]")
        for _ in range(50):
            if self.page.query_selector(row) is not None:
                break
            more = self.page.query_selector("#queue-body button[data-cursor]:not([data-cursor=''])")
            assert more is not None, f"case {case_id} is not in the queue"
            with self.page.expect_response(lambda r: "/console/queue" in r.url):
                more.click()
            self.page.wait_for_timeout(100)
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
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)

    def only_our_server(self) -> None:
        foreign = [u for u in self.requests if not u.startswith((self.server, "blob:", "data:"))]
        assert foreign == [], foreign
        assert self.errors == [], self.errors


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 30)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def here(city: tuple[Engine, Settings]) -> Beat:
    store = city[0]
    b = beat(store)
    for u in (b.worker, b.street_centre):
        set_password(store, u, PASSWORD)
    return b


def test_the_loop_by_clicking(
    browser: Any, server: str, city: tuple[Engine, Settings], here: Beat
) -> None:
    store = city[0]
    with httpx.Client(base_url=server) as api:
        tok = api.post("/token", data={"username": here.worker, "password": PASSWORD}).json()
        r = api.post(
            "/incidents",
            json={"lon": here.lon, "lat": here.lat, "category": CATEGORY, "description": "gate"},
            headers={"Authorization": f"Bearer {tok['access_token']}"},
        )
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]

    centre = Screen(browser, server, DESKTOP)
    centre.sign_in(here.street_centre)
    centre.page.wait_for_selector("#figures [data-figure=reported]")
    centre.open_case(case_id, here.grid_id)
    centre.act("accept")
    centre.status_is("accepted")

    # a second screen of the same centre opens the case now, at its accepted version
    other = Screen(browser, server, DESKTOP)
    other.sign_in(here.street_centre)
    other.open_case(case_id, here.grid_id)

    recommended = centre.page.get_attribute(
        '#case form[data-action="dispatch"] select option[selected]', "value"
    )
    assert recommended is not None
    centre.page.wait_for_selector("#case .case-map canvas")
    centre.shot("case-desktop")
    centre.act("dispatch")
    centre.status_is("dispatched")
    assert centre.page.get_attribute("#case tr.recommended", "data-unit-id") == recommended

    other.act("reject", note="a duplicate")
    other.page.wait_for_selector("#case .alert.stale")
    alert = other.page.inner_text("#case .alert.stale")
    assert "dispatched" in alert and "Changed by" in alert
    other.status_is("dispatched")
    other.shot("conflict")

    with store.connect() as conn:
        unit_user = conn.execute(
            text("SELECT username FROM accounts WHERE unit_id = :u ORDER BY id LIMIT 1"),
            {"u": int(recommended)},
        ).scalar_one()
    set_password(store, unit_user, PASSWORD)
    unit = Screen(browser, server, PHONE)
    unit.sign_in(unit_user)
    unit.open_case(case_id, here.grid_id)
    unit.act("start")
    unit.status_is("in_progress")
    unit.act("feedback", note="gate repaired", photo=png())
    unit.status_is("feedback")
    unit.page.wait_for_selector("#case img[data-photo][src^='blob:']")
    width = unit.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a 375 px screen"
    unit.shot("unit-375")

    centre.open_case(case_id, here.grid_id)  # the case as it is now, after the unit's feedback
    centre.act("close")
    centre.status_is("closed")
    centre.page.click("#evaluation-pane button:has-text('By grid')")
    centre.page.wait_for_selector("#evaluation .eval-map canvas")
    centre.page.wait_for_function(
        "document.querySelector('#evaluation .eval-map').__map?.loaded() === true"
    )
    centre.shot("queue-desktop")
    for screen in (centre, other, unit):
        screen.only_our_server()
