"""A grid worker's grid, a point in it, and the centres and units around it, in the tiny city."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from gisgrid.access.auth import _ACCOUNT_SQL as ACCOUNT_SQL
from gisgrid.access.auth import AccountRow, Caller, _row, scope_of
from gisgrid.assign.index import GridIndex
from gisgrid.crs import convert_xy

CATEGORY = "0101"  # exposed rubbish: sanitation units handle it


@dataclass(frozen=True)
class Beat:
    """Who works on one grid: its worker, its street, district and city centres."""

    grid_id: int
    street_id: int
    district_id: int
    lon: float
    lat: float
    worker: str
    street_centre: str
    district_centre: str
    city_centre: str
    outsider: str  # a grid worker of another grid: sees nothing of this one


def beat(engine: Engine) -> Beat:
    """The first grid worker's grid (the one :func:`tiny_city` gave a password) and the rest."""
    with engine.connect() as conn:
        w = conn.execute(
            text(
                "SELECT a.username, g.id AS grid_id, ST_X(ST_PointOnSurface(g.geom)) AS lon,"
                " ST_Y(ST_PointOnSurface(g.geom)) AS lat, s.id AS street_id,"
                " s.parent_id AS district_id"
                " FROM accounts a JOIN areas g ON g.id = a.scope_area_id"
                " JOIN areas c ON c.id = g.parent_id JOIN areas s ON s.id = c.parent_id"
                " WHERE a.role = 'grid_worker' ORDER BY a.id LIMIT 1"
            )
        ).one()

        def centre(role: str, area: int | None = None, other: bool = False) -> str:
            cond = "scope_area_id <> :a" if other else "scope_area_id = :a"
            if area is None:
                cond = "TRUE"
            return str(
                conn.execute(
                    text(
                        f"SELECT username FROM accounts WHERE role = :r AND {cond}"
                        " ORDER BY id LIMIT 1"
                    ),
                    {"r": role, "a": area},
                ).scalar_one()
            )

        return Beat(
            grid_id=w.grid_id,
            street_id=w.street_id,
            district_id=w.district_id,
            lon=float(w.lon),
            lat=float(w.lat),
            worker=w.username,
            street_centre=centre("street_centre", w.street_id),
            district_centre=centre("district_centre", w.district_id),
            city_centre=centre("city_centre"),
            outsider=centre("grid_worker", w.grid_id, other=True),
        )


def account(conn: Connection, username: str) -> AccountRow:
    r = conn.execute(text(ACCOUNT_SQL + " WHERE a.username = :u"), {"u": username}).one()
    return _row(r)


def caller(conn: Connection, username: str) -> Caller:
    a = account(conn, username)
    return Caller(a.id, a.username, a.display_name, a.role, a.unit_id, scope_of(a))


def unit_username(conn: Connection, unit_id: int) -> str:
    return str(
        conn.execute(
            text("SELECT username FROM accounts WHERE role = 'unit' AND unit_id = :u LIMIT 1"),
            {"u": unit_id},
        ).scalar_one()
    )


@dataclass(frozen=True)
class Twin:
    """A grid worker's point in WGS84 and the same point in GCJ-02 and BD-09, whose numbers
    misread as WGS84 fall outside the worker's grid (so a dropped ``crs`` shows)."""

    worker: str
    grid_id: int
    lon: float
    lat: float
    gcj02: tuple[float, float]
    bd09: tuple[float, float]


def crs_twin(engine: Engine, index: GridIndex) -> Twin:
    """The first grid worker whose grid's inner point moves out of the grid when its GCJ-02
    and BD-09 coordinates are read as WGS84."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT a.username, g.id, ST_X(p) AS lon, ST_Y(p) AS lat FROM accounts a"
                " JOIN areas g ON g.id = a.scope_area_id,"
                " LATERAL ST_PointOnSurface(g.geom) p"
                " WHERE a.role = 'grid_worker' AND a.active ORDER BY a.id"
            )
        ).all()
    for username, grid_id, lon, lat in rows:
        moved = {}
        for crs in ("gcj02", "bd09"):
            x, y = convert_xy(lon, lat, "wgs84", crs)
            moved[crs] = (float(x), float(y))
        xs, ys = zip(*moved.values(), strict=True)
        if (index.assign(list(xs), list(ys)).grid_id != grid_id).all():
            return Twin(
                username, int(grid_id), float(lon), float(lat), moved["gcj02"], moved["bd09"]
            )
    raise AssertionError("no grid worker's point leaves its grid when shifted")
