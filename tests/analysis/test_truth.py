"""Scoring against the planted truth: the figures by hand on a small lattice of grids, and the
whole run on the tiny city through ``gisgrid hotspots score``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import Engine
from typer.testing import CliRunner

from gisgrid.analysis.truth import load_truth, planted_units, score, truth_path
from gisgrid.cli import hotspots as cli_hotspots
from gisgrid.cli.main import app
from gisgrid.errors import NotFound
from gisgrid.store.cluster import Cluster
from gisgrid.synth import generate
from tests.api.city_support import SEED, tiny_city


def lattice_units(rows: int = 4, cols: int = 5) -> gpd.GeoDataFrame:
    cells = [
        shapely.box(126.6 + c * 0.01, 45.7 + r * 0.01, 126.61 + c * 0.01, 45.71 + r * 0.01)
        for r in range(rows)
        for c in range(cols)
    ]
    n = rows * cols
    return gpd.GeoDataFrame(
        {"id": range(100, 100 + n), "code": [f"g{i:02d}" for i in range(n)]},
        geometry=cells,
        crs=4326,
    )


TRUTH = {
    "planted": [
        {
            "id": "hotspot-1",
            "kind": "hotspot",
            "grid_codes": ["g00", "g01"],
            "lon": 126.605,
            "lat": 45.705,
            "radius_m": 300,
        },
        {
            "id": "hotspot-2",
            "kind": "hotspot",
            "grid_codes": ["g19"],
            "lon": 126.645,
            "lat": 45.735,
            "radius_m": 300,
        },
        {
            "id": "emerging-1",
            "kind": "emerging",
            "grid_codes": ["g12"],
            "lon": 126.625,
            "lat": 45.725,
            "radius_m": 300,
        },
    ]
}


def test_the_figures_by_hand() -> None:
    units = lattice_units()
    # hot: g00 (planted), g05 (next to g00: the ring), g12 (emerging: planted too), g17
    hot = units.assign(class_="not_significant").rename(columns={"class_": "class"})
    hot.loc[hot.code.isin(["g00", "g05", "g12"]), "class"] = "hot_99"
    hot.loc[hot.code == "g17", "class"] = "hot_95"
    hot.loc[hot.code == "g19", "class"] = "hot_90"  # not at 95 %: hotspot-2 is missed
    emerging = units.assign(category="no_pattern")
    emerging.loc[emerging.code == "g12", "category"] = "consecutive_hot"
    s = score(hot, emerging, TRUTH, "grid")
    assert (s.hotspots_planted, s.hotspots_found, s.recall) == (2, 1, 0.5)
    assert s.unit_recall == pytest.approx(1 / 3)  # g00 of g00, g01, g19
    assert (s.hot_units, s.hot_outside, s.hot_outside_in_ring) == (4, 2, 2)
    assert s.outside_share == 0.5
    assert (s.emerging_planted, s.emerging_found, s.emerging_recall) == (1, 1, 1.0)
    assert [sp.found for sp in s.spots] == [True, False, True]
    assert s.spots[2].categories == {"consecutive_hot": 1}


def test_other_levels_take_the_units_touching_the_circle() -> None:
    units = lattice_units()
    spots = planted_units(units, TRUTH, "hex")
    # a 300 m circle around a cell's centre (cells ~780 x 1,110 m) touches that cell only
    assert spots["hotspot-1"] == {100}
    assert spots["emerging-1"] == {112}


def test_missing_truth_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="gisgrid demo"):
        load_truth(truth_path(tmp_path, "small", 7))


# ----------------------------------------------------------------------- the tiny city


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, "truth_scratch") as engine:
        yield engine


def test_score_the_tiny_city(store: Engine, tmp_path: Path, monkeypatch) -> None:
    truth = generate("tiny", seed=SEED).ground_truth
    path = truth_path(tmp_path, "tiny", SEED)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(truth))
    env = {
        "GISGRID_DATABASE_URL": store.url.render_as_string(hide_password=False),
        "GISGRID_DATA_DIR": str(tmp_path),
    }
    monkeypatch.setattr(cli_hotspots.console, "width", 200)
    args = [
        "hotspots",
        "score",
        "--scale",
        "tiny",
        "--seed",
        str(SEED),
        "--level",
        "hex",
        "--cell-m",
        "120",
        "--permutations",
        "99",
    ]
    result = CliRunner().invoke(app, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    got = json.loads(result.output)
    assert got["hotspots_planted"] == 2 and got["emerging_planted"] == 1
    # the tiny city's two planted hot spots hold ~120 incidents each among 3,000
    assert got["recall"] == 1.0
    assert got["emerging_found"] == 1
    assert 0 < got["hot_outside"] < got["hot_units"]
    table = CliRunner().invoke(app, args, env=env)
    assert table.exit_code == 0, table.output
    assert "hot spots found: 2/2" in table.output
    assert "hotspot-1" in table.output


def test_score_without_a_demo_is_a_clear_error(tmp_path: Path) -> None:
    env = {"GISGRID_DATA_DIR": str(tmp_path)}
    result = CliRunner().invoke(
        app, ["hotspots", "score", "--scale", "small", "--seed", "9"], env=env
    )
    assert result.exit_code == 1
    assert "gisgrid demo" in result.output
