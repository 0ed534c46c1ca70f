"""Hot-spot statistics: gisgrid's Gi* and emerging hot spots beside esda on the same weights.

Run as ``python -m bench.hotspots [--cache FILE] [--esda-permutations 999] [--slices 3]``. It
builds the city twin in memory (``synth.generate("city")``: 33,837 grids, a year of 1M
incidents; several minutes, so ``--cache`` keeps the grids and the weekly counts in a file
for the next run), counts incidents per grid and per week in pandas (no database), builds
queen weights once, and times in one run:

- Gi* with 999 permutations: ``gisgrid.analysis.hotspots.GiStar`` (warm: the best of 3) and
  esda's ``G_Local(y, w, transform="B", star=True, permutations=999)`` on the same weights
  (once: it is slow). Their z-scores are compared (they must agree to 1e-9);
- emerging hot spots on 33,837 grids x 52 weeks: ``EmergingHotSpots`` (space-time Gi* with
  one previous week, 199 permutations per bin, Mann-Kendall, categories; the best of 2)
  beside a loop of esda ``G_Local`` per weekly slice with 199 permutations: ``--slices``
  slices are timed and the loop over 52 extrapolated (labelled so). The peer is spatial only
  per slice (no time lag, no trend): it is what a user without an emerging hot-spot tool
  would run, and it costs at least this much.

esda runs as ``pip install esda`` installs it: without numba (its "plus" extra), so its
permutation loop is plain Python.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

WEEKS = 52


@dataclass(frozen=True)
class City:
    grids: object  # GeoDataFrame: id, code, geometry
    counts: np.ndarray  # incidents per grid over the year
    weekly: np.ndarray  # (grids, WEEKS) incidents per grid and week


def build_city(cache: Path | None, seed: int = 42) -> City:
    import geopandas as gpd

    if cache is not None and cache.exists():
        grids = gpd.read_parquet(cache)
        weekly = np.stack(grids.pop("weekly").to_numpy())
        return City(grids, weekly.sum(axis=1), weekly)
    from gisgrid.synth import generate
    from gisgrid.synth.events import END_LOCAL

    city = generate("city", seed=seed, step=lambda m: print(f"  generating: {m}", flush=True))
    areas = city.tables["areas"]
    g = areas[areas["level"] == "grid"]
    grids = gpd.GeoDataFrame(
        {"id": g["id"].to_numpy(), "code": g["code"].to_numpy()},
        geometry=list(g["geom"]),
        crs=4326,
    )
    inc = city.tables["incidents"]
    weekly = weekly_counts(
        grids["id"].to_numpy(),
        inc["grid_id"].to_numpy(),
        pd.DatetimeIndex(inc["reported_at"]),
        END_LOCAL,
    )
    if cache is not None:
        grids.assign(weekly=list(weekly)).to_parquet(cache)
    return City(grids, weekly.sum(axis=1), weekly)


def weekly_counts(
    grid_ids: np.ndarray, inc_grid: np.ndarray, reported: pd.DatetimeIndex, until: pd.Timestamp
) -> np.ndarray:
    """(grids, WEEKS) counts in 7-day windows back from ``until``, oldest first: the cube
    that ``gisgrid.analysis.emerging.space_time_cube`` builds in SQL."""
    back = np.floor((until - reported) / pd.Timedelta(days=7)).to_numpy().astype(np.int64)
    row = pd.Index(grid_ids).get_indexer(inc_grid)
    keep = (row >= 0) & (back >= 0) & (back < WEEKS)
    out = np.zeros((len(grid_ids), WEEKS), dtype=np.int64)
    np.add.at(out, (row[keep], WEEKS - 1 - back[keep]), 1)
    return out


def _best(fn, reps: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    best, out = float("inf"), None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run(city: City, esda_permutations: int = 999, slices: int = 3) -> dict[str, float]:
    from esda.getisord import G_Local

    from gisgrid.analysis.emerging import EmergingHotSpots
    from gisgrid.analysis.hotspots import GiStar
    from gisgrid.analysis.weights import spatial_weights

    res: dict[str, float] = {"grids": len(city.counts), "incidents": float(city.counts.sum())}
    t = time.perf_counter()
    w = spatial_weights(city.grids, "queen", cache=False)
    res["weights_s"] = time.perf_counter() - t
    res["islands"] = len(w.islands)
    y = city.counts.astype(float)
    GiStar(permutations=999, seed=0).fit(y, w)  # warm-up
    res["gistar_s"], g = _best(lambda: GiStar(permutations=999, seed=0).fit(y, w), 3)
    lw = w.to_libpysal()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        ref = G_Local(
            y, lw, transform="B", star=True, permutations=esda_permutations, seed=0, n_jobs=1
        )
        res["esda_gistar_s"] = time.perf_counter() - t
    res["esda_permutations"] = esda_permutations
    res["z_max_diff"] = float(np.abs(ref.Zs - g.z_).max())  # type: ignore[attr-defined]
    res["hot_95_or_99"] = float(np.isin(g.classes_, ["hot_95", "hot_99"]).sum())  # type: ignore[attr-defined]

    est = EmergingHotSpots(permutations=199, seed=0)
    res["emerging_s"], e = _best(lambda: est.fit(city.weekly, w), 2)
    res["emerging_consecutive"] = float((e.categories_ == "consecutive_hot").sum())  # type: ignore[attr-defined]
    took = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(slices):
            t = time.perf_counter()
            G_Local(
                city.weekly[:, WEEKS - 1 - k].astype(float),
                lw,
                transform="B",
                star=True,
                permutations=199,
                seed=k,
                n_jobs=1,
            )
            took.append(time.perf_counter() - t)
    res["esda_slice_s"] = float(np.mean(took))
    res["esda_slices_timed"] = slices
    res["esda_loop_s"] = res["esda_slice_s"] * WEEKS
    return res


def report(r: dict[str, float]) -> str:
    lines = [
        f"{int(r['grids']):,} grids, {int(r['incidents']):,} incidents in {WEEKS} whole weeks; "
        f"queen weights built "
        f"in {r['weights_s']:.1f} s ({int(r['islands'])} islands linked to their nearest)",
        f"{'step':<58} {'seconds':>9} {'ratio':>7}",
        f"{'gisgrid GiStar, 999 permutations (warm, best of 3)':<58} {r['gistar_s']:>9.2f} "
        f"{'1.0':>7}",
        f"{'esda G_Local star, binary, ' + str(int(r['esda_permutations'])) + ' permutations':<58}"
        f" {r['esda_gistar_s']:>9.2f} {r['esda_gistar_s'] / r['gistar_s']:>6.0f}x",
        f"{'gisgrid EmergingHotSpots, 52 weeks, 199 permutations':<58} {r['emerging_s']:>9.2f} "
        f"{'1.0':>7}",
        f"{'esda G_Local per weekly slice x 52, 199 permutations':<58} {r['esda_loop_s']:>9.1f} "
        f"{r['esda_loop_s'] / r['emerging_s']:>6.0f}x",
        f"  (extrapolated from {int(r['esda_slices_timed'])} slices of "
        f"{r['esda_slice_s']:.1f} s each; spatial only, no time lag or trend)",
        f"Gi* z-scores, gisgrid vs esda: max |difference| {r['z_max_diff']:.1e}; "
        f"hot grids at 95/99 %: {int(r['hot_95_or_99']):,}; consecutive hot spots: "
        f"{int(r['emerging_consecutive']):,}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="parquet file for the city's grids and weekly counts",
    )
    parser.add_argument("--esda-permutations", type=int, default=999)
    parser.add_argument("--slices", type=int, default=3)
    args = parser.parse_args(argv)
    t = time.perf_counter()
    city = build_city(args.cache)
    print(f"city ready in {time.perf_counter() - t:.0f} s", flush=True)
    print(report(run(city, args.esda_permutations, args.slices)))


if __name__ == "__main__":
    main()
