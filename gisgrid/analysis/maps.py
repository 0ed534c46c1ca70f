"""Folium maps for notebooks: the incident heatmap and a choropleth of incidents per area.

Both take an engine or a connection, the tile filters and a scope (``None``: an anonymous
caller, who does not count sensitive groups; a notebook on the store's own database will
usually pass ``Scope.everything()``), and draw on a new map or on ``m``. The heatmap's
default is the same kernel density and colours as the heat tiles (:mod:`gisgrid.analysis.heat`), as
one image; ``method="points"`` hands the points to Leaflet.heat instead. The basemap needs
the internet; the overlays are inline.

Examples
--------
>>> m = base_map((126.5, 45.6, 126.8, 45.9), tiles=None)
>>> type(m).__name__
'Map'
"""

from __future__ import annotations

import base64
import math
from typing import Any

import folium
import numpy as np
from sqlalchemy import text

from gisgrid.access.scope import Scope
from gisgrid.analysis import heat
from gisgrid.bbox import parse_bbox
from gisgrid.errors import InvalidInput
from gisgrid.store.engine import Bind, connection
from gisgrid.tiles import raster
from gisgrid.tiles.filters import TileFilters
from gisgrid.tiles.raster import Bounds

METHODS = ("kde", "points")


def extent(bind: Bind) -> Bounds:
    """(west, south, east, north) of the current grids, or of the incidents where no grid
    has been loaded."""
    sql = text(
        "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b) FROM (SELECT COALESCE("
        " (SELECT ST_Extent(geom) FROM areas WHERE level = 'grid' AND valid_to IS NULL),"
        " (SELECT ST_Extent(geom) FROM incidents))::geometry AS b) t"
    )
    with connection(bind) as conn:
        row = conn.execute(sql).one()
    if row[0] is None:
        raise InvalidInput("the store holds no grids and no incidents to map", field="bbox")
    w, s, e, n = (float(v) for v in row)
    return w, s, max(e, w + 1e-4), max(n, s + 1e-4)


def base_map(bbox: Bounds, tiles: str | None = "OpenStreetMap") -> folium.Map:
    """An empty map fitted to ``bbox``; ``tiles=None`` for no basemap (works offline)."""
    w, s, e, n = bbox
    m = folium.Map(location=[(s + n) / 2, (w + e) / 2], tiles=tiles, control_scale=True)
    m.fit_bounds([[s, w], [n, e]])
    return m


def heat_legend() -> Any:
    """The heat colours as a branca colour bar, on log10 of incidents per km²."""
    import branca

    stops = raster.legend()["stops"]
    logs = [math.log10(s["value"]) for s in stops]
    return branca.colormap.LinearColormap(
        [s["color"] for s in stops],
        index=logs,
        vmin=logs[0],
        vmax=logs[-1],
        caption="incidents per km² (log10: 0 = 1, 5 = 100,000)",
    )


def incident_heatmap(
    bind: Bind,
    bbox: Bounds | None = None,
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
    *,
    method: str = "kde",
    bandwidth_m: float = 200.0,
    pixel_m: float = 40.0,
    max_points: int = 20_000,
    m: folium.Map | None = None,
) -> folium.Map:
    """The incidents under the filters as a heat layer on ``m`` (a new map fitted to
    ``bbox``, by default the city, when not given).

    ``method="kde"`` draws :func:`gisgrid.analysis.heat.kde` (a Gaussian of ``bandwidth_m``, pixels
    of ``pixel_m``) in the heat tiles' colours as an image overlay with its legend;
    ``"points"`` gives at most ``max_points`` of the points (a fixed random sample beyond
    that) to folium's HeatMap, whose colours are Leaflet.heat's and change with the zoom.
    """
    if method not in METHODS:
        raise InvalidInput(f"method={method!r}; expected one of {METHODS}", field="method")
    box = parse_bbox(bbox, mercator=True) if bbox is not None else extent(bind)
    m = m if m is not None else base_map(box)
    if method == "kde":
        d, (w, s, e, n) = heat.kde(bind, box, bandwidth_m, pixel_m, filters, scope)
        png = raster.encode_png(raster.colorize(d))
        folium.raster_layers.ImageOverlay(
            "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            bounds=[[s, w], [n, e]],
            name=f"Incident density (kernel {bandwidth_m:g} m)",
        ).add_to(m)
        heat_legend().add_to(m)
        return m
    from folium.plugins import HeatMap

    lonlat = heat.incident_points(bind, box, filters, scope)
    if len(lonlat) > max_points:
        lonlat = lonlat[np.random.default_rng(0).choice(len(lonlat), max_points, replace=False)]
    HeatMap(lonlat[:, ::-1].tolist(), name="Incidents (points)", radius=12).add_to(m)
    return m


def grid_choropleth(
    bind: Bind,
    level: str = "grid",
    filters: TileFilters = TileFilters(),
    scope: Scope | None = None,
    bbox: Bounds | None = None,
    *,
    simplify_m: float = 5.0,
    m: folium.Map | None = None,
) -> folium.Map:
    """The current areas of ``level`` coloured by their incidents under the filters (as
    :func:`gisgrid.analysis.heat.area_counts` counts them), with a tooltip of code, name, count,
    open and overdue."""
    import branca
    import matplotlib

    box = parse_bbox(bbox, mercator=True) if bbox is not None else extent(bind)
    areas = heat.area_counts(bind, level, filters, scope, box, simplify_m=simplify_m)
    m = m if m is not None else base_map(box)
    top = max(int(areas["count"].max()) if len(areas) else 0, 1)
    ramp = matplotlib.colormaps[raster.COLORMAP](np.linspace(0, 1, 9))
    scale = branca.colormap.LinearColormap(
        [matplotlib.colors.to_hex(c) for c in ramp], vmin=0, vmax=top
    )
    scale.caption = f"incidents per {level}"

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        count = feature["properties"]["count"]
        return {
            "fillColor": scale(count) if count else "#ffffff",
            "fillOpacity": 0.7 if count else 0.1,
            "color": "#555555",
            "weight": 0.5,
        }

    folium.GeoJson(
        areas.drop(columns=["id"]),
        name=f"Incidents per {level}",
        style_function=style,
        tooltip=folium.GeoJsonTooltip(
            fields=["code", "name", "count", "open", "overdue"],
            aliases=["code", "name", "incidents", "open", "overdue"],
        ),
    ).add_to(m)
    scale.add_to(m)
    return m
