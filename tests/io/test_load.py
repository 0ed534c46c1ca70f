"""gisgrid.io.load: every format loads; every bad row is named; a failed load changes nothing."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from sqlalchemy import Engine, text

from gisgrid.crs import convert_xy
from gisgrid.errors import Conflict, InvalidInput, LoadError, NotFound
from gisgrid.io.load import export_layer, load_file
from gisgrid.store.cluster import Cluster
from tests.io.support import reset, rows, snapshot
from tests.support import scratch_engine

SHOPS = [
    # code, kind, name, lon, lat
    ("S1", "small_shop", "中央大街药店", 126.6101, 45.7702),
    ("S2", "small_eatery", "Bakery", 126.6202, 45.7303),
    ("S3", "hydrant", "消防栓 3", 126.6803, 45.7504),
]


@pytest.fixture(scope="module")
def engine(cluster: Cluster) -> Iterator[Engine]:
    with scratch_engine(cluster, "io_scratch") as eng:
        yield eng


@pytest.fixture()
def store(engine: Engine) -> Engine:
    reset(engine)
    return engine


def shops_gdf() -> gpd.GeoDataFrame:
    df = pd.DataFrame(SHOPS, columns=["code", "kind", "name", "lon", "lat"])
    return gpd.GeoDataFrame(
        df.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(df.lon, df.lat), crs=4326
    )


def write_csv(path: Path, header: str, *lines: str) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def stored_shops(engine: Engine) -> list[tuple[object, ...]]:
    return rows(
        engine,
        "SELECT code, kind, name, round(ST_X(geom)::numeric, 7)::float, "
        "round(ST_Y(geom)::numeric, 7)::float FROM places ORDER BY code",
    )


def expected_shops() -> list[tuple[object, ...]]:
    return [tuple(s) for s in SHOPS]


def errors_of(exc: pytest.ExceptionInfo[LoadError]) -> list[tuple[int, str]]:
    return [(r, f) for r, f, _ in exc.value.rows]


# -- every format -----------------------------------------------------------------------------
def _geojson(tmp: Path) -> Path:
    shops_gdf().to_file(tmp / "shops.geojson", driver="GeoJSON")
    return tmp / "shops.geojson"


def _gpkg(tmp: Path) -> Path:
    shops_gdf().to_file(tmp / "shops.gpkg", driver="GPKG", layer="places")
    return tmp / "shops.gpkg"


def _shp(tmp: Path) -> Path:
    shops_gdf().to_file(tmp / "shops.shp", encoding="utf-8")
    return tmp / "shops.shp"


def _zip(tmp: Path) -> Path:
    shp = _shp(tmp)
    with zipfile.ZipFile(tmp / "shops.zip", "w") as zf:
        for part in tmp.glob("shops.*"):
            if part.suffix != ".zip":
                zf.write(part, f"data/{part.name}")
    shp.unlink()
    return tmp / "shops.zip"


def _csv(tmp: Path) -> Path:
    lines = [f"{c},{k},{n},{x},{y}" for c, k, n, x, y in SHOPS]
    return write_csv(tmp / "shops.csv", "code,kind,name,lon,lat", *lines)


def _csv_wkt(tmp: Path) -> Path:
    lines = [f'{c},{k},{n},"POINT ({x} {y})"' for c, k, n, x, y in SHOPS]
    return write_csv(tmp / "shops_wkt.csv", "code,kind,name,wkt", *lines)


def _parquet(tmp: Path) -> Path:
    shops_gdf().to_parquet(tmp / "shops.parquet")
    return tmp / "shops.parquet"


@pytest.mark.parametrize(
    "writer",
    [_geojson, _gpkg, _shp, _zip, _csv, _csv_wkt, _parquet],
    ids=["geojson", "gpkg", "shp", "zipped-shp", "csv", "csv-wkt", "geoparquet"],
)
def test_every_format_loads(store: Engine, tmp_path: Path, writer) -> None:
    report = load_file(store, "places", writer(tmp_path))
    assert (report.rows, report.inserted, report.updated) == (3, 3, 0)
    assert stored_shops(store) == expected_shops()
    assert rows(store, "SELECT count(*) FROM places WHERE grid_id IS NOT NULL") == [(0,)]


def test_polygons_promoted_to_multipolygons(store: Engine, tmp_path: Path) -> None:
    square = shapely.box(126.61, 45.71, 126.62, 45.72)
    gdf = gpd.GeoDataFrame({"address": ["经纬街1号"], "floors": [6]}, geometry=[square], crs=4326)
    gdf.to_file(tmp_path / "b.gpkg", driver="GPKG")
    load_file(store, "buildings", tmp_path / "b.gpkg")
    assert rows(store, "SELECT GeometryType(geom), floors, ST_Area(geom) FROM buildings") == [
        ("MULTIPOLYGON", 6, pytest.approx(1e-4))
    ]


def test_reprojects_from_src_crs(store: Engine, tmp_path: Path) -> None:
    gdf = shops_gdf().to_crs(32652)  # UTM 52N, Harbin's zone
    gdf.to_file(tmp_path / "utm.gpkg", driver="GPKG")  # the .gpkg says 32652 itself
    load_file(store, "places", tmp_path / "utm.gpkg")
    assert stored_shops(store) == expected_shops()
    # A CSV of metres says nothing about its CRS: the caller does.
    xy = gdf.geometry
    lines = [f"{c},{k},{n},{x},{y}" for (c, k, n, *_), x, y in zip(SHOPS, xy.x, xy.y, strict=True)]
    path = write_csv(tmp_path / "utm.csv", "code,kind,name,lon,lat", *lines)
    load_file(store, "places", path, key="code", src_crs="EPSG:32652")
    assert stored_shops(store) == expected_shops()


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_chinese_map_coordinates_shift_back_to_wgs84(
    store: Engine, tmp_path: Path, system: str
) -> None:
    lon, lat = np.array([s[3] for s in SHOPS]), np.array([s[4] for s in SHOPS])
    mx, my = convert_xy(lon, lat, "wgs84", system)
    lines = [
        f"{c},{k},{n},{x:.12f},{y:.12f}" for (c, k, n, *_), x, y in zip(SHOPS, mx, my, strict=True)
    ]
    path = write_csv(tmp_path / "amap.csv", "code,kind,name,lon,lat", *lines)
    load_file(store, "places", path, from_=system)
    assert stored_shops(store) == expected_shops()
    # Without --from the same file lands hundreds of metres off.
    load_file(store, "places", path, key="code")
    shift = rows(
        store,
        "SELECT min(ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
        "::geography)) FROM places WHERE code = 'S1'",
        x=SHOPS[0][3],
        y=SHOPS[0][4],
    )[0][0]
    assert 300 < float(shift) < 1500  # type: ignore[arg-type]


def test_times_naive_are_city_time_and_stored_utc(store: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "i.csv",
        "category,reported_at,lon,lat",
        "0101,2026-03-02T09:30:00,126.61,45.71",
        "0101,2026-03-02T09:30:00+08:00,126.61,45.71",
        "0101,2026-03-02T01:30:00Z,126.61,45.71",
        "0101,2026-03-02 09:30,126.61,45.71",
    )
    load_file(store, "incidents", path)
    got = rows(store, "SELECT reported_at, source FROM incidents ORDER BY id")
    assert got == [(datetime(2026, 3, 2, 1, 30, tzinfo=UTC), "import")] * 4


def test_optional_fields_lists_and_place_props(store: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "p.csv",
        "code,kind,name,lon,lat,licence,hours",
        "S1,small_shop,Pharmacy,126.61,45.71,L-001,8-20",
        "S2,small_shop,Kiosk,126.62,45.71,,",
    )
    report = load_file(store, "places", path)
    assert report.ignored_columns == ()
    assert rows(store, "SELECT code, props FROM places ORDER BY code") == [
        ("S1", {"licence": "L-001", "hours": "8-20"}),
        ("S2", {}),
    ]
    units = write_csv(
        tmp_path / "u.csv",
        "name,kind,categories,available,lon,lat,colour",
        'Sanitation,sanitation,"[""0101"", ""01""]",no,126.61,45.71,red',
        "Police,police,0101;01,,126.62,45.71,blue",
    )
    report = load_file(store, "units", units)
    assert report.ignored_columns == ("colour",)
    assert rows(store, "SELECT categories, available FROM units ORDER BY id") == [
        (["0101", "01"], False),
        (["0101", "01"], True),
    ]


def test_households_without_location(store: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "h.csv",
        "address,size,lon,lat",
        "经纬街1号101,3,,",
        "经纬街1号102,2,126.61,45.71",
    )
    load_file(store, "households", path)
    assert rows(store, "SELECT size, geom IS NULL FROM households ORDER BY id") == [
        (3, True),
        (2, False),
    ]


def test_progress_reaches_the_total(store: Engine, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    load_file(store, "places", _csv(tmp_path), progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 3) and calls[-1] == (3, 3)


def test_bulk_mode_rebuilds_indexes(store: Engine, tmp_path: Path) -> None:
    def indexes() -> list[tuple[object, ...]]:
        return rows(store, "SELECT indexdef FROM pg_indexes WHERE tablename = 'places' ORDER BY 1")

    before = indexes()
    load_file(store, "places", _csv(tmp_path), bulk=True)
    assert indexes() == before
    assert stored_shops(store) == expected_shops()
    bad = write_csv(tmp_path / "bad.csv", "code,kind,name,lon,lat", "S9,shop,x,126.6,45.7")
    with pytest.raises(LoadError):
        load_file(store, "places", bad, bulk=True)
    assert indexes() == before


# -- upsert by key ----------------------------------------------------------------------------
def test_reload_with_key_updates_and_never_duplicates(store: Engine, tmp_path: Path) -> None:
    path = _csv(tmp_path)
    first = load_file(store, "places", path, key="code")
    assert (first.inserted, first.updated) == (3, 0)
    again = load_file(store, "places", path, key="code")
    assert (again.inserted, again.updated) == (0, 3)
    assert stored_shops(store) == expected_shops()
    changed = write_csv(
        tmp_path / "changed.csv",
        "code,kind,name,lon,lat",
        "S1,small_shop,New name,126.7,45.75",
        "S4,camera,Camera 4,126.64,45.74",
    )
    report = load_file(store, "places", changed, key="code")
    assert (report.inserted, report.updated) == (1, 1)
    assert rows(store, "SELECT code, name, ST_X(geom) FROM places ORDER BY code") == [
        ("S1", "New name", 126.7),
        ("S2", "Bakery", SHOPS[1][3]),
        ("S3", "消防栓 3", SHOPS[2][3]),
        ("S4", "Camera 4", 126.64),
    ]


def test_incidents_are_appended_not_reloaded_by_code(store: Engine, tmp_path: Path) -> None:
    """Incidents are partitioned by month (migration 0011): code is unique over every month
    in incident_keys, which ON CONFLICT cannot target, so a file of incidents only appends."""
    path = write_csv(
        tmp_path / "i.csv", "code,category,reported_at,lon,lat", "I1,0101,2026-03-02,126.61,45.71"
    )
    with pytest.raises(InvalidInput, match="incidents has no unique column"):
        load_file(store, "incidents", path, key="code")
    load_file(store, "incidents", path)
    assert rows(store, "SELECT count(*), max(version) FROM incidents") == [(1, 1)]


def test_without_key_a_stored_code_is_refused(store: Engine, tmp_path: Path) -> None:
    load_file(store, "places", _csv(tmp_path))
    with pytest.raises(LoadError) as exc:
        load_file(store, "places", _csv(tmp_path))
    assert errors_of(exc) == [(2, "code"), (3, "code"), (4, "code")]
    assert "load with key='code'" in exc.value.rows[0][2]


def test_key_must_be_unique_column(store: Engine, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a unique column of places"):
        load_file(store, "places", _csv(tmp_path), key="name")
    with pytest.raises(InvalidInput, match="households has no unique column"):
        load_file(store, "households", _csv(tmp_path), key="code")


# -- bad rows ---------------------------------------------------------------------------------
PLACES = "code,kind,name,lon,lat"
GOOD = "S1,small_shop,Pharmacy,126.61,45.71"


@pytest.mark.parametrize(
    ("layer", "header", "bad", "field", "reason"),
    [
        ("places", PLACES, "S2,small_shop,x,45.71,126.61", "lon/lat", "swapped"),
        ("places", PLACES, "S2,small_shop,x,200,45.7", "lon", "out of range"),
        ("places", PLACES, "S2,small_shop,x,126.6,-95", "lat", "out of range"),
        ("places", PLACES, "S2,small_shop,x,nan,45.7", "lon", "not a number"),
        ("places", PLACES, "S2,small_shop,x,abc,45.7", "lon", "not a number: 'abc'"),
        ("places", PLACES, "S2,small_shop,x,,", "lon/lat", "missing geometry"),
        ("places", PLACES, "S2,small_shop,x,126.6,", "lat", "is blank while lon is given"),
        ("places", PLACES, "S2,small_shop,,126.6,45.7", "name", "is required (blank)"),
        ("places", PLACES, "S2,shop,x,126.6,45.7", "kind", "unknown kind 'shop'; expected"),
        ("places", PLACES, f"{'X' * 41},small_shop,x,126.6,45.7", "code", "at most 40"),
        ("places", PLACES, "S1,small_shop,x,126.6,45.7", "code", "duplicate code 'S1'"),
        ("places", "kind,name,wkt", 'small_shop,x,"POINT EMPTY"', "wkt", "empty geometry"),
        ("places", "kind,name,wkt", "small_shop,x,POINT(1", "wkt", "not WKT"),
        (
            "places",
            "kind,name,wkt",
            'small_shop,x,"LINESTRING(126.6 45.7, 126.7 45.8)"',
            "wkt",
            "LineString given, Point expected",
        ),
        (
            "buildings",
            "address,wkt",
            'a,"POLYGON((126.6 45.7,126.7 45.8,126.7 45.7,126.6 45.8,126.6 45.7))"',
            "wkt",
            "invalid polygon: Self-intersection",
        ),
        ("buildings", "address,floors,wkt", 'a,six,"POINT(1 1)"', "floors", "not an integer"),
        ("buildings", "address,floors,lon,lat", "a,300,126.6,45.7", "floors", "at most 200"),
        ("buildings", "address,floors,lon,lat", "a,2.5,126.6,45.7", "floors", "not an integer"),
        (
            "incidents",
            "category,reported_at,lon,lat",
            "9999,2026-03-02,126.6,45.7",
            "category",
            "unknown category '9999': not in incident_categories",
        ),
        (
            "incidents",
            "category,reported_at,lon,lat",
            "0101,2026/03/02,126.6,45.7",
            "reported_at",
            "not an ISO 8601 time",
        ),
        (
            "incidents",
            "category,reported_at,due_at,lon,lat",
            "0101,2026-03-02,2026-03-01,126.6,45.7",
            "due_at",
            "must be after reported_at",
        ),
        (
            "incidents",
            "category,reported_at,priority,lon,lat",
            "0101,2026-03-02,asap,126.6,45.7",
            "priority",
            "unknown priority 'asap'",
        ),
        (
            "visit_logs",
            "worker_id,subject_type,visited_at,lon,lat",
            "999,none,2026-03-02,126.6,45.7",
            "worker_id",
            "no row in accounts has id = 999",
        ),
        (
            "units",
            "name,kind,available,lon,lat",
            "u,police,maybe,126.6,45.7",
            "available",
            "not true/false",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 and "," not in v else None,
)
def test_each_kind_of_bad_row_is_named(store, tmp_path, layer, header, bad, field, reason) -> None:
    good = {
        "places": GOOD if header == PLACES else "small_shop,ok,POINT(126.6 45.7)",
        "buildings": None,
        "incidents": None,
        "visit_logs": None,
        "units": None,
    }[layer]
    lines = [good, bad] if good else [bad]
    path = write_csv(tmp_path / "f.csv", header, *lines)
    before = snapshot(store)
    with pytest.raises(LoadError) as exc:
        load_file(store, layer, path)
    line = 3 if good else 2
    assert (line, field) in errors_of(exc), exc.value.rows
    assert any(reason in why for r, f, why in exc.value.rows if (r, f) == (line, field))
    assert snapshot(store) == before


def test_missing_required_column_is_a_file_error(store: Engine, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "f.csv", "code,name,lon,lat", "S1,x,126.6,45.7")
    with pytest.raises(LoadError) as exc:
        load_file(store, "places", path)
    assert exc.value.rows == [(0, "kind", "required column 'kind' is missing from the file")]


def test_make_valid_repairs_instead(store: Engine, tmp_path: Path) -> None:
    bowtie = "POLYGON((126.6 45.7,126.7 45.8,126.7 45.7,126.6 45.8,126.6 45.7))"
    path = write_csv(tmp_path / "b.csv", "address,wkt", f'a,"{bowtie}"')
    report = load_file(store, "buildings", path, make_valid=True)
    assert report.repaired == 1
    assert rows(store, "SELECT ST_IsValid(geom), ST_NumGeometries(geom) FROM buildings") == [
        (True, 2)
    ]


def test_every_bad_row_with_csv_line_numbers(store: Engine, tmp_path: Path) -> None:
    """A quoted newline makes a record span two lines: the line numbers stay true."""
    path = write_csv(
        tmp_path / "many.csv",
        "code,kind,name,lon,lat",
        GOOD,
        'S2,small_shop,"two\nlines",126.6,45.7',
        "S3,shop,x,126.6,45.7",
        "S4,small_shop,x,45.7,126.6",
        "S5,small_shop,ok,126.6,45.7",
        "S6,small_shop,,126.6,45.7",
    )
    with pytest.raises(LoadError) as exc:
        load_file(store, "places", path)
    assert errors_of(exc) == [(5, "kind"), (6, "lon/lat"), (8, "name")]
    assert str(exc.value).startswith("places.kind: 3 bad rows; row 5:")


def test_gis_rows_are_feature_numbers(store: Engine, tmp_path: Path) -> None:
    gdf = shops_gdf()
    gdf.loc[1, "kind"] = "shop"
    gdf.loc[2, "geometry"] = shapely.Point(45.75, 126.68)
    gdf.to_file(tmp_path / "bad.gpkg", driver="GPKG")
    with pytest.raises(LoadError) as exc:
        load_file(store, "places", tmp_path / "bad.gpkg")
    assert errors_of(exc) == [(2, "kind"), (3, "geom")]


def test_nan_coordinates_in_a_gis_file(store: Engine, tmp_path: Path) -> None:
    gdf = shops_gdf()
    gdf.loc[0, "geometry"] = shapely.Point(np.nan, 45.7)
    gdf.loc[1, "geometry"] = None
    gdf.to_parquet(tmp_path / "nan.parquet")
    with pytest.raises(LoadError) as exc:
        load_file(store, "places", tmp_path / "nan.parquet")
    assert [(r, f, why) for r, f, why in exc.value.rows] == [
        (1, "geom", "coordinates are NaN or infinite"),
        (2, "geom", "missing geometry"),
    ]


def test_failed_load_leaves_every_table_as_it_was(store: Engine, tmp_path: Path) -> None:
    load_file(store, "places", _csv(tmp_path))
    before = snapshot(store)
    lines = [f"N{i},small_shop,shop {i},126.6,45.7" for i in range(500)]
    lines[250] = "N250,small_shop,shop,126.6,95"
    path = write_csv(tmp_path / "big.csv", PLACES, *lines)
    with pytest.raises(LoadError) as exc:
        load_file(store, "places", path)
    assert errors_of(exc) == [(252, "lat")]
    assert snapshot(store) == before


def test_database_side_failure_is_translated_and_rolled_back(store: Engine, tmp_path: Path) -> None:
    # An old, closed version of grid G1 overlaps the new one's default validity (from 2000):
    # only the exclusion constraint in the database can see that.
    with store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO areas (code, name, level, valid_from, valid_to, geom) VALUES "
                "('G1', 'old', 'grid', '2000-01-01Z', '2020-01-01Z', "
                "ST_Multi(ST_MakeEnvelope(126.6, 45.7, 126.61, 45.71, 4326)))"
            )
        )
    before = snapshot(store)
    path = write_csv(
        tmp_path / "a.csv",
        "code,name,level,wkt",
        'G0,fine,grid,"POLYGON((126.6 45.7,126.61 45.7,126.61 45.71,126.6 45.7))"',
        'G1,new,grid,"POLYGON((126.6 45.7,126.61 45.7,126.61 45.71,126.6 45.7))"',
    )
    with pytest.raises(Conflict) as exc:
        load_file(store, "areas", path)
    assert exc.value.table == "areas"
    assert snapshot(store) == before


# -- export -----------------------------------------------------------------------------------
def _incidents(store: Engine, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "inc.csv",
        "code,category,reported_at,photos,lon,lat",
        'I1,0101,2026-03-01T08:00:00+08:00,"[""a.jpg""]",126.61,45.71',  # west, in 230102
        "I2,0101,2026-03-02T08:00:00+08:00,,126.68,45.75",  # east
        "I3,01,2026-03-03T08:00:00+08:00,b.jpg;c.jpg,126.62,45.78",  # west
    )
    load_file(store, "incidents", path)


@pytest.mark.parametrize("suffix", [".gpkg", ".parquet", ".geojson", ".csv"])
def test_export_round_trip(store: Engine, tmp_path: Path, suffix: str) -> None:
    _incidents(store, tmp_path)
    load_file(store, "places", _csv(tmp_path))
    query = (
        "SELECT code, category, reported_at, photos, source, ST_AsText(geom) "
        "FROM incidents ORDER BY code"
    )
    before = rows(store, query), stored_shops(store)
    out_i, out_p = tmp_path / f"out_i{suffix}", tmp_path / f"out_p{suffix}"
    assert export_layer(store, "incidents", out_i) == 3
    assert export_layer(store, "places", out_p) == 3
    with store.begin() as conn:
        conn.execute(text("TRUNCATE incidents, places RESTART IDENTITY CASCADE"))
    load_file(store, "incidents", out_i)
    report = load_file(store, "places", out_p)
    assert "grid_id" in report.ignored_columns
    assert (rows(store, query), stored_shops(store)) == before


def test_export_geojson_is_rfc7946(store: Engine, tmp_path: Path) -> None:
    # A clockwise exterior ring goes in; RFC 7946 wants it counter-clockwise coming out.
    cw = "POLYGON((126.6 45.7,126.6 45.71,126.61 45.71,126.61 45.7,126.6 45.7))"
    load_file(store, "buildings", write_csv(tmp_path / "b.csv", "address,wkt", f'a,"{cw}"'))
    export_layer(store, "buildings", tmp_path / "b.geojson")
    doc = json.loads((tmp_path / "b.geojson").read_text())
    assert "crs" not in doc
    ring = doc["features"][0]["geometry"]["coordinates"][0][0]
    assert shapely.LinearRing(ring).is_ccw


@pytest.mark.parametrize(
    ("filters", "codes"),
    [
        ({}, ["I1", "I2", "I3"]),
        ({"bbox": "126.6,45.7,126.65,45.8"}, ["I1", "I3"]),
        ({"bbox": (126.65, 45.7, 126.7, 45.8)}, ["I2"]),
        ({"area_code": "230102"}, ["I1", "I3"]),
        ({"since": "2026-03-02T00:00:00"}, ["I2", "I3"]),
        ({"until": "2026-03-02T08:00:00+08:00"}, ["I1", "I2"]),
        ({"until": "2026-03-01"}, ["I1"]),
        ({"since": datetime(2026, 3, 1, 12, tzinfo=UTC), "until": "2026-03-02"}, ["I2"]),
        ({"area_code": "230102", "since": "2026-03-02"}, ["I3"]),
    ],
    ids=[
        "all",
        "bbox-west",
        "bbox-east",
        "area",
        "since",
        "until-included",
        "until-a-whole-city-day",
        "range",
        "area+since",
    ],
)
def test_export_filters(store: Engine, tmp_path: Path, filters: dict, codes: list[str]) -> None:
    _incidents(store, tmp_path)
    out = tmp_path / "out.gpkg"
    assert export_layer(store, "incidents", out, **filters) == len(codes)
    assert sorted(gpd.read_file(out)["code"]) == codes


def test_export_refusals(store: Engine, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="residents are never"):
        export_layer(store, "residents", tmp_path / "r.csv")
    with pytest.raises(NotFound, match="no current area with code '999999'"):
        export_layer(store, "places", tmp_path / "p.csv", area_code="999999")
    with pytest.raises(InvalidInput, match="places has no time column"):
        export_layer(store, "places", tmp_path / "p.csv", since="2026-01-01")
    with pytest.raises(InvalidInput, match="cannot tell the format"):
        export_layer(store, "places", tmp_path / "p.xlsx")
    with pytest.raises(InvalidInput, match=r"bbox=\(2, 0, 1, 1\): west 2 is east of east 1"):
        export_layer(store, "places", tmp_path / "p.csv", bbox="2,0,1,1")
