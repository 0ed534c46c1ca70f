"""``create_app(settings)``: the FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api import errors, limits, openapi
from api.hosts import TrustedHosts
from api.routes import analysis as analysis_routes
from api.routes import (
    auth,
    console,
    evaluation,
    field,
    field_page,
    health,
    incidents,
    ogc,
    plan_files,
    plans,
    query,
    residents,
    webmap,
)
from api.routes import open311 as open311_routes
from api.routes import photos as photo_routes
from api.routes import queue as queue_routes
from api.routes import tiles as tile_routes
from api.sweeper import Sweeper
from gisgrid import __version__
from gisgrid.access.signin import SignInThrottle
from gisgrid.analysis.service import AnalysisService
from gisgrid.assign.locate import GridIndexCache
from gisgrid.settings import Settings, get_settings
from gisgrid.store.engine import make_engine, make_session_factory
from gisgrid.store.reads import ReadRouter
from gisgrid.tiles.service import TileService


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the engine lives in its lifespan."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings)
        app.state.engine = engine
        app.state.session_factory = make_session_factory(engine)
        app.state.grid_index = GridIndexCache(engine)
        # tiles and analytics read a replica when one is configured (else the primary)
        app.state.reads = reads = ReadRouter.from_settings(engine, settings)
        app.state.tiles = TileService(engine, settings, reads)
        app.state.tile_cache = app.state.tiles.cache  # its hit counts, for tests and diagnostics
        # analysis answers, their tiles in the tile cache (one memory budget for tiles)
        app.state.analysis = AnalysisService(engine, app.state.tiles.cache, reads=reads)
        # overdue cases escalated in the background (None: escalation_sweep_s is 0)
        app.state.sweeper = sweeper = Sweeper.from_settings(engine, settings)
        if sweeper is not None:
            sweeper.start()
        try:
            yield
        finally:
            if sweeper is not None:
                await sweeper.stop()
            await app.state.tiles.close()
            reads.dispose()
            engine.dispose()

    # FastAPIOffline serves the Swagger UI and ReDoc assets from the installed package, not a
    # CDN, so /docs renders on a machine without internet.
    app = FastAPIOffline(
        title="gisgrid",
        version=__version__,
        description="GIS for city grid management: grids, registers, incidents, tiles.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.signin = SignInThrottle.from_settings(settings)  # per process, like the tiles
    errors.install(app)
    openapi.install(app)

    def include(router: APIRouter, max_body_size: int = settings.max_body_bytes) -> None:
        # per router, not for the app: FastAPI's app-wide limit sits outside the middleware
        # below and would answer an oversized Content-Length in plain text first
        app.include_router(router, max_body_size=max_body_size)

    include(health.router)
    include(auth.router)
    include(query.router, limits.within_body_limit(settings))
    include(ogc.router)
    # before incidents: its POST /incidents/{id}/{action} would take /incidents/{id}/photos
    include(photo_routes.router, limits.photo_body_limit(settings))
    # before incidents too: /incidents/duplicates and /incidents/{id}/support
    include(field.router)
    include(incidents.router)
    include(queue_routes.router)
    include(console.router, limits.photo_body_limit(settings))
    include(residents.router)
    include(plan_files.router, limits.plan_file_body_limit(settings))
    include(plans.router)
    include(evaluation.router)
    include(open311_routes.router)
    # before the tile routes: /tiles/hotspots... is drawn from analysis answers, not SQL
    include(analysis_routes.router)
    include(tile_routes.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "OPTIONS"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "If-Match",
                "If-None-Match",
                "Idempotency-Key",
            ],
            expose_headers=["ETag"],
        )
    include(webmap.router)
    include(field_page.router)
    # the web map's page, script and the vendored MapLibre; "/" serves the page to a browser
    app.mount("/static", StaticFiles(directory=webmap.STATIC_DIR), name="static")
    # the last added runs first: Host, then the token, then the declared size, all before
    # the body is read
    app.add_middleware(limits.DeclaredSize, settings=settings)
    app.add_middleware(limits.TokenFirst, settings=settings)
    # outermost: a Host no link may be built from is refused before anything else runs
    app.add_middleware(TrustedHosts, settings=settings)
    return app


def app_from_env() -> FastAPI:
    """The app with settings from the environment: uvicorn's factory for ``serve --workers``."""
    return create_app(get_settings())
