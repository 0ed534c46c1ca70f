"""The hot-spot benchmark's parts on a small lattice city: the weekly cube, one whole run with
esda beside gisgrid (their z-scores agree), the report. No figures are judged here."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from bench.hotspots import WEEKS, City, report, run, weekly_counts


def test_weekly_counts_are_7_day_windows_back_from_the_end() -> None:
    until = pd.Timestamp("2026-11-01 00:00", tz="Asia/Shanghai")
    reported = pd.DatetimeIndex(
        [
            until - pd.Timedelta(hours=1),
            until - pd.Timedelta(days=7, hours=1),
            until - pd.Timedelta(days=7 * WEEKS + 1),
            until + pd.Timedelta(hours=1),
        ]
    )
    got = weekly_counts(np.array([10, 20]), np.array([10, 20, 10, 10]), reported, until)
    assert got.shape == (2, WEEKS)
    assert got[0, -1] == 1 and got[1, -2] == 1
    assert got.sum() == 2  # before the first week and after the end: left out


def test_a_small_run_and_its_report() -> None:
    rng = np.random.default_rng(0)
    cells = [
        shapely.box(c * 0.01, r * 0.01, (c + 1) * 0.01, (r + 1) * 0.01)
        for r in range(12)
        for c in range(12)
    ]
    grids = gpd.GeoDataFrame(
        {"id": range(144), "code": [f"g{i}" for i in range(144)]}, geometry=cells, crs=4326
    )
    weekly = rng.poisson(1.0, (144, WEEKS))
    r = run(City(grids, weekly.sum(axis=1), weekly), esda_permutations=9, slices=1)
    assert r["grids"] == 144 and r["islands"] == 0
    assert r["z_max_diff"] < 1e-9
    text = report(r)
    assert "esda G_Local star" in text and "extrapolated from 1 slices" in text
