"""The web map: the page itself (``/`` for a browser) and ``/map/config.json``, what it starts
from (the city's extent, the optional basemap, the categories to filter on).

The page is static (``api/static``: index.html, map.js, map.css and the vendored MapLibre
GL JS) and needs nothing from the internet; its data comes from the tile endpoints
(``/tiles``), ``/locate``, ``/units/nearest`` and ``/token``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from api.deps import SessionDep, SettingsDep
from api.hosts import base_url
from gisgrid.tiles import mapview

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
PAGE = STATIC_DIR / "index.html"

router = APIRouter(tags=["web map"])


def page() -> FileResponse:
    """The map page; ``no-cache`` so a new release is picked up on the next visit."""
    return FileResponse(PAGE, media_type="text/html", headers={"Cache-Control": "no-cache"})


class BasemapOut(BaseModel):
    tiles: str = Field(description="Raster XYZ template, from GISGRID_BASEMAP_URL.")
    attribution: str


class LinksOut(BaseModel):
    tiles: str
    api: str
    docs: str


class MapConfigOut(BaseModel):
    title: str
    city: mapview.CityView  # the library's dataclasses serve as the schema
    basemap: BasemapOut | None = Field(
        description="null: no basemap (the default, which needs no internet)."
    )
    categories: list[mapview.CategoryGroup]
    links: LinksOut


@router.get("/map/config.json", summary="Where the web map starts, its basemap and categories")
def map_config(request: Request, session: SessionDep, settings: SettingsDep) -> MapConfigOut:
    """Public: areas and the category taxonomy are reference data."""
    basemap = (
        BasemapOut(tiles=settings.basemap_url, attribution=settings.basemap_attribution)
        if settings.basemap_url
        else None
    )
    base = base_url(request)
    return MapConfigOut(
        title=request.app.title,
        city=mapview.city_view(session),
        basemap=basemap,
        categories=mapview.category_groups(session),
        links=LinksOut(tiles=f"{base}/tiles", api=f"{base}/?f=html", docs=f"{base}/docs"),
    )
