"""Engine and session factories, and what the health and demo pages count."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from gisgrid.errors import register_constraints, translate_db_errors
from gisgrid.settings import Settings
from gisgrid.sql import load_sql, quote_ident


def make_engine(url_or_settings: str | Settings, **kwargs: Any) -> Engine:
    """An engine for a URL, or for the database that the settings name.

    It also registers the models' check constraints with :mod:`gisgrid.errors`, so that a
    violation names its field and reason in this process (a served API never imports the
    models otherwise).

    Examples
    --------
    >>> make_engine("postgresql+psycopg://u@/db?host=/tmp").dialect.name
    'postgresql'
    """
    if isinstance(url_or_settings, Settings):
        from gisgrid.store.cluster import database_url

        kwargs.setdefault("pool_size", url_or_settings.pool_size)
        url = database_url(url_or_settings)
    else:
        url = url_or_settings
    kwargs.setdefault("pool_pre_ping", True)
    from gisgrid.store.models import constraint_table  # the models load when a store is opened

    register_constraints(constraint_table())
    return create_engine(url, **kwargs)


Bind = Engine | Connection
"""What a library function may be given to read with: an engine, or the caller's connection."""


@contextmanager
def connection(bind: Bind) -> Iterator[Connection]:
    """A connection for ``bind``: the caller's own (left open, its transaction untouched), or
    one opened on the engine and closed after; database errors become GisgridErrors."""
    with translate_db_errors():
        if isinstance(bind, Connection):
            yield bind
        else:
            with bind.connect() as conn:
                yield conn


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
