"""A small hand-made city for the assignment tests: a tiling with a hole, an island, a
diagonal shared edge, an overlap, a grid hung directly under a street, and two grids redrawn
at time T.

    lat
    45.73 +---------------+---------------+   GP/GQ: the edge at 126.615 before T,
          |  GP (old)     |   GQ (old)    |   at 126.62 from T on
    45.72 +---------------+---------------+
          | GH  +-----+   |               |   GH has a hole; GM is a multipolygon:
          |     | []  |   |      GM       |   the big part and the island [] in GH's hole
    45.71 +-----+-----+---+------+--------+
          |  GA   |  GB  /   GC  |            GB/GC share a diagonal edge; GC hangs under
    45.70 +-------+-----/--------+            the street directly (no community); GO (not
        126.60  126.61        126.63 lon      drawn) overlaps GA and GB and sticks out below
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from tests.io.support import empty_with_categories

T = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 in Harbin
T2 = datetime(2026, 5, 31, 16, 0, tzinfo=UTC)  # 2026-06-01 00:00 in Harbin: see redraw()
BEFORE, AFTER = T - timedelta(days=30), T + timedelta(days=30)
BBOX = (126.595, 45.695, 126.635, 45.735)


def box(w: float, s: float, e: float, n: float) -> str:
    return f"(({w} {s},{e} {s},{e} {n},{w} {n},{w} {s}))"


GRIDS: dict[str, tuple[str, str, datetime | None, datetime | None]] = {
    # name: (parent, WKT, valid_from, valid_to)
    "GA": ("K1", f"MULTIPOLYGON({box(126.60, 45.70, 126.61, 45.71)})", None, None),
    "GB": (
        "K1",
        "MULTIPOLYGON(((126.61 45.70,126.625 45.70,126.615 45.71,126.61 45.71,126.61 45.70)))",
        None,
        None,
    ),
    "GC": (
        "S1",
        "MULTIPOLYGON(((126.625 45.70,126.63 45.70,126.63 45.71,126.615 45.71,126.625 45.70)))",
        None,
        None,
    ),
    "GH": (
        "K1",
        "MULTIPOLYGON(((126.60 45.71,126.61 45.71,126.61 45.72,126.60 45.72,126.60 45.71),"
        "(126.603 45.713,126.607 45.713,126.607 45.717,126.603 45.717,126.603 45.713)))",
        None,
        None,
    ),
    "GM": (
        "K1",
        "MULTIPOLYGON("
        f"{box(126.61, 45.71, 126.63, 45.72)},{box(126.604, 45.714, 126.606, 45.716)})",
        None,
        None,
    ),
    "GP": ("K2", f"MULTIPOLYGON({box(126.60, 45.72, 126.615, 45.73)})", None, T),
    "GQ": ("K2", f"MULTIPOLYGON({box(126.615, 45.72, 126.63, 45.73)})", None, T),
    "GP2": ("K2", f"MULTIPOLYGON({box(126.60, 45.72, 126.62, 45.73)})", T, None),
    "GQ2": ("K2", f"MULTIPOLYGON({box(126.62, 45.72, 126.63, 45.73)})", T, None),
    "GO": ("K1", f"MULTIPOLYGON({box(126.6075, 45.6975, 126.6125, 45.7075)})", None, None),
}
# The store's code of each grid: a redrawn grid keeps its code.
CODES = {name: name.rstrip("2") for name in GRIDS}


def reset_city(engine: Engine) -> dict[str, int]:
    """Empty the store and seed the city above; returns area ids by name."""
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        empty_with_categories(conn)
        outline = f"MULTIPOLYGON({box(126.60, 45.70, 126.63, 45.73)})"
        for name, level, parent in (
            ("C1", "city", None),
            ("D1", "district", "C1"),
            ("S1", "street", "D1"),
            ("K1", "community", "S1"),
            ("K2", "community", "S1"),
        ):
            ids[name] = _area(conn, name, name, level, ids.get(parent or ""), outline, None, None)
        for name, (parent, wkt, valid_from, valid_to) in GRIDS.items():
            ids[name] = _area(
                conn, name, CODES[name], "grid", ids[parent], wkt, valid_from, valid_to
            )
        ids["worker"] = conn.execute(
            text(
                "INSERT INTO accounts (username, role, scope_area_id) "
                "VALUES ('w1', 'grid_worker', :a) RETURNING id"
            ),
            {"a": ids["D1"]},
        ).scalar_one()
    return ids


def _area(
    conn: Connection,
    name: str,
    code: str,
    level: str,
    parent: int | None,
    wkt: str,
    valid_from: datetime | None,
    valid_to: datetime | None,
) -> int:
    sql = (
        "INSERT INTO areas (code, name, level, parent_id, geom, valid_from, valid_to) VALUES "
        "(:code, :name, :level, :parent, ST_GeomFromText(:wkt, 4326), "
        "coalesce(CAST(:vf AS timestamptz), '2000-01-01T00:00:00Z'), CAST(:vt AS timestamptz)) "
        "RETURNING id"
    )
    params = {
        "code": code,
        "name": name,
        "level": level,
        "parent": parent,
        "wkt": wkt,
        "vf": valid_from,
        "vt": valid_to,
    }
    return int(conn.execute(text(sql), params).scalar_one())


def incident(engine: Engine, lon: float, lat: float, at: datetime, **given: object) -> int:
    cols = ", ".join(given)
    vals = ", ".join(f":{c}" for c in given)
    sql = (
        f"INSERT INTO incidents (category, reported_at, geom{', ' + cols if given else ''}) "
        f"VALUES ('0101', :at, ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
        f"{', ' + vals if given else ''}) RETURNING id"
    )
    with engine.begin() as conn:
        return int(conn.execute(text(sql), {"at": at, "x": lon, "y": lat, **given}).scalar_one())


def redraw(engine: Engine, city: dict[str, int]) -> dict[str, int]:
    """At T2 the GP/GQ edge moves again, from 126.62 to 126.625."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE areas SET valid_to = :t WHERE id IN (:p, :q)"),
            {"t": T2, "p": city["GP2"], "q": city["GQ2"]},
        )
        for name, code, (w, e) in (
            ("GP3", "GP", (126.60, 126.625)),
            ("GQ3", "GQ", (126.625, 126.63)),
        ):
            city[name] = conn.execute(
                text(
                    "INSERT INTO areas (code, name, level, parent_id, valid_from, geom) VALUES "
                    "(:c, :n, 'grid', :k, :t, ST_GeomFromText(:g, 4326)) RETURNING id"
                ),
                {
                    "c": code,
                    "n": name,
                    "k": city["K2"],
                    "t": T2,
                    "g": f"MULTIPOLYGON({box(w, 45.72, e, 45.73)})",
                },
            ).scalar_one()
    return city


def seed_rows(engine: Engine, city: dict[str, int]) -> dict[int, str | None]:
    """Incidents and places on both sides of the coming redraw; returns, per row, the grid it
    must have after re-assignment (incidents by id, places by minus their id)."""
    after_t2 = T2 + timedelta(days=10)
    expected: dict[int, str | None] = {}
    # 126.625 lies on the new shared edge: GP3, the lower id
    for x in (126.6201, 126.6225, 126.6249, 126.625):
        expected[incident(engine, x, 45.725, after_t2)] = "GP3"  # GQ2 -> GP3
        expected[incident(engine, x, 45.725, AFTER)] = "GQ2"  # before T2: as it was
    expected[incident(engine, 126.61, 45.725, after_t2)] = "GP3"  # a new version of GP
    expected[incident(engine, 126.6275, 45.725, after_t2)] = "GQ3"
    expected[incident(engine, 126.64, 45.725, after_t2)] = None  # outside, still
    with engine.begin() as conn:
        for x, grid in ((126.6225, "GP3"), (126.6275, "GQ3")):
            pid = conn.execute(
                text(
                    "INSERT INTO places (kind, name, geom) VALUES ('hydrant', 'h', "
                    "ST_SetSRID(ST_MakePoint(:x, 45.725), 4326)) RETURNING id"
                ),
                {"x": x},
            ).scalar_one()
            expected[-int(pid)] = grid
    return expected
