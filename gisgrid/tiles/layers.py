"""The tile layer registry: what each layer shows, from which tables, from which zoom, and
who may read it.

Every vector layer but one is an SQL function in ``gisgrid/sql/tiles.sql`` with the signature
``(z, x, y, query_params json) -> bytea`` (Martin could serve it unchanged). The exception is
``hotspots`` (``computed``): its statistics are computed in Python, so its tiles are drawn
from the held answer (:mod:`gisgrid.analysis.service`, :mod:`gisgrid.tiles.frames`) and its
routes are the analysis API's, which also read its parameters. The raster heat
layer is :func:`gisgrid.tiles.raster.render_tile`, which takes the same ``query_params``
(:mod:`gisgrid.tiles.filters`); :mod:`gisgrid.tiles.render` renders a layer's tile with the
versions of the tables it read.

>>> layer_of("grids").function
'gisgrid_tile_grids'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gisgrid.errors import InvalidInput

_AREA_FIELDS = {
    "id": "Number",
    "code": "String",
    "name": "String",
    "level": "String",
    "households": "Number",
    "population": "Number",
    "incidents": "Number: incidents under the filters (sensitive groups only in scope)",
    "open": "Number: of those, still open",
    "overdue": "Number: of those, open and past due_at",
}


@dataclass(frozen=True)
class Layer:
    """One tile layer: what it shows, where it comes from and who may read it."""

    id: str
    title: str
    description: str
    kind: str  # "vector" | "raster"
    # what changes its tiles: tables (a write bumps their version) and "overdue", the latest
    # due time passed by an open incident (time alone turns cases overdue)
    tables: tuple[str, ...]
    minzoom: int = 0
    maxzoom: int = 16
    public: bool = True
    filtered: bool = False  # takes the incident filters
    versioned: bool = False  # draws boundaries: takes ``at``, the boundaries in force then
    geometry: str = "polygon"
    fields: dict[str, str] = field(default_factory=dict)
    computed: bool = False  # drawn from an answer computed in Python, not an SQL function

    @property
    def function(self) -> str:
        if self.computed:
            raise InvalidInput(
                f"layer {self.id!r} is computed in Python and has no SQL tile function",
                field="layer",
            )
        return f"gisgrid_tile_{self.id}"


def _area(level: str, layer: str, title: str, minzoom: int) -> Layer:
    return Layer(
        id=layer,
        title=title,
        description=(
            f"Current {level} boundaries (or, with at, those in force then) with households, "
            "population and incident counts (all, open, overdue) under the category, status "
            "and time filters."
        ),
        kind="vector",
        tables=("areas", "incidents", "overdue"),
        minzoom=minzoom,
        filtered=True,
        versioned=True,
        fields=_AREA_FIELDS,
    )


LAYERS: dict[str, Layer] = {
    layer.id: layer
    for layer in (
        _area("district", "districts", "Districts", 0),
        _area("street", "streets", "Streets", 8),
        _area("community", "communities", "Communities", 10),
        _area("grid", "grids", "Grids", 11),
        Layer(
            id="buildings",
            title="Buildings",
            description="Building footprints in the caller's scope.",
            kind="vector",
            tables=("buildings",),
            minzoom=14,
            public=False,
            fields={
                "id": "Number",
                "code": "String",
                "address": "String",
                "floors": "Number",
                "household_count": "Number",
                "use": "String",
                "grid_id": "Number",
            },
        ),
        Layer(
            id="places",
            title="Places",
            description="Shops, hydrants, cameras and hazards in the caller's scope.",
            kind="vector",
            tables=("places",),
            minzoom=13,
            public=False,
            geometry="point",
            fields={
                "id": "Number",
                "code": "String",
                "kind": "String",
                "name": "String",
                "address": "String",
                "grid_id": "Number",
            },
        ),
        Layer(
            id="units",
            title="Responsible units",
            description="Police and fire stations, sanitation and the other responsible units.",
            kind="vector",
            tables=("units",),
            geometry="point",
            fields={
                "id": "Number",
                "code": "String",
                "name": "String",
                "kind": "String",
                "categories": "String: comma-separated category codes",
                "available": "Boolean",
            },
        ),
        Layer(
            id="incidents",
            title="Incidents",
            description=(
                "From zoom 14, for a signed-in caller, the incidents of their scope as points; "
                "below zoom 14 and for anonymous callers, clusters on an 8 x 8 grid of cells "
                "per tile (cluster=true, point_count, open, overdue)."
            ),
            kind="vector",
            tables=("incidents", "overdue"),
            filtered=True,
            geometry="point",
            fields={
                "id": "Number",
                "code": "String",
                "category": "String",
                "category_name": "String",
                "category_name_en": "String",
                "status": "String",
                "priority": "String",
                "reported_at": "String: ISO 8601 UTC",
                "due_at": "String: ISO 8601 UTC",
                "overdue": "Boolean (a point) or Number (a cluster): open and past due_at",
                "grid_id": "Number",
                "grid_code": "String",
                "cluster": "Boolean: a cluster of incidents, not one",
                "point_count": "Number: incidents in the cluster",
                "open": "Number: of a cluster's incidents, those still open",
            },
        ),
        Layer(
            id="hex",
            title="Incident density (hexagons)",
            description=(
                "Incidents counted in flat-topped hexagons of side 1/24 of the tile (about 11 "
                "px on a 256 px tile), on ST_HexagonGrid's lattice in EPSG:3857; cell_m is the "
                "side on the ground."
            ),
            kind="vector",
            tables=("incidents", "overdue"),
            filtered=True,
            fields={
                "count": "Number",
                "open": "Number",
                "overdue": "Number",
                "cell_m": "Number: hexagon side in ground metres",
            },
        ),
        Layer(
            id="hotspots",
            title="Hot spots (Gi*, local Moran's I, emerging)",
            description=(
                "The units of a hot-spot analysis with their class: Gi* hot and cold spots "
                "at 99/95/90 % with FDR, local Moran's I quadrants, or emerging hot-spot "
                "categories. The query string takes the parameters of GET /analysis/hotspots "
                "(method, level, ...) besides the incident filters; anonymous callers' "
                "counts leave out the sensitive groups."
            ),
            kind="vector",
            tables=("areas", "incidents"),
            minzoom=8,
            filtered=True,
            computed=True,
            fields={
                "id": "Number: the unit (area id, or hexagon lattice cell)",
                "code": "String",
                "name": "String",
                "class": "String: hot_99 ... cold_90 (gistar), HH/LH/LL/HL (lisa), the "
                "category (emerging), or not_significant / no_pattern",
                "count": "Number: incidents in the period",
                "value": "Number: the value tested (count or smoothed rate)",
                "z": "Number: Gi* z-score",
                "p": "Number: the p value the class uses",
                "I": "Number: local Moran's I",
                "quadrant": "String: HH, LH, LL or HL, significant or not",
                "trend_tau": "Number: Mann-Kendall tau of the unit's z-scores (emerging)",
                "trend_p": "Number",
                "hot_steps": "Number: time steps significantly hot (emerging)",
                "cold_steps": "Number",
            },
        ),
        Layer(
            id="heat",
            title="Incident heatmap (kernel density)",
            description=(
                "Gaussian kernel density of incidents as 256 px PNG tiles; the bandwidth "
                "follows the zoom (see gisgrid.tiles.raster)."
            ),
            kind="raster",
            tables=("incidents",),
            filtered=True,
        ),
    )
}


def layer_of(layer_id: str) -> Layer:
    try:
        return LAYERS[layer_id]
    except KeyError:
        raise InvalidInput(
            f"{layer_id!r} is not a tile layer; expected one of {sorted(LAYERS)}", field="layer"
        ) from None
