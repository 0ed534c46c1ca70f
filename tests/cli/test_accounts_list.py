"""``gisgrid accounts list``: the JSON and the table list the same accounts."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gisgrid.cli.main import app
from gisgrid.store.cluster import Cluster
from tests.city_support import tiny_city


@pytest.fixture(scope="module")
def city(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, "accounts_list_scratch") as engine:
        yield engine


@pytest.mark.parametrize("role", ["street_centre", "grid_worker", None])
def test_json_lists_what_the_table_lists(city: Engine, role: str | None) -> None:
    env = {"GISGRID_DATABASE_URL": city.url.render_as_string(hide_password=False)}
    args = ["accounts", "list", *(["--role", role] if role else [])]
    runner = CliRunner()
    table = runner.invoke(app, args, env=env)
    as_json = runner.invoke(app, [*args, "--json"], env=env)
    assert table.exit_code == 0 and as_json.exit_code == 0, table.output + as_json.output
    rows = json.loads(as_json.stdout)
    with city.connect() as conn:
        want = (
            conn.execute(
                text("SELECT username FROM accounts WHERE role = :r OR :r IS NULL ORDER BY id"),
                {"r": role},
            )
            .scalars()
            .all()
        )
    assert want, "the tiny city has accounts of this role"
    assert [r["username"] for r in rows] == want
    table_ids = [line.split("│")[1].strip() for line in table.stdout.splitlines() if "│" in line]
    assert [int(i) for i in table_ids if i] == [r["id"] for r in rows]
    assert "…" not in table.stdout  # a username or role cut short cannot be found again
