"""gisgrid.assign.versions.open_versions as a plan's publishing uses it: a merge retires
codes (their workers are listed, not guessed), a nearest-grid row keeps its grid's
successor, and of two changes to the same grids at once the second is a Conflict."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from gisgrid.assign.versions import STAGED, open_versions, stage_areas
from gisgrid.errors import Conflict
from gisgrid.store.cluster import Cluster
from tests.io.support import reset, rows
from tests.support import scratch_engine

T = "2026-06-01T00:00:00+08:00"


def _box(w: float, e: float) -> str:
    return f"MULTIPOLYGON((({w} 45.70,{e} 45.70,{e} 45.80,{w} 45.80,{w} 45.70)))"


@pytest.fixture(scope="module")
def engine(cluster: Cluster) -> Iterator[Engine]:
    with scratch_engine(cluster, "versions_scratch") as eng:
        yield eng


@pytest.fixture()
def grids(engine: Engine) -> dict[str, int]:
    """Grids G1 (126.60..126.62) and G2 (126.62..126.64) under the district since 2020; a
    worker in each; a place in each and one east of G2, outside every grid, given G2 as the
    nearest grid."""
    ids = reset(engine)
    with engine.begin() as conn:
        for code, (w, e) in {"G1": (126.60, 126.62), "G2": (126.62, 126.64)}.items():
            ids[code] = conn.execute(
                text(
                    "INSERT INTO areas (code, name, level, parent_id, valid_from, geom) VALUES"
                    " (:c, :n, 'grid', :p, '2020-01-01', ST_GeomFromText(:g, 4326))"
                    " RETURNING id"
                ),
                {"c": code, "n": code, "p": ids["district"], "g": _box(w, e)},
            ).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO accounts (username, role, scope_area_id)"
                    " VALUES (:u, 'grid_worker', :a)"
                ),
                {"u": f"w-{code}", "a": ids[code]},
            )
        for code, x in {"P1": 126.61, "P2": 126.63}.items():
            conn.execute(
                text(
                    "INSERT INTO places (code, kind, name, geom) VALUES"
                    " (:c, 'hydrant', 'h', ST_SetSRID(ST_MakePoint(:x, 45.75), 4326))"
                ),
                {"c": code, "x": x},
            )
        conn.execute(
            text(
                # grid_id given: the assign trigger leaves it as it is
                "INSERT INTO places (code, kind, name, grid_id, district_id, geom) VALUES"
                " ('NEAR', 'hydrant', 'h', :g, :d,"
                " ST_SetSRID(ST_MakePoint(126.6401, 45.75), 4326))"
            ),
            {"g": ids["G2"], "d": ids["district"]},
        )
    return ids


def _stage(conn: object, rows_: list[tuple[str, float, float]], parent: int) -> None:
    stage_areas(conn)  # type: ignore[arg-type]
    for code, w, e in rows_:
        conn.execute(  # type: ignore[attr-defined]
            text(
                f"INSERT INTO {STAGED} (code, name, level, parent_id, geom) VALUES"
                " (:c, :n, 'grid', :p, ST_GeomFromText(:g, 4326))"
            ),
            {"c": code, "n": code, "p": parent, "g": _box(w, e)},
        )


def _place_grids(engine: Engine) -> dict[str, str | None]:
    got = rows(
        engine,
        "SELECT p.code, a.code FROM places p LEFT JOIN areas a ON a.id = p.grid_id ORDER BY 1",
    )
    return {str(p): (None if g is None else str(g)) for p, g in got}


def test_a_merge_moves_rows_and_lists_the_workers_of_retired_codes(
    engine: Engine, grids: dict[str, int]
) -> None:
    with engine.begin() as conn:
        _stage(conn, [("G3", 126.60, 126.64)], grids["district"])
        change = open_versions(conn, T, [grids["G1"], grids["G2"]])
    assert change.replaced == {}  # new code: no successor for G1 or G2
    assert sorted(change.unmapped_accounts) == sorted(
        int(r[0])  # type: ignore[call-overload]
        for r in rows(engine, "SELECT id FROM accounts WHERE username LIKE 'w-%'")
    )
    # the nearest-grid row had no successor to keep: no grid covers it now
    assert _place_grids(engine) == {"NEAR": None, "P1": "G3", "P2": "G3"}


def test_a_reshape_keeps_a_nearest_grid_row_on_the_successor(
    engine: Engine, grids: dict[str, int]
) -> None:
    with engine.begin() as conn:
        _stage(conn, [("G1", 126.60, 126.635), ("G2", 126.635, 126.64)], grids["district"])
        change = open_versions(conn, T, [grids["G1"], grids["G2"]])
    assert set(change.replaced) == {grids["G1"], grids["G2"]}
    assert change.rescoped_accounts == 2 and change.unmapped_accounts == []
    assert _place_grids(engine) == {"NEAR": "G2", "P1": "G1", "P2": "G1"}
    assert rows(
        engine, "SELECT count(*) FROM places p JOIN areas a ON a.id = p.grid_id"
        " WHERE a.valid_to IS NOT NULL"
    ) == [(0,)]  # fmt: skip


def test_of_two_changes_at_once_the_second_is_a_conflict(
    engine: Engine, grids: dict[str, int]
) -> None:
    first = engine.connect()
    tx = first.begin()
    _stage(first, [("G1", 126.60, 126.63)], grids["district"])
    open_versions(first, T, [grids["G1"]])
    outcome: list[BaseException | None] = []

    def second() -> None:
        try:
            with engine.begin() as conn:
                _stage(conn, [("G1", 126.60, 126.61)], grids["district"])
                open_versions(conn, T, [grids["G1"]])  # waits for the first one's lock
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive()  # blocked on the row lock
    tx.commit()
    first.close()
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], Conflict)
    assert outcome[0].field == "area"
    assert rows(engine, "SELECT count(*) FROM areas WHERE code = 'G1'") == [(2,)]
