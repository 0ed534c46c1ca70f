"""``gisgrid load`` / ``gisgrid export``: every bad row in a table, exit 1, nothing changed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from gisgrid.cli import io as cli_io
from gisgrid.cli.main import app
from gisgrid.store.cluster import Cluster
from tests.io.support import reset, rows, snapshot
from tests.support import scratch_engine


@pytest.fixture(scope="module")
def engine(cluster: Cluster) -> Iterator[Engine]:
    with scratch_engine(cluster, "cli_io_scratch") as eng:
        yield eng


Invoke = Callable[..., Result]


@pytest.fixture()
def run(engine: Engine, cluster: Cluster, monkeypatch: pytest.MonkeyPatch):
    reset(engine)
    monkeypatch.setenv("GISGRID_DATABASE_URL", cluster.url(dbname="cli_io_scratch"))
    # Wide enough that no reason wraps inside its table cell.
    monkeypatch.setattr(cli_io.console, "width", 240)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke


def test_three_different_bad_rows_are_all_named_and_nothing_changes(
    run: Invoke, engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "incidents.csv"
    path.write_text(
        "code,category,reported_at,lon,lat\n"
        "I1,0101,2026-03-02T09:00:00+08:00,126.61,45.71\n"
        "I2,9999,2026-03-02T09:00:00+08:00,126.62,45.72\n"  # line 3: unknown category
        "I3,0101,yesterday,126.63,45.73\n"  # line 4: not a time
        "I4,0101,2026-03-02T09:00:00+08:00,45.74,126.64\n"  # line 5: swapped
        "I5,0101,2026-03-02T09:00:00+08:00,126.65,45.75\n",
        encoding="utf-8",
    )
    before = snapshot(engine)
    result = run("load", "incidents", str(path))
    assert result.exit_code == 1
    out = result.output
    assert "3 bad rows, nothing was loaded" in out
    table_rows = [
        [cell.strip() for cell in line.split("│")[1:4]] for line in out.splitlines() if "│" in line
    ]
    assert [r[:2] for r in table_rows] == [
        ["3", "category"],
        ["4", "reported_at"],
        ["5", "lon/lat"],
    ]
    assert "unknown category '9999': not in incident_categories" in table_rows[0][2]
    assert "not an ISO 8601 time" in table_rows[1][2]
    assert "lon/lat swapped?" in table_rows[2][2]
    assert snapshot(engine) == before


def test_a_good_load_prints_count_and_rate(run: Invoke, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "places.csv"
    path.write_text(
        "code,kind,name,lon,lat\nS1,small_shop,a,126.61,45.71\nS2,hydrant,b,126.62,45.72\n"
    )
    result = run("load", "places", str(path), "--key", "code")
    assert result.exit_code == 0, result.output
    assert "loaded 2 rows into places (2 new, 0 updated)" in result.output
    assert "rows/s" in result.output
    result = run("load", "places", str(path), "--key", "code")
    assert "(0 new, 2 updated)" in result.output
    assert rows(engine, "SELECT count(*) FROM places") == [(2,)]


def test_options_reach_the_loader(run: Invoke, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "amap.csv"
    path.write_text("kind,name,x,y\nsmall_shop,a,126.6149,45.7722\n")
    result = run("load", "places", str(path), "--from", "gcj02", "--lon-col", "x", "--lat-col", "y")
    assert result.exit_code == 0, result.output
    x, y = rows(engine, "SELECT ST_X(geom), ST_Y(geom) FROM places")[0]
    assert 126.60 < float(x) < 126.6149 and 45.77 < float(y) < 45.7722  # type: ignore[arg-type]
    bowtie = tmp_path / "b.csv"
    bowtie.write_text(
        'address,wkt\na,"POLYGON((126.6 45.7,126.7 45.8,126.7 45.7,126.6 45.8,126.6 45.7))"\n'
    )
    refused = run("load", "buildings", str(bowtie))
    assert refused.exit_code == 1 and "Self-intersection" in refused.output
    repaired = run("load", "buildings", str(bowtie), "--make-valid")
    assert repaired.exit_code == 0 and "repaired 1 invalid polygons" in repaired.output


def test_a_bad_option_names_its_field(run: Invoke, tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("kind,name,lon,lat\nsmall_shop,a,126.6,45.7\n")
    result = run("load", "places", str(path), "--from", "wgs72")
    assert result.exit_code == 1
    assert "from" in result.output and "gcj02" in result.output


def test_export_command(run: Invoke, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "i.csv"
    path.write_text(
        "category,reported_at,lon,lat\n0101,2026-03-01,126.61,45.71\n0101,2026-03-05,126.68,45.75\n"
    )
    assert run("load", "incidents", str(path)).exit_code == 0
    out = tmp_path / "out.geojson"
    result = run(
        "export", "incidents", str(out), "--area", "230102", "--since", "2026-02-01",
        "--until", "2026-04-01", "--bbox", "126.5,45.6,126.9,45.9",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "wrote 1 rows" in result.output
    assert out.exists()
    bad = run("export", "incidents", str(tmp_path / "x.csv"), "--area", "nope")
    assert bad.exit_code == 1 and "no current area with code 'nope'" in bad.output
