"""What each loadable layer is: its table, its geometry, and the fields it requires and accepts.

The field list is read from the SQLAlchemy tables in :mod:`gisgrid.store.models` (type, length,
NOT NULL, server default, foreign key, unique), so a column added to a model is loadable
without touching this file. What the tables cannot say in a form Python can check row by row
(the vocabularies behind the CHECK constraints, numeric ranges, time ordering) is listed here
beside the constraint it mirrors, so the loader reports every bad row instead of the database
stopping at the first.

| layer      | table      | geometry     | required (besides geometry)              |
|------------|------------|--------------|------------------------------------------|
| areas      | areas      | MultiPolygon | code, name, level                        |
| buildings  | buildings  | MultiPolygon | address                                  |
| households | households | Point, opt.  | address                                  |
| places     | places     | Point        | kind, name                               |
| units      | units      | Point        | name, kind                               |
| incidents  | incidents  | Point        | category, reported_at                    |
| visit_logs | visit_logs | Point        | worker_id, subject_type, visited_at      |

Residents are not a layer: they are people, loaded only through the registers' own path
where id numbers are hashed, and never exported to a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB

from gisgrid import vocab
from gisgrid.errors import InvalidInput
from gisgrid.store import models

FieldKind = Literal["text", "int", "float", "bool", "time", "text[]", "json"]
GeomKind = Literal["point", "multipolygon"]

_INT_BOUNDS = {
    SmallInteger: (-(2**15), 2**15 - 1),
    Integer: (-(2**31), 2**31 - 1),
    BigInteger: (-(2**63), 2**63 - 1),
}

# Columns a file never sets: ids come from the sequence, the grid and hierarchy are assigned
# by the load (gisgrid.assign.store), and version/updated_at belong to the incident workflow.
_NOT_LOADED = {"id", *models.HIERARCHY, "version", "updated_at", "unassigned", "geom"}
# units.service_area is a second geometry; one file feature carries one geometry.
# an idempotency key belongs to a live reporter's resend, not to an imported row
_NOT_LOADED_PER_TABLE = {"units": {"service_area"}, "incidents": {"idempotency_key"}}

# The vocabularies behind the one_of() CHECK constraints in models.py.
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("areas", "level"): vocab.AREA_LEVELS,
    ("places", "kind"): vocab.PLACE_KINDS,
    ("units", "kind"): vocab.UNIT_KINDS,
    ("visit_logs", "subject_type"): vocab.VISIT_SUBJECTS,
    ("visit_logs", "mood"): vocab.MOODS,
    ("incidents", "status"): vocab.INCIDENT_STATUSES,
    ("incidents", "priority"): vocab.PRIORITIES,
    ("incidents", "escalation_level"): vocab.ESCALATION_LEVELS,
    ("incidents", "source"): vocab.INCIDENT_SOURCES,
}

# The numeric CHECK constraints in models.py (inclusive bounds; None is open).
_RANGES: dict[tuple[str, str], tuple[int | None, int | None]] = {
    ("buildings", "floors"): (1, 200),
    ("buildings", "household_count"): (0, None),
    ("households", "size"): (0, 50),
}

# The time-order CHECK constraints: (later, operator, earlier).
ORDERS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "incidents": (("due_at", ">", "reported_at"), ("closed_at", ">=", "reported_at")),
    "areas": (("valid_to", ">", "valid_from"),),
}

# Defaults that differ from the table's when a row comes from a file: an incident loaded from
# a file was imported, whatever the column's default for a live report says.
_LOAD_DEFAULTS: dict[tuple[str, str], str] = {("incidents", "source"): "'import'"}

# A partial unique index: the key is unique only among the rows it covers.
_KEY_WHERE: dict[tuple[str, str], str] = {("areas", "code"): "valid_to IS NULL"}

TIME_COLUMNS = {"incidents": "reported_at", "visit_logs": "visited_at"}


@dataclass(frozen=True)
class FieldSpec:
    """One loadable column: how to parse it and what it must satisfy."""

    name: str
    kind: FieldKind
    sql_type: str
    required: bool
    max_len: int | None = None
    choices: tuple[str, ...] | None = None
    lo: int | None = None
    hi: int | None = None
    ref: tuple[str, str] | None = None
    default_sql: str | None = None
    # True when a loaded row gets a default different from the table's (set it even when the
    # file has no such column).
    default_on_load: bool = False


@dataclass(frozen=True)
class Layer:
    """A loadable layer: a table, its geometry kind and its fields."""

    name: str
    table: str
    geom: GeomKind
    geom_required: bool
    fields: dict[str, FieldSpec]
    keys: tuple[str, ...]
    time_column: str | None = None
    extras_to: str | None = None
    key_where: dict[str, str] = field(default_factory=dict)

    @property
    def required(self) -> list[str]:
        return [f.name for f in self.fields.values() if f.required]

    @property
    def accepted(self) -> list[str]:
        return [f.name for f in self.fields.values() if not f.required]

    @property
    def geom_sql_type(self) -> str:
        return "geometry(Point,4326)" if self.geom == "point" else "geometry(MultiPolygon,4326)"


def _kind(col: Column[object]) -> FieldKind:
    t = col.type
    if isinstance(t, ARRAY):
        return "text[]"
    if isinstance(t, JSONB):
        return "json"
    if isinstance(t, DateTime):
        return "time"
    if isinstance(t, Boolean):
        return "bool"
    if isinstance(t, SmallInteger | Integer | BigInteger):
        return "int"
    if isinstance(t, Float):
        return "float"
    if isinstance(t, String | Text):
        return "text"
    raise TypeError(f"{col.table.name}.{col.name}: no loader for {t!r}")


def _field(table: Table, col: Column[object]) -> FieldSpec:
    kind = _kind(col)
    lo = hi = None
    if kind == "int":
        for sa_type, bounds in _INT_BOUNDS.items():
            if type(col.type) is sa_type:
                lo, hi = bounds
        rlo, rhi = _RANGES.get((table.name, col.name), (None, None))
        lo = rlo if rlo is not None else lo
        hi = rhi if rhi is not None else hi
    ref = None
    for fk in col.foreign_keys:
        ref = (fk.column.table.name, fk.column.name)
    default = _LOAD_DEFAULTS.get((table.name, col.name))
    if default is None and col.server_default is not None:
        default = str(col.server_default.arg.text)  # type: ignore[attr-defined]
    return FieldSpec(
        name=col.name,
        kind=kind,
        sql_type=str(col.type.compile(dialect=postgresql.dialect())),
        required=not col.nullable and col.server_default is None,
        max_len=getattr(col.type, "length", None) if kind == "text" else None,
        choices=_CHOICES.get((table.name, col.name)),
        lo=lo,
        hi=hi,
        ref=ref,
        default_sql=default,
        default_on_load=(table.name, col.name) in _LOAD_DEFAULTS,
    )


def _keys(table: Table) -> tuple[str, ...]:
    keys = [c.name for c in table.columns if c.unique]
    for ix in table.indexes:
        cols = [c.name for c in ix.columns]
        if ix.unique and len(cols) == 1 and cols[0] not in keys:
            keys.append(cols[0])
    return tuple(keys)


def _layer(name: str, model: type[models.Base], geom_required: bool = True) -> Layer:
    table = model.__table__
    assert isinstance(table, Table)
    skip = _NOT_LOADED | _NOT_LOADED_PER_TABLE.get(table.name, set())
    # generated columns (areas' label point) are the database's to write
    fields = {
        c.name: _field(table, c) for c in table.columns if c.name not in skip and c.computed is None
    }
    geom_type = str(table.c.geom.type.geometry_type).lower()
    return Layer(
        name=name,
        table=table.name,
        geom="point" if geom_type == "point" else "multipolygon",
        geom_required=geom_required,
        fields=fields,
        keys=_keys(table),
        time_column=TIME_COLUMNS.get(table.name),
        # A place's free-form attributes (opening hours, licence number ...) go into props.
        extras_to="props" if table.name == "places" else None,
        key_where={k: w for (t, k), w in _KEY_WHERE.items() if t == table.name},
    )


LAYERS: dict[str, Layer] = {
    "areas": _layer("areas", models.Area),
    "buildings": _layer("buildings", models.Building),
    "households": _layer("households", models.Household, geom_required=False),
    "places": _layer("places", models.Place),
    "units": _layer("units", models.Unit),
    "incidents": _layer("incidents", models.Incident),
    "visit_logs": _layer("visit_logs", models.VisitLog),
}


def get_layer(name: str) -> Layer:
    """The layer called ``name``, or InvalidInput naming the allowed set.

    Examples
    --------
    >>> get_layer("incidents").required
    ['category', 'reported_at']
    >>> get_layer("residents")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: layer: 'residents' is not a file layer; expected one of \
areas, buildings, households, places, units, incidents, visit_logs (residents are never \
loaded or exported as files)
    """
    if name not in LAYERS:
        raise InvalidInput(
            f"{name!r} is not a file layer; expected one of {', '.join(LAYERS)} "
            "(residents are never loaded or exported as files)",
            field="layer",
        )
    return LAYERS[name]
