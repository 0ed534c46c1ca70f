"""gisgrid.analysis.maps: the folium layers hold what gisgrid.analysis.heat computes."""

from __future__ import annotations

import base64
import io
from typing import Any

import folium
import numpy as np
import pytest
from folium.plugins import HeatMap
from PIL import Image
from sqlalchemy import Engine, text

from gisgrid.access.scope import Scope
from gisgrid.analysis import heat, maps
from gisgrid.errors import InvalidInput
from gisgrid.tiles import raster

DB = "maps_scratch"


def layers(m: folium.Map, kind: type) -> list[Any]:
    return [c for c in m._children.values() if isinstance(c, kind)]


def test_the_kde_overlay_is_the_kde_in_the_tiles_colours(store: Engine) -> None:
    bbox = maps.extent(store)
    m = maps.incident_heatmap(store, bbox, scope=Scope.everything(), bandwidth_m=150, pixel_m=60)
    (overlay,) = layers(m, folium.raster_layers.ImageOverlay)
    png = base64.b64decode(overlay.url.split(",", 1)[1])
    got = np.asarray(Image.open(io.BytesIO(png)))
    d, (w, s, e, n) = heat.kde(store, bbox, 150, 60, scope=Scope.everything())
    assert np.array_equal(got, raster.colorize(d))
    assert overlay.bounds == [[s, w], [n, e]]
    assert w <= bbox[0] and e >= bbox[2] and s <= bbox[1] and n >= bbox[3]
    assert "incidents per km" in m.get_root().render()


@pytest.mark.parametrize(
    ("scope", "cap"), [(Scope.everything(), 100_000), (None, 100_000), (None, 500)],
    ids=["all", "anonymous", "sampled"],
)  # fmt: skip
def test_the_points_heatmap_holds_the_countable_points(
    store: Engine, scope: Scope | None, cap: int
) -> None:
    m = maps.incident_heatmap(store, method="points", scope=scope, max_points=cap)
    (layer,) = layers(m, HeatMap)
    sql = "SELECT count(*) FROM incidents"
    if scope is None:
        sql += " WHERE left(category, 2) NOT IN ('03', '04')"
    with store.connect() as conn:
        n = conn.execute(text(sql)).scalar_one()
    assert len(layer.data) == min(n, cap)
    lat, lon = np.array(layer.data).T
    w, s, e, nn = maps.extent(store)
    assert ((s - 0.01 <= lat) & (lat <= nn + 0.01) & (w - 0.01 <= lon) & (lon <= e + 0.01)).all()


def test_the_choropleth_has_every_grid_with_its_count(store: Engine) -> None:
    m = maps.grid_choropleth(store, "grid", scope=Scope.everything())
    (layer,) = layers(m, folium.GeoJson)
    feats = layer.data["features"]
    with store.connect() as conn:
        grids = conn.execute(
            text("SELECT count(*) FROM areas WHERE level = 'grid' AND valid_to IS NULL")
        ).scalar_one()
        n = conn.execute(text("SELECT count(*) FROM incidents WHERE grid_id IS NOT NULL")).scalar()
    assert len(feats) == grids
    assert sum(f["properties"]["count"] for f in feats) == n
    assert {"code", "name", "count"} <= set(feats[0]["properties"])
    html = m.get_root().render()
    assert "incidents per grid" in html and "tooltip" in html.lower()


def test_a_bad_method_names_the_field(store: Engine) -> None:
    with pytest.raises(InvalidInput) as info:
        maps.incident_heatmap(store, method="hexagons")
    assert info.value.field == "method"
