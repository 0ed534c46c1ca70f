"""The incident filters of a tile request and the query_params every tile function takes.

Examples
--------
>>> f = TileFilters.parse({"status": "reported,closed"}, known_categories={"0101"})
>>> f.statuses
('closed', 'reported')
>>> query_params(f, None)
{'status': ['closed', 'reported']}

Dates are city days and ``to`` is included (see :mod:`gisgrid.times`):

>>> TileFilters.parse({"from": "2026-03-01", "to": "2026-03-31"}, ()).as_params()
{'from': '2026-03-01T00:00:00+08:00', 'to': '2026-03-31T23:59:59.999999+08:00'}

``at`` is not an incident filter: it draws the boundary layers as they were at an instant
(time travel), read by :func:`gisgrid.times.parse_instant` (a bare date is 00:00 of that city
day). It goes into query_params, and so into every tile's cache key and ETag; the incident
layers do not read it (their ``from``/``to`` choose the incidents):

>>> query_params(TileFilters(), None, parse_at({"at": "2026-03-01"}))
{'at': '2026-03-01T00:00:00+08:00'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from gisgrid import vocab
from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput
from gisgrid.times import parse_bounds, parse_instant

FILTER_PARAMS = ("category", "status", "from", "to")
BOUNDARY_PARAMS = ("at",)
"""What the boundary layers (districts ... grids) take besides the filters."""


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class TileFilters:
    """The incident filters of a tile request: categories (leaf or group codes), statuses and
    a time range on ``reported_at`` with both ends included (``since`` <= reported_at <=
    ``until``), read by :func:`gisgrid.times.parse_bounds`: ``from=2026-03-01&to=2026-03-31``
    is the 31 city days, as OGC API's ``datetime=2026-03-01/2026-03-31`` is."""

    categories: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str], known_categories: Iterable[str]) -> TileFilters:
        """From a query string; a bad value raises InvalidInput naming the parameter."""
        known = set(known_categories)
        cats = _list(params.get("category", ""))
        for c in cats:
            if c not in known:
                raise InvalidInput(
                    f"{c!r} is not a category or category group code", field="category"
                )
        statuses = _list(params.get("status", ""))
        for s in statuses:
            if s not in vocab.INCIDENT_STATUSES:
                raise InvalidInput(
                    f"{s!r}; expected one of {list(vocab.INCIDENT_STATUSES)}", field="status"
                )
        # an empty value is no filter, as an unset field of a form is
        since, until = parse_bounds(params.get("from") or None, params.get("to") or None)
        return cls(tuple(sorted(set(cats))), tuple(sorted(set(statuses))), since, until)

    def as_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.categories:
            out["category"] = list(self.categories)
        if self.statuses:
            out["status"] = list(self.statuses)
        if self.since:
            out["from"] = self.since.isoformat()
        if self.until:
            out["to"] = self.until.isoformat()
        return out

    def query_string(self) -> dict[str, str]:
        """The filters as query-string values (for TileJSON tile URLs)."""
        return {k: ",".join(v) if isinstance(v, list) else v for k, v in self.as_params().items()}


def scope_params(scope: Scope | None) -> dict[str, Any]:
    """The scope keys of query_params: none for an anonymous caller."""
    if scope is None:
        return {}
    if scope.unlimited:
        return {"scope_level": "all"}
    return {"scope_level": scope.level, "scope_area_id": scope.area_id}


def parse_at(params: Mapping[str, str]) -> datetime | None:
    """The instant of ``at`` in a query string (None when absent or empty), or InvalidInput
    naming ``at``."""
    value = params.get("at") or None
    return parse_instant(value, "at") if value is not None else None


def query_params(
    filters: TileFilters, scope: Scope | None, at: datetime | None = None, rollup: bool = True
) -> dict[str, Any]:
    """The query_params of a tile function: the filters, ``at`` (boundaries in force then;
    absent: the current ones), the caller's scope, and ``rollup`` False (settings'
    ``tile_rollup`` off) to make the tile functions read raw incident rows at every zoom.

    >>> query_params(TileFilters(), None, rollup=False)
    {'rollup': False}
    """
    when = {"at": at.isoformat()} if at is not None else {}
    raw = {} if rollup else {"rollup": False}
    return {**filters.as_params(), **when, **scope_params(scope), **raw}


def known_categories(conn: Connection) -> set[str]:
    """Every leaf code and every group code in the store."""
    rows = conn.execute(text("SELECT code, parent_code FROM incident_categories")).all()
    return {r.code for r in rows} | {r.parent_code for r in rows if r.parent_code}
