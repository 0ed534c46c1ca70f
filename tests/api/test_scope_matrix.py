"""The scope matrix: every row-returning GET route x every role x inside / outside the scope.

The tiny city has one district and one street, so the fixture splits it first: the last
community (with everything assigned to it) moves under a new street of a new district. Then
street, district and unit accounts have something outside their scope too.

What is in a caller's scope is computed here independently of gisgrid.access.scope: the rows whose
grid lies under the scope area, walking ``areas.parent_id`` (admins and city scopes: every row;
a unit also sees the incidents dispatched to it through /incidents). Each case asserts that
no id or count from outside that set comes back, that allowed calls answer 200, forbidden
roles 403 and objects outside the scope 404.

:data:`ENDPOINTS` must name every GET route under the scoped prefixes; a new route there fails
:func:`test_the_table_covers_every_scoped_get_route` until it is added to the matrix.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text

from api.app import create_app
from gisgrid import vocab
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from gisgrid.tiles.grid import tile_of
from tests.city_support import PASSWORD, tiny_city, username_of

DB = "scope_matrix_scratch"
SCOPED_PREFIXES = (
    "/collections/incidents",
    "/collections/buildings",
    "/collections/places",
    "/incidents",
    "/households",
    "/queue",
    "/query",
    "/residents",
    "/stats",
    "/locate",
    "/photos",
    "/tiles",
    "/analysis",
    "/plans",
)
PEOPLE = ("grid_worker", "community", "street_centre", "district_centre", "city_centre", "admin")
EVERYONE = vocab.ROLES
ASSIGNED_TABLES = ("incidents", "places", "buildings", "households", "residents", "visit_logs")


@dataclass(frozen=True)
class Endpoint:
    """One route of the matrix: its method and path, who may call it, how its cases run."""

    name: str
    method: str
    path: str
    roles: tuple[str, ...]
    check: Callable[[Ctx, str, str], None]
    outside: bool = True  # has an "outside the scope" case


@dataclass
class Ctx:
    client: TestClient
    store: Engine
    headers: dict[str, dict[str, str]]
    accounts: dict[str, dict[str, Any]]
    outside_grid: int
    visible: dict[tuple[str, str], set[int]]
    photos: dict[int, tuple[str, bytes]] = field(default_factory=dict)
    plans: dict[int, int] = field(default_factory=dict)  # community id -> its plan (by admin)

    def rows(self, role: str, table: str, widened: bool = False) -> set[int]:
        """The ids of ``table`` in the role's scope (computed once per role and table)."""
        key = (role, f"{table}{'+unit' if widened else ''}")
        if key not in self.visible:
            self.visible[key] = _visible(self.store, self.accounts[role], table, widened)
        return self.visible[key]

    def all_rows(self, table: str) -> set[int]:
        return self.rows("admin", table)

    def get(self, role: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers[role])


def _visible(store: Engine, account: dict[str, Any], table: str, widened: bool) -> set[int]:
    if account["scope_area_id"] is None or account["level"] == "city":
        sql, params = f"SELECT id FROM {table}", {}
    else:
        sql = (
            "WITH RECURSIVE down(id) AS (SELECT CAST(:a AS bigint)"
            " UNION ALL SELECT c.id FROM areas c JOIN down d ON c.parent_id = d.id)"
            f" SELECT t.id FROM {table} t WHERE t.grid_id IN (SELECT id FROM down)"
        )
        params = {"a": account["scope_area_id"]}
        if widened and account["unit_id"] is not None:
            sql += f" UNION SELECT id FROM {table} WHERE assigned_unit_id = :u"
            params["u"] = account["unit_id"]
    with store.connect() as conn:
        return set(conn.execute(text(sql), params).scalars())


def _pick(ctx: Ctx, role: str, table: str, case: str, widened: bool = False) -> int:
    """An id inside the role's scope, or one that exists but lies outside it."""
    seen = ctx.rows(role, table, widened)
    pool = seen if case == "inside" else ctx.all_rows(table) - seen
    assert pool, f"no {table} row {case} the scope of {role}"
    return min(pool)


def _has_outside(ctx: Ctx, role: str) -> bool:
    return bool(ctx.all_rows("incidents") - ctx.rows(role, "incidents"))


# -- the checks, one per kind of route ---------------------------------------------------------


def _ogc_items(collection: str) -> Callable[[Ctx, str, str], None]:
    def check(ctx: Ctx, role: str, case: str) -> None:
        params: dict[str, Any] = {"limit": 10_000}
        if case == "outside":
            params["grid_id"] = ctx.outside_grid
        r = ctx.get(role, f"/collections/{collection}/items", **params)
        assert r.status_code == 200, r.text
        body = r.json()
        ids = {int(f["id"]) for f in body["features"]}
        seen = ctx.rows(role, collection)
        assert ids <= seen, f"leaked {sorted(ids - seen)[:5]}"
        if case == "inside":
            assert ids == seen
            assert body["numberMatched"] == len(seen)
        else:
            assert ids == set() and body["numberMatched"] == 0

    return check


def _ogc_item(collection: str) -> Callable[[Ctx, str, str], None]:
    def check(ctx: Ctx, role: str, case: str) -> None:
        fid = _pick(ctx, role, collection, case)
        r = ctx.get(role, f"/collections/{collection}/items/{fid}")
        if case == "outside":
            assert r.status_code == 404, r.text
            return
        assert r.status_code == 200, r.text
        assert int(r.json()["id"]) == fid

    return check


def _incident_list(ctx: Ctx, role: str, case: str) -> None:
    del case
    r = ctx.get(role, "/incidents", limit=1000)
    assert r.status_code == 200, r.text
    ids = {i["id"] for i in r.json()["incidents"]}
    seen = ctx.rows(role, "incidents", widened=True)
    assert ids and ids <= seen, f"leaked {sorted(ids - seen)[:5]}"


def _queue(ctx: Ctx, role: str, case: str) -> None:
    del case
    r = ctx.get(role, "/queue", limit=1000)
    assert r.status_code == 200, r.text
    ids = {i["id"] for i in r.json()["incidents"]}
    seen = ctx.rows(role, "incidents", widened=True)
    assert ids <= seen, f"leaked {sorted(ids - seen)[:5]}"


def _queue_figures(ctx: Ctx, role: str, case: str) -> None:
    del case
    r = ctx.get(role, "/queue/figures")
    assert r.status_code == 200, r.text
    seen = ctx.rows(role, "incidents", widened=True)
    assert r.json()["overdue"] <= len(seen) and r.json()["reported"] <= len(seen)


def _incident_one(suffix: str) -> Callable[[Ctx, str, str], None]:
    def check(ctx: Ctx, role: str, case: str) -> None:
        iid = _pick(ctx, role, "incidents", case, widened=True)
        r = ctx.get(role, f"/incidents/{iid}{suffix}")
        if case == "outside":
            assert r.status_code == 404, r.text
            assert str(iid) not in r.text.replace(f"no incident {iid}", "")
            return
        assert r.status_code == 200, r.text
        body = r.json()
        if suffix == "":
            assert body["id"] == iid
        else:
            assert body["incident_id"] == iid
        if suffix == "/events":
            with ctx.store.connect() as conn:
                own = set(
                    conn.execute(
                        text("SELECT id FROM incident_events WHERE incident_id = :i"), {"i": iid}
                    ).scalars()
                )
            assert {e["id"] for e in body["events"]} == own

    return check


def _region(ctx: Ctx, role: str, case: str) -> tuple[int, dict[str, Any]]:
    grid = _grid_in_scope(ctx, role) if case == "inside" else ctx.outside_grid
    with ctx.store.connect() as conn:
        geojson = conn.execute(
            text("SELECT ST_AsGeoJSON(geom) FROM areas WHERE id = :g"), {"g": grid}
        ).scalar_one()
    return grid, json.loads(geojson)


def _grid_in_scope(ctx: Ctx, role: str) -> int:
    """The grid holding the role's lowest in-scope incident."""
    iid = min(ctx.rows(role, "incidents"))
    with ctx.store.connect() as conn:
        grid: int = conn.execute(
            text("SELECT grid_id FROM incidents WHERE id = :i"), {"i": iid}
        ).scalar_one()
    return grid


def _within(ctx: Ctx, role: str, case: str) -> None:
    _, geometry = _region(ctx, role, case)
    r = ctx.client.post(
        "/query/within",
        json={"geometry": geometry, "limit": 10_000},
        headers=ctx.headers[role],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    seen = ctx.rows(role, "incidents")
    ids = {i["id"] for i in body["incidents"]}
    assert ids <= seen, f"leaked {sorted(ids - seen)[:5]}"
    with ctx.store.connect() as conn:
        for layer in ("incidents", "places", "buildings"):
            inside = set(
                conn.execute(
                    text(
                        f"SELECT id FROM {layer} WHERE ST_Intersects(geom,"
                        " ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326))"
                    ),
                    {"g": json.dumps(geometry)},
                ).scalars()
            )
            assert body["counts"][layer] == len(inside & ctx.rows(role, layer)), layer
    if case == "outside":
        assert body["counts"] == {"incidents": 0, "places": 0, "buildings": 0}
    else:
        assert body["counts"]["incidents"] > 0


def _locate(ctx: Ctx, role: str, case: str) -> None:
    grid = _grid_in_scope(ctx, role) if case == "inside" else ctx.outside_grid
    with ctx.store.connect() as conn:
        x, y = conn.execute(
            text(
                "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM areas"
                " WHERE id = :g) s"
            ),
            {"g": grid},
        ).one()
        workers = set(
            conn.execute(
                text("SELECT username FROM accounts WHERE scope_area_id = :g AND active"),
                {"g": grid},
            ).scalars()
        )
    r = ctx.get(role, "/locate", lon=x, lat=y)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grid"]["id"] == grid
    if case == "outside":
        assert body["workers"] is None, "accounts of a grid outside the scope"
    else:
        assert {w["username"] for w in body["workers"]} == workers


def _resident_list(ctx: Ctx, role: str, case: str) -> None:
    params: dict[str, Any] = {"limit": 1000}
    if case == "outside":
        with ctx.store.connect() as conn:
            params["grid_code"] = conn.execute(
                text("SELECT code FROM areas WHERE id = :g"), {"g": ctx.outside_grid}
            ).scalar_one()
    before = _audit_count(ctx, role)
    r = ctx.get(role, "/residents", **params)
    if role not in PEOPLE:
        assert r.status_code == 403, r.text
        assert _audit_count(ctx, role) == before
        return
    assert r.status_code == 200, r.text
    rows = r.json()["residents"]
    ids = {p["id"] for p in rows}
    seen = ctx.rows(role, "residents")
    assert ids <= seen, f"leaked {sorted(ids - seen)[:5]}"
    assert all("id_hash" not in p and "phone_hash" not in p for p in rows)
    if case == "outside":
        assert ids == set()
    else:
        assert len(ids) == min(1000, len(seen))
    assert _audit_count(ctx, role) == before + len(ids)


def _resident_one(ctx: Ctx, role: str, case: str) -> None:
    rid = _pick(ctx, role, "residents", case)
    before = _audit_count(ctx, role)
    r = ctx.get(role, f"/residents/{rid}")
    if role not in PEOPLE:
        assert r.status_code == 403, r.text
    elif case == "outside":
        assert r.status_code == 404, r.text
    else:
        assert r.status_code == 200, r.text
        assert r.json()["id"] == rid and "id_hash" not in r.json()
        assert _audit_count(ctx, role) == before + 1
        return
    assert _audit_count(ctx, role) == before


def _audit_count(ctx: Ctx, role: str) -> int:
    with ctx.store.connect() as conn:
        n: int = conn.execute(
            text(
                "SELECT count(*) FROM audit_log WHERE account_id = :a"
                " AND action = 'read_resident' AND \"table\" = 'residents'"
            ),
            {"a": ctx.accounts[role]["id"]},
        ).scalar_one()
    return n


def _resident_stats(ctx: Ctx, role: str, case: str) -> None:
    del case
    r = ctx.get(role, "/stats/residents")
    if role not in (*PEOPLE, "analyst"):
        assert r.status_code == 403, r.text
        return
    assert r.status_code == 200, r.text
    body = r.json()
    seen = ctx.rows(role, "residents")
    assert body["total"] == (len(seen) if len(seen) >= 5 else None)
    with ctx.store.connect() as conn:
        tags = dict(
            conn.execute(
                text(
                    "SELECT t, count(*) FROM residents, unnest(tags) t WHERE id = ANY(:ids)"
                    " GROUP BY t"
                ),
                {"ids": list(seen)},
            ).all()
        )
    for tag, n in body["by_tag"].items():
        expected = tags.get(tag, 0)
        assert n == (None if 0 < expected < 5 else expected), tag
    counts = [n for n in [*body["by_tag"].values(), *body["by_age_band"].values()] if n]
    assert all(n >= 5 for n in counts), "a small cell was not suppressed"
    bands = body["by_age_band"]
    assert sum(n or 0 for n in bands.values()) <= len(seen)
    if body["total"] is not None:  # one hidden band would be the total minus the others
        assert sum(n is None for n in bands.values()) != 1


def _incident_stats(ctx: Ctx, role: str, case: str) -> None:
    """Per-grid and per-unit counts add up to exactly the incidents in scope."""
    del case
    for by in ("grid", "unit"):
        r = ctx.get(role, "/stats/incidents", by=by, since="2000-01-01T00:00:00Z", limit=100_000)
        assert r.status_code == 200, r.text
        groups = r.json()["groups"]
        seen = ctx.rows(role, "incidents")
        with ctx.store.connect() as conn:
            grids = dict(
                conn.execute(
                    text("SELECT grid_id, count(*) FROM incidents WHERE id = ANY(:ids) GROUP BY 1"),
                    {"ids": list(seen)},
                ).all()
            )
            units = dict(
                conn.execute(
                    text(
                        "SELECT assigned_unit_id, count(*) FROM incidents WHERE id = ANY(:ids)"
                        " AND assigned_unit_id IS NOT NULL GROUP BY 1"
                    ),
                    {"ids": list(seen)},
                ).all()
            )
        want = grids if by == "grid" else units
        assert {g["id"]: g["reported"] for g in groups} == want


def _photo_of(ctx: Ctx, incident_id: int) -> tuple[str, bytes]:
    """A PNG of its own attached to the incident (by the admin): its sha and bytes."""
    if incident_id not in ctx.photos:
        buf = io.BytesIO()
        colour = (incident_id % 256, incident_id // 256 % 256, 7)
        Image.new("RGB", (8, 8), colour).save(buf, format="PNG")
        data = buf.getvalue()
        r = ctx.client.post(
            f"/incidents/{incident_id}/photos",
            files={"photo": ("p.png", data, "image/png")},
            headers=ctx.headers["admin"],
        )
        assert r.status_code == 201, r.text
        ctx.photos[incident_id] = (r.json()["sha256"], data)
    return ctx.photos[incident_id]


def _photo(ctx: Ctx, role: str, case: str) -> None:
    # outside: not even among the cases dispatched to a unit
    iid = _pick(ctx, role, "incidents", case, widened=case == "outside")
    sha, data = _photo_of(ctx, iid)
    r = ctx.get(role, f"/photos/{sha}")
    if case == "outside":
        assert r.status_code == 404, r.status_code
        return
    assert r.status_code == 200, r.text
    assert r.content == data


TILE = "/tiles/{layer}/{z}/{x}/{y}.{fmt}"
SENSITIVE = ("03", "04")  # counted outside a caller's scope by no aggregate (tiles.sql)


def _tile_at(ctx: Ctx, role: str, layer: str, table: str, row: int, z: int) -> dict[str, Any]:
    """The role's decoded ``layer`` tile at zoom ``z`` around row ``row`` of ``table``."""
    with ctx.store.connect() as conn:
        lon, lat = conn.execute(
            text(f"SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM {table}"
                 " WHERE id = :i) s"),
            {"i": row},
        ).one()  # fmt: skip
    x, y = tile_of(lon, lat, z)
    r = ctx.get(role, f"/tiles/{layer}/{z}/{x}/{y}.pbf")
    if r.status_code == 204:  # nothing the role may see there
        return {"features": []}
    assert r.status_code == 200, r.text
    decoded: dict[str, Any] = mapbox_vector_tile.decode(r.content)
    return decoded.get(layer, {"features": []})


def _tile_rows(layer: str, table: str) -> Callable[[Ctx, str, str], None]:
    """Raw rows in a tile (incident points from zoom 14, places, buildings): only the role's,
    and all of the role's the admin's tile holds."""

    def check(ctx: Ctx, role: str, case: str) -> None:
        row = _pick(ctx, role, table, case)
        mine = {int(f["id"]) for f in _tile_at(ctx, role, layer, table, row, 15)["features"]}
        every = {int(f["id"]) for f in _tile_at(ctx, "admin", layer, table, row, 15)["features"]}
        seen = ctx.rows(role, table)
        assert row in every, "the tile holds the row it was chosen for"
        assert mine <= seen, f"leaked {sorted(mine - seen)[:5]}"
        assert mine == every & seen
        assert (row in mine) == (case == "inside")

    return check


def _tile_counts(ctx: Ctx, role: str, case: str) -> None:
    """Grid counts in a tile: every incident of the grid, but the sensitive groups only in
    the role's scope."""
    grid = _grid_in_scope(ctx, role) if case == "inside" else ctx.outside_grid
    seen = ctx.rows(role, "incidents")
    with ctx.store.connect() as conn:
        want = dict(
            conn.execute(
                text(
                    "SELECT grid_id, count(*) FILTER (WHERE left(category, 2) <> ALL(:s)"
                    " OR id = ANY(:seen)) FROM incidents GROUP BY 1"
                ),
                {"s": list(SENSITIVE), "seen": list(seen)},
            ).all()
        )
    feats = _tile_at(ctx, role, "grids", "areas", grid, 12)["features"]
    assert grid in {int(f["id"]) for f in feats}
    for f in feats:
        assert f["properties"]["incidents"] == want.get(int(f["id"]), 0), f["id"]


# hexagons make enough units of the tiny city for the statistics; no permutations: quick
HOT = {"method": "gistar", "level": "hex", "cell_m": 200, "permutations": 0}


def _countable(ctx: Ctx, role: str) -> int:
    """Every incident, but the sensitive groups only where the role sees the row."""
    seen = ctx.rows(role, "incidents")
    with ctx.store.connect() as conn:
        n: int = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE left(category, 2) <> ALL(:s) OR id = ANY(:seen))"
                " FROM incidents WHERE grid_id IS NOT NULL"
            ),
            {"s": list(SENSITIVE), "seen": list(seen)},
        ).scalar_one()
    return n


def _hotspot_counts(ctx: Ctx, role: str, case: str) -> None:
    """The hot-spot answer counts what the tile aggregates count: the units' counts add up to
    every incident, the sensitive groups only where the role sees them."""
    r = ctx.get(role, "/analysis/hotspots", geometry="false", **HOT)
    assert r.status_code == 200, r.text
    total = sum(f["properties"]["count"] for f in r.json()["features"])
    assert total == _countable(ctx, role)


def _hotspot_tiles(ctx: Ctx, role: str, case: str) -> None:
    """The hotspots tiles carry the same answer's counts: summed over the one z8 tile that
    holds the tiny city, each unit once."""
    tilejson = ctx.get(role, "/tiles/hotspots.json", **HOT).json()
    with ctx.store.connect() as conn:
        lon, lat = conn.execute(
            text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Collect(geom)) c"
                 " FROM areas WHERE level = 'grid') s")
        ).one()  # fmt: skip
    x, y = tile_of(lon, lat, 8)
    url = tilejson["tiles"][0].split("//", 1)[1].split("/", 1)[1]
    path = "/" + url.replace("{z}", "8").replace("{x}", str(x)).replace("{y}", str(y))
    r = ctx.client.get(path, headers=ctx.headers[role])
    assert r.status_code == 200, r.text
    feats = mapbox_vector_tile.decode(r.content)["hotspots"]["features"]
    counts = {int(f["id"]): f["properties"]["count"] for f in feats}
    assert sum(counts.values()) == _countable(ctx, role)


def _compare_counts(ctx: Ctx, role: str, case: str) -> None:
    """The month comparison counts what the tile aggregates count, over its own window."""
    r = ctx.get(role, "/analysis/compare", level="district")
    assert r.status_code == 200, r.text
    body = r.json()
    now = body["parameters"]["now"]
    seen = ctx.rows(role, "incidents")
    with ctx.store.connect() as conn:
        want = dict(
            conn.execute(
                text(
                    "SELECT district_id, count(*) FILTER (WHERE left(category, 2) <> ALL(:s)"
                    " OR id = ANY(:seen)) FROM incidents"
                    " WHERE reported_at >= CAST(:a AS timestamptz)"
                    " AND reported_at < CAST(:b AS timestamptz) GROUP BY 1"
                ),
                {"s": list(SENSITIVE), "seen": list(seen), "a": now["start"], "b": now["end"]},
            ).all()
        )
    got = {int(f["id"]): f["properties"]["count"] for f in body["features"]}
    assert got and all(n == want.get(i, 0) for i, n in got.items()), (got, want)


def _households(ctx: Ctx, role: str, case: str) -> None:
    params: dict[str, Any] = {"limit": 1000}
    if case == "outside":
        with ctx.store.connect() as conn:
            params["grid_code"] = conn.execute(
                text("SELECT code FROM areas WHERE id = :g"), {"g": ctx.outside_grid}
            ).scalar_one()
    r = ctx.get(role, "/households", **params)
    assert r.status_code == 200, r.text
    ids = {h["id"] for h in r.json()["households"]}
    seen = ctx.rows(role, "households")
    assert ids <= seen, f"leaked {sorted(ids - seen)[:5]}"
    if case == "outside":
        assert ids == set()
    else:
        assert ids == set(sorted(seen)[:1000])


def _duplicates(ctx: Ctx, role: str, case: str) -> None:
    """At an open case's point, for its category: the case itself is a duplicate only for a
    caller who may see it, and nothing the caller may not see comes back."""
    seen = ctx.rows(role, "incidents", widened=True)
    with ctx.store.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, category, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM incidents"
                " WHERE status NOT IN ('closed', 'rejected')"
                " AND reported_at > now() - interval '360 days' ORDER BY id"
            )
        ).all()
    pick = next(r for r in rows if (r.id in seen) == (case == "inside"))
    r = ctx.get(
        role,
        "/incidents/duplicates",
        lon=pick.lon,
        lat=pick.lat,
        category=pick.category,
        days=365,
    )
    assert r.status_code == 200, r.text
    ids = {d["id"] for d in r.json()["duplicates"]}
    assert ids <= seen, f"leaked {sorted(ids - seen)[:5]}"
    assert (pick.id in ids) == (case == "inside")


PLAN_READERS = ("planner", "admin", "street_centre", "district_centre", "city_centre")


def _plans(ctx: Ctx) -> dict[int, int]:
    """One plan of each community (made by the admin once): community id -> plan id."""
    if not ctx.plans:
        with ctx.store.connect() as conn:
            communities = conn.execute(
                text("SELECT id, code FROM areas WHERE level = 'community' ORDER BY id")
            ).all()
        for cid, code in communities:
            r = ctx.client.post(
                "/plans", json={"parent": code, "name": code}, headers=ctx.headers["admin"]
            )
            assert r.status_code == 201, r.text
            ctx.plans[int(cid)] = int(r.json()["id"])
    return ctx.plans


def _plans_in_scope(ctx: Ctx, role: str) -> set[int]:
    """The plans whose parent lies under the role's scope area (walking areas.parent_id)."""
    account = ctx.accounts[role]
    every = _plans(ctx)
    if account["scope_area_id"] is None or account["level"] == "city":
        return set(every.values())
    with ctx.store.connect() as conn:
        under = set(
            conn.execute(
                text(
                    "WITH RECURSIVE down(id) AS (SELECT CAST(:a AS bigint)"
                    " UNION ALL SELECT c.id FROM areas c JOIN down d ON c.parent_id = d.id)"
                    " SELECT id FROM down"
                ),
                {"a": account["scope_area_id"]},
            ).scalars()
        )
    return {plan for community, plan in every.items() if community in under}


def _plan_list(ctx: Ctx, role: str, case: str) -> None:
    del case
    mine = _plans_in_scope(ctx, role)
    r = ctx.get(role, "/plans")
    if role not in PLAN_READERS:
        assert r.status_code == 403, r.text
        return
    assert r.status_code == 200, r.text
    assert {p["id"] for p in r.json()["plans"]} == mine


def _plan_one(ctx: Ctx, role: str, case: str) -> None:
    mine = _plans_in_scope(ctx, role)
    pool = mine if case == "inside" else set(_plans(ctx).values()) - mine
    if role not in PLAN_READERS:
        r = ctx.get(role, f"/plans/{min(_plans(ctx).values())}")
        assert r.status_code == 403, r.text
        return
    assert pool, f"no plan {case} the scope of {role}"
    plan = min(pool)
    r = ctx.get(role, f"/plans/{plan}")
    if case == "outside":
        assert r.status_code == 404, r.text
        return
    assert r.status_code == 200, r.text
    assert r.json()["plan"]["id"] == plan and r.json()["features"]


def _plan_report(kind: str) -> Callable[[Ctx, str, str], None]:
    """A plan's report: whoever reads the plan (PLAN_READERS, in scope) reads its checks,
    stats and diff; another scope's plan is 404, as if absent; other roles 403."""

    def check(ctx: Ctx, role: str, case: str) -> None:
        mine = _plans_in_scope(ctx, role)
        if role not in PLAN_READERS:
            r = ctx.get(role, f"/plans/{min(_plans(ctx).values())}/{kind}")
            assert r.status_code == 403, r.text
            return
        pool = mine if case == "inside" else set(_plans(ctx).values()) - mine
        assert pool, f"no plan {case} the scope of {role}"
        plan = min(pool)
        r = ctx.get(role, f"/plans/{plan}/{kind}")
        if case == "outside":
            assert r.status_code == 404, r.text
            return
        assert r.status_code == 200, r.text
        with ctx.store.connect() as conn:
            codes = set(
                conn.execute(
                    text("SELECT code FROM plan_areas WHERE plan_id = :p"), {"p": plan}
                ).scalars()
            )
        body = r.json()
        if kind == "stats":
            assert {g["code"] for g in body["grids"]} == codes
        elif kind == "diff":
            assert set(body["kept"]) == codes
        else:
            assert set(body) == {"ok", "hard", "soft"}

    return check


def _plan_export(ctx: Ctx, role: str, case: str) -> None:
    """A plan as a GeoPackage: read as the plan is (PLAN_READERS, in scope); another scope's
    plan is 404; other roles 403."""
    if role not in PLAN_READERS:
        r = ctx.get(role, f"/plans/{min(_plans(ctx).values())}/export.gpkg")
        assert r.status_code == 403, r.text
        return
    mine = _plans_in_scope(ctx, role)
    pool = mine if case == "inside" else set(_plans(ctx).values()) - mine
    assert pool, f"no plan {case} the scope of {role}"
    r = ctx.get(role, f"/plans/{min(pool)}/export.gpkg")
    if case == "outside":
        assert r.status_code == 404, r.text
        return
    assert r.status_code == 200, r.text
    assert r.content[:16] == b"SQLite format 3\x00"


ENDPOINTS = [
    *(
        Endpoint(f"{c}-items", "GET", f"/collections/{c}/items", EVERYONE, _ogc_items(c))
        for c in ("incidents", "buildings", "places")
    ),
    *(
        Endpoint(f"{c}-item", "GET", f"/collections/{c}/items/{{fid}}", EVERYONE, _ogc_item(c))
        for c in ("incidents", "buildings", "places")
    ),
    Endpoint("incidents", "GET", "/incidents", EVERYONE, _incident_list, outside=False),
    Endpoint("incident", "GET", "/incidents/{incident_id}", EVERYONE, _incident_one("")),
    Endpoint(
        "incident-events",
        "GET",
        "/incidents/{incident_id}/events",
        EVERYONE,
        _incident_one("/events"),
    ),
    Endpoint(
        "incident-units", "GET", "/incidents/{incident_id}/units", EVERYONE, _incident_one("/units")
    ),
    Endpoint(
        "incident-actions",
        "GET",
        "/incidents/{incident_id}/actions",
        EVERYONE,
        _incident_one("/actions"),
    ),
    Endpoint("queue", "GET", "/queue", EVERYONE, _queue, outside=False),
    Endpoint("queue-figures", "GET", "/queue/figures", EVERYONE, _queue_figures, False),
    Endpoint("within", "POST", "/query/within", EVERYONE, _within),
    Endpoint("residents", "GET", "/residents", EVERYONE, _resident_list),
    Endpoint("resident", "GET", "/residents/{resident_id}", EVERYONE, _resident_one),
    Endpoint("stats-residents", "GET", "/stats/residents", EVERYONE, _resident_stats, False),
    Endpoint("stats-incidents", "GET", "/stats/incidents", EVERYONE, _incident_stats, False),
    Endpoint("locate", "GET", "/locate", EVERYONE, _locate),
    Endpoint("households", "GET", "/households", PEOPLE, _households),
    Endpoint("duplicates", "GET", "/incidents/duplicates", EVERYONE, _duplicates),
    Endpoint("photo", "GET", "/photos/{sha}", EVERYONE, _photo),
    Endpoint("tile-incident-points", "GET", TILE, EVERYONE, _tile_rows("incidents", "incidents")),
    Endpoint("tile-places", "GET", TILE, EVERYONE, _tile_rows("places", "places")),
    Endpoint("tile-buildings", "GET", TILE, EVERYONE, _tile_rows("buildings", "buildings")),
    Endpoint("tile-grid-counts", "GET", TILE, EVERYONE, _tile_counts),
    Endpoint("hotspots", "GET", "/analysis/hotspots", EVERYONE, _hotspot_counts, False),
    Endpoint("compare", "GET", "/analysis/compare", EVERYONE, _compare_counts, False),
    Endpoint(
        "hotspot-tiles", "GET", "/tiles/hotspots/{z}/{x}/{y}.pbf", EVERYONE, _hotspot_tiles, False
    ),
    Endpoint("plans", "GET", "/plans", EVERYONE, _plan_list, outside=False),
    Endpoint("plan", "GET", "/plans/{plan_id}", EVERYONE, _plan_one),
    *(
        Endpoint(f"plan-{k}", "GET", f"/plans/{{plan_id}}/{k}", EVERYONE, _plan_report(k))
        for k in ("checks", "stats", "diff")
    ),
    Endpoint("plan-export", "GET", "/plans/{plan_id}/export.gpkg", EVERYONE, _plan_export),
]
# the routes under the prefixes that return no rows: a collection's description
NOT_ROWS = {f"/collections/{c}" for c in ("incidents", "buildings", "places")} | {
    "/tiles",  # the layer index, TileJSON and the heat legend: no rows
    "/tiles/{layer}.json",
    "/tiles/heat/legend.json",
    "/tiles/hotspots.json",
}
UNLIMITED = ("admin", "city_centre", "analyst", "planner")  # city-wide in the tiny city


def _cases() -> Iterator[Any]:
    for ep in ENDPOINTS:
        for role in EVERYONE:
            cases = ["inside"]
            if ep.outside and role not in UNLIMITED:
                cases.append("outside")
            for case in cases:
                yield pytest.param(ep, role, case, id=f"{role}-{ep.name}-{case}")


# -- fixtures ----------------------------------------------------------------------------------


def _split_city(store: Engine) -> int:
    """Move the last community under a new street of a new district; its first grid."""
    with store.begin() as conn:
        moved, city = conn.execute(
            text(
                "SELECT max(id) FILTER (WHERE level = 'community'),"
                " max(id) FILTER (WHERE level = 'city') FROM areas"
            )
        ).one()
        district = conn.execute(
            text(
                "INSERT INTO areas (code, name, level, parent_id, geom)"
                " SELECT '230199', 'Split district', 'district', :p, geom FROM areas"
                " WHERE id = :c RETURNING id"
            ),
            {"p": city, "c": moved},
        ).scalar_one()
        street = conn.execute(
            text(
                "INSERT INTO areas (code, name, level, parent_id, geom)"
                " SELECT '230199001', 'Split street', 'street', :p, geom FROM areas"
                " WHERE id = :c RETURNING id"
            ),
            {"p": district, "c": moved},
        ).scalar_one()
        conn.execute(
            text("UPDATE areas SET parent_id = :s WHERE id = :c"), {"s": street, "c": moved}
        )
        for table in ASSIGNED_TABLES:
            conn.execute(
                text(
                    f"UPDATE {table} SET street_id = :s, district_id = :d WHERE community_id = :c"
                ),
                {"s": street, "d": district, "c": moved},
            )
        grid: int = conn.execute(
            text(
                "SELECT g.id FROM areas g WHERE g.parent_id = :c AND g.level = 'grid'"
                " AND EXISTS (SELECT 1 FROM incidents i WHERE i.grid_id = g.id)"
                " AND EXISTS (SELECT 1 FROM residents r WHERE r.grid_id = g.id)"
                " ORDER BY g.id LIMIT 1"
            ),
            {"c": moved},
        ).scalar_one()
    return grid


@pytest.fixture(scope="module")
def ctx(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    data_dir: Path = tmp_path_factory.mktemp("scope_matrix")
    with tiny_city(cluster, DB) as store:
        outside_grid = _split_city(store)
        settings = Settings(
            database_url=cluster.url(dbname=DB),
            secret_key="m" * 40,
            data_dir=data_dir,
            _env_file=None,
        )
        with TestClient(create_app(settings)) as client, store.connect() as conn:
            accounts: dict[str, dict[str, Any]] = {}
            headers: dict[str, dict[str, str]] = {}
            for role in EVERYONE:
                username = username_of(store, role)
                row = conn.execute(
                    text(
                        "SELECT a.id, a.scope_area_id, ar.level, a.unit_id FROM accounts a"
                        " LEFT JOIN areas ar ON ar.id = a.scope_area_id WHERE a.username = :u"
                    ),
                    {"u": username},
                ).one()
                accounts[role] = dict(row._mapping)
                r = client.post("/token", data={"username": username, "password": PASSWORD})
                assert r.status_code == 200, r.text
                headers[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
            yield Ctx(client, store, headers, accounts, outside_grid, {})


# -- the tests ---------------------------------------------------------------------------------


def _get_paths(routes: list[Any]) -> set[str]:
    """Every GET path of the app, into included routers too (newer FastAPI nests them)."""
    found = set()
    for r in routes:
        if isinstance(r, APIRoute) and "GET" in r.methods:
            found.add(r.path)
        inner = getattr(r, "original_router", None)
        if inner is not None:
            prefix = getattr(getattr(r, "include_context", None), "prefix", "") or ""
            found |= {prefix + p for p in _get_paths(inner.routes)}
    return found


def test_the_table_covers_every_scoped_get_route() -> None:
    app = create_app(Settings(secret_key="m" * 40, _env_file=None))
    documented = {p for p, ops in app.openapi()["paths"].items() if "get" in ops}
    routes = {p for p in _get_paths(app.routes) | documented if p.startswith(SCOPED_PREFIXES)}
    covered = {ep.path for ep in ENDPOINTS if ep.method == "GET"}
    assert "/incidents/{incident_id}" in routes
    assert routes - NOT_ROWS - covered == set(), "add these routes to ENDPOINTS"
    assert covered <= routes, "ENDPOINTS names a route the app does not have"


def test_the_split_leaves_something_outside_each_limited_scope(ctx: Ctx) -> None:
    limited = [r for r in EVERYONE if r not in UNLIMITED]
    assert all(_has_outside(ctx, r) for r in limited)
    assert not any(_has_outside(ctx, r) for r in UNLIMITED)


@pytest.mark.parametrize(("endpoint", "role", "case"), list(_cases()))
def test_scope(ctx: Ctx, endpoint: Endpoint, role: str, case: str) -> None:
    if role not in endpoint.roles:
        r = ctx.client.request(endpoint.method, endpoint.path, headers=ctx.headers[role])
        assert r.status_code == 403, r.text
        return
    endpoint.check(ctx, role, case)
