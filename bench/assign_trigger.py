"""What the assign triggers cost a bulk load: COPY of incidents with and without them.

Run as ``python -m bench.assign_trigger [--rows N] [--side K]`` (defaults 200,000 and 65).
It starts its own throwaway PostGIS cluster under /tmp, draws a K x K tiling of square grids
over central Harbin (under a community, street, district and city), draws N random incidents
with their ids computed by :class:`gisgrid.assign.index.GridIndex`, and times, in one run:

- COPY into ``incidents`` with grid_id given, the triggers enabled (their WHEN clause is false
  for every row, so PL/pgSQL is never entered) and disabled, alternating, median of five;
- COPY without grid_id: the trigger assigns every row with ``gisgrid_assign_point_ids``
  (checked against the Python ids);
- the Python engine on the same points (index build included), for scale.

Every run keeps incidents' indexes, foreign keys and checks, as a real load does.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

PORT = 55498
BBOX = (126.55, 45.70, 126.75, 45.85)
IDS = ["grid_id", "community_id", "street_id", "district_id"]


def _areas(side: int) -> pd.DataFrame:
    w, s, e, n = BBOX
    xs, ys = np.linspace(w, e, side + 1), np.linspace(s, n, side + 1)
    outline = shapely.box(w, s, e, n)
    rows = [
        (1, "230100", "city", None, outline),
        (2, "230102", "district", 1, outline),
        (3, "230102001", "street", 2, outline),
        (4, "230102001001", "community", 3, outline),
    ]
    k = 5
    for i in range(side):
        for j in range(side):
            rows.append(
                (k, f"G{i:03d}{j:03d}", "grid", 4, shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
            )
            k += 1
    df = pd.DataFrame(rows, columns=["id", "code", "level", "parent_id", "geom"])
    df["name"] = df["code"]
    df["geom"] = [shapely.multipolygons([g]) for g in df["geom"]]
    return df


def _incidents(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    w, s, e, n_ = BBOX
    start = pd.Timestamp("2025-01-01", tz="UTC")
    return pd.DataFrame(
        {
            "category": "0101",
            "reported_at": start + pd.to_timedelta(rng.integers(0, 365 * 86400, n), unit="s"),
            # all inside the tiling: every row has its grid_id, as a loader writes them
            "geom": shapely.points(rng.uniform(w, e, n), rng.uniform(s, n_, n)),
        }
    )


def run(n: int, side: int) -> dict[str, float]:
    from sqlalchemy import text

    from gisgrid.assign.index import GridIndex
    from gisgrid.store.cluster import Cluster
    from gisgrid.store.engine import make_engine
    from gisgrid.synth.store import copy_frame

    base = Path(tempfile.mkdtemp(prefix="gisgrid-bench-trigger-", dir="/tmp"))
    cluster = Cluster(base=base, port=PORT)
    out: dict[str, float] = {}
    try:
        print(f"starting a throwaway PostGIS in {base} ...")
        cluster.up()
        engine = make_engine(cluster.url())
        areas = _areas(side)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO incident_categories (code, name_zh, name_en) "
                    "VALUES ('01', '市容', 'city'), ('0101', '垃圾', 'rubbish')"
                )
            )
            copy_frame(conn, "areas", areas, ["id", "code", "name", "level", "parent_id", "geom"])
            conn.execute(text("ANALYZE areas"))
        pts = _incidents(n)
        t0 = time.perf_counter()
        index = GridIndex.from_areas(engine)
        geoms = np.asarray(pts["geom"].to_numpy(), dtype=object)
        res = index.assign(shapely.get_x(geoms), shapely.get_y(geoms), pts["reported_at"])
        out["python GridIndex (build + assign)"] = time.perf_counter() - t0
        given = pts.copy()
        for c in IDS:
            given[c] = pd.array(getattr(res, c), dtype="Int64")
            given.loc[given[c] < 0, c] = pd.NA
        cols = ["category", "reported_at", "geom"]
        print(f"{len(areas) - 4:,} grids, {n:,} incidents, {(res.grid_id < 0).sum():,} outside")

        def copy(df: pd.DataFrame, columns: list[str], triggers: bool) -> float:
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE incidents RESTART IDENTITY CASCADE"))
                conn.execute(text("CHECKPOINT"))
            with engine.begin() as conn:
                if not triggers:
                    conn.execute(text("ALTER TABLE incidents DISABLE TRIGGER USER"))
                t = time.perf_counter()
                copy_frame(conn, "incidents", df, columns)
                secs = time.perf_counter() - t
                if not triggers:
                    conn.execute(text("ALTER TABLE incidents ENABLE TRIGGER USER"))
            return secs

        with_t: list[float] = []
        without_t: list[float] = []
        for rep in range(5):
            without_t.append(copy(given, [*cols, *IDS], triggers=False))
            with_t.append(copy(given, [*cols, *IDS], triggers=True))
            print(f"  rep {rep + 1}: without {without_t[-1]:.2f} s, with {with_t[-1]:.2f} s")
        out["COPY, grid_id given, no triggers"] = statistics.median(without_t)
        out["COPY, grid_id given, triggers on"] = statistics.median(with_t)
        out["COPY, no grid_id: the trigger assigns"] = copy(pts, cols, triggers=True)
        with engine.connect() as conn:
            stored = conn.execute(text(f"SELECT {', '.join(IDS)} FROM incidents ORDER BY id")).all()
        got = np.array([[-1 if v is None else v for v in r] for r in stored], dtype=np.int64)
        want = np.column_stack([getattr(res, c) for c in IDS])
        out["trigger ids == python ids"] = float((got == want).all())
        engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    return out


def report(n: int, out: dict[str, float]) -> str:
    same = out.pop("trigger ids == python ids")
    base = out["COPY, grid_id given, no triggers"]
    lines = [
        f"assign trigger benchmark: {n:,} incidents, {os.cpu_count()} cores",
        f"{'what':<42}{'seconds':>9}{'rows/s':>12}{'vs no triggers':>16}",
    ]
    for what, secs in out.items():
        lines.append(f"{what:<42}{secs:>9.2f}{n / secs:>12,.0f}{secs / base:>16.2f}")
    lines.append(f"trigger-assigned ids equal the Python engine's: {bool(same)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--side", type=int, default=65)
    args = parser.parse_args(argv)
    out = run(args.rows, args.side)
    print()
    print(report(args.rows, out))


if __name__ == "__main__":
    main()
