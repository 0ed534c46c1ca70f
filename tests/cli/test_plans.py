"""``gisgrid plans create`` and ``gisgrid plans list``, acting as an account."""

from __future__ import annotations

import json

from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gisgrid.cli.main import app

DB = "cli_plans_scratch"


def test_create_then_list(store: Engine) -> None:
    env = {"GISGRID_DATABASE_URL": store.url.render_as_string(hide_password=False)}
    runner = CliRunner()
    made = runner.invoke(
        app, ["plans", "create", "--parent", "230108001", "--name", "CLI plan"], env=env
    )
    assert made.exit_code == 0, made.output
    assert "23 grids, version 1" in made.output
    listed = runner.invoke(app, ["plans", "list", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    [plan] = json.loads(listed.stdout)
    assert plan["name"] == "CLI plan" and plan["parent"]["code"] == "230108001"
    table = runner.invoke(app, ["plans", "list"], env=env)
    assert "CLI plan" in table.output and "230108001" in table.output
    with store.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM plan_areas")).scalar_one()
    assert n == 23


def test_refusals_name_the_field(store: Engine) -> None:
    env = {"GISGRID_DATABASE_URL": store.url.render_as_string(hide_password=False)}
    runner = CliRunner()
    grid = runner.invoke(
        app, ["plans", "create", "--parent", "230108001001001", "--name", "x"], env=env
    )
    assert grid.exit_code != 0
    assert "parent" in str(grid.exception) or "parent" in grid.output
    worker = runner.invoke(
        app,
        ["plans", "create", "--parent", "230108001", "--name", "x", "--as", "nobody"],
        env=env,
    )
    assert worker.exit_code != 0
