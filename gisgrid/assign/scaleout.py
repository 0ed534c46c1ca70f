"""Point -> grid assignment on a dask.distributed cluster, with dask-geopandas.

The rules are those of :mod:`gisgrid.assign.index` (covers, lowest id on shared edges, nearest grid
within ``max_distance_m``, time-aware epochs), and so are the answers: every partition is
assigned by the very same :meth:`GridIndex.assign` on the workers. This module only moves
data; nothing distributed is written by hand.

How a run goes:

1. The points become a dask frame with an ``input_row`` column: each point's 0-based position
   in the input, so the input order can be restored (``result.compute().sort_index()``).
2. They are spatially shuffled along a Hilbert curve over the grids' extent, so each partition
   covers a compact area: a worker then touches a few strips and a narrow band of the strip
   index's keys (fewer cache misses) rather than the whole city in every partition, nearest
   searches stay local, and the parts written out each cover a small bbox. The shuffle has a
   price, an extra pass and an all-to-all exchange: on 10M uniform points over one city on 2
   cores it cost far more than it saved (bench/assign_dask.py); ``spatial_partitioning=False``
   keeps the partitions as given, which is the better choice for data already in space order.
3. The index is one key of the graph, which each worker loads once per run and hands to all
   its partitions (not a copy inside every task); a worker builds the strip index on its
   first partition and reuses it for the others.
4. ``GridIndex.assign`` runs over the partitions; each result row is indexed by
   ``input_row``.

Examples
--------
>>> import geopandas as gpd, pandas as pd, shapely
>>> grids = gpd.GeoDataFrame(
...     {"id": [2, 1], "geometry": [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]},
...     crs=4326,
... )
>>> index = GridIndex.from_frame(grids)
>>> points = pd.DataFrame({"lon": [0.5, 1.0, 1.5, 9.0], "lat": [0.5, 0.5, 0.5, 0.5]})
>>> with local_cluster(1) as client:  # doctest: +SKIP
...     out = assign_dask(points, index, client=client, lon_col="lon", lat_col="lat")
...     out.compute().sort_index().grid_id.tolist()
[2, 1, 1, -1]
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import dask
import dask.dataframe as dd
import dask_geopandas as dg
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

# The Hilbert encoder that dask-geopandas' spatial_shuffle itself uses, applied to plain
# coordinate arrays; tests check that it agrees with the public ``hilbert_distance``.
from dask_geopandas.hilbert_distance import _continuous_to_discrete, _encode
from distributed import Client, LocalCluster
from distributed.system import MEMORY_LIMIT  # the machine's memory, or its cgroup's limit

from gisgrid.assign.index import GridIndex, file_columns
from gisgrid.errors import InvalidInput

ROW = "input_row"
HILBERT_LEVEL = 16
_KEY = "_hilbert"
_INT_COLS = ("grid_id", "community_id", "street_id", "district_id")
_CODE_DTYPE = pd.Series(["0"]).dtype  # what assign_frame's grid_code gets from this pandas
_POINTS_PER_PARTITION = 1_000_000
_ADDRESS = re.compile(r"^(tcp|tls)://[^\s:/]+:\d{1,5}$")
_ASSIGN_OPTS = ("lon_col", "lat_col", "time_col", "max_distance_m", "npartitions")
_FILE_OPTS = (*_ASSIGN_OPTS, "spatial_partitioning", "blocksize")

Kind = Literal["geo", "lonlat"]


# -- clusters --------------------------------------------------------------------------------
@contextmanager
def local_cluster(
    n_workers: int, *, memory_limit: int | str | None = None, memory_fraction: float = 0.6
) -> Iterator[Client]:
    """A LocalCluster of ``n_workers`` processes with one thread each, and a Client on it.

    One thread per worker: the assignment is numpy and GEOS work that holds the GIL for a good
    part of its time, so processes, not threads, use the cores. Without ``memory_limit`` the
    workers share ``memory_fraction`` of the machine's memory (0.6 of 24 GB over 2 workers is
    about 7 GB each), leaving the rest to the client, which holds the input and the gathered
    result. The dashboard is off.

    Examples
    --------
    >>> with local_cluster(2) as client:  # doctest: +SKIP
    ...     len(client.scheduler_info()["workers"])
    2
    """
    if not isinstance(n_workers, int) or n_workers < 1:
        raise InvalidInput(f"n_workers={n_workers!r}; expected an integer >= 1", field="workers")
    if memory_limit is None:
        memory_limit = int(MEMORY_LIMIT * memory_fraction / n_workers)
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=memory_limit,
        dashboard_address=None,
        # The scheduler serves its HTTP routes (health, metrics) even without a dashboard, on
        # 8787 by default; a free port instead, so two clusters on a machine do not collide.
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
    )
    try:
        with Client(cluster) as client:
            # Under load, worker processes can still be starting when the client connects;
            # work submitted then would see no workers.
            client.wait_for_workers(n_workers, timeout=120)
            yield client
    finally:
        cluster.close()


def connect(address: str, *, timeout_s: float = 10.0) -> Client:
    """A Client on a running scheduler, e.g. ``tcp://10.0.0.5:8786``; close it when done.

    Examples
    --------
    >>> connect("localhost:8786")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: address: 'localhost:8786'; expected tcp://host:port or tls://host:port
    """
    if not isinstance(address, str) or not _ADDRESS.match(address):
        raise InvalidInput(
            f"{address!r}; expected tcp://host:port or tls://host:port", field="address"
        )
    return Client(address, timeout=timeout_s)


# -- assignment --------------------------------------------------------------------------------
def assign_dask(
    points: Any,
    index: GridIndex,
    *,
    client: Client | None = None,
    lon_col: str | None = None,
    lat_col: str | None = None,
    time_col: str | None = None,
    max_distance_m: float | None = None,
    npartitions: int | None = None,
    spatial_partitioning: bool = True,
) -> dd.DataFrame:
    """Assign points to grids on a dask cluster; lazy, the same answers as ``index.assign``.

    ``points`` is a dask-geopandas GeoDataFrame of points, a dask DataFrame with ``lon_col`` and
    ``lat_col`` (WGS84), or a geopandas/pandas frame of the same kinds, which is cut into
    ``npartitions`` (default: about a million points each, at least two per worker thread).
    A given ``npartitions`` also sets the partition count of the spatial shuffle.

    The result is a dask-geopandas GeoDataFrame (geometry input) or a dask DataFrame (lon/lat
    input): the input columns plus ``grid_id``, ``community_id``, ``street_id``,
    ``district_id`` (-1 where none), ``distance_m`` and, when the grids have codes,
    ``grid_code``. Its index is ``input_row``, each point's position in the input; the
    input's own index is not kept. Rows come in partition order (spatial order with
    ``spatial_partitioning``); ``.compute().sort_index()`` gives the input order.

    ``client`` (default: the current one) gets in-memory input scattered to its workers and
    sets the default partition count; compute the result on that same client. With no client
    at all, dask's local scheduler runs it.

    Spatial partitioning is dask-geopandas' ``spatial_shuffle`` done in its two steps (a
    Hilbert distance, then ``set_index``), because the shuffle itself first computes the
    points' total bounds (a full extra pass over the input, while the grids' extent is already
    known) and refuses empty points, which ``GridIndex.assign`` leaves unassigned.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> grids = gpd.GeoDataFrame({"id": [7], "geometry": [shapely.box(0, 0, 1, 1)]}, crs=4326)
    >>> pts = pd.DataFrame({"lon": [0.5, 2.0], "lat": [0.5, 0.5]})
    >>> out = assign_dask(pts, GridIndex.from_frame(grids), lon_col="lon", lat_col="lat")
    >>> out.compute().sort_index().grid_id.tolist()
    [7, -1]
    """
    kind = _check_options(points, index, lon_col, lat_col, time_col, max_distance_m, npartitions)
    client = client if client is not None else _current_client()
    frame = _as_dask(points, kind, npartitions, client)
    if kind == "geo" and frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)  # before the shuffle, so the key and the result agree
    if spatial_partitioning:
        frame = _spatially_shuffled(frame, kind, lon_col, lat_col, index, npartitions)
    # The index travels without its built strip indexes: 5 MB pickled for 30k grids instead
    # of about 110 MB, and each worker builds them on first use (about 2 s) for the run.
    lean = replace(index, _epochs={})
    # One key in the graph holds the index: one worker loads it and the others fetch it once
    # as a dependency of their first partition. (client.scatter(broadcast=True) copies it up
    # front, but the scheduler's memory manager drops the extra copies of data no task is
    # waiting for within seconds, so workers fetched it again anyway.)
    shipped = dask.delayed(lean, name=f"gridindex-{os.urandom(8).hex()}", traverse=False)
    opts: dict[str, Any] = {
        "kind": kind,
        "lon_col": lon_col,
        "lat_col": lat_col,
        "time_col": time_col,
        "max_distance_m": max_distance_m,
    }
    meta = _assign_partition(frame._meta, lean, **opts)
    return frame.map_partitions(
        _assign_partition, shipped, **opts, meta=meta, clear_divisions=True, align_dataframes=False
    )


def _check_options(
    points: Any,
    index: GridIndex,
    lon_col: str | None,
    lat_col: str | None,
    time_col: str | None,
    max_distance_m: float | None,
    npartitions: int | None,
) -> Kind:
    if not isinstance(index, GridIndex):
        raise InvalidInput(
            f"index is a {type(index).__name__}; expected a GridIndex", field="index"
        )
    if (lon_col is None) != (lat_col is None):
        raise InvalidInput("give both lon_col and lat_col, or neither", field="lon_col")
    if max_distance_m is not None and not (
        isinstance(max_distance_m, int | float) and max_distance_m > 0
    ):
        raise InvalidInput(
            f"max_distance_m={max_distance_m!r}; expected a positive number of metres",
            field="max_distance_m",
        )
    if npartitions is not None and not (isinstance(npartitions, int) and npartitions >= 1):
        raise InvalidInput(
            f"npartitions={npartitions!r}; expected an integer >= 1", field="npartitions"
        )
    allowed = "a (dask-)geopandas GeoDataFrame, or a (dask) DataFrame with lon_col/lat_col"
    if not isinstance(points, dd.DataFrame | pd.DataFrame):
        raise InvalidInput(f"points is a {type(points).__name__}; expected {allowed}")
    columns = list(points.columns)
    if lon_col is not None and lat_col is not None:
        missing = [c for c in (lon_col, lat_col) if c not in columns]
        if missing:
            raise InvalidInput(f"no column {missing[0]!r} in the points", field=missing[0])
        kind: Kind = "lonlat"
    elif isinstance(points, dg.GeoDataFrame | gpd.GeoDataFrame):
        kind = "geo"
    else:
        raise InvalidInput(f"points without geometry need lon_col and lat_col; expected {allowed}")
    if ROW in columns:
        raise InvalidInput(f"the points already have a column {ROW!r}", field=ROW)
    if time_col is not None and time_col not in columns:
        raise InvalidInput(f"no column {time_col!r} in the points", field="time_col")
    return kind


def _current_client() -> Client | None:
    from distributed import default_client

    try:
        return default_client()
    except ValueError:  # no client was started: dask's local scheduler will run it
        return None


def _as_dask(points: Any, kind: Kind, npartitions: int | None, client: Client | None) -> Any:
    """A dask frame of the points with the ``input_row`` column."""
    if isinstance(points, dd.DataFrame):
        # Each partition starts where the ones before it end, so the lengths are counted
        # first: one pass over a single column. Left lazy, dask fuses that count with its
        # own read of every partition, and the shuffle's two passes would read all twice
        # more; a running count (Series.cumsum) instead hangs the shuffle's set_index on
        # distributed with dask-geopandas input (dask 2026.8: "repartitiontofewer cancelled").
        counts = points[points.columns[0]].map_partitions(len)
        lengths = client.compute(counts).result() if client is not None else counts.compute()
        starts = np.concatenate([[0], np.cumsum(np.asarray(lengths, dtype=np.int64))[:-1]])
        meta = points._meta.assign(**{ROW: np.zeros(0, dtype=np.int64)})
        return points.map_partitions(_with_rows, starts, meta=meta)
    n = len(points)
    if npartitions is None:
        threads = sum(client.nthreads().values()) if client is not None else os.cpu_count() or 1
        npartitions = max(2 * threads, math.ceil(n / _POINTS_PER_PARTITION))
    npartitions = max(1, min(npartitions, n))
    with_row = points.assign(**{ROW: np.arange(n, dtype=np.int64)})
    if kind == "lonlat":
        with_row = pd.DataFrame(with_row)
    if client is None:
        return dd.from_pandas(with_row, npartitions=npartitions, sort=False)
    # Straight to the workers: inside the graph, the data would travel through the scheduler,
    # and twice (the shuffle first computes its divisions, then runs).
    cuts = np.linspace(0, n, npartitions + 1).astype(np.int64)
    chunks = [with_row.iloc[a:b] for a, b in itertools.pairwise(cuts)]
    futures = client.scatter(chunks, hash=False)
    return dd.from_delayed(futures, meta=with_row.iloc[:0], verify_meta=False)


def _with_rows(
    part: pd.DataFrame, starts: np.ndarray, partition_info: dict[str, Any] | None = None
) -> pd.DataFrame:
    assert partition_info is not None  # dask passes it to functions that take it
    start = int(starts[partition_info["number"]])
    return part.assign(**{ROW: np.arange(start, start + len(part), dtype=np.int64)})


def _spatially_shuffled(
    frame: Any,
    kind: Kind,
    lon_col: str | None,
    lat_col: str | None,
    index: GridIndex,
    npartitions: int | None,
) -> Any:
    """Partitions along a Hilbert curve over the grids' extent (points beyond it are clamped
    to its edge, as dask-geopandas clamps to the total bounds)."""
    bounds = (0.0, 0.0, 1.0, 1.0)  # no grid at all: any curve will do
    if len(index.geoms):
        x0, y0, x1, y1 = (float(b) for b in shapely.total_bounds(index.geoms))
        bounds = (x0, y0, x1, y1)
    key = frame.map_partitions(
        hilbert_key,
        kind=kind,
        lon_col=lon_col,
        lat_col=lat_col,
        bounds=bounds,
        meta=pd.Series(dtype="uint32", name=_KEY),
    )
    return frame.assign(**{_KEY: key}).set_index(_KEY, sorted=False, npartitions=npartitions)


def hilbert_key(
    part: pd.DataFrame,
    *,
    kind: Kind,
    lon_col: str | None,
    lat_col: str | None,
    bounds: tuple[float, float, float, float],
    level: int = HILBERT_LEVEL,
) -> pd.Series:
    """Distance along dask-geopandas' Hilbert curve over ``bounds`` for each point of a
    partition; missing or empty points get the curve's start.

    Examples
    --------
    >>> df = pd.DataFrame({"x": [0.0, 1.0, 0.0, np.nan], "y": [0.0, 0.0, 1.0, 0.0]})
    >>> b = (0.0, 0.0, 1.0, 1.0)
    >>> hilbert_key(df, kind="lonlat", lon_col="x", lat_col="y", bounds=b, level=1).tolist()
    [0, 3, 1, 0]
    """
    x, y = _coords(part, kind, lon_col, lat_col)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    x = np.where(bad, bounds[0], x)
    y = np.where(bad, bounds[1], y)
    side = 2**level - 1
    w = max(bounds[2] - bounds[0], 1e-12)  # one grid, or grids on a line: no zero width
    h = max(bounds[3] - bounds[1], 1e-12)
    xi = _continuous_to_discrete(x, (bounds[0], bounds[0] + w), side)
    yi = _continuous_to_discrete(y, (bounds[1], bounds[1] + h), side)
    return pd.Series(_encode(level, xi, yi), index=part.index, name=_KEY, dtype="uint32")


def _coords(
    part: pd.DataFrame, kind: Kind, lon_col: str | None, lat_col: str | None
) -> tuple[np.ndarray, np.ndarray]:
    if kind == "lonlat":
        assert lon_col is not None and lat_col is not None
        return (
            pd.to_numeric(part[lon_col], errors="coerce").to_numpy(dtype=np.float64),
            pd.to_numeric(part[lat_col], errors="coerce").to_numpy(dtype=np.float64),
        )
    geoms = np.asarray(part.geometry.to_numpy(), dtype=object)
    points = (shapely.get_type_id(geoms) == 0) & ~shapely.is_empty(geoms)  # GEOS: no x
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    x[points] = shapely.get_x(geoms[points])
    y[points] = shapely.get_y(geoms[points])
    return x, y


def _assign_partition(
    part: pd.DataFrame,
    index: GridIndex,
    *,
    kind: Kind,
    lon_col: str | None,
    lat_col: str | None,
    time_col: str | None,
    max_distance_m: float | None,
) -> pd.DataFrame:
    """One partition through ``GridIndex``; runs on a worker (and on the empty meta)."""
    # A fresh RangeIndex: the shuffle's Hilbert index repeats values, and assign_frame sets
    # its result columns as Series, aligned on the index (only a RangeIndex lines them up).
    part = part.reset_index(drop=True)
    if kind == "geo":
        out = index.assign_frame(part, time_col=time_col, max_distance_m=max_distance_m)
    else:
        assert lon_col is not None and lat_col is not None
        x, y = _coords(part, kind, lon_col, lat_col)
        times = part[time_col] if time_col else None
        res = index.assign(x, y, times, max_distance_m)
        out = part.copy()
        for k, v in res.to_frame().items():
            out[k] = v.to_numpy()
        if index.codes is not None:
            out["grid_code"] = index.codes_of(res.grid_id)
    # Fixed dtypes, so every partition matches the meta (an empty partition would otherwise
    # give object columns) and parquet parts share one schema.
    for c in _INT_COLS:
        out[c] = out[c].astype(np.int64)
    out["distance_m"] = out["distance_m"].astype(np.float64)
    if "grid_code" in out:
        out["grid_code"] = out["grid_code"].astype(_CODE_DTYPE)
    out.index = pd.Index(out.pop(ROW).to_numpy(dtype=np.int64), name=ROW)
    return out


# -- files -----------------------------------------------------------------------------------
def assign_file_dask(
    points_path: str | Path,
    index: GridIndex,
    out_path: str | Path,
    *,
    workers: int | None = None,
    address: str | None = None,
    **opts: Any,
) -> dict[str, Any]:
    """Assign a points file to the grids of ``index`` on a cluster and write the result.

    The grids come as a :class:`GridIndex`, not a file: a grid file is read by
    :func:`gisgrid.io.assign_file.read_grids` (what ``gisgrid assign --workers`` does), so both
    paths give each grid the same id and code.

    Points: CSV with lon/lat columns (``lon_col``/``lat_col``, default ``lon``/``lat``), or
    GeoParquet (one file or a folder of parts). Output by suffix: ``.parquet`` is GeoParquet,
    written by dask as a folder with one file per partition; ``.csv`` is one CSV file. Either
    has the columns of :func:`gisgrid.io.assign_file.assign_file`'s output (the input's own,
    then :func:`gisgrid.assign.index.file_columns`, ids blank where none; a CSV ends with
    ``lon`` and ``lat``), plus ``input_row``: rows are in spatial order, not input order.

    The cluster: ``address`` (``tcp://host:8786``) of a running scheduler, or a LocalCluster
    of ``workers`` processes, or else the current client, or else a LocalCluster with one
    worker per core. Other options: ``time_col``, ``max_distance_m``, ``npartitions``,
    ``spatial_partitioning`` (as in :func:`assign_dask`) and ``blocksize`` (of the CSV
    reader, default 64 MB).

    Returns counts: ``points``, ``assigned`` (covered), ``nearest`` (by the distance
    fallback), ``unassigned``, and the ``partitions``, ``workers`` and ``seconds`` of the run.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> grids = gpd.GeoDataFrame({"id": [7], "geometry": [shapely.box(0, 0, 1, 1)]}, crs=4326)
    >>> assign_file_dask("in.csv", GridIndex.from_frame(grids), "out.json", workers=1)
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: out_path: 'out.json'; expected a .parquet or .csv path
    """
    points_path, out_path = Path(points_path), Path(out_path)
    unknown = sorted(set(opts) - set(_FILE_OPTS))
    if unknown:
        raise InvalidInput(f"unknown option(s) {unknown}; expected some of {list(_FILE_OPTS)}")
    if not isinstance(index, GridIndex):
        raise InvalidInput(
            f"index is a {type(index).__name__}; expected a GridIndex (read a grid file with"
            " gisgrid.io.assign_file.read_grids)",
            field="index",
        )
    in_kind = _suffix(points_path, "points_path")
    out_kind = _suffix(out_path, "out_path")
    if workers is not None and address is not None:
        raise InvalidInput("give workers or address, not both", field="workers")
    lon_col, lat_col = opts.get("lon_col") or "lon", opts.get("lat_col") or "lat"
    start = time.perf_counter()
    with _client_for(workers, address) as client:
        if in_kind == "csv":
            points: Any = dd.read_csv(str(points_path), blocksize=opts.get("blocksize", "64MB"))
            cols: dict[str, Any] = {"lon_col": lon_col, "lat_col": lat_col}
        else:
            with warnings.catch_warnings():
                # dask-geopandas 0.5 calls reset_index(inplace=True), deprecated by pandas 3
                warnings.filterwarnings("ignore", message="The inplace keyword")
                warnings.filterwarnings("ignore", message="An error occurred while calling")
                points = dg.read_parquet(str(points_path))
            cols = {}
        result = assign_dask(
            points,
            index,
            client=client,
            time_col=opts.get("time_col"),
            max_distance_m=opts.get("max_distance_m"),
            npartitions=opts.get("npartitions"),
            spatial_partitioning=opts.get("spatial_partitioning", True),
            **cols,
        )
        kind: Kind = "lonlat" if in_kind == "csv" else "geo"
        n, n_covered, n_found = _write_and_count(
            result, out_path, out_kind, kind=kind, cols=(lon_col, lat_col)
        )
        n_workers = len(client.scheduler_info()["workers"])
    return {
        "points": int(n),
        "assigned": int(n_covered),
        "nearest": int(n_found - n_covered),
        "unassigned": int(n - n_found),
        "partitions": int(result.npartitions),
        "workers": n_workers,
        "seconds": round(time.perf_counter() - start, 3),
    }


def _suffix(path: Path, field: str) -> str:
    kinds = {".csv": "csv", ".parquet": "parquet", ".geoparquet": "parquet"}
    kind = kinds.get(path.suffix.lower())
    if kind is None:
        raise InvalidInput(f"{str(path)!r}; expected a .parquet or .csv path", field=field)
    return kind


@contextmanager
def _client_for(workers: int | None, address: str | None) -> Iterator[Client]:
    if address is not None:
        client = connect(address)
        try:
            yield client
        finally:
            client.close()
        return
    current = _current_client() if workers is None else None
    if current is not None:
        yield current
        return
    with local_cluster(workers or os.cpu_count() or 1) as client:
        yield client


def _write_and_count(
    result: Any, out_path: Path, out_kind: str, *, kind: Kind, cols: tuple[str, str]
) -> tuple[int, int, int]:
    """Write GeoParquet parts, or one CSV, laid out as the in-memory path writes them, and
    count the rows (all, covered, assigned) in the same run, so each partition is assigned
    once."""
    lon_col, lat_col = cols
    rows = functools.partial(_file_rows, kind=kind, lon_col=lon_col, lat_col=lat_col)
    if out_kind == "parquet":
        stats = result.map_partitions(_counts, meta=_counts(result._meta))
        written = result.map_partitions(rows, csv=False, meta=rows(result._meta, csv=False))
        # both are dask expressions: what they share, the assignment, runs once
        _, table = dask.compute(written.to_parquet(str(out_path), compute=False), stats)
    else:
        # dask's CSV writer works on delayed partitions; counting those very partitions keeps
        # one graph (expressions computed beside it are materialised apart and run again)
        parts = result.to_delayed()
        meta = rows(result._meta, csv=True)
        frame = dd.from_delayed(
            [dask.delayed(rows)(p, csv=True) for p in parts], meta=meta, verify_meta=False
        )
        write = frame.to_csv(str(out_path), single_file=True, compute=False)
        _, tables = dask.compute(write, [dask.delayed(_counts)(p) for p in parts])
        table = pd.concat(tables)
    n, covered, found = (int(v) for v in table.sum())
    return n, covered, found


def _counts(part: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "points": [len(part)],
            "covered": [int((part["distance_m"] == 0).sum())],
            "found": [int((part["grid_id"] >= 0).sum())],
        }
    )


def _file_rows(
    part: pd.DataFrame, *, kind: Kind, lon_col: str, lat_col: str, csv: bool
) -> pd.DataFrame:
    """An assigned partition as :func:`gisgrid.io.assign_file.assign_file` writes its rows:
    the input's own columns, then the assignment's (ids blank where none); the points as a
    geometry (no lon/lat columns) for GeoParquet, as ``lon`` and ``lat`` last for CSV."""
    x, y = _coords(part, kind, lon_col, lat_col)
    if kind == "lonlat":
        own = pd.DataFrame(part.drop(columns=[lon_col, lat_col]))
    else:
        own = pd.DataFrame(part.drop(columns=part.geometry.name))
    if csv:
        out = file_columns(own)
        out["lon"] = x
        out["lat"] = y
        return out
    has = np.isfinite(x) & np.isfinite(y)  # no location: no geometry, as the reader leaves it
    geoms = np.where(has, shapely.points(np.where(has, x, 0.0), np.where(has, y, 0.0)), None)
    located = gpd.GeoDataFrame(own, geometry=gpd.GeoSeries(geoms, index=own.index, crs=4326))
    return file_columns(located)
