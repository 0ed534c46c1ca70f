"""An analysis answer (a GeoDataFrame of units) as an RFC 7946 GeoJSON FeatureCollection.

Coordinates are lon/lat rounded to 6 decimals (about 0.1 m, RFC 7946's advice against
spurious precision); each unit's ``id`` is the Feature's id and stays among its properties;
NaN becomes null, numpy values plain JSON; lists (an emerging unit's z-scores, a series of
counts) stay lists. Foreign top-level members (RFC 7946 section 6.1) carry what the answer
was computed with. ``geometry=False`` gives every Feature a null geometry (RFC 7946 3.2): the
statistics without the polygons, for a client that draws them from the tiles.

Examples
--------
>>> import geopandas as gpd, shapely, json
>>> frame = gpd.GeoDataFrame({"id": [7], "z": [float("nan")], "counts": [[1, 2]]},
...                          geometry=[shapely.Point(126.1234567, 45.7)], crs=4326)
>>> doc = json.loads(feature_collection(frame, {"parameters": {"method": "gistar"}}))
>>> doc["features"][0]["geometry"]["coordinates"], doc["features"][0]["properties"]
([126.123457, 45.7], {'id': 7, 'z': None, 'counts': [1, 2]})
>>> doc["parameters"], doc["type"]
({'method': 'gistar'}, 'FeatureCollection')
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import geopandas as gpd

DECIMALS = 6


def plain(value: Any) -> Any:
    """A JSON value for a numpy or Python value: NaN and infinities as None, arrays as lists,
    times as ISO 8601.

    >>> plain(np.float64("nan")), plain(np.int64(3)), plain(np.array([1.5, np.inf]))
    (None, 3, [1.5, None])
    """
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    return str(value)


def feature_collection(
    frame: gpd.GeoDataFrame, members: Mapping[str, Any] | None = None, geometry: bool = True
) -> bytes:
    """The FeatureCollection as compact UTF-8 JSON, with ``members`` at the top level."""
    import shapely

    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    columns = [c for c in frame.columns if c != frame.geometry.name]
    rows = frame[columns].to_dict("records")
    if geometry:
        geoms = shapely.transform(
            np.asarray(frame.geometry.values), lambda xy: np.round(xy, DECIMALS)
        )
        shapes = shapely.to_geojson(geoms)
    else:
        shapes = ["null"] * len(rows)
    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    parts = []
    for row, shape in zip(rows, shapes, strict=True):
        props = {k: plain(v) for k, v in row.items()}
        fid = f'"id":{dumps(props["id"])},' if "id" in props else ""
        parts.append(
            f'{{"type":"Feature",{fid}"geometry":{shape or "null"},"properties":{dumps(props)}}}'
        )
    head = {"type": "FeatureCollection", **{k: plain(v) for k, v in (members or {}).items()}}
    text = dumps(head)[:-1] + ',"features":[' + ",".join(parts) + "]}"
    return text.encode("utf-8")
