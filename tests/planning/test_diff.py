"""The diff of a plan against the current boundaries, on the tiny city: kept, changed, new and
retired codes, what moves between grids, and the workers to re-scope."""

from __future__ import annotations

import shapely
from sqlalchemy import Connection, text

from gisgrid.planning.diff import plan_diff
from tests.planning.tables import add_grid, area_id, draft, make_plan, metric, set_geom

DB = "plan_diff_scratch"


def _in(conn: Connection, table: str, geom: object, extra: str = "") -> int:
    n: int = conn.execute(
        text(
            f"SELECT count(*) FROM {table} t WHERE ST_Intersects(t.geom,"
            f" ST_GeomFromWKB(:g, 4326)) {extra}"
        ),
        {"g": shapely.to_wkb(geom)},
    ).scalar_one()
    return n


def _worker(conn: Connection, plan: int, code: str) -> tuple[int, str]:
    row = conn.execute(
        text(
            "SELECT a.id, a.username FROM accounts a JOIN plan_areas p"
            " ON p.replaces_area_id = a.scope_area_id WHERE p.plan_id = :p AND p.code = :c"
            " AND a.role = 'grid_worker'"
        ),
        {"p": plan, "c": code},
    ).one()
    return int(row.id), str(row.username)


def test_a_copy_keeps_everything(conn: Connection) -> None:
    plan = make_plan(conn, area_id(conn, "community"))
    d = plan_diff(conn, plan)
    assert d["kept"] == sorted(draft(conn, plan))
    assert d["changed"] == d["new"] == d["retired"] == d["moves"] == d["workers"] == []


def test_a_merge_retires_a_code_and_moves_its_rows(conn: Connection) -> None:
    plan = make_plan(conn, area_id(conn, "community"))
    grids = draft(conn, plan)
    a, b = sorted(grids)[:2]
    worker = _worker(conn, plan, b)
    conn.execute(
        text("DELETE FROM plan_areas WHERE plan_id = :p AND code = :c"), {"p": plan, "c": b}
    )
    set_geom(conn, plan, a, shapely.union(grids[a], grids[b]))
    d = plan_diff(conn, plan)
    assert [c["code"] for c in d["changed"]] == [a] and d["retired"] == [b] and d["new"] == []
    assert d["kept"] == sorted(set(grids) - {a, b})
    [move] = d["moves"]
    assert (move["from"], move["to"]) == (b, a)
    assert move["households"] == _in(conn, "households", grids[b])
    assert move["places"] == _in(conn, "places", grids[b])
    assert move["open_incidents"] == _in(
        conn, "incidents", grids[b], "AND status NOT IN ('closed', 'rejected')"
    )
    assert (
        move["residents"]
        == conn.execute(
            text(
                "SELECT count(*) FROM residents r JOIN households h ON h.id = r.household_id"
                " WHERE ST_Intersects(h.geom, ST_GeomFromWKB(:g, 4326))"
            ),
            {"g": shapely.to_wkb(grids[b])},
        ).scalar_one()
    )
    assert d["workers"] == [
        {"account_id": worker[0], "username": worker[1], "from": b, "to": a, "why": "retired"}
    ]


def test_a_split_adds_a_code_and_the_worker_stays_with_the_larger_piece(
    conn: Connection,
) -> None:
    plan = make_plan(conn, area_id(conn, "community"))
    grids = draft(conn, plan)
    code = max(grids, key=lambda c: _in(conn, "households", grids[c]))
    replaced = conn.execute(
        text("SELECT replaces_area_id FROM plan_areas WHERE plan_id = :p AND code = :c"),
        {"p": plan, "c": code},
    ).scalar_one()
    m, back = metric(grids[code])
    x0, y0, x1, y1 = m.bounds
    piece = back(shapely.intersection(m, shapely.box(x0, y0, (x0 + x1) / 2, y1)))
    rest = back(shapely.difference(m, shapely.box(x0, y0, (x0 + x1) / 2, y1)))
    small, large = sorted([piece, rest], key=lambda g: metric(g)[0].area)
    set_geom(conn, plan, code, large)
    add_grid(conn, plan, "N001", small, replaces=replaced)
    worker = _worker(conn, plan, code)
    d = plan_diff(conn, plan)
    assert d["new"] == ["N001"] and d["retired"] == []
    assert [c["code"] for c in d["changed"]] == [code]
    assert d["changed"][0]["delta_m2"] > 1000
    [move] = d["moves"]
    assert (move["from"], move["to"]) == (code, "N001")
    # the line may pass by a household: those on it stay where they were
    assert move["households"] == _in(conn, "households", small) - _in(
        conn, "households", small.boundary
    )
    assert d["workers"] == [
        {"account_id": worker[0], "username": worker[1], "from": code, "to": code, "why": "split"}
    ]
