"""Feature collections for OGC API - Features: which rows, which properties, and the SQL.

Each :class:`Collection` names a table, a fixed condition (areas: one level), the properties
it publishes, the few properties a client may filter on with ``?name=value``, its time column
(incidents) or validity (areas) and how the caller's scope applies:
``"rows"`` for tables with the assignment columns, ``None`` for public collections (areas and
units). Residents and households are never collections.

Geometries leave as RFC 7946 GeoJSON: lon/lat, 6 decimals, exterior rings counter-clockwise
(``ST_ForcePolygonCCW``). Everything a client sends reaches the SQL as a bind parameter;
identifiers come from this module's own tables and go through :func:`gisgrid.sql.quote_ident`.

A ``datetime`` filter applies to the collection's time column, read by
:func:`gisgrid.times.parse_period` (both ends included; a bare date is a day in the city, as
in the tile filters). On the area collections (versioned boundaries) it is time travel: without
it a collection holds the current versions (``valid_to`` null); with it, the versions in force
at some instant of the period, ``valid_from <= end`` and ``valid_to`` null or after ``start``
(an instant: the versions in force at that instant; a bare date: in force at some time that
city day, so a day on which a boundary changed answers both versions). A collection with
neither (buildings, places, units) has no temporal property, so the filter selects nothing
away and every item is answered, as for a bbox on a collection without geometry. ``bbox`` is
read by :func:`gisgrid.bbox.parse_bbox` (4 numbers, or 6 with heights).

Examples
--------
>>> sorted(COLLECTIONS)[:2]
['areas_community', 'areas_district']
>>> q = item_query(COLLECTIONS["incidents"], {"bbox": "126.5,45.6,0,126.8,45.9,100"})
>>> q.bbox, q.interval
((126.5, 45.6, 126.8, 45.9), None)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Connection, text

from gisgrid.access.scope import Scope
from gisgrid.bbox import Bbox, parse_bbox
from gisgrid.errors import InvalidInput, NotFound
from gisgrid.numbers import MAX_ID, as_id, parse_int, shown
from gisgrid.paging import decode_cursor, encode_cursor
from gisgrid.sql import quote_ident
from gisgrid.times import Period, parse_period

FilterKind = Literal["text", "int", "bool"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000

_HIERARCHY_PROPS = ("grid_id", "community_id", "street_id", "district_id")


@dataclass(frozen=True)
class Collection:
    """One feature collection: a table seen through a fixed condition and a property list."""

    id: str
    title: str
    description: str
    table: str
    properties: tuple[str, ...]
    filters: Mapping[str, FilterKind] = field(default_factory=dict)
    where: str = "TRUE"
    where_params: Mapping[str, Any] = field(default_factory=dict)
    time_column: str | None = None
    scoped: Literal["rows"] | None = None
    # versioned rows (valid_from, valid_to): current ones unless datetime asks for a time
    versioned: bool = False

    @property
    def public(self) -> bool:
        return self.scoped is None


def _area(level: str, plural: str) -> Collection:
    return Collection(
        id=f"areas_{level}",
        title=f"{plural.capitalize()} (current boundaries)",
        description=(
            f"The current version of every {level} boundary (valid_to is null); with "
            "datetime, the versions in force then (valid_from <= t < valid_to)."
        ),
        table="areas",
        properties=("code", "name", "level", "parent_id", "responsible", "valid_from", "valid_to"),
        filters={"code": "text", "parent_id": "int"},
        where="t.level = :c_level",
        where_params={"c_level": level},
        versioned=True,
    )


COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        _area("district", "districts"),
        _area("street", "streets"),
        _area("community", "communities"),
        _area("grid", "grids"),
        Collection(
            id="buildings",
            title="Buildings",
            description="Building footprints with address, floors and household count.",
            table="buildings",
            properties=("code", "address", "floors", "household_count", "use", *_HIERARCHY_PROPS),
            filters={"use": "text", "grid_id": "int"},
            scoped="rows",
        ),
        Collection(
            id="places",
            title="Places",
            description="Shops (the nine small places), hydrants, cameras and hazards.",
            table="places",
            properties=("code", "kind", "name", "address", "building_id", *_HIERARCHY_PROPS),
            filters={"kind": "text", "grid_id": "int"},
            scoped="rows",
        ),
        Collection(
            id="incidents",
            title="Incidents",
            description=(
                "Reported incidents and where each is in the closed loop; the datetime "
                "filter applies to reported_at. Reporter identity and photos are not published."
            ),
            table="incidents",
            properties=(
                "code",
                "category",
                "description",
                "address",
                "source",
                "reported_at",
                "status",
                "escalation_level",
                "priority",
                "assigned_unit_id",
                "due_at",
                "closed_at",
                *_HIERARCHY_PROPS,
            ),
            filters={"category": "text", "status": "text", "priority": "text", "grid_id": "int"},
            time_column="reported_at",
            scoped="rows",
        ),
        Collection(
            id="units",
            title="Responsible units",
            description="Police stations, fire stations, sanitation and other responsible units.",
            table="units",
            properties=("code", "name", "kind", "categories", "available", "phone", "area_id"),
            filters={"kind": "text", "available": "bool"},
        ),
    )
}


def get_collection(collection_id: str) -> Collection:
    """The collection called ``collection_id``, or NotFound naming the ones there are."""
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise NotFound(
            f"no collection {collection_id!r}; expected one of {', '.join(COLLECTIONS)}",
            field="collectionId",
        ) from None


# ---------------------------------------------------------------- parameters


@dataclass(frozen=True)
class ItemQuery:
    """What a client asked of ``/items``, already checked."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    after: int | None = None  # the id the page starts after (from ``cursor``)
    bbox: Bbox | None = None
    interval: Period | None = None
    filters: Mapping[str, Any] = field(default_factory=dict)


def item_query(collection: Collection, params: Mapping[str, str]) -> ItemQuery:
    """``limit``, ``cursor``, ``offset``, ``bbox``, ``datetime`` and the collection's property
    filters from a query string, each checked (InvalidInput naming the parameter); other keys
    are left to the caller.

    ``cursor`` (from a page's next link) pages by key; ``offset`` still works but reads and
    drops every row before the page, so deep pages are slow; the two together are refused.

    Examples
    --------
    >>> item_query(COLLECTIONS["units"], {"datetime": "2026-03-01/2026-02-01"})
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: datetime: datetime='2026-03-01/2026-02-01' ends before it \
starts (or at the same instant)
    """
    bbox = params.get("bbox")
    interval = params.get("datetime")
    cursor = params.get("cursor")
    if cursor is not None and params.get("offset") is not None:
        raise InvalidInput(
            "cursor and offset cannot be combined; follow the next link (cursor) alone",
            field="offset",
        )
    return ItemQuery(
        limit=parse_limit(params.get("limit")),
        offset=parse_offset(params.get("offset")),
        after=decode_cursor(cursor, (int,))[0] if cursor is not None else None,
        bbox=parse_bbox(bbox, heights=True) if bbox is not None else None,
        interval=parse_period(interval) if interval is not None else None,
        filters=parse_filters(collection, params),
    )


def parse_limit(value: str | None) -> int:
    """``limit``: an integer in [1, MAX_LIMIT]; absent means DEFAULT_LIMIT."""
    if value is None:
        return DEFAULT_LIMIT
    return parse_int(value, "limit", lo=1, hi=MAX_LIMIT)


def parse_offset(value: str | None) -> int:
    if value is None:
        return 0
    return parse_int(value, "offset", lo=0, hi=MAX_ID)


def parse_filters(collection: Collection, params: Mapping[str, str]) -> dict[str, Any]:
    """The collection's property filters present in ``params``, converted to their types."""
    out: dict[str, Any] = {}
    for name, kind in collection.filters.items():
        if name not in params:
            continue
        raw = params[name]
        if kind == "int":
            out[name] = _int(raw, name)
        elif kind == "bool":
            low = raw.lower()
            if low not in ("true", "false"):
                raise InvalidInput(f"{raw!r}; expected true or false", field=name)
            out[name] = low == "true"
        else:
            out[name] = raw
    return out


def _int(value: str, name: str) -> int:
    # a bigint, as every integer column and OFFSET is
    return parse_int(value, name, lo=-MAX_ID - 1, hi=MAX_ID)


# ---------------------------------------------------------------- SQL


def _conditions(
    collection: Collection, query: ItemQuery | None, scope: Scope | None, *, one_id: bool = False
) -> tuple[str, dict[str, Any]]:
    where = [collection.where]
    params: dict[str, Any] = dict(collection.where_params)
    if collection.scoped == "rows":
        if scope is None:
            # The API refuses anonymous callers before this; a library caller must say.
            raise InvalidInput(f"{collection.id} needs a scope", field="scope")
        cond, scope_params = scope.rows_sql("t")
        where.append(cond)
        params.update(scope_params)
    if query is not None:
        if query.bbox is not None:
            where.append("ST_Intersects(t.geom, ST_MakeEnvelope(:bw, :bs, :be, :bn, 4326))")
            params.update(zip(("bw", "bs", "be", "bn"), query.bbox, strict=True))
        if query.interval is not None and collection.time_column is not None:
            col = f"t.{quote_ident(collection.time_column)}"
            start, end = query.interval
            if start is not None:
                where.append(f"{col} >= :t_start")
                params["t_start"] = start
            if end is not None:
                where.append(f"{col} <= :t_end")
                params["t_end"] = end
        for i, (name, value) in enumerate(sorted(query.filters.items())):
            if name not in collection.filters:
                raise InvalidInput(f"{collection.id} cannot be filtered on {name}", field=name)
            where.append(f"t.{quote_ident(name)} = :f{i}")
            params[f"f{i}"] = value
    if collection.versioned and not one_id:  # an id names one version, current or not
        where.append(_validity(query.interval if query is not None else None, params))
    return " AND ".join(f"({w})" for w in where), params


def _validity(interval: Period | None, params: dict[str, Any]) -> str:
    """The versions in force at some instant of ``interval``; the current ones without it."""
    if interval is None:
        return "t.valid_to IS NULL"
    where = []
    start, end = interval
    if end is not None:
        where.append("t.valid_from <= :v_end")
        params["v_end"] = end
    if start is not None:
        where.append("(t.valid_to IS NULL OR t.valid_to > :v_start)")
        params["v_start"] = start
    return " AND ".join(where)


def _select(collection: Collection) -> str:
    cols = ", ".join(f"t.{quote_ident(p)}" for p in collection.properties)
    return (
        "SELECT t.id, ST_AsGeoJSON(ST_ForcePolygonCCW(t.geom), 6) AS geometry, "
        f"{cols} FROM {quote_ident(collection.table)} t"
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _feature(collection: Collection, row: Sequence[Any]) -> dict[str, Any]:
    props = {name: _json_value(v) for name, v in zip(collection.properties, row[2:], strict=True)}
    return {
        "type": "Feature",
        "id": int(row[0]),
        "geometry": json.loads(row[1]) if row[1] is not None else None,
        "properties": props,
    }


@dataclass(frozen=True)
class ItemsPage:
    """One page of features; ``matched`` is None on pages reached by cursor (counting every
    match again on each page would cost what keyset paging saves)."""

    features: list[dict[str, Any]]
    matched: int | None
    next_cursor: str | None


def items(
    conn: Connection, collection: Collection, query: ItemQuery, scope: Scope | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """One page of GeoJSON features (ordered by id) and how many match in all.

    ``scope`` limits scoped collections (incidents, buildings, places) to the caller's area;
    public collections ignore it. See :func:`items_page` for the next page's cursor.
    """
    page = items_page(conn, collection, query, scope)
    return page.features, page.matched


def items_page(
    conn: Connection, collection: Collection, query: ItemQuery, scope: Scope | None = None
) -> ItemsPage:
    """One page of features, the match count (first and offset pages) and the next cursor."""
    where, params = _conditions(collection, query, scope)
    if query.after is not None:
        where += " AND t.id > :after"
        params["after"] = query.after
    rows = conn.execute(
        text(f"{_select(collection)} WHERE {where} ORDER BY t.id LIMIT :lim OFFSET :off"),
        # one row more than the page says whether there is a next page
        {**params, "lim": query.limit + 1, "off": query.offset},
    ).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    next_cursor = encode_cursor(int(rows[-1][0])) if more else None
    matched: int | None
    if query.after is not None:
        matched = None
    elif not more and (rows or query.offset == 0):
        # the last page: the count is known without scanning again
        matched = query.offset + len(rows)
    else:
        table = quote_ident(collection.table)
        count = text(f"SELECT count(*) FROM {table} t WHERE {where}")
        matched = int(conn.execute(count, params).scalar() or 0)
    return ItemsPage([_feature(collection, r) for r in rows], matched, next_cursor)


def item(
    conn: Connection, collection: Collection, fid: int | str, scope: Scope | None = None
) -> dict[str, Any]:
    """One feature by id (an int, or the text of a path segment), or NotFound (also when it
    lies outside the caller's scope, or when ``fid`` cannot be an id: ``'³'``, 30 digits).
    An area's id names one version, so a closed version is answered too (its ``valid_to``
    says so), as the items of a ``datetime`` query link to it."""
    n = as_id(fid)
    if n is None:
        raise NotFound(f"no feature {shown(fid)} in {collection.id}", field="featureId")
    where, params = _conditions(collection, None, scope, one_id=True)
    row = conn.execute(
        text(f"{_select(collection)} WHERE {where} AND t.id = :fid"), {**params, "fid": n}
    ).first()
    if row is None:
        raise NotFound(f"no feature {n} in {collection.id}", field="featureId")
    return _feature(collection, row)


@dataclass(frozen=True)
class Extent:
    """A collection's bbox [w, s, e, n] (None when empty) and time interval."""

    bbox: tuple[float, float, float, float] | None
    interval: tuple[datetime | None, datetime | None]


def extent(conn: Connection, collection: Collection) -> Extent:
    """The bbox of all the collection's rows (not only the caller's; an area collection's
    current versions) and its time span (an area collection's: from its first version on)."""
    table = quote_ident(collection.table)
    time = "NULL::timestamptz, NULL::timestamptz"
    box = "ST_Extent(t.geom)"
    if collection.time_column is not None:
        col = f"t.{quote_ident(collection.time_column)}"
        time = f"min({col}), max({col})"
    if collection.versioned:
        # where the current versions are; from the first version's start, open at the end
        box = "ST_Extent(t.geom) FILTER (WHERE t.valid_to IS NULL)"
        time = "min(t.valid_from), NULL::timestamptz"
    row = conn.execute(
        text(
            "SELECT ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b), t0, t1 FROM ("
            f"SELECT {box} AS b, {time} FROM {table} t WHERE {collection.where}"
            ") AS e(b, t0, t1)"
        ),
        dict(collection.where_params),
    ).one()
    bbox = None if row[0] is None else (row[0], row[1], row[2], row[3])
    return Extent(bbox=bbox, interval=(row[4], row[5]))
