"""The data model: SQLAlchemy 2.0 tables with GeoAlchemy2 columns, SRID 4326.

The database itself refuses what is wrong (levels, statuses, validity intervals, geometry
type, SRID, coordinate range, orphans); each check constraint carries the field it guards
and a reason in words (:func:`constraint_table`), which
:func:`gisgrid.store.engine.make_engine` registers with :mod:`gisgrid.errors`, so a violation
comes back as ``InvalidInput(field=..., reason=...)`` in any process that opens the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, ExcludeConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gisgrid import vocab
from gisgrid.errors import ConstraintInfo

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}

WORLD = "ST_MakeEnvelope(-180, -90, 180, 90, 4326)"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def check(table: str, name: str, sqltext: str, field: str, reason: str) -> CheckConstraint:
    """A named CHECK constraint that knows the field it guards and why (``info``), so that
    :func:`constraint_table` can name them when it is violated."""
    info = {"constraint": f"ck_{table}_{name}", "table": table, "field": field, "reason": reason}
    return CheckConstraint(sqltext, name=name, info=info)


def constraint_table() -> dict[str, ConstraintInfo]:
    """Every named CHECK constraint of the model: its name in the database -> the table,
    the field it guards and the reason in words.

    Examples
    --------
    >>> constraint_table()["ck_incidents_due_at"]
    ConstraintInfo(table='incidents', field='due_at', reason='must be after reported_at')
    """
    out: dict[str, ConstraintInfo] = {}
    for table in Base.metadata.tables.values():
        for c in table.constraints:
            if isinstance(c, CheckConstraint) and "constraint" in c.info:
                i = c.info
                out[i["constraint"]] = ConstraintInfo(i["table"], i["field"], i["reason"])
    return out


def one_of(table: str, column: str, allowed: tuple[str, ...], nullable: bool = False) -> Any:
    values = ", ".join(f"'{v}'" for v in allowed)
    sql = f"{column} IN ({values})"
    if nullable:
        sql = f"{column} IS NULL OR {sql}"
    return check(table, column, sql, column, f"must be one of {', '.join(allowed)}")


def geom_checks(table: str, kind: str, valid: bool = False, column: str = "geom") -> list[Any]:
    """Range, emptiness and (for polygons) validity checks on a geometry column."""
    checks = [
        check(
            table,
            f"{column}_range",
            f"{column} IS NULL OR {column} @ {WORLD}",
            column,
            "coordinates out of range: lon must be in [-180, 180] and lat in [-90, 90]",
        ),
        check(
            table,
            f"{column}_empty",
            f"{column} IS NULL OR NOT ST_IsEmpty({column})",
            column,
            f"empty {kind} geometry",
        ),
    ]
    if valid:
        checks.append(
            check(
                table,
                f"{column}_valid",
                f"{column} IS NULL OR ST_IsValid({column})",
                column,
                "invalid polygon (self-intersection or bad ring); repair it with make_valid",
            )
        )
    return checks


class Area(Base):
    """A node of the hierarchy city > district > street > community > grid, versioned."""

    __tablename__ = "areas"
    __table_args__ = (
        one_of("areas", "level", vocab.AREA_LEVELS),
        check(
            "areas",
            "valid_to",
            "valid_to IS NULL OR valid_to > valid_from",
            "valid_to",
            "must be after valid_from",
        ),
        check(
            "areas",
            "code",
            "code ~ '^[0-9A-Za-z_-]{2,32}$'",
            "code",
            "must be 2-32 letters, digits, '_' or '-'",
        ),
        *geom_checks("areas", "polygon", valid=True),
        # Two versions of one code never overlap in time.
        ExcludeConstraint(
            ("code", "="),
            (text("tstzrange(valid_from, valid_to)"), "&&"),
            name="ex_areas_code_validity",
            using="gist",
        ),
        Index("ix_areas_level_validity", "level", "valid_from", "valid_to"),
        Index(
            "ix_areas_current_code", "code", unique=True, postgresql_where=text("valid_to IS NULL")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    responsible: Mapped[str | None] = mapped_column(Text)
    households: Mapped[int | None] = mapped_column(Integer)
    population: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("'2000-01-01T00:00:00Z'")
    )
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the plan whose publishing opened this version (None for loaded or generated areas)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id", use_alter=True))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True))
    # a point on the area, in Web Mercator metres: where the rollup's low-zoom clusters and
    # hexagons put a grid's incidents (migration 0013_rollup)
    label_x: Mapped[float | None] = mapped_column(
        Float, Computed("6378137.0 * radians(ST_X(ST_PointOnSurface(geom)))", persisted=True)
    )
    label_y: Mapped[float | None] = mapped_column(
        Float,
        Computed(
            "6378137.0 * ln(tan(pi() / 4 + radians(ST_Y(ST_PointOnSurface(geom))) / 2))",
            persisted=True,
        ),
    )


HIERARCHY = ("grid_id", "community_id", "street_id", "district_id")


class _Assigned:
    """Columns that hold the grid and hierarchy an object was assigned to."""

    grid_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    street_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))


class Building(_Assigned, Base):
    __tablename__ = "buildings"
    __table_args__ = (
        Index("ix_buildings_grid_id", "grid_id"),
        check(
            "buildings",
            "floors",
            "floors IS NULL OR floors BETWEEN 1 AND 200",
            "floors",
            "must be between 1 and 200",
        ),
        check(
            "buildings",
            "household_count",
            "household_count IS NULL OR household_count >= 0",
            "household_count",
            "must not be negative",
        ),
        *geom_checks("buildings", "polygon", valid=True),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str | None] = mapped_column(String(40), unique=True)
    address: Mapped[str] = mapped_column(Text)
    floors: Mapped[int | None] = mapped_column(SmallInteger)
    household_count: Mapped[int | None] = mapped_column(Integer)
    use: Mapped[str | None] = mapped_column(String(32))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True))


class Household(_Assigned, Base):
    __tablename__ = "households"
    __table_args__ = (
        Index("ix_households_grid_id", "grid_id"),
        check(
            "households",
            "size",
            "size IS NULL OR size BETWEEN 0 AND 50",
            "size",
            "must be between 0 and 50",
        ),
        *geom_checks("households", "point"),
        check(
            "households",
            "tags",
            "tags <@ ARRAY[" + ", ".join(f"'{t}'" for t in vocab.HOUSEHOLD_TAGS) + "]::text[]",
            "tags",
            f"each tag must be one of {', '.join(vocab.HOUSEHOLD_TAGS)}",
        ),
        check("households", "version", "version >= 1", "version", "must be at least 1"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"), index=True)
    address: Mapped[str] = mapped_column(Text)
    unit_no: Mapped[str | None] = mapped_column(String(32))
    size: Mapped[int | None] = mapped_column(SmallInteger)
    # tags a worker keeps up to date (gisgrid.io.registers); version: the If-Match of an edit
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    geom: Mapped[Any | None] = mapped_column(Geometry("POINT", 4326, spatial_index=True))


class Resident(_Assigned, Base):
    """A person. The id-card number is kept only as a salted hash (``id_hash``)."""

    __tablename__ = "residents"
    __table_args__ = (
        Index("ix_residents_grid_id", "grid_id"),
        one_of("residents", "sex", vocab.SEXES, nullable=True),
        check(
            "residents",
            "birth_year",
            "birth_year IS NULL OR birth_year BETWEEN 1880 AND 2100",
            "birth_year",
            "must be between 1880 and 2100",
        ),
        check(
            "residents",
            "id_hash",
            "id_hash IS NULL OR id_hash ~ '^[0-9a-f]{64}$'",
            "id_hash",
            "must be a salted SHA-256 hash (64 hex digits), never the clear number",
        ),
        check(
            "residents",
            "tags",
            "tags <@ ARRAY[" + ", ".join(f"'{t}'" for t in vocab.RESIDENT_TAGS) + "]::text[]",
            "tags",
            f"each tag must be one of {', '.join(vocab.RESIDENT_TAGS)}",
        ),
        check("residents", "version", "version >= 1", "version", "must be at least 1"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(Text)
    id_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    sex: Mapped[str | None] = mapped_column(String(1))
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))


class Place(_Assigned, Base):
    """Shops (including the nine small places), hydrants, cameras, hazards: points."""

    __tablename__ = "places"
    __table_args__ = (
        Index("ix_places_grid_id", "grid_id"),
        one_of("places", "kind", vocab.PLACE_KINDS),
        *geom_checks("places", "point"),
        Index("ix_places_kind", "kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str | None] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    props: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    geom: Mapped[Any] = mapped_column(Geometry("POINT", 4326, spatial_index=True))


class Unit(Base):
    """A responsible unit (职能部门): police station, fire station, sanitation ..."""

    __tablename__ = "units"
    __table_args__ = (
        one_of("units", "kind", vocab.UNIT_KINDS),
        *geom_checks("units", "point"),
        *geom_checks("units", "polygon", valid=True, column="service_area"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    code: Mapped[str | None] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    categories: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    available: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    phone: Mapped[str | None] = mapped_column(String(32))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    geom: Mapped[Any] = mapped_column(Geometry("POINT", 4326, spatial_index=True))
    service_area: Mapped[Any | None] = mapped_column(
        Geometry("MULTIPOLYGON", 4326, spatial_index=True)
    )


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        one_of("accounts", "role", vocab.ROLES),
        check(
            "accounts",
            "scope",
            "role = 'admin' OR scope_area_id IS NOT NULL",
            "scope_area_id",
            "every role but admin needs a scope area",
        ),
        check(
            "accounts",
            "unit",
            "role <> 'unit' OR unit_id IS NOT NULL",
            "unit_id",
            "a unit account must name its unit",
        ),
        check(
            "accounts",
            "activation",
            "activation_hash IS NULL OR activation_expires_at IS NOT NULL",
            "activation_expires_at",
            "an activation code must have an expiry",
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(32))
    scope_area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    password_hash: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Written into every token; raised by a password change or a deactivation, which
    # makes every earlier token invalid at once (gisgrid.access.auth.caller_from_token).
    token_version: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # SHA-256 (hex) of a one-time activation code, never the code (gisgrid.access.accounts).
    activation_hash: Mapped[str | None] = mapped_column(String(64))
    activation_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class VisitLog(_Assigned, Base):
    """A grid worker's visit (走访): who, whom, when, what was said and needed."""

    __tablename__ = "visit_logs"
    __table_args__ = (
        one_of("visit_logs", "subject_type", vocab.VISIT_SUBJECTS),
        one_of("visit_logs", "mood", vocab.MOODS, nullable=True),
        *geom_checks("visit_logs", "point"),
        Index("ix_visit_logs_grid_time", "grid_id", "visited_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    worker_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    visited_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)
    need_category: Mapped[str | None] = mapped_column(String(64))
    mood: Mapped[str | None] = mapped_column(String(16))
    geom: Mapped[Any] = mapped_column(Geometry("POINT", 4326, spatial_index=True))


class IncidentCategory(Base):
    """The two-level incident taxonomy (大类 / 小类)."""

    __tablename__ = "incident_categories"
    __table_args__ = (
        check(
            "incident_categories",
            "sla_hours",
            "sla_hours IS NULL OR sla_hours > 0",
            "sla_hours",
            "must be positive",
        ),
    )

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("incident_categories.code"))
    name_zh: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    sla_hours: Mapped[float | None] = mapped_column()
    unit_kind: Mapped[str | None] = mapped_column(String(32))


class Incident(_Assigned, Base):
    """An incident (事件) and where it is in the closed loop."""

    __tablename__ = "incidents"
    __table_args__ = (
        one_of("incidents", "status", vocab.INCIDENT_STATUSES),
        one_of("incidents", "priority", vocab.PRIORITIES),
        one_of("incidents", "escalation_level", vocab.ESCALATION_LEVELS),
        one_of("incidents", "source", vocab.INCIDENT_SOURCES),
        check(
            "incidents",
            "due_at",
            "due_at IS NULL OR due_at > reported_at",
            "due_at",
            "must be after reported_at",
        ),
        check(
            "incidents",
            "closed_at",
            "closed_at IS NULL OR closed_at >= reported_at",
            "closed_at",
            "must not be before reported_at",
        ),
        check("incidents", "version", "version >= 1", "version", "must be at least 1"),
        *geom_checks("incidents", "point"),
        # INCLUDE: tiles count a grid's incidents by category, status and due time from the
        # index alone (an index-only scan), not from the heap
        Index(
            "ix_incidents_grid_time",
            "grid_id",
            "reported_at",
            postgresql_include=["category", "status", "due_at"],
        ),
        Index("ix_incidents_district_time", "district_id", "reported_at"),
        Index("ix_incidents_status_due", "status", "due_at"),
        # the latest due time an open case has passed: the tile caches' "overdue" clock
        Index(
            "ix_incidents_open_due",
            "due_at",
            postgresql_where=text("status NOT IN ('closed', 'rejected')"),
        ),
        Index("ix_incidents_reported_at", "reported_at"),
        Index("ix_incidents_category", "category"),
        # the console's queue: a scope's open cases by time left (gisgrid.incidents.queue)
        *(
            Index(
                f"ix_incidents_queue_{name}",
                *cols,
                text("COALESCE(due_at, 'infinity'::timestamp with time zone)"),
                "id",
                postgresql_where=text("status NOT IN ('closed', 'rejected')"),
            )
            for name, cols in (
                ("city", ()),
                ("district", ("district_id",)),
                ("street", ("street_id",)),
            )
        ),
    )

    # partitioned by month of reported_at (migration 0011): the primary key must hold it;
    # id and code are unique over every month in incident_keys
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    code: Mapped[str | None] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(ForeignKey("incident_categories.code"))
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(Text)
    photos: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    source: Mapped[str] = mapped_column(String(16), server_default=text("'grid_worker'"))
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    reporter_name: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'reported'"))
    escalation_level: Mapped[str] = mapped_column(String(16), server_default=text("'grid'"))
    priority: Mapped[str] = mapped_column(String(8), server_default=text("'normal'"))
    assigned_unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    unassigned: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # 就地解决: a grid worker fixed it at once; recorded closed, counted apart in the evaluation
    resolved_on_spot: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    idempotency_key: Mapped[str | None] = mapped_column(String(64))
    geom: Mapped[Any] = mapped_column(Geometry("POINT", 4326, spatial_index=True))


class IncidentKey(Base):
    """What must be unique over every month of the partitioned incidents, kept by triggers
    (gisgrid/sql/partitions.sql); incident_events references it."""

    __tablename__ = "incident_keys"
    __table_args__ = (
        UniqueConstraint("code", name="uq_incidents_code"),
        # one case per reporter and key: a resent report (an offline queue) finds the first
        Index(
            "ux_incidents_reporter_idempotency",
            "reporter_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    code: Mapped[str | None] = mapped_column(String(40))
    reporter_id: Mapped[int | None] = mapped_column(BigInteger)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))


class IncidentEvent(Base):
    """Every transition of an incident: who, when, from, to, note."""

    __tablename__ = "incident_events"
    __table_args__ = (
        one_of("incident_events", "to_status", vocab.INCIDENT_STATUSES),
        one_of("incident_events", "from_status", vocab.INCIDENT_STATUSES, nullable=True),
        one_of("incident_events", "kind", vocab.EVENT_KINDS),
        # a supporting report leaves the case where it is
        check(
            "incident_events",
            "support_status",
            "kind <> 'support' OR from_status = to_status",
            "kind",
            "a support event does not change the status",
        ),
        Index("ix_incident_events_incident_at", "incident_id", "at"),
        # today's escalations (gisgrid.incidents.figures)
        Index(
            "ix_incident_events_escalated_at",
            "at",
            postgresql_where=text("to_status = 'escalated'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident_keys.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    note: Mapped[str | None] = mapped_column(Text)
    photos: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'::text[]"))
    # transition: a status change; support: another report added to this case (no change)
    kind: Mapped[str] = mapped_column(String(16), server_default=text("'transition'"))


class Plan(Base):
    """A planner's redraw of the grids under one parent area, with its checks and stats."""

    __tablename__ = "plans"
    __table_args__ = (
        one_of("plans", "status", vocab.PLAN_STATUSES),
        check(
            "plans",
            "published_at",
            "(status = 'published') = (published_at IS NOT NULL)",
            "published_at",
            "is set exactly when the plan is published",
        ),
        check("plans", "version", "version >= 1", "version", "must be at least 1"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    parent_area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'draft'"))
    # raised by every edit: the plan's ETag, sent back in If-Match
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    # the parent's current grids when the plan started, and the newest valid_from among them:
    # a plan whose parent has been redrawn since is stale
    base_grid_ids: Mapped[list[int]] = mapped_column(
        ARRAY(BigInteger), server_default=text("'{}'::bigint[]")
    )
    base_version: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # every grid code the plan's edits gave out: a code merged away is never issued again
    issued_codes: Mapped[list[str]] = mapped_column(
        ARRAY(Text), server_default=text("'{}'::text[]")
    )
    checks: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    stats: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    diff: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # workload weights (households, people, incidents) the plan is balanced and checked with
    weights: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PlanArea(Base):
    """One draft grid polygon of a plan."""

    __tablename__ = "plan_areas"
    __table_args__ = (
        *geom_checks("plan_areas", "polygon", valid=True),
        UniqueConstraint("plan_id", "code"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    # the community (or other area one level up) the draft grid falls under
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    name: Mapped[str] = mapped_column(Text)
    replaces_area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id"))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True))


class AuditLog(Base):
    """Who read or changed what, when: one row per personal record read (``read_resident``)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_account_at", "account_id", "at"),
        Index("ix_audit_log_table_row", "table", "row_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    action: Mapped[str] = mapped_column(String(32))
    table: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))


class TileVersion(Base):
    """A counter per tiled table, bumped by a statement trigger on every write to it.

    Tile caches put the versions of the tables a layer reads into their key, so a write (by
    the loader, the API, a reassignment or psql) makes every cached tile of those layers a
    miss: nobody sees a stale tile. Rows: areas, buildings, places, units, incidents and
    incident_categories (which the tile routes validate category filters against), and
    incidents_log: the incidents counter up to which :class:`TileDirty` has been pruned.
    """

    __tablename__ = "tile_versions"

    layer: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))


class TileDirty(Base):
    """Where the incident writes landed, one row per point and grid a statement touched (old
    and new), under ``seq``: the incidents counter of ``tile_versions`` that statement set.

    Written by the triggers of ``gisgrid/sql/tile_dirty.sql`` in the writer's transaction;
    read by :class:`gisgrid.tiles.clock.VersionClock` ("what changed since seq N"), which
    dirties only the tiles they reach. ``everything``: a statement too large to log row by
    row (or a TRUNCATE) dirties every tile. Pruned as it grows (the ``incidents_log`` row of
    ``tile_versions`` says up to which seq).
    """

    __tablename__ = "tile_dirty"
    __table_args__ = (Index("ix_tile_dirty_seq", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    grid_id: Mapped[int | None] = mapped_column(BigInteger)
    everything: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))


class SqlState(Base):
    """The text of each function file the store runs: its sha256 and when it was installed.

    Written only by :func:`gisgrid.store.functions.install_functions`, which re-installs a
    file of :data:`gisgrid.store.functions.FUNCTION_FILES` whose checksum differs from its row.
    """

    __tablename__ = "gisgrid_sql_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    installed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class IncidentRollup(Base):
    """Incidents counted per grid x city day x category x state, kept by statement triggers
    on incidents in the writer's transaction (``gisgrid/sql/rollup.sql``).

    The state is the status, the due hour of an open case ('infinity' when closed, rejected
    or without due time: overdue is read at query time, so a due time passing needs no
    write), whether a closed case closed late, and whether it was resolved on the spot.
    ``grid_id`` 0 holds incidents outside every grid; ``handling_s`` sums closed_at -
    reported_at of the closed ones.
    """

    __tablename__ = "incident_rollup"
    __table_args__ = (Index("ix_incident_rollup_day", "day"),)

    grid_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    day: Mapped[Any] = mapped_column(Date, primary_key=True)
    category: Mapped[str] = mapped_column(Text, primary_key=True)
    status: Mapped[str] = mapped_column(Text, primary_key=True)
    due_hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    late: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    on_spot: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    handling_s: Mapped[float] = mapped_column(Float)


class IncidentRollupGrid(Base):
    """The rollup without day, category and status: per grid, the incidents, the open ones
    and the open ones with a due time (``open_due``), and the same three for the sensitive
    groups (counted only in the caller's scope). What an unfiltered tile reads: one row a
    grid."""

    __tablename__ = "incident_rollup_grid"

    grid_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer)
    open: Mapped[int] = mapped_column(Integer)
    open_due: Mapped[int] = mapped_column(Integer)
    n_sensitive: Mapped[int] = mapped_column(Integer)
    open_sensitive: Mapped[int] = mapped_column(Integer)
    open_due_sensitive: Mapped[int] = mapped_column(Integer)


class IncidentRollupDue(Base):
    """The open cases with a due time per due hour (UTC), grid and sensitive or not: a
    grid's overdue is its ``open_due`` less the cases whose due hour has not passed, a short
    range at the front of this key (migration 0014_rollup_due)."""

    __tablename__ = "incident_rollup_due"

    due_hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    grid_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    sensitive: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    open: Mapped[int] = mapped_column(Integer)
