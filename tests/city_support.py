"""A scratch database holding the tiny synthetic city, with a few passwords set."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gisgrid.access.auth import set_password
from gisgrid.store.cluster import Cluster
from gisgrid.store.engine import make_engine
from gisgrid.store.migrate import migrate_to_head
from gisgrid.synth import generate
from gisgrid.synth.store import write_city
from gisgrid.tiles.mapview import data_extent
from tests.support import database_exists, scratch_engine

PASSWORD = "correct horse battery"


SEED = 5  # the template's city
TEMPLATE = f"tiny_city_{SEED}_template"


def _write_tiny_city(engine: Engine, seed: int) -> None:
    write_city(engine, generate("tiny", seed=seed))
    with engine.connect() as conn:
        users = conn.execute(
            text("SELECT DISTINCT ON (role) username FROM accounts ORDER BY role, id")
        ).scalars()
        usernames = list(users)
    for u in usernames:
        set_password(engine, u, PASSWORD)


def _template(cluster: Cluster) -> str:
    """The tiny city of :data:`SEED`, built once per test cluster and kept as a template
    database (nobody connects to it after, so CREATE DATABASE can copy it)."""
    if not database_exists(cluster, TEMPLATE):
        with psycopg.connect(cluster.libpq_url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        try:
            url = cluster.url(dbname=TEMPLATE)
            migrate_to_head(url)
            engine = make_engine(url)
            try:
                _write_tiny_city(engine, SEED)
            finally:
                engine.dispose()
        except BaseException:
            with psycopg.connect(cluster.libpq_url("postgres"), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")
            raise
    return TEMPLATE


@contextmanager
def tiny_city(cluster: Cluster, name: str, seed: int = SEED) -> Iterator[Engine]:
    """The tiny city in a database of its own; the admin and one account of each role get
    :data:`PASSWORD` (the rest have none, as the generator leaves them). The city of
    :data:`SEED` is copied from a template built once per run; another seed is built."""
    if seed == SEED:
        with scratch_engine(cluster, name, template=_template(cluster)) as engine:
            yield engine
        return
    with scratch_engine(cluster, name) as engine:
        _write_tiny_city(engine, seed)
        yield engine


def username_of(engine: Engine, role: str) -> str:
    """The first account of a role (the one :func:`tiny_city` gave a password)."""
    with engine.connect() as conn:
        name: str = conn.execute(
            text("SELECT username FROM accounts WHERE role = :r ORDER BY id LIMIT 1"), {"r": role}
        ).scalar_one()
    return name


def bearer_header(client: TestClient, username: str) -> dict[str, str]:
    """Sign in with :data:`PASSWORD`; the Authorization header for the token."""
    r = client.post("/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def grid_extent(engine: Engine) -> tuple[float, float, float, float]:
    """The current grids' extent (lon/lat)."""
    with engine.connect() as conn:
        box = data_extent(conn)
    assert box is not None, "the store has no areas"
    return box


def point_in(engine: Engine, area_id: int) -> tuple[float, float]:
    """A point inside an area (lon, lat)."""
    with engine.connect() as conn:
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM"
                " (SELECT ST_PointOnSurface(geom) AS c FROM areas WHERE id = :a) s"
            ),
            {"a": area_id},
        ).one()
    return float(lon), float(lat)


def signed_in_worker(client: TestClient, engine: Engine) -> tuple[dict[str, str], int]:
    """The first grid worker's Authorization header, and the id of their grid."""
    username = username_of(engine, "grid_worker")
    with engine.connect() as conn:
        grid = conn.execute(
            text("SELECT scope_area_id FROM accounts WHERE username = :u"), {"u": username}
        ).scalar_one()
    return bearer_header(client, username), int(grid)
