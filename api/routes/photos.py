"""Photos: attach one to an incident, fetch one by its hash (gisgrid.incidents.photos).

Both are scoped like the rest of incidents: attaching needs an incident the caller may see,
fetching needs an incident or event in the caller's scope that references the photo; else 404.
Attaching does not change the case (no new version, no event), so it takes no If-Match.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel

from api.deps import CallerDep, SessionDep, SettingsDep
from api.errors import FieldErrorRoute
from gisgrid.errors import InvalidInput, NotFound
from gisgrid.incidents import photos, workflow

router = APIRouter(tags=["photos"], route_class=FieldErrorRoute)

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Not a JPEG, PNG or WebP, or larger than the limit; `field` is photo"},
    401: {"description": "No valid bearer token"},
    404: {"description": "No such incident or photo in the caller's scope"},
}
MEDIA_TYPES = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


class StoredOut(BaseModel):
    sha256: str


class PhotoOut(BaseModel):
    incident_id: int
    sha256: str
    photos: list[str]


@router.post(
    "/photos",
    status_code=201,
    summary="Store a photo (multipart field `photo`) to name in a report or a support by hash",
    responses=ERRORS,
)
def store_photo(photo: UploadFile, settings: SettingsDep, caller: CallerDep) -> StoredOut:
    """Stored by content (the same bytes twice are one file); it is served only once an
    incident or event in the caller's scope names it (``photos`` of ``POST /incidents``,
    ``POST /incidents/{id}/support``)."""
    del caller  # signed in: an anonymous sender may not fill the disk
    return StoredOut(
        sha256=photos.store_photo(_read_limited(photo, settings.max_photo_bytes), settings)
    )


@router.post(
    "/incidents/{incident_id}/photos",
    status_code=201,
    summary="Attach a photo (multipart field `photo`) to an incident; the case is unchanged",
    responses=ERRORS,
)
def add_photo(
    incident_id: int,
    photo: UploadFile,
    session: SessionDep,
    settings: SettingsDep,
    caller: CallerDep,
) -> PhotoOut:
    # scope first: an out-of-scope caller learns nothing, and nothing is stored for it
    workflow.get_incident(session, caller, incident_id)
    sha = photos.store_photo(_read_limited(photo, settings.max_photo_bytes), settings)
    found = photos.attach_photo(session, caller, incident_id, sha)
    session.commit()
    return PhotoOut(incident_id=incident_id, sha256=sha, photos=found)


@router.get(
    "/photos/{sha}",
    summary="A photo by its SHA-256, if an incident in the caller's scope references it",
    responses=ERRORS,
    response_class=FileResponse,
)
def get_photo(sha: str, session: SessionDep, settings: SettingsDep, caller: CallerDep) -> Any:
    if not photos.may_see_photo(session, caller, sha):
        raise NotFound(f"no photo {sha}", field="sha")
    path = photos.find_photo(settings, sha)
    return FileResponse(
        path,
        media_type=MEDIA_TYPES[path.suffix],
        headers={"Cache-Control": "private, max-age=86400", "ETag": f'"{sha}"'},
    )


def _read_limited(photo: UploadFile, max_bytes: int) -> bytes:
    data = photo.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InvalidInput(
            f"is larger than the limit of {max_bytes} bytes (GISGRID_MAX_PHOTO_BYTES)",
            field="photo",
        )
    return data
