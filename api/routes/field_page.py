"""The field app's page: a small PWA for grid workers (``/field/``), its service worker and
manifest, and ``/field/config.json`` (the vocabularies its forms offer, from gisgrid.vocab).

The page and its scripts are static (``api/static/field``); the service worker is served
from ``/field/sw.js`` so that its scope is ``/field/`` (a worker controls only the pages
under the folder it is served from). Its data comes from the API the page calls.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel

from api.routes.webmap import STATIC_DIR
from gisgrid import vocab
from gisgrid.incidents import duplicates, intake

FIELD_DIR: Path = STATIC_DIR / "field"

router = APIRouter(tags=["field app"])


class FieldConfigOut(BaseModel):
    moods: list[str]
    household_tags: list[str]
    resident_tags: list[str]
    duplicate_radius_m: float
    duplicate_days: int
    max_photos: int


@router.get("/field", include_in_schema=False)
def field_redirect() -> RedirectResponse:
    return RedirectResponse("/field/", status_code=307)


@router.get("/field/", include_in_schema=False)
def field_page() -> FileResponse:
    """The page; ``no-cache`` so a new release is picked up (the service worker keeps a copy
    for when there is no network)."""
    return FileResponse(
        FIELD_DIR / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"}
    )


@router.get("/field/sw.js", include_in_schema=False)
def service_worker() -> FileResponse:
    return FileResponse(
        FIELD_DIR / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/field/manifest.webmanifest", include_in_schema=False)
def manifest() -> FileResponse:
    return FileResponse(FIELD_DIR / "manifest.webmanifest", media_type="application/manifest+json")


@router.get("/field/config.json", summary="What the field app's forms offer (public vocabularies)")
def field_config() -> FieldConfigOut:
    return FieldConfigOut(
        moods=list(vocab.MOODS),
        household_tags=list(vocab.HOUSEHOLD_TAGS),
        resident_tags=list(vocab.RESIDENT_TAGS),
        duplicate_radius_m=duplicates.RADIUS_M,
        duplicate_days=duplicates.DAYS,
        max_photos=intake.MAX_PHOTOS,
    )
