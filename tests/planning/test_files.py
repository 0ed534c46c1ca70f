"""A plan as a GeoPackage and back: export then import gives the same grids; a bad file is
refused with every bad row named and nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from sqlalchemy import Connection, Engine, text

from gisgrid.errors import LoadError
from gisgrid.planning import edits, plans
from gisgrid.planning.files import export_plan, import_plan
from gisgrid.settings import Settings
from tests.planning.support import COMMUNITY, M2_PER_DEG2, draft, planner, vertical

DB = "plan_files_scratch"
FIRST = f"{COMMUNITY}001"
WIDE = Settings(
    plan_households_min=0,
    plan_households_max=100_000,
    plan_residents_min=0,
    plan_residents_max=100_000,
    _env_file=None,
)


@pytest.fixture()
def conn(store: Engine) -> Iterator[Connection]:
    with store.connect() as c:
        tx = c.begin()
        try:
            yield c
        finally:
            tx.rollback()


def _grids(conn: Connection, plan_id: int) -> dict[str, tuple[str, int | None, int | None, str]]:
    rows = conn.execute(
        text(
            "SELECT code, name, parent_id, replaces_area_id, ST_AsBinary(geom) AS wkb"
            " FROM plan_areas WHERE plan_id = :p"
        ),
        {"p": plan_id},
    ).all()
    return {r.code: (r.name, r.parent_id, r.replaces_area_id, bytes(r.wkb)) for r in rows}


def test_export_then_import_round_trip(conn: Connection, tmp_path: Path) -> None:
    plan = plans.create_plan(conn, planner(conn), COMMUNITY, "to QGIS")
    cut = vertical(draft(conn, plan.id, FIRST), 0.5)
    edits.split(conn, planner(conn), plan.id, plan.version, FIRST, cut)
    path = export_plan(conn, planner(conn), plan.id, tmp_path / "plan.gpkg", settings=WIDE)
    assert sorted(str(r[0]) for r in pyogrio.list_layers(path)) == ["checks", "grids"]
    grids = gpd.read_file(path, layer="grids")
    assert list(grids.columns) == ["code", "name", "parent_code", "replaces_code", "geometry"]
    new_code = max(grids["code"])
    assert grids.set_index("code").loc[new_code, "replaces_code"] == FIRST

    back = import_plan(conn, planner(conn), COMMUNITY, "from QGIS", path, settings=WIDE)
    assert back.grids == len(grids) and back.plan.status == "draft"
    assert back.checks["ok"] is True
    before, after = _grids(conn, plan.id), _grids(conn, back.plan.id)
    assert set(before) == set(after)
    for code, (name, parent, replaces, wkb) in before.items():
        name2, parent2, replaces2, wkb2 = after[code]
        assert (name2, parent2, replaces2) == (name, parent, replaces)
        a, b = shapely.from_wkb(wkb), shapely.from_wkb(wkb2)
        assert shapely.symmetric_difference(a, b).area * M2_PER_DEG2 < 0.01
    # the checks and stats are kept on the new plan, its new code issued
    row = conn.execute(
        text("SELECT checks, stats, issued_codes FROM plans WHERE id = :p"), {"p": back.plan.id}
    ).one()
    assert row.checks == back.checks and row.stats["grids"]
    assert row.issued_codes == [new_code]


def test_a_bad_file_names_every_bad_row_and_writes_nothing(
    conn: Connection, tmp_path: Path
) -> None:
    plan = plans.create_plan(conn, planner(conn), COMMUNITY, "to QGIS")
    path = export_plan(conn, planner(conn), plan.id, tmp_path / "plan.gpkg", settings=WIDE)
    grids = gpd.read_file(path, layer="grids")
    grids.loc[1, "code"] = grids.loc[0, "code"]  # a duplicate (row 2)
    grids.loc[2, "parent_code"] = "999999"  # no such community (row 3)
    grids.loc[3, "geometry"] = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])
    other = conn.execute(
        text("SELECT code FROM areas WHERE level = 'grid' AND code NOT LIKE :c || '%' LIMIT 1"),
        {"c": COMMUNITY},
    ).scalar_one()
    grids.loc[4, "code"] = other  # another community's grid (row 5)
    grids.loc[5, "code"] = "12ab"  # not digits (row 6)
    bad = tmp_path / "bad.gpkg"
    grids.to_file(bad, layer="grids", driver="GPKG")
    count = conn.execute(text("SELECT count(*) FROM plans")).scalar_one()
    with pytest.raises(LoadError) as err:
        import_plan(conn, planner(conn), COMMUNITY, "bad", bad, settings=WIDE)
    by_row = {r: (f, why) for r, f, why in err.value.rows}
    assert sorted(by_row) == [2, 3, 4, 5, 6]
    assert by_row[2][0] == "code" and "duplicate" in by_row[2][1]
    assert by_row[3][0] == "parent_code"
    assert by_row[4][0] == "geom" and "invalid polygon" in by_row[4][1]
    assert by_row[5][0] == "code" and "never reused" in by_row[5][1]
    assert by_row[6][0] == "code" and "digits" in by_row[6][1]
    assert conn.execute(text("SELECT count(*) FROM plans")).scalar_one() == count
