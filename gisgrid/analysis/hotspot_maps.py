"""Hot-spot answers drawn for notebooks, in the web map's colours: ArcGIS's three hot and three
cold shades for Gi* at 99/95/90 %, the local Moran quadrants (HH red, LL blue, HL pink, LH
light blue), the emerging categories (reds for hot, blues for cold), light grey for nothing
significant. ``api/static/hotspots.js`` holds the same table for the browser.

:func:`plot_classes` draws on a matplotlib axis (static, for side-by-side figures);
:func:`hotspot_map` adds a folium layer with a tooltip of each unit's statistics.

Examples
--------
>>> colour_of("hot_99"), colour_of("HH"), colour_of("new_hot"), colour_of("no_pattern")
('#d62f27', '#d7191c', '#fee08b', '#e3e3e3')
>>> label_of("persistent_cold")
'persistent cold spot 持续冷点'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gisgrid.analysis.emerging import HOT

if TYPE_CHECKING:
    import folium
    import geopandas as gpd

NOT_SIGNIFICANT = "#e3e3e3"
GI = {
    "hot_99": ("#d62f27", "hot spot 99% 热点"),
    "hot_95": ("#ed7551", "hot spot 95% 热点"),
    "hot_90": ("#fab984", "hot spot 90% 热点"),
    "cold_99": ("#4575b5", "cold spot 99% 冷点"),
    "cold_95": ("#849eba", "cold spot 95% 冷点"),
    "cold_90": ("#c0ccbe", "cold spot 90% 冷点"),
}
LISA = {
    "HH": ("#d7191c", "high-high cluster 高-高聚集"),
    "LL": ("#2c7bb6", "low-low cluster 低-低聚集"),
    "HL": ("#f08cb4", "high-low outlier 高-低异常"),
    "LH": ("#9fd0ec", "low-high outlier 低-高异常"),
}
_PATTERN = {
    "new": ("新增", "#fee08b", "#c6dbef"),
    "consecutive": ("连续", "#fdae61", "#9ecae1"),
    "intensifying": ("加强", "#d73027", "#2166ac"),
    "persistent": ("持续", "#a50026", "#053061"),
    "diminishing": ("减弱", "#f46d43", "#4393c3"),
    "sporadic": ("零星", "#fdd49e", "#d1e5f0"),
    "oscillating": ("振荡", "#e7298a", "#807dba"),
    "historical": ("历史", "#c9a0a0", "#a3b3cc"),
}
EMERGING = {
    **{f"{k}_hot": (_PATTERN[k][1], f"{k} hot spot {_PATTERN[k][0]}热点") for k in HOT},
    **{f"{k}_cold": (_PATTERN[k][2], f"{k} cold spot {_PATTERN[k][0]}冷点") for k in HOT},
}
CLASSES: dict[str, tuple[str, str]] = {
    **GI,
    **LISA,
    **EMERGING,
    "not_significant": (NOT_SIGNIFICANT, "not significant 不显著"),
    "no_pattern": (NOT_SIGNIFICANT, "no pattern 无模式"),
}


def colour_of(cls: str) -> str:
    return CLASSES.get(cls, (NOT_SIGNIFICANT, cls))[0]


def label_of(cls: str) -> str:
    return CLASSES.get(cls, (NOT_SIGNIFICANT, cls))[1]


def _order(frame: gpd.GeoDataFrame) -> list[str]:
    present = set(frame["class"])
    return [c for c in CLASSES if c in present]


def plot_classes(frame: gpd.GeoDataFrame, ax: Any, title: str = "", legend: bool = True) -> Any:
    """Each unit of a hot-spot answer filled by its ``class`` on a matplotlib axis, with a
    legend of the classes present (counts beside them)."""
    from matplotlib.patches import Patch

    frame.plot(color=[colour_of(c) for c in frame["class"]], ax=ax, linewidth=0.1,
               edgecolor="#999999")  # fmt: skip
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if legend:
        counts = frame["class"].value_counts()
        handles = [
            Patch(facecolor=colour_of(c), edgecolor="#999999", label=f"{c} ({counts[c]})")
            for c in _order(frame)
        ]
        ax.legend(handles=handles, loc="lower left", fontsize=7, frameon=True)
    return ax


def hotspot_map(
    frame: gpd.GeoDataFrame, m: folium.Map | None = None, name: str = "Hot spots"
) -> folium.Map:
    """A folium layer of the units coloured by ``class`` with a tooltip (code, class, count,
    and z, p or I where the answer has them), on ``m`` or a new map fitted to the units.

    >>> import geopandas as gpd, shapely
    >>> f = gpd.GeoDataFrame({"id": [1], "code": ["a"], "class": ["hot_99"], "count": [3]},
    ...                      geometry=[shapely.box(126.6, 45.7, 126.7, 45.8)], crs=4326)
    >>> m = hotspot_map(f)
    >>> "#d62f27" in m.get_root().render()
    True
    """
    import folium

    from gisgrid.analysis.maps import base_map

    if m is None:
        w, s, e, n = (float(v) for v in frame.total_bounds)
        m = base_map((w, s, e, n))
    fields = [c for c in ("code", "class", "count", "z", "p", "I", "trend_tau") if c in frame]
    scalar = frame[[*fields, "geometry"]].copy()
    if "z" in scalar and scalar["z"].map(lambda v: isinstance(v, list)).any():
        scalar = scalar.drop(columns="z")
        fields.remove("z")
    folium.GeoJson(
        scalar,
        name=name,
        style_function=lambda f: {
            "fillColor": colour_of(f["properties"]["class"]),
            "fillOpacity": 0.75,
            "color": "#888888",
            "weight": 0.3,
        },
        tooltip=folium.GeoJsonTooltip(fields=fields),
    ).add_to(m)
    return m
