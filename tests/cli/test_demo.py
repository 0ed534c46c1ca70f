from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gisgrid.cli.main import app
from gisgrid.store.cluster import Cluster
from tests.support import scratch_engine


@pytest.fixture()
def demo_db(cluster: Cluster) -> Iterator[str]:
    with scratch_engine(cluster, "demo_cli_scratch") as engine:
        yield engine.url.render_as_string(hide_password=False)


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
