"""Request dependencies: the app's settings and engine, one session per request, the caller,
the grid index and the tile service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from gisgrid.access.auth import Caller, caller_from_token
from gisgrid.assign.locate import GridIndexCache
from gisgrid.errors import NotAuthenticated, translate_db_errors
from gisgrid.settings import Settings
from gisgrid.store.reads import ReadRouter
from gisgrid.tiles.service import TileService


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(request: Request) -> Iterator[Session]:
    factory = request.app.state.session_factory
    with factory() as session, translate_db_errors():
        yield session


def get_read_connection(request: Request) -> Iterator[Connection]:
    """A connection for an analytics read: the replica once it has replayed every commit
    made before this request, else the primary (:class:`gisgrid.store.reads.ReadRouter`)."""
    reads: ReadRouter = request.app.state.reads
    with reads.connect() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
ReadConnectionDep = Annotated[Connection, Depends(get_read_connection)]


def get_grid_index(request: Request) -> GridIndexCache:
    """The app's GridIndex holder (built on first use, rebuilt when the grids change)."""
    cache: GridIndexCache = request.app.state.grid_index
    return cache


GridIndexDep = Annotated[GridIndexCache, Depends(get_grid_index)]


# -- the caller ------------------------------------------------------------------------------

# auto_error=False: a missing token becomes NotAuthenticated, mapped to 401 in one place.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)


def get_optional_caller(
    session: SessionDep, settings: SettingsDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> Caller | None:
    """The caller a bearer token names, or None without a token (an invalid one is 401)."""
    if token is None:
        return None
    return caller_from_token(session, token, settings)


def get_caller(caller: Annotated[Caller | None, Depends(get_optional_caller)]) -> Caller:
    """The caller a bearer token names; 401 (WWW-Authenticate: Bearer) without one."""
    if caller is None:
        raise NotAuthenticated("not authenticated: send Authorization: Bearer <token>")
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]
OptionalCallerDep = Annotated[Caller | None, Depends(get_optional_caller)]


async def get_tile_service(request: Request) -> TileService:
    """The app's tile service (made in the lifespan). Asynchronous: a synchronous dependency
    would send every tile request, cache hits too, through the thread pool."""
    service: TileService = request.app.state.tiles
    return service


TileServiceDep = Annotated[TileService, Depends(get_tile_service)]
