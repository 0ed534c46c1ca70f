"""The city twin's areas and incident points, generated once and kept in a cache.

``synth.generate("city")`` takes minutes and several GB; the assignment benchmark needs only
the areas (grids and the hierarchy above them) and the incident points, so it keeps those in
two GeoParquet/Parquet files under ``.gisgrid/bench/`` keyed by scale and seed, and later runs
read them in seconds. Run ``python -m bench.city_twin`` to build the cache on its own.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CACHE = Path(".gisgrid/bench")
URBAN_CORE = (126.5, 45.68, 126.75, 45.82)  # the box for the random points


@dataclass(frozen=True)
class Twin:
    areas: object  # GeoDataFrame: id, code, level, parent_id, valid_from, geometry
    lon: np.ndarray  # incident points
    lat: np.ndarray
    grid_id: np.ndarray  # the grid synth gave each incident


def load(scale: str = "city", seed: int = 42, cache: Path = CACHE) -> Twin:
    """The twin from the cache, generating it (and filling the cache) when absent."""
    import geopandas as gpd
    import pandas as pd

    areas_path = cache / f"{scale}-{seed}-areas.parquet"
    inc_path = cache / f"{scale}-{seed}-incidents.parquet"
    if not (areas_path.exists() and inc_path.exists()):
        from gisgrid.synth import generate

        t0 = time.perf_counter()
        city = generate(scale, seed=seed, step=lambda m: print(f"  generating: {m}", flush=True))
        print(f"  generated the {scale} twin in {time.perf_counter() - t0:.0f} s", flush=True)
        a = city.tables["areas"]
        areas = gpd.GeoDataFrame(
            a[["id", "code", "level", "parent_id", "valid_from"]],
            geometry=list(a["geom"]),
            crs=4326,
        )
        inc = city.tables["incidents"]
        geoms = np.asarray(inc["geom"].to_numpy(), dtype=object)
        import shapely

        points = pd.DataFrame(
            {
                "lon": shapely.get_x(geoms),
                "lat": shapely.get_y(geoms),
                "grid_id": inc["grid_id"].to_numpy(np.int64),
            }
        )
        cache.mkdir(parents=True, exist_ok=True)
        areas.to_parquet(areas_path)
        points.to_parquet(inc_path)
    areas = gpd.read_parquet(areas_path)
    points = pd.read_parquet(inc_path)
    return Twin(
        areas,
        points["lon"].to_numpy(),
        points["lat"].to_numpy(),
        points["grid_id"].to_numpy(),
    )


def urban_points(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``n`` uniform random points in the urban core box."""
    rng = np.random.default_rng(seed)
    w, s, e, nn = URBAN_CORE
    return rng.uniform(w, e, n), rng.uniform(s, nn, n)


if __name__ == "__main__":
    twin = load(*(sys.argv[1:2] or ["city"]))
    print(f"{len(twin.areas):,} areas, {len(twin.lon):,} incident points")  # type: ignore[arg-type]
