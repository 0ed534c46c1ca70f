"""The closed loop of issue 13 through the screens, in headless Chromium, one test.

A grid worker on a 375 px phone reports a broken gate in /field with a photo; the street
centre, already signed in to /console, sees it appear in its queue by the page's own polling
(no click); it accepts and dispatches to the recommended unit; the unit signs in on a 375 px
screen, starts and feeds back with a photo; the centre closes. A second browser of the same
centre, still showing the case as it was before the dispatch, tries to reject it and sees who
changed it and its new state. The store is read after every step: status, version, the
events (who, from, to, unit) and the photos. Every request of every page goes to the server.
Screenshots (desktop and 375 px) land in /work/tools/shots when that folder's parent exists,
else in tests/artifacts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from gisgrid.access.auth import set_password
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from tests.browser.conftest import CHROMIUM
from tests.browser.screens import DESKTOP, PHONE, Screen, field_sign_in, pick_category, tap
from tests.city_support import PASSWORD
from tests.incidents.field_support import png
from tests.incidents.support import CATEGORY, Beat, beat

pytestmark = pytest.mark.browser
DB = "loop_browser_scratch"
SHOTS = (
    Path("/work/tools/shots")
    if Path("/work/tools").is_dir()
    else Path(__file__).resolve().parent.parent / "artifacts"
)
POLL_MS = 20_000  # the queue polls every 5 s; a new case shows within one or two polls

if not Path(CHROMIUM).exists():
    if os.environ.get("GISGRID_REQUIRE_BROWSER"):
        raise RuntimeError(f"{CHROMIUM} is missing; run scripts/sysdeps.sh --browser as root")
    pytest.skip("Chromium is not installed (scripts/sysdeps.sh --browser)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def city(
    cluster: Cluster, store: Engine, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Engine, Settings]:
    """As conftest's, with a photo store of the module's own."""
    settings = Settings(
        database_url=cluster.url(dbname=store.url.database),
        secret_key="browser-key-" + "b" * 32,
        data_dir=tmp_path_factory.mktemp("loop-photos"),
        _env_file=None,
    )
    return store, settings


@pytest.fixture(scope="module")
def here(city: tuple[Engine, Settings]) -> Beat:
    store = city[0]
    b = beat(store)
    for u in (b.worker, b.street_centre):
        set_password(store, u, PASSWORD)
    return b


def case_state(store: Engine, case_id: int) -> dict[str, Any]:
    """The case as the store holds it: status, version, unit, photos and its events in order."""
    with store.connect() as conn:
        inc = conn.execute(
            text(
                "SELECT status, version, assigned_unit_id, cardinality(photos) AS photos,"
                " closed_at IS NOT NULL AS closed FROM incidents WHERE id = :i"
            ),
            {"i": case_id},
        ).one()
        events = conn.execute(
            text(
                "SELECT e.kind, e.from_status, e.to_status, a.username, e.unit_id, e.note"
                " FROM incident_events e LEFT JOIN accounts a ON a.id = e.actor_id"
                " WHERE e.incident_id = :i ORDER BY e.at, e.id"
            ),
            {"i": case_id},
        ).all()
    return {**inc._asdict(), "events": [tuple(e) for e in events]}


def test_the_loop_through_the_screens(
    browser: Any, server: str, city: tuple[Engine, Settings], here: Beat
) -> None:
    store = city[0]
    centre = Screen(browser, server, DESKTOP, SHOTS)
    centre.sign_in(here.street_centre)
    centre.page.wait_for_selector("#figures [data-figure=reported]")
    centre.filter_grid(here.grid_id)

    # the grid worker reports from the phone: a tap on the map, a category, a photo
    phone = browser.new_context(viewport=PHONE, locale="zh-CN")
    worker = phone.new_page()
    worker_errors: list[str] = []
    worker.on("pageerror", lambda e: worker_errors.append(str(e)))
    field_sign_in(worker, server, here.worker)
    tap(worker, here.lon, here.lat)
    worker.wait_for_function("document.querySelector('#grid').textContent.includes('网格 Grid')")
    pick_category(worker, store, CATEGORY)
    files = {"name": "gate.png", "mimeType": "image/png", "buffer": png((180, 40, 40))}
    worker.set_input_files("#photo", files)
    worker.fill("#description", "小区大门损坏 the gate is broken")
    worker.click("#send")
    worker.wait_for_selector("#dups:not([hidden]), #report-ok:not([hidden])")
    if worker.is_visible("#dups"):  # an open case of the category nearby: send ours as new
        worker.click("#send-new")
        worker.wait_for_selector("#report-ok:not([hidden])")
    sent = re.search(r"#(\d+)", worker.text_content("#report-ok") or "")
    assert sent is not None, worker.text_content("#report-ok")
    case_id = int(sent.group(1))
    SHOTS.mkdir(parents=True, exist_ok=True)
    worker.screenshot(path=str(SHOTS / "console-loop-field-sent.png"), full_page=True)
    assert worker_errors == [], worker_errors
    phone.close()
    s = case_state(store, case_id)
    assert (s["status"], s["version"], s["photos"]) == ("reported", 1, 1)
    assert s["events"] == [("transition", None, "reported", here.worker, None, None)]

    # the centre's queue shows it by itself (the page polls), and the centre takes it
    centre.page.wait_for_selector(f'#queue-body tr[data-id="{case_id}"]', timeout=POLL_MS)
    centre.open_case(case_id, here.grid_id)
    centre.page.wait_for_selector("#case img[data-photo][src^='blob:']")  # the worker's photo
    centre.act("accept")
    centre.status_is("accepted")
    holder = centre.page.inner_text("#case [data-holder]")
    assert "street centre" in holder, holder  # a new case ("grid") is the street centre's
    s = case_state(store, case_id)
    assert (s["status"], s["version"]) == ("accepted", 2)
    assert s["events"][-1][1:4] == ("reported", "accepted", here.street_centre)

    # a second screen of the same centre opens the case now, at its accepted version
    other = Screen(browser, server, DESKTOP, SHOTS)
    other.sign_in(here.street_centre)
    other.open_case(case_id, here.grid_id)

    recommended = centre.page.get_attribute(
        '#case form[data-action="dispatch"] select option[selected]', "value"
    )
    assert recommended is not None
    centre.page.wait_for_selector("#case .case-map canvas")
    centre.shot("console-case-desktop")
    centre.act("dispatch")
    centre.status_is("dispatched")
    assert centre.page.get_attribute("#case tr.recommended", "data-unit-id") == recommended
    s = case_state(store, case_id)
    assert (s["status"], s["version"], s["assigned_unit_id"]) == (
        "dispatched",
        3,
        int(recommended),
    )
    assert s["events"][-1][1:5] == ("accepted", "dispatched", here.street_centre, int(recommended))

    other.act("reject", note="a duplicate")
    other.page.wait_for_selector("#case .alert.stale")
    alert = other.page.inner_text("#case .alert.stale")
    assert "dispatched" in alert and "Changed by" in alert
    other.status_is("dispatched")
    other.shot("console-conflict")
    assert case_state(store, case_id) == s  # the stale reject wrote nothing

    with store.connect() as conn:
        unit_user, unit_code = conn.execute(
            text(
                "SELECT a.username, u.code FROM accounts a JOIN units u ON u.id = a.unit_id"
                " WHERE a.unit_id = :u ORDER BY a.id LIMIT 1"
            ),
            {"u": int(recommended)},
        ).one()
    # the case view names the unit's code, which the demo's unit accounts are named after
    assert unit_code in centre.page.inner_text("#case tr.recommended")
    set_password(store, unit_user, PASSWORD)
    unit = Screen(browser, server, PHONE, SHOTS)
    unit.sign_in(unit_user)
    unit.open_case(case_id, here.grid_id)
    unit.act("start")
    unit.status_is("in_progress")
    unit.act("feedback", note="gate repaired", photo=png((30, 160, 60)))
    unit.status_is("feedback")
    unit.page.wait_for_selector("#case img[data-photo][src^='blob:']")
    width = unit.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a 375 px screen"
    unit.shot("console-unit-375")
    s = case_state(store, case_id)
    assert (s["status"], s["version"], s["photos"]) == ("feedback", 5, 2)
    assert [e[2:4] for e in s["events"][-2:]] == [
        ("in_progress", unit_user),
        ("feedback", unit_user),
    ]
    assert s["events"][-1][5] == "gate repaired"

    centre.open_case(case_id, here.grid_id)  # the case as it is now, after the unit's feedback
    centre.act("close")
    centre.status_is("closed")
    assert centre.page.query_selector("#case .facts .left") is None  # no time left when closed
    s = case_state(store, case_id)
    assert (s["status"], s["version"], s["closed"]) == ("closed", 6, True)
    assert [(e[0], e[2], e[3]) for e in s["events"]] == [
        ("transition", "reported", here.worker),
        ("transition", "accepted", here.street_centre),
        ("transition", "dispatched", here.street_centre),
        ("transition", "in_progress", unit_user),
        ("transition", "feedback", unit_user),
        ("transition", "closed", here.street_centre),
    ]
    centre.page.click("#evaluation-pane button:has-text('By grid')")
    centre.page.wait_for_selector("#evaluation .eval-map canvas")
    centre.page.wait_for_function(
        "document.querySelector('#evaluation .eval-map').__map?.loaded() === true"
    )
    centre.shot("console-queue-desktop")
    for screen in (centre, other, unit):
        screen.only_our_server()
