"""The GisgridError hierarchy, and the one place that turns database errors into it.

Every error names the field it is about (when there is one) and the reason, so that an API
can answer ``{"field": ..., "reason": ...}`` and a CLI can print a row number beside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


class GisgridError(Exception):
    """Base of every error gisgrid raises on purpose."""

    def __init__(self, reason: str, *, field: str | None = None, table: str | None = None):
        self.reason = reason
        self.field = field
        self.table = table
        where = ".".join(p for p in (table, field) if p)
        super().__init__(f"{where}: {reason}" if where else reason)

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "field": self.field, "reason": self.reason}


class InvalidInput(GisgridError):
    """Input that breaks a rule: wrong type, range, geometry, unknown code."""


class NotFound(GisgridError):
    """The object does not exist, or is outside the caller's scope."""


class Conflict(GisgridError):
    """A duplicate key, or a concurrent change that lost the race."""


class PreconditionFailed(GisgridError):
    """An If-Match / version check did not hold."""


class PreconditionRequired(GisgridError):
    """A change that must name the version it applies to (If-Match) did not."""


class PermissionDenied(GisgridError):
    """The caller's role may not do this."""


class NotAuthenticated(GisgridError):
    """No valid credentials."""


class TooLarge(GisgridError):
    """A request or upload larger than the limit that applies to it."""


class TooManyRequests(GisgridError):
    """Too many attempts in a short time; ``retry_after_s`` says when to try again.

    Examples
    --------
    >>> TooManyRequests("slow down", retry_after_s=30).retry_after_s
    30
    """

    def __init__(self, reason: str, *, retry_after_s: int, field: str | None = None):
        super().__init__(reason, field=field)
        self.retry_after_s = retry_after_s


class Unprocessable(GisgridError):
    """Well-formed input the store cannot act on as it stands (HTTP 422)."""


class ChecksFailed(Unprocessable):
    """A plan whose hard checks fail cannot be published; ``failures`` lists them (each a
    check failure: ``check``, ``codes``, ``message`` ...), and nothing was changed.

    Examples
    --------
    >>> err = ChecksFailed(7, [{"check": "gap", "codes": [], "message": "a gap"}])
    >>> str(err), err.to_dict()["failures"][0]["check"]
    ('checks: plan 7 fails 1 hard check (gap): fix it before publishing', 'gap')
    """

    def __init__(self, plan_id: int, failures: Sequence[Mapping[str, Any]]):
        self.failures = [dict(f) for f in failures]
        kinds = sorted({str(f.get("check")) for f in self.failures})
        n = len(self.failures)
        super().__init__(
            f"plan {plan_id} fails {n} hard check{'s' if n != 1 else ''} ({', '.join(kinds)}):"
            f" fix {'them' if n != 1 else 'it'} before publishing",
            field="checks",
        )

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["failures"] = self.failures
        return out


class DatabaseUnavailable(GisgridError):
    """The database cannot be reached."""


class ClusterError(GisgridError):
    """The self-managed PostgreSQL cluster could not be set up or started."""


class BackupError(GisgridError):
    """pg_dump or pg_restore failed; a failed restore has changed nothing."""


@dataclass(frozen=True)
class ConstraintInfo:
    table: str
    field: str
    reason: str


# Constraint name -> which field it guards and why. The store registers its models' table
# when it makes an engine (gisgrid.store.engine.make_engine), so every process that talks to
# the database has it, whether or not anything imported the models.
CONSTRAINTS: dict[str, ConstraintInfo] = {}


def register_constraints(table: Mapping[str, ConstraintInfo]) -> None:
    """Make ``table`` (constraint name -> field and reason) known to :func:`from_db_error`.

    Examples
    --------
    >>> register_constraints({"ck_demo_size": ConstraintInfo("demo", "size", "must be small")})
    >>> CONSTRAINTS["ck_demo_size"].field
    'size'
    >>> del CONSTRAINTS["ck_demo_size"]
    """
    CONSTRAINTS.update(table)


_KEY_RE = re.compile(r"Key \((?P<cols>[^)]*)\)=\((?P<vals>.*)\) (?P<what>.*)")
_TABLE_RE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)\"?", re.I)
_GEOM_TYPE_RE = re.compile(r"Geometry type \((\w+)\) does not match column type \((\w+)\)")
_GEOM_SRID_RE = re.compile(r"Geometry SRID \((-?\d+)\) does not match column SRID \((\d+)\)")


def _table_of(statement: str | None) -> str | None:
    m = _TABLE_RE.match(statement or "")
    return m.group(1) if m else None


def from_db_error(exc: BaseException) -> GisgridError | None:
    """Translate a SQLAlchemy/psycopg error into a GisgridError, or None if unknown."""
    from sqlalchemy import exc as sa_exc

    orig = getattr(exc, "orig", exc)
    statement = getattr(exc, "statement", None)
    diag = getattr(orig, "diag", None)
    sqlstate = getattr(orig, "sqlstate", None) or ""
    message = (getattr(diag, "message_primary", None) or str(orig)).strip()
    detail = getattr(diag, "message_detail", None) or ""
    table = getattr(diag, "table_name", None) or _table_of(statement)
    constraint = getattr(diag, "constraint_name", None)
    column = getattr(diag, "column_name", None)

    if "NUL (0x00)" in message:
        # psycopg refuses it before sending (no sqlstate): bad input, not a server failure
        return InvalidInput("text contains a NUL (0x00) character", field=column, table=table)
    if isinstance(exc, sa_exc.OperationalError) and sqlstate[:2] in ("08", "57", ""):
        return DatabaseUnavailable(f"database unavailable: {message.splitlines()[0]}")
    if constraint and constraint in CONSTRAINTS:
        info = CONSTRAINTS[constraint]
        return InvalidInput(info.reason, field=info.field, table=info.table)
    if sqlstate == "23502":  # not_null_violation
        return InvalidInput("is required (null given)", field=column, table=table)
    if sqlstate == "23503":  # foreign_key_violation
        m = _KEY_RE.search(detail)
        field = m.group("cols") if m else column
        ref = f"{m.group('vals')} {m.group('what').rstrip('.')}" if m else detail
        return InvalidInput(f"refers to a row that does not exist: {ref}", field=field, table=table)
    if sqlstate in ("23505", "23P01"):  # unique / exclusion violation
        m = _KEY_RE.search(detail)
        field = m.group("cols") if m else constraint
        return Conflict(f"duplicate: {detail or message}", field=field, table=table)
    if sqlstate == "23514":  # check_violation not registered
        return InvalidInput(f"violates {constraint}", field=constraint, table=table)
    if m := _GEOM_TYPE_RE.search(message):
        return InvalidInput(
            f"geometry type {m.group(1)} given, {m.group(2)} expected", field="geom", table=table
        )
    if m := _GEOM_SRID_RE.search(message):
        return InvalidInput(
            f"SRID {m.group(1)} given, {m.group(2)} expected", field="geom", table=table
        )
    if sqlstate.startswith("22") or (sqlstate == "XX000" and "geometry" in message.lower()):
        return InvalidInput(message, field=column, table=table)
    return None


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Turn database errors raised inside the block into GisgridError subclasses.

    Examples
    --------
    >>> with translate_db_errors():
    ...     pass
    """
    import psycopg
    from sqlalchemy import exc as sa_exc

    try:
        yield
    except (sa_exc.DBAPIError, psycopg.Error) as exc:
        translated = from_db_error(exc)
        if translated is None:
            raise
        raise translated from exc


class LoadError(InvalidInput):
    """A file load that changed nothing, with every bad row as ``(row, field, reason)``.

    ``row`` is the 1-based feature number of a GIS file or the line number of a CSV file
    (the header is line 1); row 0 stands for the file as a whole (a missing column).

    Examples
    --------
    >>> e = LoadError([(3, "category", "unknown category '9999'")], table="incidents")
    >>> str(e), e.rows[0][0]
    ("incidents.category: 1 bad row; row 3: unknown category '9999'", 3)
    """

    def __init__(self, rows: Sequence[tuple[int, str, str]], *, table: str | None = None):
        self.rows = sorted(rows, key=lambda r: (r[0], r[1]))
        first = self.rows[0] if self.rows else (0, "", "no rows")
        bad = len({r[0] for r in self.rows})
        count = f"{bad} bad row{'s' if bad != 1 else ''}"
        super().__init__(f"{count}; row {first[0]}: {first[2]}", field=first[1], table=table)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["rows"] = [{"row": r, "field": f, "reason": why} for r, f, why in self.rows]
        return out
