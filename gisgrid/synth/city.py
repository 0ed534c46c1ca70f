"""The synthetic city: hierarchy, buildings, households and residents inside real outlines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gisgrid.synth import names as nm
from gisgrid.synth.geo import Plane, partition, polygonal, reading_order, sample_in

BOUNDARIES = Path(__file__).resolve().parents[2] / "data" / "boundaries"
URBAN6 = ("230102", "230103", "230104", "230108", "230109", "230110")
# Resident population of each district or county, in persons (rounded public figures); the
# generator only uses the shares.
DISTRICT_POP = {
    "230102": 1_000_000, "230103": 1_100_000, "230104": 700_000, "230108": 220_000,
    "230109": 400_000, "230110": 800_000, "230111": 600_000, "230112": 550_000,
    "230113": 700_000, "230123": 300_000, "230124": 170_000, "230125": 500_000,
    "230126": 550_000, "230127": 230_000, "230128": 200_000, "230129": 210_000,
    "230183": 500_000, "230184": 800_000,
}  # fmt: skip
CITY_CORE_LONLAT = (126.635, 45.755)  # around Zhongyang Street / the railway station
VALID_FROM = pd.Timestamp("2020-01-01T00:00:00Z")
HH_SIZE = np.array([1, 2, 3, 4, 5])
HH_SIZE_P = np.array([0.24, 0.33, 0.25, 0.11, 0.07])
MAX_GRID_HH = 300  # Harbin Pingfang's rule: at most 300 households or 1,000 people a grid
MAX_GRID_PEOPLE = 1000
LATTICE_M = 40.0  # one building per 40 m cell, so footprints never overlap


@dataclass(frozen=True)
class Scale:
    name: str
    districts: tuple[str, ...] | None  # None: all 18
    households: int
    hh_per_grid: int
    grids_per_community: int
    communities_per_street: int
    incidents: int
    visits_per_grid: int
    hotspots: int
    emerging: int


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", ("230108",), 3_000, 150, 5, 3, 3_000, 10, 2, 1),
    "small": Scale("small", URBAN6, 600_000, 150, 10, 8, 200_000, 20, 8, 4),
    "city": Scale("city", None, 3_900_000, 120, 10, 8, 1_000_000, 20, 25, 10),
}


@dataclass
class City:
    """Every generated table as a DataFrame (geometries are shapely, lon/lat WGS84)."""

    scale: Scale
    seed: int
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    ground_truth: dict[str, Any] = field(default_factory=dict)
    # a streamed city: (incidents, their events) a month at a time, instead of the two tables
    incident_chunks: Iterator[tuple[pd.DataFrame, pd.DataFrame]] | None = None
    incident_count: int = 0

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.tables.items()}


def read_boundaries(folder: Path = BOUNDARIES) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    districts = gpd.read_file(folder / "harbin_districts.geojson")
    city = gpd.read_file(folder / "harbin_city.geojson")
    districts["code"] = districts["code"].astype(str)
    return districts.sort_values("code").reset_index(drop=True), city


def _centres(poly_xy: Any, urban: bool, plane: Plane) -> list[tuple[float, float, float, float]]:
    """Density blobs (x, y, sd_m, weight) for a district."""
    rp = poly_xy.representative_point()
    if not urban:
        return [(rp.x, rp.y, 2_000.0, 1.0)]
    cx, cy = plane.to_xy(np.array([CITY_CORE_LONLAT[0]]), np.array([CITY_CORE_LONLAT[1]]))
    core = shapely.Point(float(cx[0]), float(cy[0]))
    near = shapely.ops.nearest_points(poly_xy, core)[0] if not poly_xy.contains(core) else core
    # Move a little inside, so the blob is not half outside the district.
    inner = poly_xy.buffer(-1_500)
    if not inner.is_empty:
        near = shapely.ops.nearest_points(inner, near)[0]
    return [(near.x, near.y, 3_500.0, 0.6), (rp.x, rp.y, 4_000.0, 0.4)]


def _blob_points(
    poly: Any, centres: list[tuple[float, float, float, float]], n: int, rng: np.random.Generator
) -> np.ndarray:
    shapely.prepare(poly)
    weights = np.array([c[3] for c in centres])
    counts = rng.multinomial(n, weights / weights.sum())
    out = []
    for (x, y, sd, _), k in zip(centres, counts, strict=True):
        got: list[np.ndarray] = []
        have = 0
        tries = 0
        while have < k and tries < 50:
            pts = rng.normal((x, y), sd, size=(int((k - have) * 1.5) + 8, 2))
            pts = pts[shapely.contains_xy(poly, pts[:, 0], pts[:, 1])]
            got.append(pts)
            have += len(pts)
            tries += 1
        if have < k:  # the blob hardly overlaps the polygon: spread the rest uniformly
            got.append(sample_in(poly, k - have, rng))
        out.append(np.concatenate(got)[:k])
    return np.concatenate(out) if out else np.empty((0, 2))


def _buildings_for_district(
    poly: Any, hh_target: int, urban: bool, plane: Plane, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Building points (x, y), households per building, and whether each is urban."""
    urban_share = 0.9 if urban else 0.45
    hh_urban = int(hh_target * urban_share)
    hh_rural = hh_target - hh_urban
    mean_urban = 36.0 if urban else 18.0
    n_urban = max(1, int(hh_urban / mean_urban))
    upts = _blob_points(poly, _centres(poly, urban, plane), n_urban, rng)
    uhh = np.clip(rng.lognormal(np.log(mean_urban) - 0.18, 0.6, len(upts)), 4, 150).astype(int)
    # Villages: households cluster around village centres spread over the whole area.
    n_vill = max(3, int(poly.area / 6e6))
    vill = sample_in(poly, n_vill, rng)
    n_rural = max(1, int(hh_rural / 1.2))
    which = rng.integers(0, n_vill, n_rural)
    rpts = vill[which] + rng.normal(0, 250, (n_rural, 2))
    rpts = rpts[shapely.contains_xy(poly, rpts[:, 0], rpts[:, 1])]
    rhh = rng.choice([1, 1, 1, 1, 2], len(rpts))
    pts = np.concatenate([upts, rpts])
    hh = np.concatenate([uhh, rhh])
    is_urban = np.concatenate([np.ones(len(upts), bool), np.zeros(len(rpts), bool)])
    # One building per lattice cell: merge what falls into the same cell.
    cell = np.floor(pts / LATTICE_M).astype(np.int64)
    key = cell[:, 0] * 10_000_000 + cell[:, 1]
    uniq, inv = np.unique(key, return_inverse=True)
    hh_cell = np.minimum(np.bincount(inv, weights=hh).astype(int), 150)
    urban_cell = np.bincount(inv, weights=is_urban.astype(float)) > 0
    # Each cell's centre from its members (the key cannot be split back into cell indices:
    # they may be negative).
    cxy = np.zeros((len(uniq), 2))
    np.add.at(cxy, inv, (cell + 0.5) * LATTICE_M)
    cxy /= np.bincount(inv)[:, None]
    jitter = rng.uniform(-2.0, 2.0, cxy.shape)
    bpts = cxy + jitter
    inside = shapely.contains_xy(poly, bpts[:, 0], bpts[:, 1])
    return bpts[inside], hh_cell[inside], urban_cell[inside]


def _split_oversize(
    cells: list[Any],
    labels: np.ndarray,
    pts: np.ndarray,
    hh: np.ndarray,
    people: np.ndarray,
    rng: np.random.Generator,
) -> tuple[list[Any], np.ndarray]:
    """Split any grid over 300 households or 1,000 people in two, until none is."""
    changed = True
    while changed:
        changed = False
        hh_sum = np.bincount(labels, weights=hh, minlength=len(cells))
        pp_sum = np.bincount(labels, weights=people, minlength=len(cells))
        for i in np.flatnonzero((hh_sum > MAX_GRID_HH) | (pp_sum > MAX_GRID_PEOPLE)):
            members = np.flatnonzero(labels == i)
            if len(members) < 2:
                continue
            n = int(max(np.ceil(hh_sum[i] / MAX_GRID_HH), np.ceil(pp_sum[i] / MAX_GRID_PEOPLE)))
            sub, sub_lab = partition(
                cells[i], pts[members], hh[members].astype(float), max(2, n), rng
            )
            if len(sub) < 2:
                continue
            cells[i] = sub[0]
            for k, c in enumerate(sub[1:], start=1):
                cells.append(c)
                labels[members[sub_lab == k]] = len(cells) - 1
            changed = True
    return cells, labels


def generate_hierarchy_and_people(
    scale: Scale, seed: int, boundaries: Path = BOUNDARIES
) -> dict[str, Any]:
    """Areas, buildings, households, residents (as plain arrays; see generate() for frames)."""
    districts, city = read_boundaries(boundaries)
    chosen = (
        districts if scale.districts is None else districts[districts.code.isin(scale.districts)]
    )
    if chosen.empty:
        raise ValueError(f"scale {scale.name!r}: none of {scale.districts} in {boundaries}")
    plane = Plane(*CITY_CORE_LONLAT)
    total_pop = sum(DISTRICT_POP[c] for c in chosen.code)
    seeds = np.random.SeedSequence(seed).spawn(len(districts))
    seed_of = dict(zip(districts.code, seeds, strict=True))

    areas: list[dict[str, Any]] = []
    city_geom = polygonal(city.geometry.iloc[0])
    areas.append(
        dict(
            id=1,
            code="230100",
            name="哈尔滨市",
            level="city",
            parent_id=None,
            geom_xy=None,
            geom=city_geom,
        )
    )
    next_id = 2
    b_pts, b_hh, b_urban, b_grid = [], [], [], []
    for _, d in chosen.iterrows():
        rng = np.random.default_rng(seed_of[d.code])
        did = next_id
        next_id += 1
        poly = polygonal(plane.geom_to_xy(d.geometry))
        areas.append(
            dict(
                id=did,
                code=d.code,
                name=d["name"],
                level="district",
                parent_id=1,
                geom_xy=poly,
                geom=polygonal(d.geometry),
            )
        )
        hh_target = max(50, int(scale.households * DISTRICT_POP[d.code] / total_pop))
        pts, hh, urb = _buildings_for_district(poly, hh_target, bool(d.urban), plane, rng)
        people_est = hh * 2.6
        street_hh = scale.hh_per_grid * scale.grids_per_community * scale.communities_per_street
        s_cells, s_lab = partition(
            poly, pts, hh.astype(float), max(1, round(hh.sum() / street_hh)), rng
        )
        s_order = reading_order(np.array([[c.centroid.x, c.centroid.y] for c in s_cells]))
        s_names = nm.area_names(rng, len(s_cells), "街道")
        grid_of_b = np.full(len(pts), -1, dtype=np.int64)
        for s_seq, si in enumerate(s_order, start=1):
            sid = next_id
            next_id += 1
            s_code = f"{d.code}{s_seq:03d}"
            areas.append(
                dict(
                    id=sid,
                    code=s_code,
                    name=s_names[s_seq - 1],
                    level="street",
                    parent_id=did,
                    geom_xy=s_cells[si],
                    geom=None,
                )
            )
            s_members = np.flatnonzero(s_lab == si)
            sp, shh = pts[s_members], hh[s_members]
            comm_hh = scale.hh_per_grid * scale.grids_per_community
            c_cells, c_lab = partition(
                s_cells[si], sp, shh.astype(float), max(1, round(shh.sum() / comm_hh)), rng
            )
            c_order = reading_order(np.array([[c.centroid.x, c.centroid.y] for c in c_cells]))
            c_names = nm.area_names(rng, len(c_cells), "社区")
            for c_seq, ci in enumerate(c_order, start=1):
                cid = next_id
                next_id += 1
                c_code = f"{s_code}{c_seq:03d}"
                c_name = c_names[c_seq - 1]
                areas.append(
                    dict(
                        id=cid,
                        code=c_code,
                        name=c_name,
                        level="community",
                        parent_id=sid,
                        geom_xy=c_cells[ci],
                        geom=None,
                    )
                )
                c_members = s_members[c_lab == ci]
                cp, chh = pts[c_members], hh[c_members]
                n_grids = max(1, int(np.ceil(chh.sum() / scale.hh_per_grid)))
                g_cells, g_lab = partition(c_cells[ci], cp, chh.astype(float), n_grids, rng)
                g_cells, g_lab = _split_oversize(
                    g_cells, g_lab, cp, chh.astype(float), people_est[c_members], rng
                )
                g_order = reading_order(np.array([[c.centroid.x, c.centroid.y] for c in g_cells]))
                for g_seq, gi in enumerate(g_order, start=1):
                    gid = next_id
                    next_id += 1
                    areas.append(
                        dict(
                            id=gid,
                            code=f"{c_code}{g_seq:03d}",
                            name=f"{c_name}第{g_seq}网格",
                            level="grid",
                            parent_id=cid,
                            geom_xy=g_cells[gi],
                            geom=None,
                        )
                    )
                    grid_of_b[c_members[g_lab == gi]] = gid
        b_pts.append(pts)
        b_hh.append(hh)
        b_urban.append(urb)
        b_grid.append(grid_of_b)
    return {
        "plane": plane,
        "areas": areas,
        "b_pts": np.concatenate(b_pts),
        "b_hh": np.concatenate(b_hh),
        "b_urban": np.concatenate(b_urban),
        "b_grid": np.concatenate(b_grid),
    }
