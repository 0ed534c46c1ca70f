"""Assignment benchmark: gisgrid.assign.scaleout.assign_dask on a LocalCluster beside
GridIndex.assign.

Run as ``python -m bench.assign_dask [--points N] [--grids G] [--workers W]`` (defaults 10M
points, 30,000 grids, 2 workers). The grids are Voronoi cells of random seeds over Harbin's
bbox (lon 126.2-127.0, lat 45.5-46.0) with shuffled ids; the points are uniform over the
same bbox. Each way runs in a fresh process, so each peak memory is its own:

- in memory: ``GridIndex.assign`` on the lon/lat arrays (strip index build timed apart);
- dask: ``assign_dask`` of the pandas frame (scattered to the workers, Hilbert shuffle,
  assignment on the workers, result gathered to the client as one pandas frame), and the
  same without the spatial shuffle. The LocalCluster's start-up is timed apart.

Peak memory is ``ru_maxrss`` of the process, and of each worker (asked by ``client.run``).
A checksum of the grid ids in input order shows that all ways agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np

HARBIN = (126.2, 45.5, 127.0, 46.0)


def make_grids(n: int, seed: int = 1) -> Any:
    """``n`` Voronoi grids over Harbin's bbox, ids 1..n in shuffled order."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(seed)
    w, s, e, n_ = HARBIN
    box = shapely.box(w, s, e, n_)
    seeds = shapely.multipoints(rng.uniform([w, s], [e, n_], (n, 2)))
    cells = shapely.intersection(
        shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box
    )
    ids = rng.permutation(np.arange(1, len(cells) + 1))
    return gpd.GeoDataFrame({"id": ids}, geometry=cells, crs=4326)


def make_points(n: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w, s, e, n_ = HARBIN
    return rng.uniform(w, e, n), rng.uniform(s, n_, n)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _digest(grid_id: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(grid_id, dtype=np.int64).tobytes()).hexdigest()[:12]


def run_memory(n_points: int, n_grids: int) -> dict[str, Any]:
    from gisgrid.assign.index import GridIndex

    index = GridIndex.from_frame(make_grids(n_grids))
    lon, lat = make_points(n_points)
    t0 = time.perf_counter()
    index.assign(lon[:100_000], lat[:100_000])  # builds the strip index and its STRtree
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = index.assign(lon, lat)
    secs = time.perf_counter() - t0
    return {
        "build_s": build,
        "seconds": secs,
        "peak_mb": _peak_mb(),
        "digest": _digest(res.grid_id),
    }


def _worker_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_dask(n_points: int, n_grids: int, workers: int, spatial: bool) -> dict[str, Any]:
    import pickle

    import pandas as pd
    from distributed import get_task_stream

    from gisgrid.assign.index import GridIndex
    from gisgrid.assign.scaleout import assign_dask, local_cluster

    index = GridIndex.from_frame(make_grids(n_grids))
    lon, lat = make_points(n_points)
    points = pd.DataFrame({"lon": lon, "lat": lat})
    del lon, lat
    t0 = time.perf_counter()
    with local_cluster(workers) as client:
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        with get_task_stream(client) as stream:
            out = assign_dask(
                points,
                index,
                client=client,
                lon_col="lon",
                lat_col="lat",
                spatial_partitioning=spatial,
            )
            result = out.compute()
        secs = time.perf_counter() - t0
        partitions = out.npartitions
        peaks = client.run(_worker_peak_mb)
    grid_id = result["grid_id"].sort_index().to_numpy()
    return {
        "startup_s": startup,
        "seconds": secs,
        "partitions": partitions,
        "peak_mb": _peak_mb(),
        "task_s": _task_seconds(stream.data),
        "worker_peak_mb": sorted(peaks.values()),
        "index_pickle_mb": len(pickle.dumps(index)) / 1e6,
        "digest": _digest(grid_id),
    }


def _task_seconds(tasks: list[dict[str, Any]]) -> dict[str, float]:
    """Worker seconds by kind of task: the assignment (fused with whatever dask fused into it),
    the shuffle, and the rest (scatter, keys, divisions)."""
    out = {"assign": 0.0, "shuffle": 0.0, "other": 0.0}
    for t in tasks:
        name = str(t["key"][0] if isinstance(t["key"], tuple) else t["key"])
        secs = sum(s["stop"] - s["start"] for s in t["startstops"] if s["action"] == "compute")
        kind = (
            "assign" if "_assign_partition" in name else "shuffle" if "shuffle" in name else "other"
        )
        out[kind] += secs
    return out


def _child(args: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.assign_dask", "--child", *args]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def report(n_points: int, n_grids: int, workers: int, rows: list[tuple[str, dict]]) -> str:
    base = rows[0][1]["seconds"]
    lines = [
        f"assignment benchmark: {n_points:,} random points, {n_grids:,} Voronoi grids "
        f"(Harbin bbox), {workers} dask workers, machine of {_cores()} cores",
        f"{'way':<38}{'seconds':>9}{'points/s':>13}{'time / memory':>15}{'peak MB':>10}"
        f"{'workers MB':>14}  grid ids",
    ]
    for name, r in rows:
        wmb = "/".join(f"{m:.0f}" for m in r.get("worker_peak_mb", [])) or "-"
        lines.append(
            f"{name:<38}{r['seconds']:>9.2f}{n_points / r['seconds']:>13,.0f}"
            f"{r['seconds'] / base:>15.2f}{r['peak_mb']:>10.0f}{wmb:>14}  {r['digest']}"
        )
    mem = rows[0][1]
    dsk = rows[1][1]
    lines.append(
        f"(in memory: strip index built in {mem['build_s']:.2f} s before the timed call; "
        f"dask: cluster start {dsk['startup_s']:.1f} s not counted, the workers build their "
        f"strip indexes inside the timed run; {dsk['partitions']} partitions; the index "
        f"pickles to {dsk['index_pickle_mb']:.1f} MB without its strip indexes)"
    )
    for name, r in rows[1:]:
        t = r["task_s"]
        lines.append(
            f"  {name}: worker seconds in tasks: assignment {t['assign']:.1f}, "
            f"shuffle {t['shuffle']:.1f}, other {t['other']:.1f}"
        )
    return "\n".join(lines)


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--grids", type=int, default=30_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--child", choices=["memory", "dask", "dask-unshuffled"])
    args = parser.parse_args(argv)
    if args.child == "memory":
        print(json.dumps(run_memory(args.points, args.grids)))
        return
    if args.child is not None:
        spatial = args.child == "dask"
        print(json.dumps(run_dask(args.points, args.grids, args.workers, spatial)))
        return
    common = ["--points", str(args.points), "--grids", str(args.grids)]
    common += ["--workers", str(args.workers)]
    rows = []
    for child, name in (
        ("memory", "GridIndex.assign (in memory, 1 core)"),
        ("dask", "assign_dask (Hilbert shuffle)"),
        ("dask-unshuffled", "assign_dask (partitions as given)"),
    ):
        print(f"  running {name} ...", flush=True)
        rows.append((name, _child([child, *common])))
    print()
    print(report(args.points, args.grids, args.workers, rows))
    if len({r["digest"] for _, r in rows}) != 1:
        print("MISMATCH: the ways disagree on the grid ids")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
