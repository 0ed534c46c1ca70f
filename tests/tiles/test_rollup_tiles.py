"""Tiles from the rollup count what tiles from raw rows count: the same counts per area at
every zoom, the same totals of clusters and hexagons; ``rollup: false`` reads raw rows."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import mapbox_vector_tile
import pytest
from sqlalchemy import Connection, Engine, text

from tests.city_support import grid_extent

DB = "rollup_tiles_scratch"


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


@pytest.fixture(scope="module")
def whole(store: Engine) -> tuple[int, int, int]:
    """The deepest tile that holds every grid."""
    w, s, e, n = grid_extent(store)
    for z in range(16, -1, -1):
        if _tile_of(w, n, z) == _tile_of(e, s, z):
            return (z, *_tile_of(w, n, z))
    raise AssertionError("unreachable")


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        tx = c.begin()
        yield c
        tx.rollback()


def _features(
    conn: Connection, layer: str, z: int, x: int, y: int, qp: dict[str, Any]
) -> list[dict[str, Any]]:
    body = conn.execute(
        text(f"SELECT gisgrid_tile_{layer}(:z, :x, :y, CAST(:qp AS json))"),
        {"z": z, "x": x, "y": y, "qp": json.dumps(qp)},
    ).scalar_one()
    if not body:
        return []
    decoded = mapbox_vector_tile.decode(bytes(body))
    return list(next(iter(decoded.values()))["features"])


def _counts(feats: list[dict[str, Any]]) -> dict[Any, tuple[int, int, int]]:
    return {
        f["id"]: (
            f["properties"]["incidents"],
            f["properties"]["open"],
            f["properties"]["overdue"],
        )
        for f in feats
    }


def _filters(conn: Connection) -> list[dict[str, Any]]:
    day = conn.execute(
        text(
            "SELECT (percentile_disc(0.5) WITHIN GROUP (ORDER BY reported_at)"
            " AT TIME ZONE 'Asia/Shanghai')::date FROM incidents"
        )
    ).scalar_one()
    district = conn.execute(
        text("SELECT min(id) FROM areas WHERE level = 'district' AND valid_to IS NULL")
    ).scalar_one()
    return [
        {},
        {"category": ["01"]},
        {"category": ["0101", "03"], "status": ["reported", "dispatched"]},
        {"status": ["closed"]},
        # whole city days, as gisgrid.tiles.filters sends a bare from/to
        {"from": f"{day}T00:00:00+08:00", "to": f"{day}T23:59:59.999999+08:00"},
        {"from": f"{day}T00:00:00+08:00"},
        {"scope_level": "all"},
        {"scope_level": "district", "scope_area_id": district},
    ]


AREA_LAYERS = ("districts", "streets", "communities", "grids")


@pytest.mark.parametrize("layer", AREA_LAYERS)
def test_area_counts_are_the_raw_counts(
    conn: Connection, whole: tuple[int, int, int], layer: str
) -> None:
    z, x, y = whole
    seen = 0
    for qp in _filters(conn):
        for zz, xx, yy in ((z, x, y), (z + 2, 4 * x + 1, 4 * y + 1), (z + 2, 4 * x + 2, 4 * y + 1)):
            rolled = _counts(_features(conn, layer, zz, xx, yy, qp))
            raw = _counts(_features(conn, layer, zz, xx, yy, {**qp, "rollup": False}))
            assert rolled == raw, (qp, zz)
            seen += sum(c[0] for c in rolled.values())
    assert seen > 0


def test_overdue_and_open_are_counted_both_ways(conn: Connection, whole: tuple[int, ...]) -> None:
    # cases due over the last hours, in this hour and later: whole hours from the rollup,
    # this hour's from incidents
    conn.execute(
        text(
            "UPDATE incidents SET due_at = now() + (id % 7 - 4) * interval '20 minutes'"
            " WHERE status NOT IN ('closed', 'rejected') AND due_at > reported_at"
            " AND now() + (id % 7 - 4) * interval '20 minutes' > reported_at"
        )
    )
    z, x, y = whole
    district = conn.execute(
        text("SELECT min(id) FROM areas WHERE level = 'district' AND valid_to IS NULL")
    ).scalar_one()
    # anonymous, everything in scope, and one district (the sensitive groups' own counts)
    for qp in ({}, {"scope_level": "all"}, {"scope_level": "district", "scope_area_id": district}):
        for layer in ("districts", "grids"):
            rolled = _counts(_features(conn, layer, z, x, y, qp))
            raw = _counts(_features(conn, layer, z, x, y, {**qp, "rollup": False}))
            assert rolled == raw, (qp, layer)
            assert sum(c[2] for c in raw.values()) > 0


def _totals(feats: list[dict[str, Any]], count: str) -> tuple[int, int, int]:
    return (
        sum(f["properties"][count] for f in feats),
        sum(f["properties"]["open"] for f in feats),
        sum(f["properties"]["overdue"] for f in feats),
    )


@pytest.mark.parametrize(("layer", "count"), [("incidents", "point_count"), ("hex", "count")])
def test_clusters_and_hexagons_count_every_incident(
    conn: Connection, whole: tuple[int, int, int], layer: str, count: str
) -> None:
    """Where one tile holds the city, the rollup's clusters and hexagons hold the raw
    ones' incidents (placed at their grid's label point instead of their own)."""
    z, x, y = whole
    z = min(z, 12)  # below the rollup's raw_minzoom (13)
    for qp in _filters(conn):
        rolled = _features(conn, layer, z, x >> (whole[0] - z), y >> (whole[0] - z), qp)
        raw = _features(
            conn, layer, z, x >> (whole[0] - z), y >> (whole[0] - z), {**qp, "rollup": False}
        )
        assert _totals(rolled, count) == _totals(raw, count), qp


def test_the_tiles_read_the_rollup_and_rollup_false_does_not(
    conn: Connection, whole: tuple[int, int, int]
) -> None:
    z, x, y = whole
    before = _features(conn, "districts", z, x, y, {})
    conn.execute(text("UPDATE incident_rollup_grid SET n = n + 1000 WHERE grid_id <> 0"))
    conn.execute(text("UPDATE incident_rollup SET n = n + 1000 WHERE grid_id <> 0"))
    assert _counts(_features(conn, "districts", z, x, y, {})) != _counts(before)
    assert _counts(_features(conn, "districts", z, x, y, {"category": ["01"]})) != _counts(
        _features(conn, "districts", z, x, y, {"category": ["01"], "rollup": False})
    )
    assert _counts(_features(conn, "districts", z, x, y, {"rollup": False})) == _counts(before)
    # a time filter that is not whole city days: raw rows
    qp = {"from": "2020-01-01T10:00:00+08:00"}
    assert _counts(_features(conn, "districts", z, x, y, qp)) == _counts(
        _features(conn, "districts", z, x, y, {**qp, "rollup": False})
    )
    hexes = _features(conn, "hex", min(z, 12), x >> max(z - 12, 0), y >> max(z - 12, 0), {})
    assert max(f["properties"]["count"] for f in hexes) >= 1000
    hexes = _features(conn, "hex", 13, 0, 0, {})  # raw rows from zoom 13
    assert all(f["properties"]["count"] < 1000 for f in hexes)


def test_heat_from_the_rollup_holds_the_same_incidents(
    conn: Connection, whole: tuple[int, int, int]
) -> None:
    """Below zoom 13 the heat tile's kernel runs over grid label points weighted by their
    incidents: about the same mass as over the raw points (the tile holds the whole city;
    what differs is the kernel's tail cut at the tile's edge), placed differently."""
    from gisgrid.tiles import raster

    z, x, y = whole
    z = min(z, 12)
    x, y = x >> (whole[0] - z), y >> (whole[0] - z)
    grid = raster.PixelGrid.for_tile(z, x, y)
    for qp in ({}, {"category": ["01"]}):
        rolled = raster.tile_density(conn, z, x, y, qp)
        raw = raster.tile_density(conn, z, x, y, {**qp, "rollup": False})
        mass = [float((d * grid.pixel_km2()[:, None]).sum()) for d in (rolled, raw)]
        assert mass[0] == pytest.approx(mass[1], rel=0.01)
        assert not (rolled == raw).all()
