"""Reading a file into attributes and geometries: CSV, Parquet and everything OGR reads.

Row numbers are decided here, because only the reader knows them: a GIS file's rows are its
1-based feature numbers; a CSV's are the line numbers in the file (the header is line 1),
counted only when a row is bad so that a good load never pays for it; a spreadsheet's
(XLSX, ODS) are its row numbers (the header is row 1), and its wholly blank rows are skipped
as pandas skips a CSV's blank lines.
"""

from __future__ import annotations

import csv
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from gisgrid.errors import InvalidInput
from gisgrid.io.checks import GeomLabels, Problems, as_text, objects
from gisgrid.io.layers import Layer

_CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_PARQUET_SUFFIXES = {".parquet", ".geoparquet", ".pq"}
# Read through GDAL with the first row as the header and every cell as text: left to guess,
# GDAL takes a sheet of text cells for one without a header and 230102 for a number.
_SHEET_SUFFIXES = {".xlsx", ".ods"}
_SHEET_OPTIONS = {"HEADERS": "FORCE", "FIELD_TYPES": "STRING"}
_WKT_NAMES = ("wkt", "geometry", "geom", "the_geom")

RowOf = Callable[[NDArray[np.int64]], NDArray[np.int64]]


@dataclass
class Frame:
    """A file's rows as read: attributes, geometries and how to name a row."""

    df: pd.DataFrame
    geoms: NDArray[np.object_]
    labels: GeomLabels
    row_of: RowOf
    pre_bad: Problems


def _gis_rows(pos: NDArray[np.int64]) -> NDArray[np.int64]:
    return pos + 1


def _csv_row_of(path: Path, encoding: str, delimiter: str) -> RowOf:
    """Positions -> line numbers, counted only when a row is bad (quoted newlines span lines)."""
    starts: list[int] = []

    def row_of(pos: NDArray[np.int64]) -> NDArray[np.int64]:
        if not starts:
            with path.open(newline="", encoding=encoding) as fh:
                reader = csv.reader(fh, delimiter=delimiter)
                next(reader, None)
                line = reader.line_num
                for record in reader:
                    if record:  # pandas skips blank lines too
                        starts.append(line + 1)
                    line = reader.line_num
        return np.asarray(starts, dtype=np.int64)[pos]

    return row_of


def _read_csv(path: Path) -> tuple[pd.DataFrame, str, str]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    # Excel writes a BOM; Chinese Excel often writes GB18030: try UTF-8 first.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            df = pd.read_csv(
                path, dtype=str, keep_default_na=False, encoding=encoding, sep=delimiter
            )
            return df, encoding, delimiter
        except UnicodeDecodeError:
            continue
    raise InvalidInput("is neither UTF-8 nor GB18030 text", field="file")


def _points_from_columns(
    df: pd.DataFrame, lon_col: str, lat_col: str, problems: Problems
) -> NDArray[np.object_]:
    """Points from lon/lat columns; unparseable cells are recorded, blank ones are missing."""
    xy, present = [], []
    for col in (lon_col, lat_col):
        text = as_text(df[col])
        num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        has = text.notna().to_numpy()
        problems.add(
            has & np.isnan(num), col, [f"not a number: {v!r}" for v in text[has & np.isnan(num)]]
        )
        xy.append(num)
        present.append(has)
    x, y = xy
    given = ~np.isnan(x) & ~np.isnan(y)
    problems.add(~present[0] & present[1], lon_col, f"is blank while {lat_col} is given")
    problems.add(present[0] & ~present[1], lat_col, f"is blank while {lon_col} is given")
    geoms = np.full(len(df), None, dtype=object)
    geoms[given] = shapely.points(x[given], y[given])
    return geoms


def _sheet_frame(df: pd.DataFrame, lon_col: str, lat_col: str) -> Frame:
    """A spreadsheet's table without its wholly blank rows; rows named as in the sheet."""
    cells = df.astype("string").apply(lambda c: c.str.strip())
    blank = (cells.isna() | (cells == "")).all(axis=1).to_numpy(dtype=bool)
    kept = np.flatnonzero(~blank)

    def row_of(pos: NDArray[np.int64]) -> NDArray[np.int64]:
        return kept[pos] + 2

    return _table_frame(df.iloc[kept].reset_index(drop=True), lon_col, lat_col, row_of)


def _wkt_column(df: pd.DataFrame) -> str | None:
    lower = {c.lower(): c for c in df.columns}
    return next((lower[n] for n in _WKT_NAMES if n in lower), None)


def _table_frame(df: pd.DataFrame, lon_col: str, lat_col: str, row_of: RowOf) -> Frame:
    """A frame from a table with lon/lat columns or a WKT column (CSV, plain Parquet)."""
    pre = Problems(len(df))
    if lon_col in df.columns and lat_col in df.columns:
        geoms = _points_from_columns(df, lon_col, lat_col, pre)
        return Frame(
            df.drop(columns=[lon_col, lat_col]), geoms, GeomLabels(lon_col, lat_col), row_of, pre
        )
    wkt = _wkt_column(df)
    if wkt is not None:
        text = as_text(df[wkt])
        geoms = shapely.from_wkt(objects(text), on_invalid="ignore")
        bad = text.notna().to_numpy() & shapely.is_missing(geoms)
        pre.add(bad, wkt, "not WKT")
        return Frame(df.drop(columns=[wkt]), geoms, GeomLabels(wkt, wkt), row_of, pre)
    geoms = np.full(len(df), None, dtype=object)
    return Frame(df, geoms, GeomLabels(f"{lon_col}/{lat_col}", f"{lon_col}/{lat_col}"), row_of, pre)


def _ogr_source(path: Path, layer: Layer) -> tuple[str, str | None]:
    """The path pyogrio reads (a .zip through /vsizip/) and which layer of it."""
    import pyogrio

    source = str(path)
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            shps = [n for n in zf.namelist() if n.lower().endswith(".shp")]
        if len(shps) != 1:
            raise InvalidInput(f"a zipped shapefile holds one .shp; found {shps}", field="file")
        source = f"/vsizip/{path}/{shps[0]}"
    names = [str(row[0]) for row in pyogrio.list_layers(source)]
    if len(names) <= 1:
        return source, None
    if layer.name in names:
        return source, layer.name
    raise InvalidInput(
        f"holds layers {', '.join(names)}; name one {layer.name!r} or keep one", field="file"
    )


def _untruncate(df: pd.DataFrame, layer: Layer) -> pd.DataFrame:
    """Shapefile cuts field names at 10 characters: 'reported_a' is 'reported_at'."""
    renames = {}
    for col in df.columns:
        if len(col) == 10 and col not in layer.fields:
            hits = [f for f in layer.fields if f.startswith(col)]
            if len(hits) == 1:
                renames[col] = hits[0]
    return df.rename(columns=renames)


def read_frame(
    path: Path, layer: Layer, *, lon_col: str = "lon", lat_col: str = "lat", src_crs: Any = None
) -> Frame:
    """Read a file into attributes + geometries in EPSG:4326 (reprojecting where needed)."""
    import geopandas as gpd

    suffix = path.suffix.lower()
    crs: Any = None
    if suffix in _CSV_SUFFIXES:
        df, encoding, delimiter = _read_csv(path)
        df.columns = [str(c).strip() for c in df.columns]
        frame = _table_frame(df, lon_col, lat_col, _csv_row_of(path, encoding, delimiter))
    elif suffix in _PARQUET_SUFFIXES:
        try:
            gdf = gpd.read_parquet(path)
        except ValueError as exc:  # a plain Parquet table: lon/lat or WKT columns
            if "geo" not in str(exc).lower():
                raise InvalidInput(f"unreadable Parquet: {exc}", field="file") from exc
            frame = _table_frame(pd.read_parquet(path), lon_col, lat_col, _gis_rows)
        else:
            crs = gdf.crs
            frame = _gdf_frame(gdf)
    else:
        import pyogrio

        source, layer_name = _ogr_source(path, layer)
        options = _SHEET_OPTIONS if suffix in _SHEET_SUFFIXES else {}
        try:
            gdf = pyogrio.read_dataframe(
                source, layer=layer_name, datetime_as_string=True, on_invalid="ignore", **options
            )
        except pyogrio.errors.DataSourceError as exc:
            raise InvalidInput(f"unreadable: {exc}", field="file") from exc
        if suffix in _SHEET_SUFFIXES:  # a table without geometry, with a header row
            gdf.columns = [str(c).strip() for c in gdf.columns]
            frame = _sheet_frame(pd.DataFrame(gdf), lon_col, lat_col)
        elif not isinstance(gdf, gpd.GeoDataFrame):  # a table without geometry (.dbf)
            frame = _table_frame(pd.DataFrame(gdf), lon_col, lat_col, _gis_rows)
        else:
            crs = gdf.crs
            frame = _gdf_frame(gdf)
        if suffix in (".shp", ".zip"):
            frame.df = _untruncate(frame.df, layer)
    if src_crs is not None:
        crs = src_crs
    if crs is not None:
        series = gpd.GeoSeries(frame.geoms, crs=crs)
        if not (series.crs is not None and series.crs.equals("EPSG:4326")):
            with np.errstate(all="ignore"):
                frame.geoms = np.asarray(series.to_crs("EPSG:4326").values, dtype=object)
    return frame


def _gdf_frame(gdf: Any) -> Frame:
    df = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    return Frame(df, geoms, GeomLabels(), _gis_rows, Problems(len(df)))
