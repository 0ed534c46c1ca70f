from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from gisgrid.cli import app
from gisgrid.cluster import Cluster
from gisgrid.db import migrate_to_head


@pytest.fixture()
def demo_db(cluster: Cluster) -> Iterator[str]:
    name = "demo_cli_scratch"
    with psycopg.connect(cluster.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = cluster.url(dbname=name)
    migrate_to_head(url)
    yield url
    with psycopg.connect(cluster.libpq_url("postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_demo_loads_once_then_reuses(demo_db: str, tmp_path: Path) -> None:
    env = {"GISGRID_DATABASE_URL": demo_db, "GISGRID_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--scale", "tiny", "--seed", "3"], env=env)
    assert first.exit_code == 0, first.output
    assert "loaded in" in first.output
    assert "residents" in first.output
    truth = json.loads((tmp_path / "demo" / "ground_truth_tiny_3.json").read_text())
    assert truth["seed"] == 3 and truth["planted"]
    second = runner.invoke(app, ["demo", "--scale", "tiny", "--seed", "3"], env=env)
    assert second.exit_code == 0, second.output
    assert "reusing it" in second.output
    assert "loaded in" not in second.output


def test_demo_refuses_an_unknown_scale(demo_db: str, tmp_path: Path) -> None:
    env = {"GISGRID_DATABASE_URL": demo_db, "GISGRID_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(app, ["demo", "--scale", "huge"], env=env)
    assert result.exit_code != 0
    assert "expected one of" in result.output
