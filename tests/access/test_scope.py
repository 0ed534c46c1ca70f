from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput

DB = "scope_scratch"


def _ids(engine: Engine, sql: str, params: dict[str, int]) -> set[int]:
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(text(sql), params)}


@pytest.mark.parametrize("level", ["grid", "community", "street", "district", "city"])
def test_rows_in_scope_are_exactly_those_under_the_area(store: Engine, level: str) -> None:
    with store.connect() as conn:
        area_id = conn.execute(
            text("SELECT id FROM areas WHERE level = :l ORDER BY id LIMIT 1"), {"l": level}
        ).scalar_one()
    scope = Scope(level=level, area_id=area_id)
    cond, params = scope.rows_sql("i")
    got = _ids(store, f"SELECT i.id FROM incidents i WHERE {cond}", params)
    # the same set by geometry: incidents whose grid lies within the scope area
    want = _ids(
        store,
        (
            "SELECT i.id FROM incidents i JOIN areas g ON g.id = i.grid_id "
            "JOIN areas s ON s.id = :a WHERE ST_Covers(s.geom, ST_PointOnSurface(g.geom))"
        ),
        {"a": area_id},
    )
    assert got == want and got


def test_areas_in_scope_are_the_area_its_subtree_and_its_ancestors(store: Engine) -> None:
    with store.connect() as conn:
        grid, community, street, district = conn.execute(
            text(
                "SELECT g.id, c.id, s.id, s.parent_id FROM areas g"
                " JOIN areas c ON c.id = g.parent_id JOIN areas s ON s.id = c.parent_id"
                " WHERE g.level = 'grid' ORDER BY g.id LIMIT 1"
            )
        ).one()
        city = conn.execute(text("SELECT id FROM areas WHERE level = 'city'")).scalar_one()
    cond, params = Scope(level="community", area_id=community).areas_sql("a")
    got = _ids(store, f"SELECT a.id FROM areas a WHERE {cond}", params)
    kids = _ids(store, "SELECT id FROM areas WHERE parent_id = :c", {"c": community})
    assert got == {community, street, district, city} | kids
    assert grid in got


def test_bad_scope_inputs() -> None:
    with pytest.raises(InvalidInput, match="level='county'"):
        Scope(level="county", area_id=1)
    with pytest.raises(ValueError, match="identifier"):
        Scope(level="grid", area_id=1).rows_sql("i; drop table x")
