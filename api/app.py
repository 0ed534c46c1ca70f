"""``create_app(settings)``: the FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api import errors
from api.routes import auth, evaluation, health, incidents, ogc, query, residents, webmap
from api.routes import open311 as open311_routes
from api.routes import photos as photo_routes
from api.routes import tiles as tile_routes
from gisgrid import __version__
from gisgrid.assign.locate import GridIndexCache
from gisgrid.settings import Settings, get_settings
from gisgrid.store.engine import make_engine, make_session_factory
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
        app.state.tiles = TileService(engine, settings)
        app.state.tile_cache = app.state.tiles.cache  # its hit counts, for tests and diagnostics
        try:
            yield
        finally:
            await app.state.tiles.close()
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
    errors.install(app)
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(query.router)
    app.include_router(ogc.router)
    # before incidents: its POST /incidents/{id}/{action} would take /incidents/{id}/photos
    app.include_router(photo_routes.router)
    app.include_router(incidents.router)
    app.include_router(residents.router)
    app.include_router(evaluation.router)
    app.include_router(open311_routes.router)
    app.include_router(tile_routes.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "PATCH", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match"],
            expose_headers=["ETag"],
        )
    app.include_router(webmap.router)
    # the web map's page, script and the vendored MapLibre; "/" serves the page to a browser
    app.mount("/static", StaticFiles(directory=webmap.STATIC_DIR), name="static")
    return app


def app_from_env() -> FastAPI:
    """The app with settings from the environment: uvicorn's factory for ``serve --workers``."""
    return create_app(get_settings())
