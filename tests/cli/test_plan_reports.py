"""``gisgrid plans check`` and ``gisgrid plans diff``: the library's answers as tables or JSON,
exit code 1 when a hard check fails or the plan does not exist."""

from __future__ import annotations

import json
from typing import Any

import pytest
import shapely
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gisgrid.cli.main import app
from gisgrid.planning.checks import check_plan
from tests.planning.tables import area_id, draft, make_plan, metric, set_geom

DB = "cli_plans_scratch"


def run(store: Engine, *args: str) -> Any:
    env = {
        "GISGRID_DATABASE_URL": store.url.render_as_string(hide_password=False),
        "COLUMNS": "200",
    }
    return CliRunner().invoke(app, ["plans", *args], env=env)


@pytest.fixture()
def plan(store: Engine) -> int:
    with store.begin() as conn:
        return make_plan(conn, area_id(conn, "community"))


def test_check_prints_the_checks_and_exits_1_on_a_hard_failure(store: Engine, plan: int) -> None:
    result = run(store, "check", str(plan), "--json")
    with store.connect() as conn:
        want = check_plan(conn, plan)
    assert json.loads(result.output) == json.loads(json.dumps(want))
    assert result.exit_code == (0 if want["ok"] else 1)
    with store.begin() as conn:
        grids = draft(conn, plan)
        code = sorted(grids)[0]
        m, back = metric(grids[code])
        p = shapely.point_on_surface(m)
        set_geom(conn, plan, code, back(m.difference(p.buffer(30))))
    result = run(store, "check", str(plan))
    assert result.exit_code == 1, result.output
    assert "hard: these block publishing" in result.output and "gap" in result.output
    assert f"plan {plan} fails" in result.output


def test_diff_lists_the_retired_grid_its_rows_and_its_worker(store: Engine, plan: int) -> None:
    with store.begin() as conn:
        grids = draft(conn, plan)
        a, b = sorted(grids)[:2]
        worker = conn.execute(
            text(
                "SELECT a.username FROM accounts a JOIN areas g ON g.id = a.scope_area_id"
                " WHERE g.code = :c AND g.valid_to IS NULL AND a.role = 'grid_worker'"
            ),
            {"c": b},
        ).scalar_one()
        conn.execute(
            text("DELETE FROM plan_areas WHERE plan_id = :p AND code = :c"), {"p": plan, "c": b}
        )
        set_geom(conn, plan, a, shapely.union(grids[a], grids[b]))
    result = run(store, "diff", str(plan))
    assert result.exit_code == 0, result.output
    assert "retired" in result.output and b in result.output
    assert "what moves to another grid" in result.output and worker in result.output
    body = json.loads(run(store, "diff", str(plan), "--json").output)
    assert body["retired"] == [b] and body["workers"][0]["username"] == worker


def test_an_unknown_plan(store: Engine) -> None:
    for command in ("check", "diff"):
        result = run(store, command, "999999")
        assert result.exit_code == 1
        assert "no plan 999999" in result.output
