"""The analyst notebooks run top to bottom against a scratch database (nbclient, the venv's
python3 kernel), and are stored without outputs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from gisgrid.store.cluster import Cluster
from gisgrid.synth import generate
from tests.city_support import tiny_city
from tests.support import scratch_engine

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
HOTSPOTS = NOTEBOOKS / "01_hotspots_first_look.ipynb"
SEED = 5  # tiny_city's default


@pytest.fixture(scope="module")
def city_url(cluster: Cluster) -> Iterator[str]:
    with tiny_city(cluster, "notebook_city"):
        yield cluster.url(dbname="notebook_city")


def execute(
    path: Path, url: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> nbformat.NotebookNode:
    # the kernel is a child process: it inherits this environment
    monkeypatch.setenv("GISGRID_DATABASE_URL", url)
    monkeypatch.setenv("GISGRID_DATA_DIR", str(data_dir))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    return nb


def outputs(nb: nbformat.NotebookNode) -> tuple[str, list[str]]:
    """All stream text, and every HTML output."""
    text, html = [], []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", out
            if out["output_type"] == "stream":
                text.append(out["text"])
            elif "text/html" in out.get("data", {}):
                html.append(out["data"]["text/html"])
    return "".join(text), html


def assert_maps(html: list[str]) -> None:
    maps = [h for h in html if "<iframe" in h and "leaflet" in h.lower()]
    assert len(maps) == 2, "the heatmap and the grid choropleth"
    heatmap, choropleth = maps
    assert "data:image/png;base64," in heatmap  # the kernel density overlay
    assert "incidents per km" in heatmap  # its legend
    assert "geo_json" in choropleth and "incidents per grid" in choropleth


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_hotspots_notebook_on_the_tiny_city(
    city_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "demo").mkdir()
    truth = generate("tiny", seed=SEED).ground_truth
    (tmp_path / "demo" / f"ground_truth_tiny_{SEED}.json").write_text(json.dumps(truth))
    nb = execute(HOTSPOTS, city_url, tmp_path, monkeypatch)
    text, html = outputs(nb)
    assert f"ground_truth_tiny_{SEED}.json" in text
    assert_maps(html)
    hits = re.search(r"(\d+) of (\d+) planted hotspots are found", text)
    assert hits, text
    # the tiny city plants 3 hotspots of ~120 incidents on ~300 m: the busiest hexagons find them
    assert int(hits.group(2)) == len(truth["planted"]) and int(hits.group(1)) >= 2


def test_hotspots_notebook_loads_the_tiny_city_into_an_empty_store(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with scratch_engine(cluster, "notebook_empty"):
        nb = execute(HOTSPOTS, cluster.url(dbname="notebook_empty"), tmp_path, monkeypatch)
    text, html = outputs(nb)
    assert "the store was empty: loaded the tiny synthetic city" in text
    assert "planted hotspots are found" in text  # from the city it generated
    assert_maps(html)
