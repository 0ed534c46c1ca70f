"""Alembic migrations (script_location ``gisgrid.store:migrations``)."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import alembic_helpers


def env_include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Which objects autogenerate compares: ours, not PostGIS's own tables."""
    if type_ == "table" and name in ("spatial_ref_sys",):
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))
