"""Assign a file of points to a file of grids, with no database: ``gisgrid assign POINTS``.

Points are read by the loader's reader (:func:`gisgrid.io.read.read_frame`: CSV with lon/lat
or WKT columns, GeoParquet, GeoJSON, GeoPackage, Shapefile) and checked by its geometry
checks, so a file that ``gisgrid load`` refuses is refused here with the same row numbers.
Grids are any polygon file, read by :func:`read_grids`: the one reader of grid files, which
``gisgrid assign --workers`` uses too. The output (format by suffix, the exporter's writers)
is the input with ``grid_id``, ``grid_code`` (when the grids have codes), ``community_id``,
``street_id``, ``district_id`` and ``distance_m`` added after its own columns, ids blank
where none (:func:`gisgrid.assign.index.file_columns`, shared with the dask path).

Which column names a grid: ``grid_id_col`` when given; otherwise ``id``, else ``code``, else
the row number (from 1). A column of integers is the id; any other column is kept as the
``grid_code`` and the row number is the id. A grids file with a ``level`` column (an export
of the ``areas`` layer) is read as a hierarchy: its ``grid`` rows are the grids and
``parent_id`` links them to the community, street and district rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gisgrid.assign.index import Assignment, GridIndex, file_columns
from gisgrid.errors import InvalidInput, LoadError
from gisgrid.io.checks import Problems, as_text, check_geometries, parse_times
from gisgrid.io.export import _format, _write
from gisgrid.io.layers import GeomKind, Layer
from gisgrid.io.read import read_frame

_NO_LEVEL = "__no_level__"


@dataclass(frozen=True)
class FileAssignReport:
    """What :func:`assign_file` did. ``seconds`` is the assignment alone (index included)."""

    points: int
    assigned: int
    unassigned: int
    by_nearest: int
    no_location: int
    grids: int
    seconds: float
    total_seconds: float
    out: str

    @property
    def points_per_s(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else float("inf")


def _layer(name: str, geom: GeomKind) -> Layer:
    """A stand-in layer for the reader and the checks: no fields, no table."""
    return Layer(name=name, table=name, geom=geom, geom_required=False, fields={}, keys=())


def _is_integral(values: pd.Series) -> bool:
    nums = pd.to_numeric(values, errors="coerce")
    return bool(nums.notna().all() and (nums % 1 == 0).all() and nums.is_unique)


def read_grids(path: str | Path, grid_id_col: str | None = None) -> GridIndex:
    """A :class:`GridIndex` from a polygon file (see the module docstring for the ids).

    Examples
    --------
    >>> index = read_grids("data/boundaries/harbin_districts.geojson")
    >>> int(index.grid_ids[0]), str(index.codes[0])
    (230102, '230102')
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"no such file: {path}", field="grids")
    layer = _layer("grids", "multipolygon")
    frame = read_frame(path, layer)
    problems = Problems(len(frame.geoms))
    geoms, _ = check_geometries(frame.geoms, layer, problems)
    problems.add(shapely.is_missing(geoms), "geom", "missing geometry")
    if len(problems):
        raise LoadError(problems.rows(frame.row_of), table="grids")
    df = frame.df.copy()
    if grid_id_col is not None and grid_id_col not in df:
        raise InvalidInput(
            f"no column {grid_id_col!r} in {path.name}; it has {', '.join(map(str, df.columns))}",
            field="grid_id_col",
        )
    col = grid_id_col or next((c for c in ("id", "code") if c in df), None)
    rows = np.arange(1, len(df) + 1)
    if col is None:
        df["__id"] = rows
    elif _is_integral(df[col]):
        df["__id"] = pd.to_numeric(df[col]).astype(np.int64)
    else:
        # Codes such as "G-017" name a grid but are no ids: keep them as the code.
        df["__id"] = rows
        df["code"] = df[col].astype(str)
    hierarchy = "level" in df and bool((df["level"] == "grid").any())
    if hierarchy and "parent_id" in df and col != "id":
        raise InvalidInput(
            "a grids file with levels links its rows by parent_id, so its ids must be the "
            f"'id' column, not {col!r}",
            field="grid_id_col",
        )
    areas = gpd.GeoDataFrame(df, geometry=list(geoms), crs=4326)
    index = GridIndex.from_frame(
        areas, id_col="__id", level_col="level" if hierarchy else _NO_LEVEL
    )
    if not len(index.grid_ids):
        raise InvalidInput(f"{path.name} holds no grid polygons", field="grids")
    return index


def _times(
    frame_df: pd.DataFrame, time_col: str, has_geom: np.ndarray, problems: Problems
) -> pd.Series:
    if time_col not in frame_df:
        problems.whole_file(time_col, f"time column {time_col!r} is missing from the file")
        return pd.Series(pd.NaT, index=frame_df.index, dtype="datetime64[us, UTC]")
    blank = as_text(frame_df[time_col]).isna().to_numpy()
    times = parse_times(frame_df[time_col], problems, time_col)
    problems.add(has_geom & blank, time_col, "is blank: a time-aware assignment needs it")
    return times


def assign_file(
    points: str | Path,
    grids: str | Path,
    out: str | Path,
    *,
    grid_id_col: str | None = None,
    time_col: str | None = None,
    max_distance_m: float | None = None,
    lon_col: str = "lon",
    lat_col: str = "lat",
) -> FileAssignReport:
    """Assign every point of a file to the grids of another; write the result to ``out``.

    A point with no location (blank lon/lat) is kept, unassigned. Bad rows (coordinates that
    do not parse, swapped lon/lat, a geometry that is not a point, a bad time) stop the run
    with :class:`~gisgrid.errors.LoadError` naming every one, and nothing is written.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "pts.csv").write_text("name,lon,lat\\na,126.62,45.76\\nb,0,0\\n")
    >>> report = assign_file(folder / "pts.csv", "data/boundaries/harbin_districts.geojson",
    ...                      folder / "out.csv")
    >>> report.assigned, report.unassigned
    (1, 1)
    >>> pd.read_csv(folder / "out.csv", dtype=str)["grid_code"].tolist()
    ['230102', nan]
    """
    started = time.perf_counter()
    points, out = Path(points), Path(out)
    fmt = _format(out, None)
    if not points.exists():
        raise InvalidInput(f"no such file: {points}", field="points")
    if max_distance_m is not None and not max_distance_m > 0:
        raise InvalidInput("must be a positive number of metres", field="max_distance_m")
    layer = _layer("points", "point")
    frame = read_frame(points, layer, lon_col=lon_col, lat_col=lat_col)
    problems = frame.pre_bad
    geoms, _ = check_geometries(
        frame.geoms, layer, problems, labels=frame.labels, skip=problems.bad()
    )
    has = ~shapely.is_missing(geoms)
    times = _times(frame.df, time_col, has, problems) if time_col else None
    if len(problems):
        raise LoadError(problems.rows(frame.row_of), table=points.name)
    has &= ~problems.bad()

    t0 = time.perf_counter()
    index = read_grids(grids, grid_id_col)
    res, by_nearest = _assign(index, geoms, has, times, max_distance_m)
    seconds = time.perf_counter() - t0

    gdf = gpd.GeoDataFrame(frame.df.reset_index(drop=True), geometry=list(geoms), crs=4326)
    for col, values in res.to_frame().items():
        gdf[col] = values.to_numpy()
    if index.codes is not None:
        gdf["grid_code"] = index.codes_of(res.grid_id)
    gdf = file_columns(gdf)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()  # the GeoPackage and GeoJSON drivers would append or refuse
    _write(gdf, layer, out, fmt)
    assigned = int((res.grid_id >= 0).sum())
    return FileAssignReport(
        points=len(geoms),
        assigned=assigned,
        unassigned=len(geoms) - assigned,
        by_nearest=by_nearest,
        no_location=int((~has).sum()),
        grids=len(index.grid_ids),
        seconds=seconds,
        total_seconds=time.perf_counter() - started,
        out=str(out),
    )


def _assign(
    index: GridIndex,
    geoms: np.ndarray,
    has: np.ndarray,
    times: pd.Series | None,
    max_distance_m: float | None,
) -> tuple[Assignment, int]:
    """The assignment of every row (-1 and NaN without a location), and how many rows got
    their grid by the nearest-grid rule."""
    n = len(geoms)
    none = np.full(n, -1, dtype=np.int64)
    full = Assignment(none, none.copy(), none.copy(), none.copy(), np.full(n, np.nan))
    by_nearest = 0
    # Covered points first, then the nearest grid for the rest: that is what assign() does
    # inside; done in two steps here to count the second.
    for step_max in (None, max_distance_m) if max_distance_m is not None else (None,):
        sel = np.flatnonzero(has & (full.grid_id < 0))
        if not len(sel):
            break
        at = times.iloc[sel].reset_index(drop=True) if times is not None else None
        x, y = shapely.get_x(geoms[sel]), shapely.get_y(geoms[sel])
        part = index.assign(x, y, at, step_max)
        for name in ("grid_id", "community_id", "street_id", "district_id", "distance_m"):
            getattr(full, name)[sel] = getattr(part, name)
        if step_max is not None:
            by_nearest = int((part.grid_id >= 0).sum())
    return full, by_nearest
