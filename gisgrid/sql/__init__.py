"""Every piece of hand-written SQL, as files beside this module, and the helpers that read them."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources


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
