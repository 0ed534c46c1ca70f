"""Each table takes a valid row and refuses each kind of wrong row, naming the column."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gisgrid.access.privacy import hash_id_number
from gisgrid.errors import CONSTRAINTS, Conflict, GisgridError, InvalidInput, translate_db_errors
from gisgrid.store import models as m

SQUARE = (
    "SRID=4326;MULTIPOLYGON(((126.60 45.70,126.70 45.70,126.70 45.80,126.60 45.80,126.60 45.70)))"
)
INNER = (
    "SRID=4326;MULTIPOLYGON(((126.61 45.71,126.62 45.71,126.62 45.72,126.61 45.72,126.61 45.71)))"
)
BOWTIE = (
    "SRID=4326;MULTIPOLYGON(((126.60 45.70,126.70 45.80,126.70 45.70,126.60 45.80,126.60 45.70)))"
)
POINT = "SRID=4326;POINT(126.615 45.715)"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def insert(db: Session, obj: Any) -> Any:
    with translate_db_errors(), db.begin_nested():
        db.add(obj)
    return obj


@pytest.fixture()
def world(db: Session) -> dict[str, Any]:
    city = insert(db, m.Area(code="230100", name="哈尔滨市", level="city", geom=SQUARE))
    district = insert(
        db, m.Area(code="230102", name="道里区", level="district", parent_id=city.id, geom=SQUARE)
    )
    grid = insert(
        db,
        m.Area(
            code="230102001001001", name="网格1", level="grid", parent_id=district.id, geom=INNER
        ),
    )
    insert(db, m.IncidentCategory(code="01", name_zh="市容环境", name_en="City appearance"))
    insert(
        db,
        m.IncidentCategory(
            code="0101",
            parent_code="01",
            name_zh="暴露垃圾",
            name_en="Exposed rubbish",
            sla_hours=24,
        ),
    )
    unit = insert(db, m.Unit(name="道里环卫", kind="sanitation", categories=["0101"], geom=POINT))
    worker = insert(db, m.Account(username="w1", role="grid_worker", scope_area_id=grid.id))
    building = insert(db, m.Building(address="经纬街1号", floors=6, geom=INNER, grid_id=grid.id))
    household = insert(
        db, m.Household(address="经纬街1号1单元101", building_id=building.id, size=3, geom=POINT)
    )
    incident = insert(db, m.Incident(category="0101", reported_at=T0, geom=POINT))
    plan = insert(db, m.Plan(name="p", parent_area_id=district.id))
    return {
        "city": city,
        "district": district,
        "grid": grid,
        "unit": unit,
        "worker": worker,
        "building": building,
        "household": household,
        "incident": incident,
        "plan": plan,
    }


# table -> a factory of a valid row from the world
VALID: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "areas": lambda w: {
        "code": "230102001",
        "name": "街道",
        "level": "street",
        "parent_id": w["district"].id,
        "geom": INNER,
    },
    "buildings": lambda w: {"address": "a", "floors": 3, "household_count": 10, "geom": INNER},
    "households": lambda w: {
        "address": "a",
        "building_id": w["building"].id,
        "size": 2,
        "geom": POINT,
    },
    "residents": lambda w: {
        "household_id": w["household"].id,
        "name": "张三",
        "sex": "M",
        "birth_year": 1950,
        "tags": ["elderly_alone"],
        "id_hash": hash_id_number("11010519491231002X", "salt"),
    },
    "places": lambda w: {"kind": "small_shop", "name": "小卖部", "geom": POINT},
    "units": lambda w: {"name": "派出所", "kind": "police", "geom": POINT},
    "accounts": lambda w: {
        "username": "c1",
        "role": "street_centre",
        "scope_area_id": w["district"].id,
    },
    "visit_logs": lambda w: {
        "worker_id": w["worker"].id,
        "subject_type": "household",
        "subject_id": w["household"].id,
        "visited_at": T0,
        "mood": "calm",
        "geom": POINT,
    },
    "incident_categories": lambda w: {
        "code": "0102",
        "parent_code": "01",
        "name_zh": "x",
        "name_en": "x",
        "sla_hours": 4,
    },
    "incidents": lambda w: {
        "category": "0101",
        "reported_at": T0,
        "due_at": T0 + timedelta(1),
        "status": "dispatched",
        "priority": "high",
        "geom": POINT,
    },
    "incident_events": lambda w: {
        "incident_id": w["incident"].id,
        "from_status": "reported",
        "to_status": "accepted",
        "actor_id": w["worker"].id,
    },
    "plans": lambda w: {"name": "redraw", "parent_area_id": w["district"].id},
    "plan_areas": lambda w: {"plan_id": w["plan"].id, "code": "g1", "name": "g1", "geom": INNER},
}

MODEL = {cls.__tablename__: cls for cls in m.Base.__subclasses__() if hasattr(cls, "__tablename__")}

# (table, overrides, the field the error must name, error class)
BAD: list[tuple[str, dict[str, Any], str, type[GisgridError]]] = [
    ("areas", {"level": "county"}, "level", InvalidInput),
    ("areas", {"valid_from": T0, "valid_to": T0}, "valid_to", InvalidInput),
    ("areas", {"valid_from": T0, "valid_to": T0 - timedelta(days=1)}, "valid_to", InvalidInput),
    ("areas", {"geom": POINT}, "geom", InvalidInput),
    ("areas", {"geom": INNER.replace("SRID=4326", "SRID=4490")}, "geom", InvalidInput),
    ("areas", {"geom": BOWTIE}, "geom", InvalidInput),
    (
        "areas",
        {"geom": "SRID=4326;MULTIPOLYGON(((200 45,201 45,201 46,200 46,200 45)))"},
        "geom",
        InvalidInput,
    ),
    ("areas", {"geom": "SRID=4326;MULTIPOLYGON EMPTY"}, "geom", InvalidInput),
    ("areas", {"code": "23 01"}, "code", InvalidInput),
    ("areas", {"parent_id": 987654321}, "parent_id", InvalidInput),
    ("areas", {"name": None}, "name", InvalidInput),
    ("buildings", {"floors": 0}, "floors", InvalidInput),
    ("buildings", {"geom": POINT}, "geom", InvalidInput),
    ("households", {"size": -1}, "size", InvalidInput),
    ("residents", {"household_id": None}, "household_id", InvalidInput),
    ("residents", {"household_id": 987654321}, "household_id", InvalidInput),
    ("residents", {"id_hash": "11010519491231002X"}, "id_hash", InvalidInput),
    ("residents", {"sex": "X"}, "sex", InvalidInput),
    ("residents", {"tags": ["bogus"]}, "tags", InvalidInput),
    ("residents", {"birth_year": 1700}, "birth_year", InvalidInput),
    ("places", {"kind": "casino"}, "kind", InvalidInput),
    ("places", {"geom": "SRID=4326;POINT(45.7 126.6)"}, "geom", InvalidInput),
    ("places", {"geom": "SRID=4326;POINT EMPTY"}, "geom", InvalidInput),
    ("units", {"kind": "army"}, "kind", InvalidInput),
    ("units", {"service_area": BOWTIE}, "service_area", InvalidInput),
    ("accounts", {"role": "king"}, "role", InvalidInput),
    ("accounts", {"role": "grid_worker", "scope_area_id": None}, "scope_area_id", InvalidInput),
    ("accounts", {"role": "unit"}, "unit_id", InvalidInput),
    ("accounts", {"username": "w1"}, "username", Conflict),
    ("visit_logs", {"subject_type": "cat"}, "subject_type", InvalidInput),
    ("visit_logs", {"mood": "ecstatic"}, "mood", InvalidInput),
    ("incident_categories", {"sla_hours": -1}, "sla_hours", InvalidInput),
    ("incident_categories", {"parent_code": "99"}, "parent_code", InvalidInput),
    ("incidents", {"status": "done"}, "status", InvalidInput),
    ("incidents", {"category": "9999"}, "category", InvalidInput),
    ("incidents", {"due_at": T0 - timedelta(hours=1)}, "due_at", InvalidInput),
    ("incidents", {"priority": "asap"}, "priority", InvalidInput),
    ("incidents", {"geom": "SRID=3857;POINT(14093000 5733000)"}, "geom", InvalidInput),
    ("incidents", {"geom": INNER}, "geom", InvalidInput),
    ("incidents", {"reported_at": None}, "reported_at", InvalidInput),
    ("incident_events", {"to_status": "vanished"}, "to_status", InvalidInput),
    ("plans", {"status": "maybe"}, "status", InvalidInput),
    ("plans", {"status": "published"}, "published_at", InvalidInput),
    ("plan_areas", {"geom": BOWTIE}, "geom", InvalidInput),
]


@pytest.mark.parametrize("table", sorted(VALID))
def test_valid_row_is_taken(db: Session, world: dict[str, Any], table: str) -> None:
    row = insert(db, MODEL[table](**VALID[table](world)))
    pk = row.code if table == "incident_categories" else row.id
    assert pk is not None


@pytest.mark.parametrize(
    ("table", "overrides", "field", "error"),
    BAD,
    ids=[f"{t}-{f}-{'-'.join(map(str, o.values()))[:24]}" for t, o, f, _ in BAD],
)
def test_bad_row_is_refused_naming_the_field(
    db: Session,
    world: dict[str, Any],
    table: str,
    overrides: dict[str, Any],
    field: str,
    error: type[GisgridError],
) -> None:
    values = {**VALID[table](world), **overrides}
    with pytest.raises(error) as info:
        insert(db, MODEL[table](**values))
    assert info.value.field is not None and field in info.value.field
    assert info.value.reason


def test_area_versions_may_not_overlap(db: Session, world: dict[str, Any]) -> None:
    base = VALID["areas"](world)
    insert(db, m.Area(**base, valid_from=T0, valid_to=T0 + timedelta(days=30)))
    # The next version starts where the last one ends: allowed.
    insert(db, m.Area(**{**base, "geom": SQUARE}, valid_from=T0 + timedelta(days=30)))
    with pytest.raises(Conflict) as info:
        insert(
            db, m.Area(**base, valid_from=T0 + timedelta(days=10), valid_to=T0 + timedelta(days=20))
        )
    assert "code" in (info.value.field or "")


def test_resident_ids_are_never_clear(db: Session, world: dict[str, Any]) -> None:
    r = insert(db, m.Resident(**VALID["residents"](world)))
    stored = db.execute(text("SELECT id_hash FROM residents WHERE id = :i"), {"i": r.id}).scalar()
    assert stored != "11010519491231002X" and len(stored) == 64
    assert "11010519491231002" not in stored


@pytest.mark.parametrize(
    "geojson",
    [
        {"type": "Point", "coordinates": [126.615, 45.715]},
        {
            "type": "MultiPolygon",
            "coordinates": [
                [
                    [[126.6, 45.7], [126.7, 45.7], [126.7, 45.8], [126.6, 45.8], [126.6, 45.7]],
                    [
                        [126.62, 45.72],
                        [126.62, 45.73],
                        [126.63, 45.73],
                        [126.63, 45.72],
                        [126.62, 45.72],
                    ],
                ]
            ],
        },
    ],
    ids=["point", "multipolygon-with-hole"],
)
def test_geojson_round_trip(db: Session, geojson: dict[str, Any]) -> None:
    out = db.execute(
        text("SELECT ST_AsGeoJSON(ST_SetSRID(ST_GeomFromGeoJSON(:g), 4326), 9)"),
        {"g": json.dumps(geojson)},
    ).scalar_one()
    back = json.loads(out)
    assert back["type"] == geojson["type"]
    assert shapely.equals_exact(
        shapely.from_geojson(out), shapely.from_geojson(json.dumps(geojson)), tolerance=1e-9
    )


def test_a_nul_character_is_bad_input_not_a_server_error(db: Session) -> None:
    with pytest.raises(InvalidInput, match="NUL"), translate_db_errors():
        db.execute(text("SELECT CAST(:t AS text)"), {"t": "a\x00b"})


def test_every_check_in_the_database_has_a_field_and_reason(db: Session) -> None:
    """The migrated schema's check constraints are the model's, each known to the error
    translation with its field and reason (registered when the engine is made)."""
    names = set(
        db.execute(
            text(
                "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace"
                " WHERE c.contype = 'c' AND n.nspname = 'public' AND c.conname LIKE 'ck\\_%'"
            )
        ).scalars()
    )
    table = m.constraint_table()
    assert names and names <= set(table), sorted(names - set(table))
    assert set(table) <= set(CONSTRAINTS)
