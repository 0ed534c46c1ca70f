"""Engine and session factories, the SQL-file loader and the migration runner."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from gisgrid.errors import translate_db_errors
from gisgrid.settings import Settings


def make_engine(url_or_settings: str | Settings, **kwargs: Any) -> Engine:
    """An engine for a URL, or for the database that the settings name.

    Examples
    --------
    >>> make_engine("postgresql+psycopg://u@/db?host=/tmp").dialect.name
    'postgresql'
    """
    if isinstance(url_or_settings, Settings):
        from gisgrid.cluster import database_url

        kwargs.setdefault("pool_size", url_or_settings.pool_size)
        url = database_url(url_or_settings)
    else:
        url = url_or_settings
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success, rolls back on error, and translates DB errors."""
    with factory() as session, translate_db_errors():
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@lru_cache(maxsize=64)
def load_sql(name: str) -> str:
    """The text of ``gisgrid/sql/<name>.sql``.

    Examples
    --------
    >>> "postgis_lib_version" in load_sql("health")
    True
    """
    fname = name if name.endswith(".sql") else f"{name}.sql"
    return resources.files("gisgrid.sql").joinpath(fname).read_text(encoding="utf-8")


def quote_ident(name: str) -> str:
    """Quote an SQL identifier (doubling any embedded quote).

    >>> quote_ident('we"ird')
    '"we""ird"'
    """
    return '"' + name.replace('"', '""') + '"'


def postgis_info(engine: Engine) -> dict[str, str]:
    """PostgreSQL and PostGIS versions of the database behind the engine."""
    with translate_db_errors(), engine.connect() as conn:
        row = conn.execute(text(load_sql("health"))).mappings().one()
    return {k: str(v) for k, v in row.items()}


COUNTED_TABLES = (
    "areas",
    "buildings",
    "households",
    "residents",
    "places",
    "units",
    "accounts",
    "visit_logs",
    "incident_categories",
    "incidents",
    "incident_events",
    "plans",
)


def table_counts(engine: Engine) -> dict[str, int]:
    """Exact row counts of gisgrid's tables."""
    sql = " UNION ALL ".join(
        f"SELECT '{t}' AS t, count(*) AS n FROM {quote_ident(t)}" for t in COUNTED_TABLES
    )
    with translate_db_errors(), engine.connect() as conn:
        got = {str(name): int(n) for name, n in conn.execute(text(sql))}
    return {t: got[t] for t in COUNTED_TABLES}


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "gisgrid:migrations")
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
