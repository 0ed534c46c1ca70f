"""``/health``: is the database reachable, and which PostGIS is it."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import EngineDep
from api.errors import UNAVAILABLE, log
from gisgrid import __version__
from gisgrid.store.engine import postgis_info

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    summary="Database reachability and versions",
    responses={503: {"description": "The database cannot be reached (the detail is logged)"}},
)
def health(engine: EngineDep) -> Any:
    try:
        info = postgis_info(engine)
    except Exception as exc:  # any failure means the store is not usable
        # the detail (a socket path, a host) is for the operator's log, not for the client
        log.warning("health: database unavailable: %s: %s", type(exc).__name__, exc)
        return JSONResponse(
            status_code=503,
            content={
                "status": "unavailable",
                "database": False,
                "reason": UNAVAILABLE,
                "gisgrid_version": __version__,
            },
        )
    # pid: which worker process answered (serve --workers N runs N of them)
    return {
        "status": "ok",
        "database": True,
        "gisgrid_version": __version__,
        "pid": os.getpid(),
        **info,
    }
