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
STATISTICS = NOTEBOOKS / "02_hotspot_statistics.ipynb"
EMERGING = NOTEBOOKS / "03_emerging_hotspots.ipynb"
REDRAW = NOTEBOOKS / "04_redraw_a_street.ipynb"
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


def images(nb: nbformat.NotebookNode) -> int:
    """How many PNG figures the notebook drew."""
    return sum(
        "image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", [])
    )


def with_truth(tmp_path: Path) -> Path:
    """A data folder holding the tiny city's planted truth, as `gisgrid demo` leaves it."""
    (tmp_path / "demo").mkdir()
    truth = generate("tiny", seed=SEED).ground_truth
    (tmp_path / "demo" / f"ground_truth_tiny_{SEED}.json").write_text(json.dumps(truth))
    return tmp_path


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


def test_hotspot_statistics_notebook_on_the_tiny_city(
    city_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = execute(STATISTICS, city_url, with_truth(tmp_path), monkeypatch)
    text, _ = outputs(nb)
    # 23 grids are too few units: the notebook says so and runs on hexagons
    assert "units of analysis are hex" in text
    assert "Gi* classes:" in text and "hot_99" in text and "LISA classes:" in text
    assert images(nb) == 1, "the kernel density, Gi* and LISA side by side"
    found = re.search(r"(\d+) of (\d+) planted hot spots found by Gi\*", text)
    assert found, text
    assert int(found.group(1)) == int(found.group(2)) == 2


def test_emerging_hotspots_notebook_on_the_tiny_city(
    city_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nb = execute(EMERGING, city_url, with_truth(tmp_path), monkeypatch)
    text, html = outputs(nb)
    assert "x 52 weeks" in text
    assert any("category" in h and "no_pattern" in h for h in html), "the category table"
    assert images(nb) == 2, "the category map and the series"
    shown = re.search(r"series shown: (.+)", text)
    assert shown and "_hot" in shown.group(1)
    assert re.search(r"\d+ of 1 planted emerging spots found", text), text


def test_redraw_a_street_notebook_on_a_scratch_city(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # its own scratch copy: the notebook publishes, which changes the store
    with tiny_city(cluster, "notebook_redraw"):
        nb = execute(REDRAW, cluster.url(dbname="notebook_redraw"), tmp_path, monkeypatch)
    text, html = outputs(nb)
    assert re.search(r"street \d+ .*: 23 grids", text), text
    assert "checks: pass" in text
    assert any("max_min_ratio" in h and "proposal" in h for h in html), "the comparison table"
    assert images(nb) == 1, "the two maps side by side"
    assert "published at" in text
    assert "the old incident keeps its grid: True" in text
    assert re.search(r"open incidents: \d+ of \d+ moved", text), text
