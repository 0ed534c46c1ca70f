"""The migration runner: Alembic up and down, and the revision a database is at."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "gisgrid.store:migrations")
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate_to_head(url: str) -> None:
    """Apply every Alembic migration up to head."""
    from alembic import command

    command.upgrade(_alembic_config(url), "head")


def migrate_down(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(_alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
