"""Export a layer to GeoPackage, GeoParquet, GeoJSON (RFC 7946) or CSV, with filters.

The filters are the ones a command centre asks for when it hands data on: a bbox, an area
(rows intersecting that area's current boundary) and a time range on the layer's own time
column. Residents are not a layer, so they can never leave through here.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, text

from gisgrid.bbox import BboxLike, parse_bbox
from gisgrid.errors import InvalidInput, NotFound, translate_db_errors
from gisgrid.io.layers import Layer, get_layer
from gisgrid.sql import quote_ident
from gisgrid.times import TimeLike, parse_bounds

EXPORT_FORMATS = ("gpkg", "parquet", "geojson", "csv")
_SUFFIX_FORMAT = {
    ".gpkg": "gpkg",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
    ".geojson": "geojson",
    ".json": "geojson",
    ".csv": "csv",
}


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        fmt = fmt.lower().lstrip(".")
        fmt = {"geoparquet": "parquet", "json": "geojson"}.get(fmt, fmt)
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput(
                f"{fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}", field="format"
            )
        return fmt
    suffix = path.suffix.lower()
    if suffix not in _SUFFIX_FORMAT:
        raise InvalidInput(
            f"cannot tell the format from {suffix or 'no suffix'!r}; use one of "
            f"{', '.join(_SUFFIX_FORMAT)} or give the format",
            field="format",
        )
    return _SUFFIX_FORMAT[suffix]


def _query(
    layer: Layer,
    bbox: tuple[float, float, float, float] | None,
    area_code: str | None,
    since: datetime | None,
    until: datetime | None,
) -> tuple[str, dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if bbox is not None:
        where.append("ST_Intersects(t.geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326))")
        params.update(w=bbox[0], s=bbox[1], e=bbox[2], n=bbox[3])
    if area_code is not None:
        where.append(
            "EXISTS (SELECT 1 FROM areas a WHERE a.code = :area_code AND a.valid_to IS NULL "
            "AND ST_Intersects(a.geom, t.geom))"
        )
        params["area_code"] = area_code
    if since is not None or until is not None:
        if layer.time_column is None:
            raise InvalidInput(
                f"{layer.name} has no time column; since/until apply to incidents and visit_logs",
                field="since" if since is not None else "until",
            )
        col = f"t.{quote_ident(layer.time_column)}"
        if since is not None:
            where.append(f"{col} >= :since")
            params["since"] = since
        if until is not None:
            where.append(f"{col} <= :until")
            params["until"] = until
    sql = f"SELECT t.* FROM {quote_ident(layer.table)} t"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY t.id", params


def _flatten(df: pd.DataFrame, keep_lists: bool) -> pd.DataFrame:
    """Lists and JSON objects as JSON text where the format has no such type."""
    for col in df.columns:
        if df[col].dtype != object or col == "geometry":
            continue
        sample = next((v for v in df[col] if v is not None), None)
        if isinstance(sample, dict) or (isinstance(sample, list | np.ndarray) and not keep_lists):
            df[col] = [
                None
                if v is None
                else json.dumps(list(v) if isinstance(v, np.ndarray) else v, ensure_ascii=False)
                for v in df[col]
            ]
    return df


def _write(gdf: Any, layer: Layer, path: Path, fmt: str) -> None:
    import pyogrio

    geometry_type = "Point" if layer.geom == "point" else "MultiPolygon"
    if fmt == "parquet":
        _flatten(gdf, keep_lists=True).to_parquet(path)
    elif fmt == "gpkg":
        pyogrio.write_dataframe(
            _flatten(gdf, keep_lists=False),
            path,
            layer=layer.name,
            driver="GPKG",
            geometry_type=geometry_type,
        )
    elif fmt == "geojson":
        # RFC 7946: WGS84 lon/lat, no crs member, right-hand rings, 7 decimals.
        pyogrio.write_dataframe(
            _flatten(gdf, keep_lists=False),
            path,
            driver="GeoJSON",
            geometry_type=geometry_type,
            RFC7946="YES",
        )
    else:
        df = pd.DataFrame(_flatten(gdf, keep_lists=False).drop(columns="geometry"))
        geoms = np.asarray(gdf.geometry.values, dtype=object)
        if layer.geom == "point":
            has = ~shapely.is_missing(geoms)
            df["lon"] = np.where(has, shapely.get_x(geoms), np.nan)
            df["lat"] = np.where(has, shapely.get_y(geoms), np.nan)
        else:
            df["wkt"] = shapely.to_wkt(geoms, rounding_precision=7)
        for col in df.columns:
            if isinstance(df[col].dtype, pd.DatetimeTZDtype):
                df[col] = df[col].map(lambda v: None if pd.isna(v) else v.isoformat())
        df.to_csv(path, index=False)


def export_layer(
    engine: Engine,
    layer: str,
    path: str | Path,
    *,
    fmt: str | None = None,
    bbox: BboxLike | None = None,
    area_code: str | None = None,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
) -> int:
    """Write a layer's rows (filtered) to a file; returns how many rows were written.

    ``since`` and ``until`` bound incidents.reported_at or visit_logs.visited_at, both
    included, read by :func:`gisgrid.times.parse_bounds`: a naive time is city time, and a
    bare date is a day in the city (``until=2026-03-31`` keeps all of 31 March). ``bbox`` is
    read by :func:`gisgrid.bbox.parse_bbox`. ``area_code`` keeps rows that intersect the
    current version of that area.

    Examples
    --------
    >>> from gisgrid.store.engine import make_engine
    >>> engine = make_engine("postgresql+psycopg://u@/nowhere?host=/nonexistent")
    >>> export_layer(engine, "residents", "people.csv")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: layer: 'residents' is not a file layer; expected one of \
areas, buildings, households, places, units, incidents, visit_logs (residents are never \
loaded or exported as files)
    """
    import geopandas as gpd

    spec = get_layer(layer)
    path = Path(path)
    fmt = _format(path, fmt)
    box = parse_bbox(bbox) if bbox is not None else None
    period = parse_bounds(since, until, "since", "until")
    sql, params = _query(spec, box, area_code, period.start, period.end)
    with translate_db_errors(), engine.connect() as conn:
        if area_code is not None:
            found = conn.execute(
                text("SELECT 1 FROM areas WHERE code = :c AND valid_to IS NULL"), {"c": area_code}
            ).first()
            if found is None:
                raise NotFound(f"no current area with code {area_code!r}", field="area")
        gdf = gpd.read_postgis(text(sql), conn, geom_col="geom", params=params, crs="EPSG:4326")
    gdf = gdf.rename_geometry("geometry")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()  # GeoPackage and GeoJSON drivers would otherwise append or refuse
    _write(gdf, spec, path, fmt)
    return len(gdf)
