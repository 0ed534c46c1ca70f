"""``/health``: is the database reachable, and which PostGIS is it."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import EngineDep
from gisgrid import __version__
from gisgrid.errors import GisgridError
from gisgrid.store.engine import postgis_info

router = APIRouter(tags=["health"])


@router.get("/health", summary="Database reachability and versions")
def health(engine: EngineDep) -> Any:
    try:
        info = postgis_info(engine)
    except GisgridError as exc:
        return JSONResponse(
            status_code=503,
            content={
                "status": "unavailable",
                "database": False,
                "reason": exc.reason,
                "gisgrid_version": __version__,
            },
        )
    except Exception as exc:  # any driver failure means the store is not usable
        return JSONResponse(
            status_code=503,
            content={
                "status": "unavailable",
                "database": False,
                "reason": f"{type(exc).__name__}: {str(exc).splitlines()[0]}",
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
