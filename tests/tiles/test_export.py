"""``gisgrid tiles export``: MBTiles and PMTiles that hold the same tiles the API serves."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from pmtiles.reader import MmapSource, Reader
from sqlalchemy import Engine
from typer.testing import CliRunner

from gisgrid.access.scope import Scope
from gisgrid.cli.main import app
from gisgrid.errors import InvalidInput
from gisgrid.store.cluster import Cluster
from gisgrid.tiles.export import export_tiles, parse_zooms
from gisgrid.tiles.filters import TileFilters, query_params
from gisgrid.tiles.grid import tiles_in_bbox
from gisgrid.tiles.layers import LAYERS
from gisgrid.tiles.render import render
from tests.city_support import grid_extent

DB = "tiles_export_scratch"


@pytest.fixture(scope="module")
def box(store: Engine) -> tuple[float, float, float, float]:
    return grid_extent(store)


def by_id(layer: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(layer["features"], key=lambda f: f["id"])


def test_mbtiles_hold_every_layer_of_every_non_empty_tile(
    store: Engine, box: tuple[float, float, float, float], tmp_path: Path
) -> None:
    out = tmp_path / "city.mbtiles"
    done: list[int] = []
    report = export_tiles(
        store,
        out,
        ["grids", "incidents", "units"],
        box,
        range(12, 15),
        scope=Scope.everything(),
        progress=done.append,
    )
    expected = [zxy for z in range(12, 15) for zxy in tiles_in_bbox(box, z)]
    assert sum(done) == len(expected) == report.tiles + report.empty
    assert report.tiles > 0
    db = sqlite3.connect(out)
    meta = dict(db.execute("SELECT name, value FROM metadata"))
    assert meta["format"] == "pbf" and meta["minzoom"] == "12" and meta["maxzoom"] == "14"
    rows = db.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    assert len(rows) == report.tiles
    seen_layers: set[str] = set()
    qp = query_params(TileFilters(), Scope.everything())
    with store.connect() as conn:
        for z, x, tms_row, data in rows[:40]:
            y = (1 << z) - 1 - tms_row  # MBTiles rows count from the south
            decoded = mapbox_vector_tile.decode(gzip.decompress(data))
            seen_layers |= set(decoded)
            for name in decoded:
                alone, _ = render(conn, LAYERS[name], z, x, y, qp)
                assert by_id(mapbox_vector_tile.decode(alone)[name]) == by_id(decoded[name])
    assert {"grids", "incidents"} <= seen_layers


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="GDAL is not installed")
def test_gdal_opens_the_mbtiles(
    store: Engine, box: tuple[float, float, float, float], tmp_path: Path
) -> None:
    out = tmp_path / "g.mbtiles"
    export_tiles(store, out, ["grids", "units"], box, range(12, 14), scope=Scope.everything())
    r = subprocess.run(
        ["ogrinfo", "-ro", "-so", str(out)], capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 0, r.stderr
    assert "grids" in r.stdout and "units" in r.stdout


def test_pmtiles_hold_the_same_tiles(
    store: Engine, box: tuple[float, float, float, float], tmp_path: Path
) -> None:
    mb, pm = tmp_path / "a.mbtiles", tmp_path / "a.pmtiles"
    export_tiles(store, mb, ["grids"], box, range(12, 14), scope=Scope.everything())
    export_tiles(store, pm, ["grids"], box, range(12, 14), scope=Scope.everything())
    with pm.open("rb") as f:
        reader = Reader(MmapSource(f))
        assert reader.header()["min_zoom"] == 12 and reader.header()["max_zoom"] == 13
        rows = sqlite3.connect(mb).execute("SELECT * FROM tiles").fetchall()
        assert rows
        for z, x, tms_row, data in rows:
            got = reader.get(z, x, (1 << z) - 1 - tms_row)
            assert got is not None
            assert gzip.decompress(got) == gzip.decompress(data)
    assert not list(tmp_path.glob(".a-*")), "no temporary file is left behind"


def test_the_public_view_has_no_raw_rows_and_refuses_private_layers(
    store: Engine, box: tuple[float, float, float, float], tmp_path: Path
) -> None:
    out = tmp_path / "p.mbtiles"
    export_tiles(store, out, ["incidents"], box, range(15, 16), scope=None)
    for (data,) in sqlite3.connect(out).execute("SELECT tile_data FROM tiles"):
        feats = mapbox_vector_tile.decode(gzip.decompress(data))["incidents"]["features"]
        assert all(f["properties"]["cluster"] is True for f in feats)
    with pytest.raises(InvalidInput) as e:
        export_tiles(store, tmp_path / "q.mbtiles", ["buildings"], box, range(15, 16), scope=None)
    assert e.value.field == "layers"
    assert not (tmp_path / "q.mbtiles").exists()


def test_bad_arguments_name_the_field(
    store: Engine, box: tuple[float, float, float, float], tmp_path: Path
) -> None:
    for text_, field in (("9-3", "zooms"), ("x", "zooms"), ("10-23", "zooms")):
        with pytest.raises(InvalidInput) as e:
            parse_zooms(text_)
        assert e.value.field == field
    # the box is checked by gisgrid.bbox (tests/test_bbox.py), in Web Mercator's world
    for text_ in ("1,2,3", "127,45,126,46", "0,-90,1,91", "0,80,1,89"):
        with pytest.raises(InvalidInput) as e:
            export_tiles(store, tmp_path / "z.mbtiles", ["grids"], text_, range(12, 13))
        assert e.value.field == "bbox"
    assert not (tmp_path / "z.mbtiles").exists()
    existing = tmp_path / "keep.mbtiles"
    existing.write_bytes(b"mine")
    cases = [
        (existing, ["grids"], "out"),
        (tmp_path / "a.zip", ["grids"], "out"),
        (tmp_path / "b.mbtiles", ["grids", "heat"], "layers"),
        (tmp_path / "c.mbtiles", ["rivers"], "layer"),
    ]
    for out, layers, field in cases:
        with pytest.raises(InvalidInput) as e:
            export_tiles(store, out, layers, box, range(12, 13), scope=Scope.everything())
        assert e.value.field == field
    assert existing.read_bytes() == b"mine"


def test_the_command_exports_with_a_summary(
    store: Engine, cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GISGRID_DATABASE_URL", cluster.url(dbname=DB))
    out = tmp_path / "cli.mbtiles"
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "tiles",
            "export",
            str(out),
            "--layers",
            "grids,hex",
            "--zooms",
            "12-13",
            "--category",
            "01",
            "--from",
            "2000-01-01",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "tiles (" in r.output and "zooms 12-13" in r.output
    meta = dict(sqlite3.connect(out).execute("SELECT name, value FROM metadata"))
    assert '"category": ["01"]' in meta["filters"]
    bad = runner.invoke(app, ["tiles", "export", str(tmp_path / "x.mbtiles"), "--zooms", "3-1"])
    assert bad.exit_code == 1
    assert "zooms" in bad.output
