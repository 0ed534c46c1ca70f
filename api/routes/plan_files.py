"""A plan as a file: GET /plans/{id}/export.gpkg (a GeoPackage of its grids and checks) and
POST /plans/import (multipart: ``file``, ``parent``, ``name``, ``make_valid``), a new plan
from a file drawn elsewhere (QGIS), checked like any load: 400 with every bad row. The rules
are :mod:`gisgrid.planning.files`'; a router of its own for the upload's body limit
(:func:`api.limits.plan_file_body_limit`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Response, UploadFile

from api.deps import CallerDep, SessionDep, SettingsDep
from api.errors import FieldErrorRoute
from api.limits import PLAN_FILE_MAX_BYTES
from gisgrid import media
from gisgrid.errors import InvalidInput
from gisgrid.incidents.lifecycle import etag

router = APIRouter(tags=["plans"], route_class=FieldErrorRoute)
# gisgrid.planning.files is imported in the routes, not here: it builds load specs from the
# models, and a served process must start without them (tests/api/test_constraint_errors.py)

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad input; `field` names it, `rows` every bad row of a file"},
    401: {"description": "No valid bearer token"},
    403: {"description": "The caller's role may not do this"},
    404: {"description": "No such plan in the caller's scope"},
    413: {"description": "The file is larger than the limit"},
}


@router.get(
    "/plans/{plan_id}/export.gpkg",
    summary="The plan as a GeoPackage: layer `grids` (code, name, parent_code, replaces_code)"
    " and layer `checks`",
    responses={**ERRORS, 200: {"content": {media.GPKG: {}}}},
    response_class=Response,
)
def export_plan(
    plan_id: int, session: SessionDep, caller: CallerDep, settings: SettingsDep
) -> Response:
    from gisgrid.planning import files

    data = files.export_bytes(session, caller, plan_id, settings=settings)
    return Response(
        data,
        media_type=media.GPKG,
        headers={"Content-Disposition": f'attachment; filename="plan-{plan_id}.gpkg"'},
    )


@router.post(
    "/plans/import",
    status_code=201,
    summary="A new plan from a file of grids (GeoPackage layer `grids`, GeoJSON, zipped shapefile)",
    responses=ERRORS,
)
def import_plan(
    file: UploadFile,
    parent: Annotated[str, Form(description="The community, street or district: id or code.")],
    name: Annotated[str, Form(description="The new plan's name.")],
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    response: Response,
    make_valid: Annotated[bool, Form(description="Repair invalid polygons.")] = False,
) -> dict[str, Any]:
    from gisgrid.planning import files

    suffix = files.check_upload_name(file.filename)
    data = file.file.read(PLAN_FILE_MAX_BYTES + 1)
    if len(data) > PLAN_FILE_MAX_BYTES:
        raise InvalidInput(f"is larger than the limit of {PLAN_FILE_MAX_BYTES} bytes", field="file")
    with tempfile.TemporaryDirectory(prefix="gisgrid-plan-") as d:
        path = Path(d) / f"upload{suffix}"
        path.write_bytes(data)
        out = files.import_plan(
            session, caller, parent, name, path, make_valid=make_valid, settings=settings
        )
    session.commit()
    response.headers["Location"] = f"/plans/{out.plan.id}"
    response.headers["ETag"] = etag(out.plan.version)
    return files.imported_json(out)
