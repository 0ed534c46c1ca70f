"""Nearest capable units: gisgrid.query.nearest beside the queries a user would otherwise write.

Run as ``python -m bench.nearest [--units N] [--queries Q] [--k K]`` (defaults 5,000, 300
and 5). It starts its own throwaway PostGIS cluster under /tmp, puts N units at random over
central Harbin (half of them handle the category asked for, 90% available), and for Q random
points times, in one run:

- ``gisgrid.query.nearest.nearest_units``: exact geodesic (spheroid) order, index-assisted (KNN
  bounds the search radius, then every unit inside it is measured), through SQLAlchemy;
- PostGIS KNN on the geometry index (``ORDER BY geom <-> point``): fast, but it ranks by
  degrees, which at 45.7 N stretch east-west distances by 1/cos(lat);
- PostGIS KNN on geography (``ORDER BY geom::geography <-> point``), sphere distances;
- numpy + pyproj ``Geod.inv`` over the capable units held in memory (no database).

Each peer's answers are compared with the exact one: the share of queries whose k ids, in
order, are the same.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

PORT = 55496
BBOX = (126.45, 45.60, 126.85, 45.90)
CATEGORY = "0101"


def _units(n: int, rng: np.random.Generator) -> pd.DataFrame:
    w, s, e, nn = BBOX
    lon, lat = rng.uniform(w, e, n), rng.uniform(s, nn, n)
    cats = [[CATEGORY] if rng.random() < 0.5 else ["0102"] for _ in range(n)]
    return pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "name": [f"unit {i}" for i in range(1, n + 1)],
            "kind": "sanitation",
            "categories": cats,
            "available": rng.random(n) < 0.9,
            "geom": shapely.points(lon, lat),
        }
    )


def _time(fn, queries: np.ndarray) -> tuple[float, list[list[int]]]:  # type: ignore[no-untyped-def]
    out = []
    t0 = time.perf_counter()
    for lon, lat in queries:
        out.append(fn(float(lon), float(lat)))
    return (time.perf_counter() - t0) / len(queries) * 1000, out


def run(n_units: int, n_queries: int, k: int) -> dict[str, tuple[float, float]]:
    from pyproj import Geod
    from sqlalchemy import text

    from gisgrid.query.nearest import nearest_units
    from gisgrid.store.cluster import Cluster
    from gisgrid.store.engine import make_engine
    from gisgrid.synth.store import copy_frame

    rng = np.random.default_rng(11)
    base = Path(tempfile.mkdtemp(prefix="gisgrid-bench-nearest-", dir="/tmp"))
    cluster = Cluster(base=base, port=PORT)
    results: dict[str, tuple[float, float]] = {}
    try:
        print(f"starting a throwaway PostGIS in {base} ...")
        cluster.up()
        engine = make_engine(cluster.url())
        units = _units(n_units, rng)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO incident_categories (code, name_zh, name_en) VALUES"
                    " ('01', '市容', 'city'), ('0101', '垃圾', 'rubbish'),"
                    " ('0102', '污水', 'sewage')"
                )
            )
            copy_frame(
                conn, "units", units, ["id", "name", "kind", "categories", "available", "geom"]
            )
            conn.execute(text("ANALYZE units"))
        w, s, e, nn = BBOX
        queries = np.column_stack([rng.uniform(w, e, n_queries), rng.uniform(s, nn, n_queries)])
        capable = units[units.categories.map(lambda c: CATEGORY in c) & units.available]
        cx = shapely.get_x(capable.geom.to_numpy())
        cy = shapely.get_y(capable.geom.to_numpy())
        cid = capable.id.to_numpy()
        geod = Geod(ellps="WGS84")

        knn_sql = {
            "PostGIS KNN, geometry index (degrees)": (
                "u.geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326)"
            ),
            "PostGIS KNN, geography (sphere)": (
                "u.geom::geography <-> ST_SetSRID(ST_MakePoint(:x, :y), 4326)::geography"
            ),
        }
        with engine.connect() as conn:

            def exact(x: float, y: float) -> list[int]:
                return [u.id for u in nearest_units(conn, x, y, CATEGORY, k=k)]

            ms, truth = _time(exact, queries)
            results["gisgrid.query.nearest (spheroid, exact)"] = (ms, 1.0)
            for name, order in knn_sql.items():
                sql = text(
                    f"SELECT u.id FROM units u WHERE :c = ANY(u.categories) AND u.available"
                    f" ORDER BY {order} LIMIT :k"
                )

                def knn(x: float, y: float, sql=sql) -> list[int]:  # type: ignore[no-untyped-def]
                    return list(
                        conn.execute(sql, {"x": x, "y": y, "c": CATEGORY, "k": k}).scalars()
                    )

                ms, got = _time(knn, queries)
                results[name] = (
                    ms,
                    float(np.mean([a == b for a, b in zip(got, truth, strict=True)])),
                )

        def numpy_geod(x: float, y: float) -> list[int]:
            _, _, d = geod.inv(np.full(len(cx), x), np.full(len(cx), y), cx, cy)
            best = np.lexsort((cid, d))[:k]
            return [int(i) for i in cid[best]]

        ms, got = _time(numpy_geod, queries)
        results["numpy + pyproj Geod, in memory"] = (
            ms,
            float(np.mean([a == b for a, b in zip(got, truth, strict=True)])),
        )
        engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    return results


def report(n_units: int, n_queries: int, k: int, results: dict[str, tuple[float, float]]) -> str:
    lines = [
        f"{n_units:,} units ({n_units // 2:,} capable), {n_queries} queries, k={k}",
        f"{'method':<42} {'ms/query':>9} {'same order as exact':>20}",
    ]
    for name, (ms, agree) in results.items():
        lines.append(f"{name:<42} {ms:>9.2f} {agree:>19.0%}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args(argv)
    results = run(args.units, args.queries, args.k)
    print()
    print(report(args.units, args.queries, args.k, results))


if __name__ == "__main__":
    main()
