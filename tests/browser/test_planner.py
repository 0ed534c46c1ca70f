"""The planner mode of the web map in headless Chromium over the tiny city.

The panel is for signed-in planners and admins; turning the mode on loads the vendored
terra-draw (through the page's import map). A planner picks a street on the map, creates a
plan, splits a grid by drawing a line (real mouse clicks at projected coordinates), merges two
grids by clicking them, moves a building by a lasso, renames a grid by keyboard, and meets a
412 after someone else's edit; the store's draft grids follow each step. Nothing leaves the
server. Screenshots (``planner-*.png``) land in ``tests/artifacts/`` or ``GISGRID_SHOTS_DIR``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import shapely
from sqlalchemy import Engine, text

from gisgrid.settings import Settings
from tests.browser.test_webmap import ARTIFACTS, Page
from tests.city_support import PASSWORD, username_of

pytestmark = pytest.mark.browser

DB = "planner_browser_scratch"
# screenshots for a human to look at: tests/artifacts/, or GISGRID_SHOTS_DIR
SHOTS = Path(os.environ.get("GISGRID_SHOTS_DIR") or ARTIFACTS)
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


# ---------------------------------------------------------------- a redraw end to end

STATE = "() => window.__gisgridPlanner.state()"
FIT = """([w, s, e, n]) => window.__gisgridMap.fitBounds([[w, s], [e, n]],
  {padding: {top: 60, bottom: 60, left: 60, right: 60}, duration: 0})"""


def _street(engine: Engine, untouched: bool = False) -> tuple[int, str, float, float]:
    """The street with the most grids (``untouched``: among those no plan has redrawn), and
    a point inside its largest grid."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "WITH x AS (SELECT s.id, s.code, g.geom, g.plan_id FROM areas s"
                " JOIN areas c ON c.parent_id = s.id AND c.valid_to IS NULL"
                " JOIN areas g ON g.parent_id = c.id AND g.valid_to IS NULL AND g.level = 'grid'"
                " WHERE s.level = 'street' AND s.valid_to IS NULL),"
                " pick AS (SELECT id FROM x GROUP BY id"
                " HAVING NOT (:untouched AND bool_or(plan_id IS NOT NULL))"
                " ORDER BY count(*) DESC, id LIMIT 1)"
                " SELECT x.id, x.code, ST_X(ST_PointOnSurface(x.geom)),"
                " ST_Y(ST_PointOnSurface(x.geom)) FROM x JOIN pick USING (id)"
                " ORDER BY ST_Area(x.geom) DESC LIMIT 1"
            ),
            {"untouched": untouched},
        ).one()
    return int(row[0]), str(row[1]), float(row[2]), float(row[3])


def _drafts(engine: Engine, plan_id: int) -> dict[str, Any]:
    """The plan's draft grids in the store: code -> (parent_id, geometry)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT code, parent_id, ST_AsGeoJSON(geom) FROM plan_areas WHERE plan_id = :p"),
            {"p": plan_id},
        ).all()
    return {r[0]: (r[1], shapely.from_geojson(r[2])) for r in rows}


def _neighbours(engine: Engine, plan_id: int, pieces: list[str]) -> tuple[str, str]:
    """Two draft grids of one community sharing an edge (the longest such edge), not both
    ``pieces`` of the split (merging those would only undo it)."""
    with engine.connect() as conn:
        a, b = conn.execute(
            text(
                "SELECT a.code, b.code FROM plan_areas a JOIN plan_areas b"
                " ON a.plan_id = b.plan_id AND a.code < b.code AND a.parent_id = b.parent_id"
                " WHERE a.plan_id = :p AND ST_Touches(a.geom, b.geom)"
                " AND NOT (a.code = ANY(:x) AND b.code = ANY(:x))"
                " ORDER BY ST_Length(ST_Intersection(a.geom, b.geom)::geography) DESC LIMIT 1"
            ),
            {"p": plan_id, "x": pieces},
        ).one()
    return str(a), str(b)


def settled(p: Page, version: int) -> None:
    """Wait until the plan is at ``version`` and the page has finished the edit."""
    p.page.wait_for_function(f"(({STATE})().plan.version === {version}) && !({STATE})().busy")


def _click(p: Page, lon: float, lat: float) -> None:
    p.click_lonlat(lon, lat)


def _lasso_case(engine: Engine, plan_id: int) -> tuple[int, str, str, Any, Any]:
    """A building of one draft grid near a neighbour of the same community, alone within
    20 m: its id, its grid, the neighbour, a lasso box round it, the neighbour's polygon."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "WITH d AS (SELECT a.code AS ac, b.code AS bc, a.geom AS ag, b.geom AS bg"
                " FROM plan_areas a JOIN plan_areas b ON a.plan_id = b.plan_id"
                " AND a.parent_id = b.parent_id AND a.code <> b.code"
                " WHERE a.plan_id = :p AND ST_Length(ST_Intersection(a.geom, b.geom)) > 0),"
                " c AS (SELECT bl.id, d.ac, d.bc, d.bg,"
                " ST_Expand(ST_Envelope(bl.geom), 0.0002) AS box FROM buildings bl"
                " JOIN d ON ST_Within(ST_Centroid(bl.geom), d.ag))"
                " SELECT id, ac, bc, ST_AsGeoJSON(box), ST_AsGeoJSON(bg) FROM c"
                " WHERE NOT EXISTS (SELECT 1 FROM buildings o WHERE o.id <> c.id"
                " AND ST_DWithin(ST_Centroid(o.geom)::geography, c.box::geography, 20))"
                " ORDER BY ST_Distance(c.box::geography, c.bg::geography), id LIMIT 1"
            ),
            {"p": plan_id},
        ).one()
    return (
        int(row[0]), str(row[1]), str(row[2]),
        shapely.from_geojson(row[3]), shapely.from_geojson(row[4]),
    )  # fmt: skip


# (before the redraw below, which publishes over the street's synthetic grids)
def test_a_lasso_moves_a_building_into_a_neighbour(
    page: Page, city: tuple[Engine, Settings]
) -> None:
    engine = city[0]
    street_id, _, lon, lat = _street(engine)
    page.open()
    sign_in(page, engine, "planner")
    token = page.js("() => JSON.parse(sessionStorage.getItem('gisgrid.session')).token")
    made = httpx.post(
        f"{page.server}/plans",
        json={"parent": street_id, "name": "lasso 圈选"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert made.status_code == 201, made.text
    plan_id = made.json()["id"]
    building, source, target, box, neighbour = _lasso_case(engine, plan_id)

    page.page.click("#pl-toggle")
    page.page.wait_for_function("window.__gisgridPlanner.drawReady === true")
    page.jump(lon, lat, 13)
    page.page.click("#pl-list")
    page.page.wait_for_selector(f"#pl-parent-list option[value='{street_id}']", state="attached")
    page.page.select_option("#pl-parent-list", str(street_id))
    page.page.click(f"#pl-plans button[data-plan-id='{plan_id}']")
    page.page.wait_for_selector("#pl-checks [data-checks-ok]")
    version = page.js(STATE)["plan"]["version"]

    # close in on the building and the neighbour beside it
    into = neighbour.intersection(box.buffer(0.002)).representative_point()
    page.js(FIT, list(shapely.union_all([box, into.buffer(0.0002)]).bounds))
    page.idle()
    page.page.click("#pl-tools [data-tool=move]")
    page.page.wait_for_function("window.__gisgridPlanner.drawing()")
    w, s, e, n = box.bounds
    for x, y in [(w, s), (e, s), (e, n), (w, n), (w, s)]:  # the first corner again closes it
        _click(page, x, y)
    page.page.wait_for_function(
        "document.querySelector('#pl-hint').textContent.includes('move into')"
    )
    _click(page, into.x, into.y)
    settled(page, version + 1)
    assert "move done" in page.page.text_content("#pl-msg")
    drafts = _drafts(engine, plan_id)
    with engine.connect() as conn:
        centre = shapely.from_geojson(
            conn.execute(
                text("SELECT ST_AsGeoJSON(ST_Centroid(geom)) FROM buildings WHERE id = :b"),
                {"b": building},
            ).scalar()
        )
    assert drafts[target][1].contains(centre), "the building now lies in the neighbour"
    assert not drafts[source][1].contains(centre)


def test_a_planner_redraws_a_street(page: Page, city: tuple[Engine, Settings]) -> None:
    engine = city[0]
    street_id, street_code, lon, lat = _street(engine)
    page.open()
    sign_in(page, engine, "planner")
    page.page.click("#pl-toggle")
    page.page.wait_for_function("window.__gisgridPlanner.drawReady === true")

    # the parent: a click on the map, then the street of the two the page offers
    page.page.click("#pl-pick")
    page.jump(lon, lat, 14)
    _click(page, lon, lat)
    page.page.click(f"#pl-choices button[data-level=street][data-parent-id='{street_id}']")
    page.page.wait_for_selector("#pl-plans-box:not([hidden])")
    page.page.fill("#pl-name", "browser redraw 浏览器调整")
    page.page.click("#pl-new button[type=submit]")
    page.page.wait_for_selector("#pl-plan-box:not([hidden])")
    state = page.js(STATE)
    plan_id = int(state["plan"]["id"])
    assert state["plan"]["parent"]["code"] == street_code
    before = _drafts(engine, plan_id)
    assert sorted(before) == sorted(state["codes"])
    page.page.wait_for_selector("#pl-checks [data-checks-ok]")
    grids_shown = page.js("() => document.querySelectorAll('#pl-stats button[data-code]').length")
    assert grids_shown == len(before)

    # split the grid under (lon, lat) by a line drawn across it, west to east
    code = page.js(
        "(at) => window.__gisgridMap.queryRenderedFeatures(window.__gisgridMap.project(at),"
        " {layers: ['plan-fill']})[0].properties.code",
        [lon, lat],
    )
    w, s, e, n = before[code][1].bounds
    page.js(FIT, [w, s, e, n])
    page.idle()
    page.page.click("#pl-tools [data-tool=split]")
    _click(page, lon, lat)
    page.page.wait_for_function(f"{STATE}.first === '{code}'")
    mid = (s + n) / 2
    pad = (e - w) * 0.05
    page.page.wait_for_function("window.__gisgridPlanner.drawing()")
    _click(page, w - pad, mid)
    _click(page, e + pad, mid)
    _click(page, e + pad, mid)  # the last point again finishes the line
    settled(page, state["plan"]["version"] + 1)
    page.page.wait_for_selector("#pl-msg[data-kind=ok]")
    after_split = _drafts(engine, plan_id)
    assert len(after_split) == len(before) + 1
    assert code in after_split and after_split[code][1].area < before[code][1].area
    (new,) = set(after_split) - set(before)
    assert after_split[new][1].intersects(before[code][1])
    page.page.wait_for_function(
        f"document.querySelectorAll('#pl-stats button[data-code]').length === {len(after_split)}"
    )
    version = page.js(STATE)["plan"]["version"]

    # merge two neighbours by clicking one, then the other, on the map
    a, b = _neighbours(engine, plan_id, [code, new])
    union = shapely.union_all([after_split[a][1], after_split[b][1]])
    page.js(FIT, list(union.bounds))
    page.idle()
    page.page.click("#pl-tools [data-tool=merge]")
    pa, pb = after_split[a][1].point_on_surface(), after_split[b][1].point_on_surface()
    _click(page, pa.x, pa.y)
    page.page.wait_for_function(f"{STATE}.first === '{a}'")
    _click(page, pb.x, pb.y)
    settled(page, version + 1)
    after_merge = _drafts(engine, plan_id)
    assert len(after_merge) == len(after_split) - 1
    assert (a in after_merge) != (b in after_merge)
    kept = a if a in after_merge else b
    # the kept grid is the two together (about 1 m² of rounding: degrees², 1e-10 here)
    assert after_merge[kept][1].symmetric_difference(union).area < 1e-10
    page.page.wait_for_function(
        f"document.querySelectorAll('#pl-stats button[data-code]').length === {len(after_merge)}"
    )
    assert page.page.is_visible("#pl-checks [data-checks-ok]")
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version FROM plans WHERE id = :p"), {"p": plan_id}).scalar()
            == version + 1
        )

    # a failure of the checks panel zooms the map to where it is
    failure = page.page.locator("#pl-checks button.failure").first
    assert failure.count() == 1, "the tiny city's street has grids outside the limits"
    w, s, e, n = (float(v) for v in (failure.get_attribute("data-bbox") or "").split(","))
    failure.click()
    page.idle()
    bw, bs, be, bn = page.js("() => window.__gisgridMap.getBounds().toArray().flat()")
    assert bw <= w and bs <= s and be >= e and bn >= n
    assert (be - bw) < 4 * max(e - w, 1e-4) + 0.01  # zoomed in on it, not the whole city

    # the whole street, by households, then the diff against the current grids
    page.js(FIT, list(shapely.union_all([g for _, g in after_merge.values()]).bounds))
    page.idle()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.page.screenshot(path=str(SHOTS / "planner-desktop.png"))
    page.page.check("input[name=pl-view][value=after]")
    page.page.wait_for_selector("#pl-diff:not([hidden]) [data-diff=new]")
    token = page.js("() => JSON.parse(sessionStorage.getItem('gisgrid.session')).token")
    diff = httpx.get(
        f"{page.server}/plans/{plan_id}/diff", headers={"Authorization": f"Bearer {token}"}
    ).json()
    for kind in ("kept", "changed", "new", "retired"):
        shown = page.page.text_content(f"#pl-diff [data-diff={kind}] b")
        assert shown == str(len(diff[kind])), kind
    assert diff["new"] == sorted({new} & set(after_merge))
    assert ({code, kept} & set(after_merge)) - {new} <= {c["code"] for c in diff["changed"]}
    page.idle()
    page.page.screenshot(path=str(SHOTS / "planner-diff.png"))
    page.page.check("input[name=pl-view][value=workload]")

    # by keyboard: Escape leaves the tool, Enter on a grid's row selects it, Enter renames it
    page.page.keyboard.press("Escape")
    assert page.js(STATE)["tool"] is None
    page.page.focus(f"#pl-stats button[data-code='{kept}']")
    page.page.keyboard.press("Enter")
    page.page.wait_for_selector("#pl-rename:not([hidden])")
    page.page.fill("#pl-rename-name", "合并网格 merged")
    page.page.focus("#pl-rename-name")
    page.page.keyboard.press("Enter")
    settled(page, version + 2)
    with engine.connect() as conn:
        name = conn.execute(
            text("SELECT name FROM plan_areas WHERE plan_id = :p AND code = :c"),
            {"p": plan_id, "c": kept},
        ).scalar()
    assert name == "合并网格 merged"

    # someone else renames it behind the page's back: the page's next edit is a 412, the
    # plan is read again (its new ETag) and the planner is told; nothing of theirs is lost
    other = httpx.post(
        f"{page.server}/plans/{plan_id}/rename",
        json={"code": kept, "name": "elsewhere 他人"},
        headers={"Authorization": f"Bearer {token}", "If-Match": f'"{version + 2}"'},
    )
    assert other.status_code == 200, other.text
    page.page.click(f"#pl-stats button[data-code='{kept}']")
    page.page.wait_for_selector("#pl-rename:not([hidden])")
    page.page.fill("#pl-rename-name", "mine 我的")
    page.page.click("#pl-rename button[type=submit]")
    page.page.wait_for_selector("#pl-msg[data-kind=warn]")
    assert "Someone else changed this plan" in page.page.text_content("#pl-msg")
    assert page.js(STATE)["etag"] == f'"{version + 3}"'
    with engine.connect() as conn:
        name = conn.execute(
            text("SELECT name FROM plan_areas WHERE plan_id = :p AND code = :c"),
            {"p": plan_id, "c": kept},
        ).scalar()
    assert name == "elsewhere 他人"

    # publishing is for a centre account at or above the parent, or an admin
    page.page.click("#signout")
    page.page.wait_for_selector("#planner-panel", state="hidden")
    sign_in(page, engine, "admin")
    page.page.click("#pl-toggle")
    page.page.wait_for_function("window.__gisgridPlanner.drawReady === true")
    page.page.click("#pl-list")
    page.page.wait_for_selector(f"#pl-parent-list option[value='{street_id}']", state="attached")
    page.page.select_option("#pl-parent-list", str(street_id))
    page.page.click(f"#pl-plans button[data-plan-id='{plan_id}']")
    page.page.wait_for_function(f"(({STATE})().plan || {{}}).id === {plan_id}")
    if "/plans/{plan_id}/publish" not in httpx.get(f"{page.server}/openapi.json").json()["paths"]:
        # a server without the route greys the button out
        assert page.page.is_disabled("#pl-publish")
        assert "Not offered" in (page.page.get_attribute("#pl-publish", "title") or "")
        return
    token = page.js("() => JSON.parse(sessionStorage.getItem('gisgrid.session')).token")
    checks = httpx.get(
        f"{page.server}/plans/{plan_id}/checks", headers={"Authorization": f"Bearer {token}"}
    ).json()
    publish(page)
    if not checks["ok"]:
        # 422: the failing checks are listed and nothing was published
        assert "hard checks fail" in page.page.text_content("#pl-msg")
        failures = page.js("() => document.querySelectorAll('#pl-checks .failure.hard').length")
        assert failures == len(checks["hard"])
        assert _opened(engine, plan_id) == set()
        # auto-balance proposes grids within the limits; then the plan publishes
        version = page.js(STATE)["plan"]["version"]
        page.page.click("#pl-balance")
        page.page.wait_for_function(
            f"(({STATE})().plan.version > {version}) && !({STATE})().busy", timeout=120_000
        )
        assert "balance done" in page.page.text_content("#pl-msg")
        checks = httpx.get(
            f"{page.server}/plans/{plan_id}/checks", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert checks["ok"], checks["hard"]
        assert page.page.get_attribute("#pl-checks [data-checks-ok]", "data-checks-ok") == "true"
        publish(page)
    assert "Published" in page.page.text_content("#pl-msg")
    assert page.js(STATE)["plan"]["status"] == "published"
    # the street's current grids are now the plan's draft grids, opened by this plan
    drafts = set(_drafts(engine, plan_id))
    assert _opened(engine, plan_id) <= drafts
    with engine.connect() as conn:
        current = conn.execute(
            text(
                "SELECT g.code FROM areas g JOIN areas c ON c.id = g.parent_id"
                " WHERE g.level = 'grid' AND g.valid_to IS NULL AND c.parent_id = :s"
            ),
            {"s": street_id},
        ).scalars()
        assert set(current) == drafts
    page.page.screenshot(path=str(SHOTS / "planner-published.png"))


def publish(p: Page) -> None:
    """Click Publish and wait for the page's answer (published, or why not)."""
    p.page.click("#pl-publish")
    p.page.wait_for_function(
        "document.querySelector('#pl-msg').textContent.includes('ublished')", timeout=120_000
    )


def _opened(engine: Engine, plan_id: int) -> set[str]:
    """The codes of the current grid versions this plan opened."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT code FROM areas WHERE plan_id = :p AND valid_to IS NULL"), {"p": plan_id}
        ).scalars()
        return set(rows)


def test_the_planner_at_phone_width(
    browser: Any, server: str, city: tuple[Engine, Settings]
) -> None:
    engine = city[0]
    street_id, _, lon, lat = _street(engine)
    p = Page(browser, server)
    p.context.close()
    p.context = browser.new_context(viewport=PHONE, locale="zh-CN", device_scale_factor=2)
    p.page = p.context.new_page()
    p.page.on("pageerror", lambda e: p.errors.append(str(e)))
    try:
        p.open()
        sign_in(p, engine, "planner")
        p.page.click("#pl-toggle")
        p.page.wait_for_function("window.__gisgridPlanner.drawReady === true")
        p.jump(lon, lat, 13)
        p.page.click("#pl-list")
        p.page.wait_for_selector(f"#pl-parent-list option[value='{street_id}']", state="attached")
        p.page.select_option("#pl-parent-list", str(street_id))
        p.page.fill("#pl-name", "phone 手机")
        p.page.click("#pl-new button[type=submit]")
        p.page.wait_for_selector("#pl-checks [data-checks-ok]")
        p.idle()
        p.page.locator("#pl-plan-box").scroll_into_view_if_needed()
        SHOTS.mkdir(parents=True, exist_ok=True)
        p.page.screenshot(path=str(SHOTS / "planner-phone.png"))
        # the panel fits the phone: nothing wider than the viewport
        wide = p.js("() => document.querySelector('#panel').scrollWidth")
        assert wide <= PHONE["width"], wide
        assert p.errors == []
    finally:
        p.context.close()
