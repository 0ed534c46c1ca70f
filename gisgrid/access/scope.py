"""Scope: which rows a caller may see, as an SQL condition with bind parameters.

Every account has a scope area (admins have none: everything). A row is in scope when the
area it was assigned to lies under the scope area: rows carry ``grid_id``, ``community_id``,
``street_id`` and ``district_id``, so the test is one indexed equality on the column of the
scope's level (a city scope sees everything in the city). Areas themselves are in scope when
they are the scope area, lie under it, or lie above it (a grid worker may see the outline of
their own street and district, not their siblings' data).

Examples
--------
>>> sql, params = Scope(level="street", area_id=42).rows_sql("i")
>>> sql, params
('i.street_id = :scope_area_id', {'scope_area_id': 42})
>>> Scope.everything().rows_sql("i")
('TRUE', {})
"""

from __future__ import annotations

from dataclasses import dataclass

from gisgrid.errors import InvalidInput
from gisgrid.sql import load_sql

_COLUMN = {
    "grid": "grid_id",
    "community": "community_id",
    "street": "street_id",
    "district": "district_id",
}


@dataclass(frozen=True)
class Scope:
    """The area a caller is confined to; ``level=None`` means no limit (admin, city)."""

    level: str | None
    area_id: int | None

    @classmethod
    def everything(cls) -> Scope:
        return cls(level=None, area_id=None)

    def __post_init__(self) -> None:
        if self.level is not None and self.level not in (*_COLUMN, "city"):
            raise InvalidInput(
                f"level={self.level!r}; expected one of {[*_COLUMN, 'city']}", field="level"
            )

    @property
    def unlimited(self) -> bool:
        return self.level in (None, "city")

    def rows_sql(self, alias: str) -> tuple[str, dict[str, int]]:
        """Condition on a table with the assignment columns (incidents, places, ...)."""
        if self.unlimited:
            return "TRUE", {}
        return f"{_alias(alias)}.{_COLUMN[str(self.level)]} = :scope_area_id", {
            "scope_area_id": int(self.area_id or 0)
        }

    def covers(self, assigned: dict[str, int | None]) -> bool:
        """Whether an object assigned to these areas (``grid_id`` ... ``district_id``) lies in
        scope: the in-memory twin of :meth:`rows_sql`.

        Examples
        --------
        >>> Scope(level="grid", area_id=5).covers({"grid_id": 5, "district_id": 2})
        True
        >>> Scope(level="street", area_id=3).covers({"grid_id": 9, "street_id": 7})
        False
        """
        if self.unlimited:
            return True
        return assigned.get(_COLUMN[str(self.level)]) == self.area_id

    def areas_sql(self, alias: str) -> tuple[str, dict[str, int]]:
        """Condition on ``areas``: the scope area, everything under it and its ancestors."""
        if self.unlimited:
            return "TRUE", {}
        sql = load_sql("scope_areas").format(a=_alias(alias))
        return sql, {"scope_area_id": int(self.area_id or 0)}


def _alias(alias: str) -> str:
    if not alias.isidentifier():
        raise ValueError(f"alias={alias!r}; expected an SQL identifier")
    return alias
