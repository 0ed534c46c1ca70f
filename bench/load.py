"""Loading benchmark: gisgrid.io.load.load_file beside ogr2ogr and geopandas' to_postgis.

Run as ``python -m bench.load [--rows N]`` (default 1,000,000). It starts its own throwaway
PostGIS cluster under /tmp, generates N random incident points in Harbin's bbox, writes them
to GeoParquet and CSV, and times, on the same machine and in the same run:

- gisgrid ``load_file`` into ``incidents`` (every row checked; five B-tree indexes, a GiST
  index, a foreign key and the CHECK constraints maintained), from GeoParquet and from CSV;
- ``ogr2ogr -f PostgreSQL`` (GDAL's PG driver, PG_USE_COPY=YES) into a fresh table;
- geopandas ``to_postgis`` (GeoAlchemy2) into a fresh table, reading the GeoParquet first.

The system GDAL here (3.6) has no Parquet driver, so ogr2ogr reads the CSV; each ratio is
against gisgrid on the same file format where both can read it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

HARBIN = (126.4, 45.6, 126.9, 45.9)
CATEGORIES = ("0101", "0102", "0201", "0202", "0301")
PORT = 55497


def make_points(n: int, seed: int = 42) -> pd.DataFrame:
    """N random incidents in Harbin's bbox: lon, lat, category, reported_at (city time)."""
    rng = np.random.default_rng(seed)
    w, s, e, n_ = HARBIN
    start = np.datetime64("2025-01-01T00:00:00")
    seconds = rng.integers(0, 365 * 86400, n)
    return pd.DataFrame(
        {
            "lon": rng.uniform(w, e, n).round(7),
            "lat": rng.uniform(s, n_, n).round(7),
            "category": rng.choice(CATEGORIES, n),
            "reported_at": (start + seconds.astype("timedelta64[s]")).astype(str),
            "description": "bench",
        }
    )


def write_files(df: pd.DataFrame, folder: Path) -> tuple[Path, Path]:
    import geopandas as gpd

    csv_path, parquet_path = folder / "incidents.csv", folder / "incidents.parquet"
    df.to_csv(csv_path, index=False)
    gdf = gpd.GeoDataFrame(
        df.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(df.lon, df.lat),
        crs="EPSG:4326",
    )
    gdf.to_parquet(parquet_path)
    return parquet_path, csv_path


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(rows: int) -> list[tuple[str, str, float, int]]:
    import geopandas as gpd
    from sqlalchemy import text

    from gisgrid.io.load import load_file
    from gisgrid.store.cluster import Cluster
    from gisgrid.store.engine import make_engine

    base = Path(tempfile.mkdtemp(prefix="gisgrid-bench-", dir="/tmp"))
    # The cluster owns base (made world-traversable by Cluster, as tests/conftest.py relies
    # on); the generated files sit beside the data folder.
    cluster = Cluster(base=base, port=PORT)
    results: list[tuple[str, str, float, int]] = []
    try:
        print(f"starting a throwaway PostGIS in {base} ...")
        cluster.up()
        engine = make_engine(cluster.url())
        with engine.begin() as conn:
            for code in CATEGORIES:
                conn.execute(
                    text(
                        "INSERT INTO incident_categories (code, name_zh, name_en) "
                        "VALUES (:c, :zh, :en)"
                    ),
                    {"c": code, "zh": f"类别{code}", "en": f"category {code}"},
                )
        print(f"writing {rows:,} random incidents to GeoParquet and CSV ...")
        files = base / "files"
        files.mkdir()
        parquet_path, csv_path = write_files(make_points(rows), files)

        def count(table: str) -> int:
            with engine.connect() as conn:
                return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())

        def truncate() -> None:
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE incidents RESTART IDENTITY CASCADE"))
                conn.execute(text("CHECKPOINT"))

        for label, path in (("GeoParquet", parquet_path), ("CSV", csv_path)):
            truncate()
            secs = _timed(lambda p=path: load_file(engine, "incidents", p))
            results.append(("gisgrid load_file", label, secs, count("incidents")))
            print(f"  gisgrid {label}: {secs:.1f} s")

        pg = (
            f"PG:dbname={cluster.db_name} host={cluster.socket_dir} port={cluster.port} "
            f"user={cluster.db_user}"
        )
        env = {**os.environ, "PG_USE_COPY": "YES"}
        cmd = [
            "ogr2ogr", "-f", "PostgreSQL", pg, str(csv_path), "-nln", "ogr_incidents",
            "-oo", "X_POSSIBLE_NAMES=lon", "-oo", "Y_POSSIBLE_NAMES=lat",
            "-oo", "AUTODETECT_TYPE=NO", "-a_srs", "EPSG:4326", "-nlt", "POINT",
            "-lco", "GEOMETRY_NAME=geom", "-overwrite",
        ]  # fmt: skip
        if shutil.which("ogr2ogr"):
            secs = _timed(lambda: subprocess.run(cmd, check=True, env=env, capture_output=True))
            results.append(("ogr2ogr -f PostgreSQL", "CSV", secs, count("ogr_incidents")))
            print(f"  ogr2ogr CSV: {secs:.1f} s")

            # ogr2ogr fills a bare staging table; landing the rows in incidents (indexes,
            # constraints, foreign key) is a second step the user still has to pay for.
            def finish() -> None:
                with engine.begin() as conn:
                    conn.execute(
                        text(
                            "INSERT INTO incidents (category, description, reported_at, source, "
                            "geom) SELECT category, description, reported_at::timestamp "
                            "AT TIME ZONE 'Asia/Shanghai', 'import', geom FROM ogr_incidents"
                        )
                    )

            truncate()
            more = _timed(finish)
            results.append(("ogr2ogr + INSERT..SELECT", "CSV", secs + more, count("incidents")))
            print(f"  ogr2ogr + INSERT ... SELECT into incidents: {secs + more:.1f} s")

        def geopandas_load() -> None:
            gdf = gpd.read_parquet(parquet_path)
            gdf.to_postgis("gpd_incidents", engine, if_exists="replace", index=False)

        secs = _timed(geopandas_load)
        results.append(("geopandas to_postgis", "GeoParquet", secs, count("gpd_incidents")))
        print(f"  geopandas GeoParquet: {secs:.1f} s")
        engine.dispose()
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    return results


def report(rows: int, results: list[tuple[str, str, float, int]]) -> str:
    ours = {fmt: secs for tool, fmt, secs, _ in results if tool.startswith("gisgrid")}
    lines = [
        f"load benchmark: {rows:,} incident points (Harbin bbox), {os.cpu_count()} cores",
        f"{'tool':<28}{'file':<12}{'seconds':>9}{'rows/s':>12}{'rows in db':>12}"
        f"{'time / gisgrid':>16}",
    ]
    for tool, fmt, secs, n in results:
        ratio = secs / ours[fmt] if fmt in ours else float("nan")
        lines.append(f"{tool:<28}{fmt:<12}{secs:>9.1f}{rows / secs:>12,.0f}{n:>12,}{ratio:>16.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    results = run(args.rows)
    print()
    print(report(args.rows, results))


if __name__ == "__main__":
    main()
