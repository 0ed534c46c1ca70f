"""Alembic migrations (script_location ``gisgrid.store:migrations``)."""

from __future__ import annotations

from typing import Any

from geoalchemy2 import alembic_helpers

from gisgrid.store.partitions import PARTITION


def env_include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Which objects autogenerate compares: ours, not PostGIS's own tables, nor partitions.

    >>> env_include(None, "incidents_p202601", "table", True, None)
    False
    """
    if type_ == "table" and (name in ("spatial_ref_sys",) or PARTITION.fullmatch(name or "")):
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))
