"""Assignment in the store: the PostGIS twin agrees with GridIndex, the triggers fill and
leave ids as they should, the loader stores ids, and re-assignment moves exactly the rows a
redraw moves."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, text

from gisgrid.assign import store as assign_store
from gisgrid.assign.index import GridIndex
from gisgrid.assign.store import reassign
from gisgrid.errors import InvalidInput, NotFound
from gisgrid.io.load import load_file
from gisgrid.store.cluster import Cluster
from gisgrid.store.engine import make_engine
from gisgrid.store.migrate import migrate_down, migrate_to_head
from tests.assign.support import (
    AFTER,
    BBOX,
    BEFORE,
    GRIDS,
    T,
    box,
    incident,
    redraw,
    reset_city,
    seed_rows,
)
from tests.io.support import reset, rows, snapshot
from tests.support import scratch_engine


@pytest.fixture(scope="module")
def engine(cluster: Cluster) -> Iterator[Engine]:
    with scratch_engine(cluster, "assign_store_scratch") as eng:
        yield eng


@pytest.fixture()
def city(engine: Engine) -> dict[str, int]:
    return reset_city(engine)


def sql_ids(engine: Engine, x: np.ndarray, y: np.ndarray, times: list | None) -> np.ndarray:
    """(grid, community, street, district) per point from PostGIS; -1 for NULL."""
    at = times if times is not None else [None] * len(x)
    sql = text(
        "SELECT gisgrid_assign_point(p.g, u.t), r.grid_id, r.community_id, r.street_id, "
        "r.district_id FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[]), "
        "CAST(:t AS timestamptz[])) WITH ORDINALITY AS u(x, y, t, i) "
        "CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(u.x, u.y), 4326) AS g) p "
        "CROSS JOIN LATERAL gisgrid_assign_point_ids(p.g, u.t) r ORDER BY u.i"
    )
    with engine.connect() as conn:
        got = conn.execute(sql, {"x": list(map(float, x)), "y": list(map(float, y)), "t": at})
        out = np.array([[-1 if v is None else v for v in r] for r in got], dtype=np.int64)
    assert (out[:, 0] == out[:, 1]).all()  # the scalar and the composite agree
    return out[:, 1:]


def py_ids(engine: Engine, x: np.ndarray, y: np.ndarray, times: list | None) -> np.ndarray:
    res = GridIndex.from_areas(engine).assign(x, y, times)
    return np.column_stack([res.grid_id, res.community_id, res.street_id, res.district_id])


def adversarial_points() -> tuple[np.ndarray, np.ndarray]:
    """Every vertex, points on every edge (the diagonal one too), just off them, the middle
    of the hole and of the island, and points outside."""
    geoms = shapely.from_wkt([wkt for _, wkt, _, _ in GRIDS.values()])
    rings = shapely.get_rings(shapely.get_parts(geoms))
    coords = shapely.get_coordinates(rings)
    pts = [coords]
    for ring in rings:
        c = shapely.get_coordinates(ring)
        for a, b in itertools.pairwise(c):
            for f in (0.25, 0.5, 1 / 3):
                pts.append((a + f * (b - a))[None, :])
    on = np.concatenate(pts)
    eps = 1e-9
    shifts = np.array([[eps, 0], [-eps, 0], [0, eps], [0, -eps]])
    off = np.concatenate([on + d for d in shifts])
    special = np.array(
        [
            [126.605, 45.7135],  # in GH's hole
            [126.605, 45.715],  # on the island (GM)
            [126.61, 45.70],  # the vertex of GA and GB on GO's edge-free interior
            [126.62, 45.705],  # on the diagonal GB/GC edge: x = 126.625 - (y - 45.70)
            [126.61, 45.6985],  # GO only (below the tiling)
            [126.59, 45.71],  # outside, west
            [126.64, 45.74],  # outside, north-east
        ]
    )
    xy = np.concatenate([on, off, special])
    return xy[:, 0], xy[:, 1]


@pytest.mark.parametrize(
    "when",
    [None, BEFORE, T, AFTER, datetime(1999, 1, 1, tzinfo=UTC)],
    ids=["current", "before-T", "at-T", "after-T", "before-any-grid"],
)
def test_function_agrees_with_gridindex_on_adversarial_points(
    engine: Engine, city: dict[str, int], when: datetime | None
) -> None:
    x, y = adversarial_points()
    times = None if when is None else [when] * len(x)
    assert len(x) > 500
    np.testing.assert_array_equal(sql_ids(engine, x, y, times), py_ids(engine, x, y, times))


def test_function_agrees_with_gridindex_on_random_points_and_times(
    engine: Engine, city: dict[str, int]
) -> None:
    rng = np.random.default_rng(7)
    n = 5000
    w, s, e, n_ = BBOX
    x, y = rng.uniform(w, e, n), rng.uniform(s, n_, n)
    offsets = rng.integers(-400, 400, n).astype("timedelta64[D]")
    times = [T + timedelta(days=int(d)) for d in offsets.astype(int)]
    times[::50] = [T] * len(times[::50])  # exactly at the redraw
    sql, py = sql_ids(engine, x, y, times), py_ids(engine, x, y, times)
    np.testing.assert_array_equal(sql, py)
    # the city is exercised: most points in a grid, some outside, both versions of GP used
    assert 0.5 < (sql[:, 0] >= 0).mean() < 0.95
    assert {city["GP"], city["GP2"], city["GO"]} <= set(sql[:, 0].tolist())


@pytest.mark.parametrize(
    ("lon", "lat", "when", "expected"),
    [
        (126.605, 45.705, None, "GA"),
        (126.61, 45.705, None, "GA"),  # GA/GB edge, inside GO too: the lowest id
        (126.61, 45.6985, None, "GO"),  # GO alone, below the tiling
        (126.605, 45.7135, None, None),  # in GH's hole
        (126.603, 45.715, None, "GH"),  # on the hole's ring: GH covers its boundary
        (126.605, 45.715, None, "GM"),  # the island of GM, inside GH's hole
        (126.615, 45.725, BEFORE, "GP"),  # the old GP/GQ edge: lowest id
        (126.6175, 45.725, BEFORE, "GQ"),
        (126.6175, 45.725, T, "GP2"),  # valid_from is inclusive, valid_to exclusive
        (126.6175, 45.725, None, "GP2"),
        (126.6175, 45.725, datetime(1999, 1, 1, tzinfo=UTC), None),  # before every grid
        (126.64, 45.725, None, None),
    ],
)
def test_hand_checked_points(
    engine: Engine,
    city: dict[str, int],
    lon: float,
    lat: float,
    when: datetime | None,
    expected: str | None,
) -> None:
    with engine.connect() as conn:
        got = conn.execute(
            text("SELECT gisgrid_assign_point(ST_SetSRID(ST_MakePoint(:x, :y), 4326), :t)"),
            {"x": lon, "y": lat, "t": when},
        ).scalar_one()
    assert got == (city[expected] if expected else None)


def test_hierarchy_walks_parent_ids(engine: Engine, city: dict[str, int]) -> None:
    x, y = np.array([126.605, 126.628]), np.array([45.705, 45.701])  # GA, GC (under S1)
    got = sql_ids(engine, x, y, None)
    assert got.tolist() == [
        [city["GA"], city["K1"], city["S1"], city["D1"]],
        [city["GC"], -1, city["S1"], city["D1"]],
    ]


# -- triggers ---------------------------------------------------------------------------------
def _ids(engine: Engine, table: str, row_id: int) -> tuple[object, ...]:
    extra = ", unassigned" if table == "incidents" else ""
    return rows(
        engine,
        f"SELECT grid_id, community_id, street_id, district_id{extra} FROM {table} WHERE id = :i",
        i=row_id,
    )[0]


def test_trigger_fills_a_plain_insert(engine: Engine, city: dict[str, int]) -> None:
    inside = incident(engine, 126.605, 45.705, AFTER)
    outside = incident(engine, 126.64, 45.705, AFTER)
    assert _ids(engine, "incidents", inside) == (
        city["GA"],
        city["K1"],
        city["S1"],
        city["D1"],
        False,
    )
    assert _ids(engine, "incidents", outside) == (None, None, None, None, True)


def test_trigger_leaves_given_ids_alone(engine: Engine, city: dict[str, int]) -> None:
    # deliberately "wrong" ids: the caller's word stands
    given = incident(engine, 126.605, 45.705, AFTER, grid_id=city["GM"], community_id=None)
    assert _ids(engine, "incidents", given) == (city["GM"], None, None, None, False)


def test_trigger_reassigns_when_the_point_or_its_time_moves(
    engine: Engine, city: dict[str, int]
) -> None:
    row = incident(engine, 126.605, 45.705, BEFORE)
    with engine.begin() as conn:
        conn.execute(text("UPDATE incidents SET description = 'x' WHERE id = :i"), {"i": row})
    assert _ids(engine, "incidents", row)[0] == city["GA"]
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE incidents SET geom = 'SRID=4326;POINT(126.6175 45.725)' WHERE id = :i"),
            {"i": row},
        )
    assert _ids(engine, "incidents", row) == (city["GQ"], city["K2"], city["S1"], city["D1"], False)
    with engine.begin() as conn:  # reported later: the redrawn grid
        conn.execute(
            text("UPDATE incidents SET reported_at = :t WHERE id = :i"), {"t": AFTER, "i": row}
        )
    assert _ids(engine, "incidents", row)[0] == city["GP2"]
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE incidents SET geom = 'SRID=4326;POINT(126.64 45.725)' WHERE id = :i"),
            {"i": row},
        )
    assert _ids(engine, "incidents", row) == (None, None, None, None, True)


def test_trigger_on_every_assigned_table(engine: Engine, city: dict[str, int]) -> None:
    pt = "ST_SetSRID(ST_MakePoint(126.6175, 45.725), 4326)"
    with engine.begin() as conn:
        visit = conn.execute(
            text(
                "INSERT INTO visit_logs (worker_id, subject_type, visited_at, geom) "
                f"VALUES (:w, 'household', :t, {pt}) RETURNING id"
            ),
            {"w": city["worker"], "t": BEFORE},
        ).scalar_one()
        place = conn.execute(
            text(
                f"INSERT INTO places (kind, name, geom) VALUES ('hydrant', 'h', {pt}) RETURNING id"
            )
        ).scalar_one()
        # an L-shaped footprint: a point on its surface stands for it
        building = conn.execute(
            text(
                "INSERT INTO buildings (address, geom) VALUES ('b', ST_GeomFromText("
                "'MULTIPOLYGON(((126.601 45.7095,126.602 45.7095,126.602 45.7195,126.6099 "
                "45.7195,126.6099 45.7199,126.601 45.7199,126.601 45.7095)))', 4326)) RETURNING id"
            )
        ).scalar_one()
        located = conn.execute(
            text(f"INSERT INTO households (address, geom) VALUES ('h', {pt}) RETURNING id")
        ).scalar_one()
        nowhere = conn.execute(
            text("INSERT INTO households (address) VALUES ('no location') RETURNING id")
        ).scalar_one()
    assert _ids(engine, "visit_logs", visit)[0] == city["GQ"]  # at its time, before T
    assert _ids(engine, "places", place)[0] == city["GP2"]  # the current grids
    assert _ids(engine, "households", located)[0] == city["GP2"]
    assert _ids(engine, "households", nowhere) == (None, None, None, None)
    surface = rows(
        engine,
        "SELECT gisgrid_assign_point(ST_PointOnSurface(geom)) FROM buildings WHERE id = :i",
        i=building,
    )[0][0]
    assert _ids(engine, "buildings", building)[0] == surface == city["GH"]


def test_trigger_off_for_a_transaction_that_writes_ids_itself(
    engine: Engine, city: dict[str, int]
) -> None:
    with engine.begin() as conn:
        assign_store.trigger_off(conn)
        row = conn.execute(
            text(
                "INSERT INTO incidents (category, reported_at, geom) VALUES "
                "('0101', now(), 'SRID=4326;POINT(126.605 45.705)') RETURNING id"
            )
        ).scalar_one()
    assert _ids(engine, "incidents", row) == (None, None, None, None, False)
    later = incident(engine, 126.605, 45.705, AFTER)  # a new transaction: the trigger is back
    assert _ids(engine, "incidents", later)[0] == city["GA"]


ASSIGN_FUNCTIONS = (
    "gisgrid_assign_point",
    "gisgrid_area_above",
    "gisgrid_assign_point_ids",
    "gisgrid_assign_row",
)


def test_downgrade_drops_the_functions_and_triggers(cluster: Cluster) -> None:
    def objects(eng: Engine, assign_only: bool) -> tuple[int, int]:
        """(gisgrid's functions, or only the assignment ones; assignment triggers)"""
        with eng.connect() as conn:
            fns = conn.execute(
                text(
                    "SELECT count(*) FROM pg_proc WHERE proname LIKE 'gisgrid\\_%'"
                    " AND (:all OR proname = ANY(:assign))"
                ),
                {"all": not assign_only, "assign": list(ASSIGN_FUNCTIONS)},
            ).scalar_one()
            trg = conn.execute(  # as declared: not the clones on incidents' partitions
                text(
                    "SELECT count(*) FROM pg_trigger"
                    " WHERE tgname LIKE 'gisgrid_assign_%' AND tgparentid = 0"
                )
            ).scalar_one()
        return int(fns), int(trg)

    with scratch_engine(cluster, "assign_downgrade_scratch") as eng:
        url = eng.url.render_as_string(hide_password=False)
        assert objects(eng, assign_only=True) == (len(ASSIGN_FUNCTIONS), 10)
        assert objects(eng, assign_only=False)[0] > len(ASSIGN_FUNCTIONS)  # the tiles' too
        migrate_down(url, "0001")
        # every gisgrid function is gone, the assignment's and the tiles' (0004, 0002)
        assert objects(eng, assign_only=False) == (0, 0)
        migrate_to_head(url)
        assert objects(eng, assign_only=True) == (len(ASSIGN_FUNCTIONS), 10)


# -- the loader -------------------------------------------------------------------------------
INCIDENTS_CSV = (
    "code,category,reported_at,lon,lat\n"
    "I1,0101,2026-03-02T09:00:00+08:00,126.605,45.705\n"  # GA
    "I2,0101,2025-06-01T09:00:00+08:00,126.6175,45.725\n"  # GQ before T
    "I3,0101,2026-03-02T09:00:00+08:00,126.6175,45.725\n"  # GP2 after T
    "I4,0101,2026-03-02T09:00:00+08:00,126.6305,45.725\n"  # ~40 m east of GQ2
    "I5,0101,2026-03-02T09:00:00+08:00,126.605,45.7133\n"  # in GH's hole
)


def _stored(engine: Engine) -> dict[str, tuple[object, ...]]:
    got = rows(
        engine,
        "SELECT code, grid_id, community_id, district_id, unassigned FROM incidents ORDER BY code",
    )
    return {str(r[0]): tuple(r[1:]) for r in got}


@pytest.mark.parametrize("path", ["python", "trigger"])
def test_loader_stores_ids_and_unassigned(
    engine: Engine,
    city: dict[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    # a load of five rows is the trigger's; with the threshold at 0 the loader assigns
    monkeypatch.setattr(assign_store, "PYTHON_MIN_ROWS", 0 if path == "python" else 10**9)
    csv = tmp_path / "incidents.csv"
    csv.write_text(INCIDENTS_CSV, encoding="utf-8")
    load_file(engine, "incidents", csv)
    k1, k2, d1 = city["K1"], city["K2"], city["D1"]
    assert _stored(engine) == {
        "I1": (city["GA"], k1, d1, False),
        "I2": (city["GQ"], k2, d1, False),
        "I3": (city["GP2"], k2, d1, False),
        "I4": (None, None, None, True),
        "I5": (None, None, None, True),
    }


def test_loader_max_distance_gives_the_nearest_grid_and_an_upsert_keeps_it(
    engine: Engine, city: dict[str, int], tmp_path: Path
) -> None:
    csv = tmp_path / "incidents.csv"
    csv.write_text(INCIDENTS_CSV, encoding="utf-8")
    load_file(engine, "incidents", csv, max_distance_m=100)
    stored = _stored(engine)
    assert stored["I4"] == (city["GQ2"], city["K2"], city["D1"], False)
    assert stored["I5"][0] == city["GH"]  # the hole's ring ~33 m away, the island ~78 m
    # incidents are appended only (partitioned: code is unique in incident_keys), so the
    # upsert is a place's: moved a little, still outside, the update trigger must not undo
    # the loader's nearest grid
    places = tmp_path / "places.csv"
    header = "code,kind,name,lon,lat\n"
    places.write_text(header + "P4,small_shop,East,126.6305,45.725\n", encoding="utf-8")
    load_file(engine, "places", places, key="code", max_distance_m=100)
    grid_of = "SELECT grid_id FROM places WHERE code = 'P4'"
    assert rows(engine, grid_of) == [(city["GQ2"],)]
    places.write_text(header + "P4,small_shop,East,126.6306,45.725\n", encoding="utf-8")
    report = load_file(engine, "places", places, key="code", max_distance_m=100)
    assert (report.inserted, report.updated) == (0, 1)
    assert rows(engine, grid_of) == [(city["GQ2"],)]
    with pytest.raises(InvalidInput, match="max_distance_m"):
        load_file(engine, "places", places, key="code", max_distance_m=0)


def test_loader_assigns_buildings_by_a_point_on_the_footprint(
    engine: Engine, city: dict[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assign_store, "PYTHON_MIN_ROWS", 0)
    csv = tmp_path / "buildings.csv"
    # straddles GP2/GQ2 (edge at 126.62), mostly in GQ2
    footprint = f"MULTIPOLYGON({box(126.619, 45.724, 126.629, 45.726)})"
    csv.write_text(f'address,wkt\nb1,"{footprint}"\n', encoding="utf-8")
    load_file(engine, "buildings", csv)
    got = rows(
        engine,
        "SELECT grid_id, gisgrid_assign_point(ST_PointOnSurface(geom)) FROM buildings",
    )
    assert got == [(city["GQ2"], city["GQ2"])]


def test_a_store_without_grids_leaves_every_row_unassigned(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset(engine)  # a city and a district, no grid yet
    monkeypatch.setattr(assign_store, "PYTHON_MIN_ROWS", 0)
    csv = tmp_path / "incidents.csv"
    csv.write_text(INCIDENTS_CSV, encoding="utf-8")
    load_file(engine, "incidents", csv, max_distance_m=100)
    assert set(_stored(engine).values()) == {(None, None, None, True)}
    assert reassign(engine).changed == 0


# -- re-assignment ----------------------------------------------------------------------------
def _grids(engine: Engine) -> dict[int, object]:
    out: dict[int, object] = {}
    for r in rows(engine, "SELECT id, grid_id FROM incidents"):
        out[int(r[0])] = r[1]  # type: ignore[call-overload]
    for r in rows(engine, "SELECT id, grid_id FROM places"):
        out[-int(r[0])] = r[1]  # type: ignore[call-overload]
    return out


def test_reassign_after_a_redraw_moves_exactly_the_expected_rows(
    engine: Engine, city: dict[str, int]
) -> None:
    expected = seed_rows(engine, city)
    before = _grids(engine)
    redraw(engine, city)
    report = reassign(engine, chunk_rows=3)  # many chunks, one transaction each
    after = _grids(engine)
    assert after == {i: (city[g] if g else None) for i, g in expected.items()}
    moved = {i for i in before if before[i] != after[i]}
    assert len(moved) == 8
    assert (report.tables["incidents"].moved, report.tables["places"].moved) == (6, 2)
    assert report.top_moves() == [("GQ", "GP", 5), ("GQ", "GQ", 2), ("GP", "GP", 1)]
    assert report.tables["incidents"].checked == 11
    # what is stored is what the trigger would compute now
    mismatched = rows(
        engine,
        "SELECT count(*) FROM incidents WHERE grid_id IS DISTINCT FROM "
        "gisgrid_assign_point(geom, reported_at) OR unassigned <> (grid_id IS NULL)",
    )
    assert mismatched == [(0,)]
    assert reassign(engine).changed == 0


def test_reassign_dry_run_changes_nothing(engine: Engine, city: dict[str, int]) -> None:
    seed_rows(engine, city)
    redraw(engine, city)
    before = snapshot(engine)
    report = reassign(engine, dry_run=True)
    assert snapshot(engine) == before
    assert report.dry_run and report.moved == 8


def test_reassign_since_area_and_table_limit_the_rows_checked(
    engine: Engine, city: dict[str, int]
) -> None:
    seed_rows(engine, city)
    redraw(engine, city)

    def counts(**kw: str) -> tuple[int, int]:
        got = reassign(engine, "incidents", dry_run=True, **kw).tables["incidents"]
        return got.checked, got.moved

    assert counts() == (11, 6)
    assert counts(since="2026-06-01") == (7, 6)  # city time: T2
    assert counts(area="GP") == (9, 5)  # inside any version of GP (x <= 126.625)
    assert counts(area="GA") == (0, 0)
    with pytest.raises(NotFound, match="XX"):
        reassign(engine, area="XX")
    with pytest.raises(InvalidInput, match="residents"):
        reassign(engine, "residents")
    with pytest.raises(InvalidInput, match="since"):
        reassign(engine, since="yesterday")


def test_reassign_reads_times_in_any_session_zone(
    engine: Engine, city: dict[str, int], cluster: Cluster
) -> None:
    """The driver hands times in the session's zone; with DST the offsets differ by row."""
    summer = incident(engine, 126.6175, 45.725, datetime(2025, 7, 1, tzinfo=UTC))  # GQ
    winter = incident(engine, 126.6175, 45.725, T - timedelta(seconds=1))  # GQ, just
    url = engine.url.render_as_string(hide_password=False)
    zoned = make_engine(url, connect_args={"options": "-c TimeZone=America/New_York"})
    try:
        assert reassign(zoned, "incidents", dry_run=True).changed == 0
    finally:
        zoned.dispose()
    assert _ids(engine, "incidents", summer)[0] == _ids(engine, "incidents", winter)[0]
    assert _ids(engine, "incidents", winter)[0] == city["GQ"]
