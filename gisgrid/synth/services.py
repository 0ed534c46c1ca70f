"""Places, responsible units and accounts of the synthetic city."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import shapely

from gisgrid import vocab
from gisgrid.synth import names as nm
from gisgrid.taxonomy import leaf_categories

# Places per household (or per grid, for public objects).
PLACE_RATES = {
    "small_shop": 1 / 40, "small_eatery": 1 / 60, "small_hotel": 1 / 400,
    "small_entertainment": 1 / 500, "internet_cafe": 1 / 1500, "small_clinic": 1 / 800,
    "small_school": 1 / 600, "small_workshop": 1 / 300, "small_warehouse": 1 / 700,
    "camera": 1 / 100,
}  # fmt: skip
HYDRANTS_PER_GRID = 3.0
HAZARDS_PER_GRID = 0.3

UNIT_NAMES = {
    "police": "派出所", "fire": "消防救援站", "sanitation": "环卫所", "housing": "房屋管理所",
    "utilities": "公用事业服务中心", "market": "市场监督管理所", "urban_management": "城管中队",
    "health": "社区卫生服务中心", "civil_affairs": "民政所", "traffic": "交警大队",
    "environment": "生态环境分局", "other": "综合服务站",
}  # fmt: skip
PER_STREET = (
    "police",
    "urban_management",
    "housing",
    "market",
    "health",
    "civil_affairs",
    "sanitation",
)
PER_DISTRICT = ("utilities", "traffic", "environment", "fire")


def places(b: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Places at buildings: shops by households, hydrants and hazards by grid."""
    hh_grid = b.groupby("grid_id")["household_count"].sum()
    bidx_by_grid = b.groupby("grid_id").indices
    rows_b: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    grids = hh_grid.index.to_numpy()
    for kind, rate in PLACE_RATES.items():
        k = rng.poisson(hh_grid.to_numpy() * rate)
        rows_b.append(_pick(bidx_by_grid, grids, k, rng))
        kinds.append(np.full(int(k.sum()), kind))
    for kind, per in (("hydrant", HYDRANTS_PER_GRID), ("hazard", HAZARDS_PER_GRID)):
        k = rng.poisson(np.full(len(grids), per))
        rows_b.append(_pick(bidx_by_grid, grids, k, rng))
        kinds.append(np.full(int(k.sum()), kind))
    bi = np.concatenate(rows_b)
    kind_arr = np.concatenate(kinds)
    n = len(bi)
    # Up to 1.5 m off the building centre: every footprint is at least 6 m across and
    # centred on it, so the place stays on the building and inside its grid.
    lon = b["lon"].to_numpy()[bi] + rng.uniform(-1.9e-5, 1.9e-5, n)
    lat = b["lat"].to_numpy()[bi] + rng.uniform(-1.3e-5, 1.3e-5, n)
    words = np.array([rng.choice(nm.PLACE_WORDS[k]) for k in kind_arr.tolist()])
    prefix = np.array(nm.area_names(rng, 300, ""))[rng.integers(0, 300, n)]
    df = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "code": np.char.add("P", np.arange(1, n + 1).astype(str)),
            "kind": kind_arr,
            "name": np.char.add(prefix, words),
            "address": b["address"].to_numpy()[bi],
            "building_id": b["id"].to_numpy()[bi],
            "geom": shapely.points(lon, lat),
        }
    )
    for c in ("grid_id", "community_id", "street_id", "district_id"):
        df[c] = b[c].to_numpy()[bi]
    return df


def _pick(
    groups: dict[Any, np.ndarray], grids: np.ndarray, k: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    out = [rng.choice(groups[g], int(n)) for g, n in zip(grids, k, strict=True) if n]
    return np.concatenate(out) if out else np.array([], dtype=np.int64)


def units(areas: pd.DataFrame, b: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Units per street and per district, each at a building of its area."""
    kinds_cats: dict[str, list[str]] = {}
    for c in leaf_categories():
        kinds_cats.setdefault(c.unit_kind, []).append(c.code)
    rows = []
    by_street = b.groupby("street_id").indices
    by_district = b.groupby("district_id").indices
    for a in areas.itertuples():
        if a.level == "street" and a.id in by_street:
            kinds: tuple[str, ...] = PER_STREET
            pool = by_street[a.id]
        elif a.level == "district" and a.id in by_district:
            kinds = (*PER_DISTRICT, "fire", "fire")
            pool = by_district[a.id]
        else:
            continue
        for kind in kinds:
            bi = int(rng.choice(pool))
            rows.append(
                {
                    "name": f"{a.name}{UNIT_NAMES[kind]}",
                    "kind": kind,
                    "categories": kinds_cats.get(kind, []),
                    "available": bool(rng.random() < 0.9),
                    "phone": f"0451-{rng.integers(80000000, 89999999)}",
                    "area_id": a.id,
                    "lon": float(b["lon"].iat[bi]),
                    "lat": float(b["lat"].iat[bi]),
                }
            )
    df = pd.DataFrame(rows)
    assert set(df["kind"]) <= set(vocab.UNIT_KINDS)
    df.insert(0, "id", np.arange(1, len(df) + 1))
    df.insert(1, "code", [f"U{i}" for i in df["id"]])
    df["geom"] = shapely.points(df["lon"].to_numpy(), df["lat"].to_numpy())
    return df


def accounts(areas: pd.DataFrame, u: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A grid worker per grid (a second one in ~6%), one per community and centre, and more."""
    role_of = {
        "grid": "grid_worker",
        "community": "community",
        "street": "street_centre",
        "district": "district_centre",
        "city": "city_centre",
    }
    rows = []
    for a in areas.itertuples():
        rows.append(
            {
                "username": f"{role_of[a.level]}_{a.code}",
                "role": role_of[a.level],
                "scope_area_id": a.id,
                "display_name": f"{a.name}",
            }
        )
        if a.level == "grid" and rng.random() < 0.06:
            rows.append(
                {
                    "username": f"grid_worker_{a.code}_2",
                    "role": "grid_worker",
                    "scope_area_id": a.id,
                    "display_name": f"{a.name}(2)",
                }
            )
    city_id = int(areas.loc[areas.level == "city", "id"].iat[0])
    for unit in u.itertuples():
        rows.append(
            {
                "username": f"unit_{unit.code}",
                "role": "unit",
                "unit_id": unit.id,
                "scope_area_id": unit.area_id,
                "display_name": unit.name,
            }
        )
    for i in range(1, 4):
        rows.append({"username": f"analyst_{i}", "role": "analyst", "scope_area_id": city_id})
    for i in range(1, 3):
        rows.append({"username": f"planner_{i}", "role": "planner", "scope_area_id": city_id})
    rows.append({"username": "admin", "role": "admin", "scope_area_id": None})
    df = pd.DataFrame(rows)
    df.insert(0, "id", np.arange(1, len(df) + 1))
    if "unit_id" not in df:
        df["unit_id"] = None
    return df
