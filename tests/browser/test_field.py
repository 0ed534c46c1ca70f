"""The field app at phone size (375 px) in headless Chromium, against a real server over the
tiny city: a grid worker signs in, taps the map and sees the grid, finds a category by a
search in Chinese, attaches a photo, meets the duplicate warning for a case nearby and adds to
it, sends a new case from the device's position; then goes offline, reports, comes back
online, and the report is sent exactly once. Visits: a household's tags and a visit log.
Screenshots land in /work/tools/shots/field-*.png (or GISGRID_SHOTS) for a human to look at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import Engine, text

from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from tests.browser.conftest import CHROMIUM
from tests.browser.screens import PHONE, field_sign_in, pick_category, tap
from tests.city_support import PASSWORD
from tests.incidents.field_support import png
from tests.incidents.support import CATEGORY, Beat, beat

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    if os.environ.get("GISGRID_REQUIRE_BROWSER"):
        raise RuntimeError(f"{CHROMIUM} is missing; run scripts/sysdeps.sh --browser as root")
    pytest.skip("Chromium is not installed (scripts/sysdeps.sh --browser)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")

DB = "field_browser_scratch"
SHOTS = Path(os.environ.get("GISGRID_SHOTS", "/work/tools/shots"))


@pytest.fixture(scope="module")
def city(
    cluster: Cluster, store: Engine, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Engine, Settings]:
    """As conftest's, with a photo store of the module's own."""
    url = cluster.url(dbname=store.url.database)
    settings = Settings(
        database_url=url,
        secret_key="browser-key-" + "b" * 32,
        data_dir=tmp_path_factory.mktemp("field-photos"),
        _env_file=None,
    )
    return store, settings


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    return beat(store)


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "gate.png"
    path.write_bytes(png((180, 40, 40)))
    return path


@pytest.fixture()
def phone(browser: Any, server: str, here: Beat) -> Iterator[Any]:
    context = browser.new_context(
        viewport=PHONE,
        locale="zh-CN",
        geolocation={"longitude": here.lon, "latitude": here.lat, "accuracy": 5},
        permissions=["geolocation"],
        service_workers="allow",
    )
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    context.on("request", lambda r: requests.append(r.url))
    try:
        yield page
        assert errors == [], errors
        origin = urlsplit(server).netloc
        foreign = [
            u
            for u in requests
            if not u.startswith(("data:", "blob:")) and urlsplit(u).netloc != origin
        ]
        assert foreign == [], foreign
    finally:
        context.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"field-{name}.png"), full_page=True)


def count(store: Engine, sql: str, **params: Any) -> int:
    with store.connect() as conn:
        return int(conn.execute(text(sql), params).scalar_one())


def worker_id(store: Engine, username: str) -> int:
    return count(store, "SELECT id FROM accounts WHERE username = :u", u=username)


def existing_case(server: str, here: Beat) -> int:
    with httpx.Client(base_url=server) as c:
        tok = c.post("/token", data={"username": here.worker, "password": PASSWORD}).json()
        r = c.post(
            "/incidents",
            json={"lon": here.lon, "lat": here.lat, "category": CATEGORY, "description": "门坏了"},
            headers={"Authorization": f"Bearer {tok['access_token']}"},
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])


def test_report_duplicate_support_and_new_case(
    phone: Any, server: str, store: Engine, here: Beat, photo_file: Path
) -> None:
    page = phone
    case = existing_case(server, here)
    me = worker_id(store, here.worker)
    field_sign_in(page, server, here.worker)
    shot(page, "signed-in")

    tap(page, here.lon, here.lat)
    page.wait_for_function("document.querySelector('#grid').textContent.includes('网格 Grid')")
    with store.connect() as conn:
        grid_code = conn.execute(
            text("SELECT code FROM areas WHERE id = :g"), {"g": here.grid_id}
        ).scalar_one()
    grid_text = page.text_content("#grid")
    assert grid_code in grid_text and "outside" not in grid_text
    pick_category(page, store, CATEGORY)
    page.set_input_files("#photo", str(photo_file))
    page.fill("#description", "小区大门损坏")
    page.click("#send")
    page.wait_for_selector("#dups:not([hidden])")
    assert f"#{case}" in page.text_content("#dup-list")
    shot(page, "duplicate")

    page.click(f"#dup-list button[data-support='{case}']")
    page.wait_for_selector("#report-ok:not([hidden])")
    assert f"#{case}" in page.text_content("#report-ok")
    supports = "SELECT count(*) FROM incident_events WHERE incident_id = :i AND kind = 'support'"
    assert count(store, supports, i=case) == 1
    assert (
        count(
            store,
            "SELECT cardinality(photos) FROM incident_events"
            " WHERE incident_id = :i AND kind = 'support'",
            i=case,
        )
        == 1
    )

    # a new case from the device's position: the warning again, sent as new this time
    before = count(store, "SELECT count(*) FROM incidents WHERE reporter_id = :a", a=me)
    page.click("#locate-me")
    page.wait_for_function("document.querySelector('#point').textContent.includes('GPS')")
    page.wait_for_function("document.querySelector('#grid').textContent.includes('网格 Grid')")
    page.set_input_files("#photo", str(photo_file))
    page.fill("#description", "另一处垃圾")
    page.click("#send")
    page.wait_for_selector("#dups:not([hidden])")
    page.click("#send-new")
    page.wait_for_selector("#report-ok:not([hidden])")
    assert "已上报" in page.text_content("#report-ok")
    shot(page, "sent")
    assert count(store, "SELECT count(*) FROM incidents WHERE reporter_id = :a", a=me) == before + 1
    newest = (
        "SELECT cardinality(photos) FROM incidents WHERE reporter_id = :a ORDER BY id DESC LIMIT 1"
    )
    assert count(store, newest, a=me) == 1


def test_offline_report_is_sent_once_when_back_online(
    phone: Any, server: str, store: Engine, here: Beat, photo_file: Path
) -> None:
    page = phone
    me = worker_id(store, here.worker)
    field_sign_in(page, server, here.worker)
    page.wait_for_function("navigator.serviceWorker.controller !== null || true")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    tap(page, here.lon, here.lat)
    page.wait_for_function("document.querySelector('#grid').textContent.includes('网格 Grid')")
    pick_category(page, store, CATEGORY)
    before = count(store, "SELECT count(*) FROM incidents WHERE reporter_id = :a", a=me)

    page.context.set_offline(True)
    page.wait_for_function("navigator.onLine === false")
    page.set_input_files("#photo", str(photo_file))
    page.fill("#description", "离线上报 offline report")
    page.click("#send")
    page.wait_for_selector("#report-ok:not([hidden])")
    assert "联网后发送" in page.text_content("#report-ok")
    assert page.text_content("#queue-count") == "1"
    page.click("#tab-queue")
    shot(page, "offline-queue")
    assert count(store, "SELECT count(*) FROM incidents WHERE reporter_id = :a", a=me) == before

    page.context.set_offline(False)
    page.wait_for_function(
        "document.querySelector('#queue-count').textContent === '0'", timeout=30_000
    )
    assert count(store, "SELECT count(*) FROM incidents WHERE reporter_id = :a", a=me) == before + 1
    # the phone lost the answer (it crashed between the server's commit and dropping the
    # item): the same item, key and all, is sent again, and the server returns the first case
    with store.connect() as conn:
        key = conn.execute(
            text("SELECT idempotency_key FROM incidents WHERE reporter_id = :a ORDER BY id DESC"),
            {"a": me},
        ).first()[0]
    body = {"lon": here.lon, "lat": here.lat, "category": CATEGORY, "description": "resent"}
    page.evaluate(
        """async ([key, body]) => {
          const idb = await import('/static/vendor/idb-keyval/index.js');
          await idb.set('report:' + key,
            {key, body, queuedAt: Date.now(), error: null, photo: null});
        }""",
        [key, body],
    )
    page.click("#tab-queue")
    page.click("#flush")
    page.wait_for_function("document.querySelector('#queue-count').textContent === '0'")
    assert count(store, "SELECT count(*) FROM incidents WHERE reporter_id = :a", a=me) == before + 1
    # a reload resends nothing: the queue is empty and the key is spent
    page.reload()
    page.wait_for_function("window.__fieldReady === true")
    page.wait_for_timeout(500)
    assert count(store, "SELECT count(*) FROM incidents WHERE reporter_id = :a", a=me) == before + 1
    key_rows = (
        "SELECT count(*) FROM incidents WHERE reporter_id = :a AND description = :d"
        " AND idempotency_key IS NOT NULL"
    )
    assert count(store, key_rows, a=me, d="离线上报 offline report") == 1


def test_the_shell_opens_offline(phone: Any, server: str, here: Beat) -> None:
    page = phone
    field_sign_in(page, server, here.worker)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.context.set_offline(True)
    page.reload()
    page.wait_for_function("window.__fieldReady === true")
    assert page.is_visible("#app")
    assert "离线" in page.text_content("#net")


def test_visit_log_and_tags(phone: Any, server: str, store: Engine, here: Beat) -> None:
    page = phone
    field_sign_in(page, server, here.worker)
    page.click("#tab-visit")
    page.wait_for_function("document.querySelectorAll('#household option').length > 1")
    hh = page.eval_on_selector("#household", "(s) => s.options[1].value")
    page.select_option("#household", hh)
    page.wait_for_selector("#hh-detail:not([hidden])")
    page.check("#hh-tags input[value='elderly_only']")
    page.click("#hh-save")
    page.wait_for_selector("#visit-ok:not([hidden])")
    tags = "SELECT array_to_string(tags, ',') FROM households WHERE id = :h"
    with store.connect() as conn:
        assert conn.execute(text(tags), {"h": int(hh)}).scalar_one() == "elderly_only"
    page.select_option("#mood", "worried")
    page.fill("#visit-note", "老人独居,需要助餐")
    page.click("#visit button[type=submit]")
    page.wait_for_function("document.querySelector('#visit-ok').textContent.includes('走访')")
    shot(page, "visit")
    logs = "SELECT count(*) FROM visit_logs WHERE subject_id = :h AND note = :n"
    assert count(store, logs, h=int(hh), n="老人独居,需要助餐") == 1


def test_position_and_category_by_keyboard(
    phone: Any, server: str, store: Engine, here: Beat
) -> None:
    page = phone
    field_sign_in(page, server, here.worker)
    page.evaluate(
        "([lon, lat]) => window.__fieldMap.jumpTo({center: [lon, lat], zoom: 15})",
        [here.lon, here.lat],
    )
    page.focus(".maplibregl-canvas")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#grid').textContent.includes('网格 Grid')")
    with store.connect() as conn:
        name_zh = conn.execute(
            text("SELECT name_zh FROM incident_categories WHERE code = :c"), {"c": CATEGORY}
        ).scalar_one()
    page.focus("#cat-search")
    page.keyboard.type(name_zh)
    page.keyboard.press("Enter")
    assert CATEGORY in page.text_content("#cat-chosen")
