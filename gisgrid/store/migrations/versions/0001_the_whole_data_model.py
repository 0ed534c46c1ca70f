"""the whole data model

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # PostGIS for the geometry columns; btree_gist for the no-overlap constraint on area
    # versions. The local cluster creates both already; an external server may not have.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_geospatial_table(
        "areas",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("responsible", sa.Text(), nullable=True),
        sa.Column("households", sa.Integer(), nullable=True),
        sa.Column("population", sa.Integer(), nullable=True),
        sa.Column(
            "valid_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("'2000-01-01T00:00:00Z'"),
            nullable=False,
        ),
        sa.Column("valid_to", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        postgresql.ExcludeConstraint(
            (sa.column("code"), "="),
            (sa.text("tstzrange(valid_from, valid_to)"), "&&"),
            using="gist",
            name="ex_areas_code_validity",
        ),
        sa.CheckConstraint("code ~ '^[0-9A-Za-z_-]{2,32}$'", name=op.f("ck_areas_code")),
        sa.CheckConstraint(
            "level IN ('city', 'district', 'street', 'community', 'grid')",
            name=op.f("ck_areas_level"),
        ),
        sa.CheckConstraint(
            "geom IS NULL OR NOT ST_IsEmpty(geom)", name=op.f("ck_areas_geom_empty")
        ),
        sa.CheckConstraint("geom IS NULL OR ST_IsValid(geom)", name=op.f("ck_areas_geom_valid")),
        sa.CheckConstraint(
            "geom IS NULL OR geom @ ST_MakeEnvelope(-180, -90, 180, 90, 4326)",
            name=op.f("ck_areas_geom_range"),
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_areas_valid_to")
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["areas.id"], name=op.f("fk_areas_parent_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_areas")),
    )
    op.create_geospatial_index(
        "idx_areas_geom",
        "areas",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_areas_current_code",
        "areas",
        ["code"],
        unique=True,
        postgresql_where=sa.text("valid_to IS NULL"),
    )
    op.create_index(
        "ix_areas_level_validity", "areas", ["level", "valid_from", "valid_to"], unique=False
    )
    op.create_index(op.f("ix_areas_parent_id"), "areas", ["parent_id"], unique=False)
    op.create_table(
        "incident_categories",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("parent_code", sa.String(length=16), nullable=True),
        sa.Column("name_zh", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("sla_hours", sa.Double(), nullable=True),
        sa.Column("unit_kind", sa.String(length=32), nullable=True),
        sa.CheckConstraint(
            "sla_hours IS NULL OR sla_hours > 0", name=op.f("ck_incident_categories_sla_hours")
        ),
        sa.ForeignKeyConstraint(
            ["parent_code"],
            ["incident_categories.code"],
            name=op.f("fk_incident_categories_parent_code"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_incident_categories")),
    )
    op.create_geospatial_table(
        "buildings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("floors", sa.SmallInteger(), nullable=True),
        sa.Column("household_count", sa.Integer(), nullable=True),
        sa.Column("use", sa.String(length=32), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("grid_id", sa.BigInteger(), nullable=True),
        sa.Column("community_id", sa.BigInteger(), nullable=True),
        sa.Column("street_id", sa.BigInteger(), nullable=True),
        sa.Column("district_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "floors IS NULL OR floors BETWEEN 1 AND 200", name=op.f("ck_buildings_floors")
        ),
        sa.CheckConstraint(
            "geom IS NULL OR NOT ST_IsEmpty(geom)", name=op.f("ck_buildings_geom_empty")
        ),
        sa.CheckConstraint(
            "geom IS NULL OR ST_IsValid(geom)", name=op.f("ck_buildings_geom_valid")
        ),
        sa.CheckConstraint(
            "geom IS NULL OR geom @ ST_MakeEnvelope(-180, -90, 180, 90, 4326)",
            name=op.f("ck_buildings_geom_range"),
        ),
        sa.CheckConstraint(
            "household_count IS NULL OR household_count >= 0",
            name=op.f("ck_buildings_household_count"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["areas.id"], name=op.f("fk_buildings_community_id")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["areas.id"], name=op.f("fk_buildings_district_id")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["areas.id"], name=op.f("fk_buildings_grid_id")),
        sa.ForeignKeyConstraint(["street_id"], ["areas.id"], name=op.f("fk_buildings_street_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildings")),
        sa.UniqueConstraint("code", name=op.f("uq_buildings_code")),
    )
    op.create_geospatial_index(
        "idx_buildings_geom",
        "buildings",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index("ix_buildings_grid_id", "buildings", ["grid_id"], unique=False)
    op.create_geospatial_table(
        "units",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "categories",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("available", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("area_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "service_area",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.CheckConstraint(
            "kind IN ('police', 'fire', 'sanitation', 'housing', 'utilities', 'market', 'urban_management', 'health', 'civil_affairs', 'traffic', 'environment', 'other')",
            name=op.f("ck_units_kind"),
        ),
        sa.CheckConstraint(
            "geom IS NULL OR NOT ST_IsEmpty(geom)", name=op.f("ck_units_geom_empty")
        ),
        sa.CheckConstraint(
            "geom IS NULL OR geom @ ST_MakeEnvelope(-180, -90, 180, 90, 4326)",
            name=op.f("ck_units_geom_range"),
        ),
        sa.CheckConstraint(
            "service_area IS NULL OR NOT ST_IsEmpty(service_area)",
            name=op.f("ck_units_service_area_empty"),
        ),
        sa.CheckConstraint(
            "service_area IS NULL OR ST_IsValid(service_area)",
            name=op.f("ck_units_service_area_valid"),
        ),
        sa.CheckConstraint(
            "service_area IS NULL OR service_area @ ST_MakeEnvelope(-180, -90, 180, 90, 4326)",
            name=op.f("ck_units_service_area_range"),
        ),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_units_area_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("code", name=op.f("uq_units_code")),
    )
    op.create_geospatial_index(
        "idx_units_geom",
        "units",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_geospatial_index(
        "idx_units_service_area",
        "units",
        ["service_area"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("scope_area_id", sa.BigInteger(), nullable=True),
        sa.Column("unit_id", sa.BigInteger(), nullable=True),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("role <> 'unit' OR unit_id IS NOT NULL", name=op.f("ck_accounts_unit")),
        sa.CheckConstraint(
            "role = 'admin' OR scope_area_id IS NOT NULL", name=op.f("ck_accounts_scope")
        ),
        sa.CheckConstraint(
            "role IN ('grid_worker', 'community', 'street_centre', 'district_centre', 'city_centre', 'unit', 'analyst', 'planner', 'admin')",
            name=op.f("ck_accounts_role"),
        ),
        sa.ForeignKeyConstraint(
            ["scope_area_id"], ["areas.id"], name=op.f("fk_accounts_scope_area_id")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_accounts_unit_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("username", name=op.f("uq_accounts_username")),
    )
    op.create_index(op.f("ix_accounts_scope_area_id"), "accounts", ["scope_area_id"], unique=False)
    op.create_geospatial_table(
        "households",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("building_id", sa.BigInteger(), nullable=True),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("unit_no", sa.String(length=32), nullable=True),
        sa.Column("size", sa.SmallInteger(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column("grid_id", sa.BigInteger(), nullable=True),
        sa.Column("community_id", sa.BigInteger(), nullable=True),
        sa.Column("street_id", sa.BigInteger(), nullable=True),
        sa.Column("district_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "geom IS NULL OR NOT ST_IsEmpty(geom)", name=op.f("ck_households_geom_empty")
        ),
        sa.CheckConstraint(
            "geom IS NULL OR geom @ ST_MakeEnvelope(-180, -90, 180, 90, 4326)",
            name=op.f("ck_households_geom_range"),
        ),
        sa.CheckConstraint(
            "size IS NULL OR size BETWEEN 0 AND 50", name=op.f("ck_households_size")
        ),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_households_building_id")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["areas.id"], name=op.f("fk_households_community_id")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["areas.id"], name=op.f("fk_households_district_id")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["areas.id"], name=op.f("fk_households_grid_id")),
        sa.ForeignKeyConstraint(["street_id"], ["areas.id"], name=op.f("fk_households_street_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_households")),
    )
    op.create_geospatial_index(
        "idx_households_geom",
        "households",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_households_building_id"), "households", ["building_id"], unique=False)
    op.create_index("ix_households_grid_id", "households", ["grid_id"], unique=False)
    op.create_geospatial_table(
        "places",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("building_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "props",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("grid_id", sa.BigInteger(), nullable=True),
        sa.Column("community_id", sa.BigInteger(), nullable=True),
        sa.Column("street_id", sa.BigInteger(), nullable=True),
        sa.Column("district_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('small_shop', 'small_eatery', 'small_hotel', 'small_entertainment', 'internet_cafe', 'small_clinic', 'small_school', 'small_workshop', 'small_warehouse', 'hydrant', 'camera', 'hazard', 'other')",
            name=op.f("ck_places_kind"),
        ),
        sa.CheckConstraint(
            "geom IS NULL OR NOT ST_IsEmpty(geom)", name=op.f("ck_places_geom_empty")
        ),
        sa.CheckConstraint(
            "geom IS NULL OR geom @ ST_MakeEnvelope(-180, -90, 180, 90, 4326)",
            name=op.f("ck_places_geom_range"),
        ),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_places_building_id")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["areas.id"], name=op.f("fk_places_community_id")
        ),
        sa.ForeignKeyConstraint(["district_id"], ["areas.id"], name=op.f("fk_places_district_id")),
        sa.ForeignKeyConstraint(["grid_id"], ["areas.id"], name=op.f("fk_places_grid_id")),
        sa.ForeignKeyConstraint(["street_id"], ["areas.id"], name=op.f("fk_places_street_id")),
        sa.UniqueConstraint("code", name=op.f("uq_places_code")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_places")),
    )
    op.create_geospatial_index(
        "idx_places_geom",
        "places",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index("ix_places_grid_id", "places", ["grid_id"], unique=False)
    op.create_index("ix_places_kind", "places", ["kind"], unique=False)
    op.create_geospatial_table(
        "incidents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column(
            "photos",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column(
            "source", sa.String(length=16), server_default=sa.text("'grid_worker'"), nullable=False
        ),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reporter_id", sa.BigInteger(), nullable=True),
        sa.Column("reporter_name", sa.Text(), nullable=True),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'reported'"), nullable=False
        ),
        sa.Column(
            "escalation_level",
            sa.String(length=16),
            server_default=sa.text("'grid'"),
            nullable=False,
        ),
        sa.Column(
            "priority", sa.String(length=8), server_default=sa.text("'normal'"), nullable=False
        ),
        sa.Column("assigned_unit_id", sa.BigInteger(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("unassigned", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("grid_id", sa.BigInteger(), nullable=True),
        sa.Column("community_id", sa.BigInteger(), nullable=True),
        sa.Column("street_id", sa.BigInteger(), nullable=True),
        sa.Column("district_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "escalation_level IN ('grid', 'street', 'district', 'city')",
            name=op.f("ck_incidents_escalation_level"),
        ),
        sa.CheckConstraint(
            "priority IN ('low', 'normal', 'high', 'urgent')", name=op.f("ck_incidents_priority")
        ),
        sa.CheckConstraint(
            "source IN ('grid_worker', 'hotline', 'open311', 'app', 'camera', 'import')",
            name=op.f("ck_incidents_source"),
        ),
        sa.CheckConstraint(
            "status IN ('reported', 'accepted', 'dispatched', 'in_progress', 'feedback', 'closed', 'rejected', 'returned', 'escalated')",
            name=op.f("ck_incidents_status"),
        ),
        sa.CheckConstraint(
            "closed_at IS NULL OR closed_at >= reported_at", name=op.f("ck_incidents_closed_at")
        ),
        sa.CheckConstraint(
            "due_at IS NULL OR due_at > reported_at", name=op.f("ck_incidents_due_at")
        ),
        sa.CheckConstraint(
            "geom IS NULL OR NOT ST_IsEmpty(geom)", name=op.f("ck_incidents_geom_empty")
        ),
        sa.CheckConstraint(
            "geom IS NULL OR geom @ ST_MakeEnvelope(-180, -90, 180, 90, 4326)",
            name=op.f("ck_incidents_geom_range"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_incidents_version")),
        sa.ForeignKeyConstraint(
            ["assigned_unit_id"], ["units.id"], name=op.f("fk_incidents_assigned_unit_id")
        ),
        sa.ForeignKeyConstraint(
            ["category"], ["incident_categories.code"], name=op.f("fk_incidents_category")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["areas.id"], name=op.f("fk_incidents_community_id")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["areas.id"], name=op.f("fk_incidents_district_id")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["areas.id"], name=op.f("fk_incidents_grid_id")),
        sa.ForeignKeyConstraint(
            ["reporter_id"], ["accounts.id"], name=op.f("fk_incidents_reporter_id")
        ),
        sa.ForeignKeyConstraint(["street_id"], ["areas.id"], name=op.f("fk_incidents_street_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
        sa.UniqueConstraint("code", name=op.f("uq_incidents_code")),
    )
    op.create_geospatial_index(
        "idx_incidents_geom",
        "incidents",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        op.f("ix_incidents_assigned_unit_id"), "incidents", ["assigned_unit_id"], unique=False
    )
    op.create_index("ix_incidents_category", "incidents", ["category"], unique=False)
    op.create_index(
        "ix_incidents_district_time", "incidents", ["district_id", "reported_at"], unique=False
    )
    op.create_index("ix_incidents_grid_time", "incidents", ["grid_id", "reported_at"], unique=False)
    op.create_index("ix_incidents_reported_at", "incidents", ["reported_at"], unique=False)
    op.create_index("ix_incidents_status_due", "incidents", ["status", "due_at"], unique=False)
    op.create_table(
        "plans",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=True),
        sa.Column("parent_area_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'draft'"), nullable=False
        ),
        sa.Column(
            "checks",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "stats",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(status = 'published') = (published_at IS NOT NULL)",
            name=op.f("ck_plans_published_at"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'validated', 'published', 'discarded')",
            name=op.f("ck_plans_status"),
        ),
        sa.ForeignKeyConstraint(["author_id"], ["accounts.id"], name=op.f("fk_plans_author_id")),
        sa.ForeignKeyConstraint(
            ["parent_area_id"], ["areas.id"], name=op.f("fk_plans_parent_area_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
    )
    op.create_table(
        "residents",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("household_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=True),
        sa.Column("birth_year", sa.SmallInteger(), nullable=True),
        sa.Column("sex", sa.String(length=1), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "tags",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.Column("grid_id", sa.BigInteger(), nullable=True),
        sa.Column("community_id", sa.BigInteger(), nullable=True),
        sa.Column("street_id", sa.BigInteger(), nullable=True),
        sa.Column("district_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "id_hash IS NULL OR id_hash ~ '^[0-9a-f]{64}$'", name=op.f("ck_residents_id_hash")
        ),
        sa.CheckConstraint("sex IS NULL OR sex IN ('F', 'M')", name=op.f("ck_residents_sex")),
        sa.CheckConstraint(
            "tags <@ ARRAY['elderly_alone', 'disabled', 'special_care', 'low_income', 'veteran', 'left_behind_child', 'rental_tenant', 'community_correction']::text[]",
            name=op.f("ck_residents_tags"),
        ),
        sa.CheckConstraint(
            "birth_year IS NULL OR birth_year BETWEEN 1880 AND 2100",
            name=op.f("ck_residents_birth_year"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["areas.id"], name=op.f("fk_residents_community_id")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["areas.id"], name=op.f("fk_residents_district_id")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["areas.id"], name=op.f("fk_residents_grid_id")),
        sa.ForeignKeyConstraint(
            ["household_id"], ["households.id"], name=op.f("fk_residents_household_id")
        ),
        sa.ForeignKeyConstraint(["street_id"], ["areas.id"], name=op.f("fk_residents_street_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents")),
        sa.UniqueConstraint("id_hash", name=op.f("uq_residents_id_hash")),
    )
    op.create_index("ix_residents_grid_id", "residents", ["grid_id"], unique=False)
    op.create_index(op.f("ix_residents_household_id"), "residents", ["household_id"], unique=False)
    op.create_geospatial_table(
        "visit_logs",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("worker_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("need_category", sa.String(length=64), nullable=True),
        sa.Column("mood", sa.String(length=16), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("grid_id", sa.BigInteger(), nullable=True),
        sa.Column("community_id", sa.BigInteger(), nullable=True),
        sa.Column("street_id", sa.BigInteger(), nullable=True),
        sa.Column("district_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            "mood IS NULL OR mood IN ('calm', 'worried', 'upset', 'urgent')",
            name=op.f("ck_visit_logs_mood"),
        ),
        sa.CheckConstraint(
            "subject_type IN ('resident', 'household', 'building', 'place', 'none')",
            name=op.f("ck_visit_logs_subject_type"),
        ),
        sa.CheckConstraint(
            "geom IS NULL OR NOT ST_IsEmpty(geom)", name=op.f("ck_visit_logs_geom_empty")
        ),
        sa.CheckConstraint(
            "geom IS NULL OR geom @ ST_MakeEnvelope(-180, -90, 180, 90, 4326)",
            name=op.f("ck_visit_logs_geom_range"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["areas.id"], name=op.f("fk_visit_logs_community_id")
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["areas.id"], name=op.f("fk_visit_logs_district_id")
        ),
        sa.ForeignKeyConstraint(["grid_id"], ["areas.id"], name=op.f("fk_visit_logs_grid_id")),
        sa.ForeignKeyConstraint(["street_id"], ["areas.id"], name=op.f("fk_visit_logs_street_id")),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["accounts.id"], name=op.f("fk_visit_logs_worker_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_logs")),
    )
    op.create_geospatial_index(
        "idx_visit_logs_geom",
        "visit_logs",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_visit_logs_grid_time", "visit_logs", ["grid_id", "visited_at"], unique=False
    )
    op.create_index(op.f("ix_visit_logs_worker_id"), "visit_logs", ["worker_id"], unique=False)
    op.create_table(
        "incident_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "photos",
            postgresql.ARRAY(sa.Text()),
            server_default=sa.text("'{}'::text[]"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "from_status IS NULL OR from_status IN ('reported', 'accepted', 'dispatched', 'in_progress', 'feedback', 'closed', 'rejected', 'returned', 'escalated')",
            name=op.f("ck_incident_events_from_status"),
        ),
        sa.CheckConstraint(
            "to_status IN ('reported', 'accepted', 'dispatched', 'in_progress', 'feedback', 'closed', 'rejected', 'returned', 'escalated')",
            name=op.f("ck_incident_events_to_status"),
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["accounts.id"], name=op.f("fk_incident_events_actor_id")
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_events_incident_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("fk_incident_events_unit_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_events")),
    )
    op.create_index(
        "ix_incident_events_incident_at", "incident_events", ["incident_id", "at"], unique=False
    )
    op.create_geospatial_table(
        "plan_areas",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("plan_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("replaces_area_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "geom IS NULL OR NOT ST_IsEmpty(geom)", name=op.f("ck_plan_areas_geom_empty")
        ),
        sa.CheckConstraint(
            "geom IS NULL OR ST_IsValid(geom)", name=op.f("ck_plan_areas_geom_valid")
        ),
        sa.CheckConstraint(
            "geom IS NULL OR geom @ ST_MakeEnvelope(-180, -90, 180, 90, 4326)",
            name=op.f("ck_plan_areas_geom_range"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["plans.id"], name=op.f("fk_plan_areas_plan_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["replaces_area_id"], ["areas.id"], name=op.f("fk_plan_areas_replaces_area_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_areas")),
    )
    op.create_geospatial_index(
        "idx_plan_areas_geom",
        "plan_areas",
        ["geom"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_plan_areas_plan_id"), "plan_areas", ["plan_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_plan_areas_plan_id"), table_name="plan_areas")
    op.drop_geospatial_index(
        "idx_plan_areas_geom", table_name="plan_areas", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("plan_areas")
    op.drop_index("ix_incident_events_incident_at", table_name="incident_events")
    op.drop_table("incident_events")
    op.drop_index(op.f("ix_visit_logs_worker_id"), table_name="visit_logs")
    op.drop_index("ix_visit_logs_grid_time", table_name="visit_logs")
    op.drop_geospatial_index(
        "idx_visit_logs_geom", table_name="visit_logs", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("visit_logs")
    op.drop_index(op.f("ix_residents_household_id"), table_name="residents")
    op.drop_index("ix_residents_grid_id", table_name="residents")
    op.drop_table("residents")
    op.drop_table("plans")
    op.drop_index("ix_incidents_status_due", table_name="incidents")
    op.drop_index("ix_incidents_reported_at", table_name="incidents")
    op.drop_index("ix_incidents_grid_time", table_name="incidents")
    op.drop_index("ix_incidents_district_time", table_name="incidents")
    op.drop_index("ix_incidents_category", table_name="incidents")
    op.drop_index(op.f("ix_incidents_assigned_unit_id"), table_name="incidents")
    op.drop_geospatial_index(
        "idx_incidents_geom", table_name="incidents", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("incidents")
    op.drop_index("ix_places_kind", table_name="places")
    op.drop_index("ix_places_grid_id", table_name="places")
    op.drop_geospatial_index(
        "idx_places_geom", table_name="places", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("places")
    op.drop_index("ix_households_grid_id", table_name="households")
    op.drop_index(op.f("ix_households_building_id"), table_name="households")
    op.drop_geospatial_index(
        "idx_households_geom", table_name="households", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("households")
    op.drop_index(op.f("ix_accounts_scope_area_id"), table_name="accounts")
    op.drop_table("accounts")
    op.drop_geospatial_index(
        "idx_units_service_area",
        table_name="units",
        postgresql_using="gist",
        column_name="service_area",
    )
    op.drop_geospatial_index(
        "idx_units_geom", table_name="units", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("units")
    op.drop_index("ix_buildings_grid_id", table_name="buildings")
    op.drop_geospatial_index(
        "idx_buildings_geom", table_name="buildings", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("buildings")
    op.drop_table("incident_categories")
    op.drop_index(op.f("ix_areas_parent_id"), table_name="areas")
    op.drop_index("ix_areas_level_validity", table_name="areas")
    op.drop_index(
        "ix_areas_current_code", table_name="areas", postgresql_where=sa.text("valid_to IS NULL")
    )
    op.drop_geospatial_index(
        "idx_areas_geom", table_name="areas", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_table("areas")
