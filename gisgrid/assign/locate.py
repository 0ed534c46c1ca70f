"""Where is this point: its grid, the community, street and district above, and who works it.

The point -> grid step runs in memory on a :class:`gisgrid.assign.index.GridIndex`, which a server
keeps in a :class:`GridIndexCache`; names and the grid's workers come from the store.

Who may see the workers is decided here, for every caller of :func:`locate` (the API, the
CLI, a notebook): the grid's worker accounts are rows like any other, so they are shown
only to a signed-in caller whose scope holds the grid; an anonymous caller (``caller=None``)
gets the areas and ``workers=None``.

``at`` asks where the point lay at an instant (time travel): the grid in force then (versions
with ``valid_from <= at < valid_to``) and the areas above it, with the names of those
versions; read by :func:`gisgrid.times.parse_instant`, so a bare date is 00:00 of that city
day and a time without a zone is city time. Without it, now.

Coordinates come in WGS84, or in GCJ-02 or BD-09 when the caller says so (``crs=``);
:func:`check_crs` is the one checker of that name, which :func:`locate`,
:func:`gisgrid.query.nearest.nearest_units`, :func:`gisgrid.query.within.within` and
:func:`gisgrid.incidents.workflow.report` share; everything inside is WGS84.

Examples
--------
>>> check_lonlat(126.6, 45.7)
(126.6, 45.7)
>>> check_lonlat(126.6, 95)
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: lat: 95.0 is out of range; expected -90 <= lat <= 90
>>> to_wgs84(126.6, 45.7, "wgs84")
(126.6, 45.7)
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, cast, get_args

from pydantic import Field
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from gisgrid.access.auth import Caller
from gisgrid.assign.index import GridIndex
from gisgrid.crs import convert_xy
from gisgrid.errors import InvalidInput, NotFound
from gisgrid.numbers import parse_float
from gisgrid.sql import load_sql
from gisgrid.times import TimeLike, parse_instant

Crs = Literal["wgs84", "gcj02", "bd09"]
CRS_CHOICES: tuple[Crs, ...] = get_args(Crs)
MAX_SNAP_M = 5_000.0


def check_crs(crs: str) -> Crs:
    """The coordinate system name in lower case, or InvalidInput naming ``crs``."""
    if not isinstance(crs, str) or crs.lower() not in CRS_CHOICES:
        raise InvalidInput(f"crs={crs!r}; expected one of {CRS_CHOICES}", field="crs")
    return cast(Crs, crs.lower())


def check_lonlat(
    lon: Any, lat: Any, lon_field: str = "lon", lat_field: str = "lat"
) -> tuple[float, float]:
    """Finite numbers in range, or InvalidInput naming the field."""
    out = []
    for value, name, limit in ((lon, lon_field, 180), (lat, lat_field, 90)):
        v = parse_float(value, name)  # a 400-digit JSON integer too is InvalidInput
        if not -limit <= v <= limit:
            short = name.rsplit(".", 1)[-1]
            raise InvalidInput(
                f"{v!r} is out of range; expected -{limit} <= {short} <= {limit}", field=name
            )
        out.append(v)
    return out[0], out[1]


def to_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """A point given in ``crs`` (wgs84, gcj02, bd09) as WGS84 lon/lat."""
    crs = check_crs(crs)
    if crs == "wgs84":
        return lon, lat
    x, y = convert_xy(lon, lat, crs, "wgs84")
    return float(x), float(y)


def from_wgs84(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """A WGS84 point in ``crs`` (wgs84, gcj02, bd09)."""
    crs = check_crs(crs)
    if crs == "wgs84":
        return lon, lat
    x, y = convert_xy(lon, lat, "wgs84", crs)
    return float(x), float(y)


class GridIndexCache:
    """A :class:`GridIndex` of the store's grids, built on first use and rebuilt when the
    grids change (a cheap fingerprint query on ``areas`` is compared on each ``get``).

    Building is lazy so that a server starts, and answers ``/health``, while the store is
    down or empty.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._index: GridIndex | None = None
        self._fingerprint: tuple[Any, ...] | None = None
        self.builds = 0

    def _current(self, conn: Connection | Session) -> tuple[Any, ...]:
        return tuple(conn.execute(text(load_sql("grid_fingerprint"))).one())

    def get(self, conn: Connection | Session) -> GridIndex:
        """The index for the grids as they are now."""
        now = self._current(conn)
        with self._lock:
            if self._index is None or now != self._fingerprint:
                self._index = GridIndex.from_areas(self.engine)
                self._fingerprint = now
                self.builds += 1
            return self._index

    def invalidate(self) -> None:
        """Forget the index; the next ``get`` rebuilds it."""
        with self._lock:
            self._index = None


def degree_box(lon: float, lat: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box surely enclosing the circle of ``radius_m`` around a point.

    A degree of latitude is at least 110.5 km; a degree of longitude shrinks with the cosine
    of the circle's farthest latitude.

    Examples
    --------
    >>> [round(v, 4) for v in degree_box(126.6, 45.7, 1000)]
    [126.587, 45.6908, 126.613, 45.7092]
    """
    dlat = radius_m / 110_000.0 * 1.01
    far = min(abs(lat) + dlat, 89.9)
    dlon = min(radius_m / (111_000.0 * math.cos(math.radians(far))) * 1.01, 360.0)
    return (lon - dlon, max(lat - dlat, -90.0), lon + dlon, min(lat + dlat, 90.0))


@dataclass(frozen=True)
class AreaRef:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class Worker:
    username: str
    display_name: str | None


@dataclass(frozen=True)
class Location:
    """The grid a point lies in, the areas above it and the grid's workers (None where the
    caller may not see them)."""

    lon: float
    lat: float
    grid: AreaRef
    community: AreaRef | None
    street: AreaRef | None
    district: AreaRef | None
    workers: Annotated[
        list[Worker] | None,
        Field(
            description="The grid's active grid workers; null for anonymous callers and for a"
            " grid outside the caller's scope (accounts are rows like any other)."
        ),
    ]
    distance_m: Annotated[
        float,
        Field(description="0 inside a grid; with max_distance_m, how far the nearest grid is."),
    ]
    crs: Annotated[Crs, Field(description="The system of lon and lat: the caller's.")]

    @property
    def assigned(self) -> dict[str, int | None]:
        """The area ids a row at this point is assigned (``grid_id`` ... ``district_id``),
        as :meth:`gisgrid.access.scope.Scope.covers` takes them."""
        return {
            f"{level}_id": None if area is None else area.id
            for level, area in (
                ("grid", self.grid),
                ("community", self.community),
                ("street", self.street),
                ("district", self.district),
            )
        }


def may_see_workers(caller: Caller | None, loc: Location) -> bool:
    """Whether ``caller`` may see the worker accounts of the grid at ``loc``: signed in, with
    the grid in scope. Anonymous callers (None) never may.

    Examples
    --------
    >>> from gisgrid.access.scope import Scope
    >>> g = AreaRef(5, "G5", "grid 5")
    >>> loc = Location(0.0, 0.0, g, None, AreaRef(3, "S3", "street 3"), None, None, 0.0, "wgs84")
    >>> street = Caller(1, "s", None, "street_centre", None, Scope("street", 3))
    >>> may_see_workers(street, loc), may_see_workers(None, loc)
    (True, False)
    """
    return caller is not None and caller.scope.covers(loc.assigned)


def locate(
    conn: Connection | Session,
    index: GridIndex,
    lon: float | str,
    lat: float | str,
    max_distance_m: float | None = None,
    *,
    caller: Caller | None = None,
    crs: str = "wgs84",
    at: TimeLike | None = None,
) -> Location:
    """Locate a point given in ``crs`` (wgs84, gcj02, bd09) among the current grids, or among
    those in force at ``at`` (an instant, :func:`gisgrid.times.parse_instant`); NotFound when
    no grid covers it. The location's ``lon``/``lat`` are in ``crs`` too.

    A point on an edge shared by two grids goes to the lower grid id (GridIndex's rule).
    With ``max_distance_m``, a point outside every grid gets the nearest grid within that
    distance, and ``distance_m`` says how far it was (0 for a covered point). ``workers``
    lists the grid's active grid workers for a ``caller`` whose scope holds the grid, and is
    None for anyone else, anonymous (``caller=None``) included (:func:`may_see_workers`);
    they are the accounts scoped to that grid version now (a replaced grid's workers are
    re-scoped to its successor, so a past version usually lists none).
    """
    given = check_lonlat(lon, lat)
    when = parse_instant(at, "at") if at is not None else None
    crs = check_crs(crs)
    lon, lat = to_wgs84(*given, crs)
    if max_distance_m is not None and not (
        math.isfinite(max_distance_m) and 0 < max_distance_m <= MAX_SNAP_M
    ):
        raise InvalidInput(
            f"must be a number of metres in (0, {MAX_SNAP_M:.0f}] ({max_distance_m} given)",
            field="max_distance_m",
        )
    grid_id = int(index.assign([lon], [lat], None if when is None else [when]).grid_id[0])
    distance_m = 0.0
    if grid_id < 0 and max_distance_m is not None:
        # one point: measure exactly in PostGIS (geodesic distance to the polygon itself)
        xmin, ymin, xmax, ymax = degree_box(lon, lat, max_distance_m)
        near = conn.execute(
            text(load_sql("nearest_grid")),
            {
                "lon": lon,
                "lat": lat,
                "max_m": max_distance_m,
                "xmin": xmin,
                "ymin": ymin,
                "xmax": xmax,
                "ymax": ymax,
                "at": when,
            },
        ).first()
        if near is not None:
            grid_id, distance_m = int(near.id), float(near.distance_m)
    if grid_id < 0:
        within = f" or within {max_distance_m} m of one" if max_distance_m else ""
        then = f" in force at {when.isoformat()}" if when is not None else ""
        raise NotFound(
            f"the point ({lon}, {lat}) lies outside every grid{then}{within}", field="lon,lat"
        )
    rows = conn.execute(text(load_sql("locate_areas")), {"grid_id": grid_id}).all()
    levels = {r.level: AreaRef(r.id, r.code, r.name) for r in rows if r.kind == "area"}
    out_lon, out_lat = from_wgs84(lon, lat, crs)  # the caller's own point, round-tripped
    loc = Location(
        lon=out_lon,
        lat=out_lat,
        grid=levels["grid"],
        community=levels.get("community"),
        street=levels.get("street"),
        district=levels.get("district"),
        workers=None,
        distance_m=distance_m,
        crs=crs,
    )
    if not may_see_workers(caller, loc):
        return loc
    workers = [Worker(r.username, r.display_name) for r in rows if r.kind == "worker"]
    return replace(loc, workers=workers)
