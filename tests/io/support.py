"""Shared helpers for the loader tests: a scratch database, seeding, and table snapshots.

Loads commit, so these tests do not use the rolled-back ``db`` fixture: each test module
gets its own database in the test cluster, and every test starts from truncated tables.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text

from gisgrid.store.engine import COUNTED_TABLES

TABLES = (*COUNTED_TABLES, "plan_areas")

SQUARE = "MULTIPOLYGON(((126.60 45.70,126.70 45.70,126.70 45.80,126.60 45.80,126.60 45.70)))"
WEST = "MULTIPOLYGON(((126.60 45.70,126.65 45.70,126.65 45.80,126.60 45.80,126.60 45.70)))"


def empty_with_categories(conn: Connection) -> None:
    """Empty every table, then seed the two categories the loader tests use."""
    conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    conn.execute(
        text(
            "INSERT INTO incident_categories (code, name_zh, name_en) VALUES "
            "('01', '市容环境', 'City appearance'), ('0101', '暴露垃圾', 'Exposed rubbish')"
        )
    )


def reset(engine: Engine) -> dict[str, int]:
    """Empty every table, then seed two categories, a city, a district and a worker."""
    with engine.begin() as conn:
        empty_with_categories(conn)
        city = conn.execute(
            text(
                "INSERT INTO areas (code, name, level, geom) "
                "VALUES ('230100', '哈尔滨市', 'city', ST_GeomFromText(:g, 4326)) RETURNING id"
            ),
            {"g": SQUARE},
        ).scalar_one()
        district = conn.execute(
            text(
                "INSERT INTO areas (code, name, level, parent_id, geom) VALUES "
                "('230102', '道里区', 'district', :p, ST_GeomFromText(:g, 4326)) RETURNING id"
            ),
            {"p": city, "g": WEST},
        ).scalar_one()
        worker = conn.execute(
            text(
                "INSERT INTO accounts (username, role, scope_area_id) "
                "VALUES ('w1', 'grid_worker', :a) RETURNING id"
            ),
            {"a": district},
        ).scalar_one()
    return {"city": city, "district": district, "worker": worker}


def snapshot(engine: Engine) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every row's text, per table."""
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            row = conn.execute(
                text(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                    f" FROM {table} t"
                )
            ).one()
            out[table] = (int(row[0]), str(row[1]))
    return out


def rows(engine: Engine, sql: str, **params: object) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params).all()]
