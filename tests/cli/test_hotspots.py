"""``gisgrid hotspots run``: the library's statistics written to a file, and its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from gisgrid.access.scope import Scope
from gisgrid.analysis.hotspots import hotspots
from gisgrid.cli.main import app

# the tiny city has too few grids for the statistics: small hexagons give enough units
HEX = ["--level", "hex", "--cell-m", "120", "--permutations", "99"]


def run(store: Engine, *args: str) -> object:
    env = {"GISGRID_DATABASE_URL": store.url.render_as_string(hide_password=False)}
    return CliRunner().invoke(app, ["hotspots", "run", *args], env=env)


def test_gistar_file_holds_what_the_library_computes(store: Engine, tmp_path: Path) -> None:
    out = tmp_path / "hot.gpkg"
    result = run(store, "-o", str(out), *HEX)
    assert result.exit_code == 0, result.output
    got = gpd.read_file(out).sort_values("id").reset_index(drop=True)
    want = hotspots(
        store, level="hex", cell_m=120, permutations=99, seed=0, scope=Scope.everything()
    ).sort_values("id")
    assert list(got["id"]) == list(want["id"])
    assert got["z"].to_numpy() == pytest.approx(want["z"].to_numpy())
    assert list(got["class"]) == list(want["class"])
    assert (got["class"] != "not_significant").any()  # the planted hot spots
    assert "hot_99" in result.output  # the table of units per class
    assert not list(tmp_path.glob(".*part*"))  # no half-written file left behind


def test_emerging_series_are_arrays_in_geojson_and_json_text_in_gpkg(
    store: Engine, tmp_path: Path
) -> None:
    for name in ("emerging.geojson", "emerging.gpkg"):
        out = tmp_path / name
        result = run(store, "-o", str(out), "--method", "emerging", *HEX)
        assert result.exit_code == 0, result.output
    features = json.loads((tmp_path / "emerging.geojson").read_text())["features"]
    props = features[0]["properties"]
    assert {"category", "trend_tau", "z", "counts"} <= set(props)
    assert isinstance(props["counts"], list) and len(props["counts"]) >= 10
    gpkg = gpd.read_file(tmp_path / "emerging.gpkg")
    assert json.loads(gpkg["counts"].iloc[0]) == props["counts"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["-o", "x.shp"], "out"),
        (["-o", "x.gpkg", "--method", "kde"], "method"),
        (["-o", "x.gpkg", "--within", "000"], "within"),
        (["-o", "x.gpkg", "--category", "9999"], "category"),
        (["-o", "x.gpkg", "--level", "block"], "level"),
    ],
    ids=["suffix", "method", "within", "category", "level"],
)
def test_bad_input_names_the_field(
    store: Engine, tmp_path: Path, args: list[str], field: str
) -> None:
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    result = run(store, *args)
    assert result.exit_code == 1
    assert f"{field}" in result.output
    assert not list(tmp_path.iterdir())
