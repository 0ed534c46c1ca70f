"""The incident filters of a tile request and the query_params every tile function takes.

Examples
--------
>>> f = TileFilters.parse({"status": "reported,closed"}, known_categories={"0101"})
>>> f.statuses
('closed', 'reported')
>>> query_params(f, None)
{'status': ['closed', 'reported']}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from gisgrid import vocab
from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput

CITY_ZONE = ZoneInfo("Asia/Shanghai")


FILTER_PARAMS = ("category", "status", "from", "to")


def _instant(value: str, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{value!r} is not an ISO 8601 date or date-time", field=name) from None
    if len(value) == 10:  # a date: the start of that day in the city
        t = datetime.combine(t.date(), time(), CITY_ZONE)
    return t if t.tzinfo else t.replace(tzinfo=CITY_ZONE)


def _list(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@dataclass(frozen=True)
class TileFilters:
    """The incident filters of a tile request: categories (leaf or group codes), statuses and
    a half-open time range on ``reported_at``."""

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
        since = _instant(params["from"], "from") if params.get("from") else None
        until = _instant(params["to"], "to") if params.get("to") else None
        if since and until and until <= since:
            raise InvalidInput(
                f"to={params['to']!r} is not after from={params['from']!r}", field="to"
            )
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


def query_params(filters: TileFilters, scope: Scope | None) -> dict[str, Any]:
    return {**filters.as_params(), **scope_params(scope)}


def known_categories(conn: Connection) -> set[str]:
    """Every leaf code and every group code in the store."""
    rows = conn.execute(text("SELECT code, parent_code FROM incident_categories")).all()
    return {r.code for r in rows} | {r.parent_code for r in rows if r.parent_code}
