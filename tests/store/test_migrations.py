from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from gisgrid.store.cluster import Cluster
from gisgrid.store.migrate import current_revision, migrate_down, migrate_to_head
from gisgrid.store.migrations import env_include
from gisgrid.store.models import Base
from tests.support import scratch_engine

OUR_TABLES = set(Base.metadata.tables)


@pytest.fixture()
def scratch_db(cluster: Cluster) -> Iterator[str]:
    """An empty database (with PostGIS available) in the test cluster."""
    with scratch_engine(cluster, "migration_scratch", migrate=False) as engine:
        yield engine.url.render_as_string(hide_password=False)


def _tables(url: str) -> set[str]:
    eng = create_engine(url)
    try:
        return set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


def test_every_designed_table_exists() -> None:
    assert {
        "areas",
        "buildings",
        "households",
        "residents",
        "places",
        "visit_logs",
        "incidents",
        "incident_events",
        "units",
        "accounts",
        "plans",
    } <= OUR_TABLES


def test_up_down_up(scratch_db: str) -> None:
    migrate_to_head(scratch_db)
    assert _tables(scratch_db) >= OUR_TABLES
    assert current_revision(scratch_db) is not None
    migrate_down(scratch_db, "base")
    assert not (OUR_TABLES & _tables(scratch_db))
    assert current_revision(scratch_db) is None
    migrate_to_head(scratch_db)
    assert _tables(scratch_db) >= OUR_TABLES


def test_models_and_migrations_agree(engine) -> None:  # type: ignore[no-untyped-def]
    """Autogenerate against the migrated test database finds nothing to do."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_object": env_include, "compare_type": True}
        )
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == []


def test_every_geometry_has_a_gist_index(engine) -> None:  # type: ignore[no-untyped-def]
    insp = inspect(engine)
    missing = []
    for table in Base.metadata.sorted_tables:
        geoms = [c.name for c in table.columns if c.type.__class__.__name__ == "Geometry"]
        indexed = {
            col
            for ix in insp.get_indexes(table.name)
            for col in ix["column_names"]
            if ix.get("dialect_options", {}).get("postgresql_using") == "gist"
        }
        missing += [f"{table.name}.{g}" for g in geoms if g not in indexed]
    assert missing == []
