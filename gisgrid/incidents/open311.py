"""Open311 GeoReport v2 over the incident store: services, service requests, their status.

Services are the leaf categories of the taxonomy (小类): ``service_code`` is the category
code, ``service_name`` the English label, ``description`` the Chinese name, ``group`` the
top-level name (English), ``keywords`` the Chinese name and the kind of unit that handles it.

What is public: Open311 requests are public by design in 311 systems, so reads need no key
and no token. They show **every category except the two sensitive groups**
(``SENSITIVE_GROUPS``: 03 public security hazards, leads about people and crime; 04 disputes,
between named neighbours and families), and only public fields: never the reporter (id, name,
email), never a staff note. ``status_notes`` is the internal status in words, not a note;
``agency_responsible`` is the name of the unit the case is dispatched to. A sensitive request
can still be sent (POST) and is handled as any other; it is just not listed or readable here.

Status: ``closed`` and ``rejected`` are Open311 ``closed``; everything else is ``open``.
Times are ISO 8601 in the city's zone (+08:00). ``start_date`` and ``end_date`` are read by
:func:`gisgrid.times.parse_bounds`, both included: a time without a zone is city time and a
bare date is a day in the city (``end_date=2026-10-31`` keeps all of 31 October). Without
``start_date`` a query covers the 90 days before ``end_date`` (or now).

Sending (POST): the incident is made through :func:`gisgrid.incidents.workflow.report_public` with
source ``open311`` and no account behind it (reporter_id null; the sender's name and email
kept in ``reporter_name``); the API checks the API key. ``media_url`` (http or https) is kept
in the incident's ``photos`` beside content hashes, and is the only photo Open311 shows:
uploaded photos stay behind the scoped ``/photos/{sha}``.

Examples
--------
>>> open311_status("in_progress"), open311_status("rejected")
('open', 'closed')
>>> requests(None, start_date="2026-11-01", end_date="2026-10-01")
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: end_date: end_date='2026-10-01' is not after \
start_date='2026-11-01'
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text

from gisgrid.assign.index import GridIndex
from gisgrid.assign.locate import check_lonlat
from gisgrid.errors import InvalidInput, NotFound
from gisgrid.incidents import workflow
from gisgrid.incidents.workflow import Conn
from gisgrid.numbers import as_id, shown
from gisgrid.times import CITY_TZ, TimeLike, days_up_to, parse_bounds

SENSITIVE_GROUPS = ("03", "04")
CLOSED = ("closed", "rejected")
DEFAULT_DAYS = 90
MAX_REQUESTS = 1000
MAX_DESCRIPTION = 4000
SOURCE = "open311"


def open311_status(status: str) -> str:
    return "closed" if status in CLOSED else "open"


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(CITY_TZ).isoformat(timespec="seconds") if at is not None else None


# -- services ---------------------------------------------------------------------------------

_SERVICES_SQL = (
    "SELECT c.code, c.name_en, c.name_zh, c.unit_kind, p.name_en AS group_name"
    " FROM incident_categories c JOIN incident_categories p ON p.code = c.parent_code"
)


def _service(row: Any) -> dict[str, Any]:
    keywords = ",".join(k for k in (row.name_zh, row.unit_kind) if k)
    return {
        "service_code": row.code,
        "service_name": row.name_en,
        "description": row.name_zh,
        "metadata": False,
        "type": "realtime",
        "keywords": keywords,
        "group": row.group_name,
    }


def services(conn: Conn) -> list[dict[str, Any]]:
    """Every leaf category as an Open311 service, in code order."""
    rows = conn.execute(text(f"{_SERVICES_SQL} ORDER BY c.code"))
    return [_service(r) for r in rows]


def service(conn: Conn, code: str) -> dict[str, Any]:
    """One leaf category as an Open311 service; NotFound naming ``service_code``."""
    row = conn.execute(text(f"{_SERVICES_SQL} WHERE c.code = :c"), {"c": code}).one_or_none()
    if row is None:
        raise NotFound(f"no service {code!r}", field="service_code")
    return _service(row)


def check_service_code(conn: Conn, code: str | None) -> str:
    """A leaf category code, or InvalidInput naming ``service_code``."""
    if not code:
        raise InvalidInput("is required", field="service_code")
    found = conn.execute(
        text("SELECT 1 FROM incident_categories WHERE code = :c AND parent_code IS NOT NULL"),
        {"c": code},
    ).first()
    if found is None:
        raise InvalidInput(
            f"unknown service_code {code!r}; see services.json", field="service_code"
        )
    return code


# -- requests ---------------------------------------------------------------------------------

_REQUEST_SQL = (
    "SELECT i.id, i.status, i.category, c.name_en, i.description, u.name AS unit_name,"
    " i.reported_at, i.updated_at, i.due_at, i.address, ST_X(i.geom) AS lon,"
    " ST_Y(i.geom) AS lat, i.photos"
    " FROM incidents i JOIN incident_categories c ON c.code = i.category"
    " LEFT JOIN units u ON u.id = i.assigned_unit_id"
    " WHERE coalesce(c.parent_code, c.code) <> ALL(:sensitive)"
)


def _media_url(photos: list[str] | None) -> str | None:
    return next((p for p in photos or () if p.startswith(("http://", "https://"))), None)


def _request(row: Any) -> dict[str, Any]:
    return {
        "service_request_id": str(row.id),
        "status": open311_status(row.status),
        "status_notes": row.status.replace("_", " "),
        "service_name": row.name_en,
        "service_code": row.category,
        "description": row.description,
        "agency_responsible": row.unit_name,
        "service_notice": None,
        "requested_datetime": _iso(row.reported_at),
        "updated_datetime": _iso(row.updated_at),
        "expected_datetime": _iso(row.due_at),
        "address": row.address,
        "lat": round(float(row.lat), 7),
        "long": round(float(row.lon), 7),
        "media_url": _media_url(row.photos),
    }


def request(conn: Conn, request_id: str) -> dict[str, Any]:
    """One public request; NotFound when absent or in a sensitive group."""
    n = as_id(request_id)
    if n is None:
        raise NotFound(f"no service request {shown(request_id)}", field="service_request_id")
    row = conn.execute(
        text(f"{_REQUEST_SQL} AND i.id = :id"),
        {"id": n, "sensitive": list(SENSITIVE_GROUPS)},
    ).one_or_none()
    if row is None:
        raise NotFound(f"no service request {request_id!r}", field="service_request_id")
    return _request(row)


def requests(
    conn: Conn,
    *,
    service_code: str | None = None,
    status: str | None = None,
    start_date: TimeLike | None = None,
    end_date: TimeLike | None = None,
    limit: int = MAX_REQUESTS,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Public requests, newest first; without dates, the last 90 days.

    ``service_code`` may list several codes, comma-separated (as GeoReport allows);
    ``status`` is ``open`` or ``closed``; the dates bound ``requested_datetime``, both
    included (see the module's notes on times).
    """
    period = parse_bounds(start_date, end_date, "start_date", "end_date")
    conds = []
    params: dict[str, Any] = {"sensitive": list(SENSITIVE_GROUPS)}
    if service_code:
        codes = [c.strip() for c in service_code.split(",") if c.strip()]
        for c in codes:
            check_service_code(conn, c)
        conds.append("i.category = ANY(:codes)")
        params["codes"] = codes
    if status is not None:
        if status not in ("open", "closed"):
            raise InvalidInput(
                f"status={status!r}; expected one of ['open', 'closed']", field="status"
            )
        conds.append(("" if status == "closed" else "NOT ") + "(i.status = ANY(:closed))")
        params["closed"] = list(CLOSED)
    if not 1 <= limit <= MAX_REQUESTS:
        raise InvalidInput(f"must be between 1 and {MAX_REQUESTS} ({limit} given)", field="limit")
    start = period.start
    if start is None:
        start = days_up_to(period.end or now or datetime.now(UTC), DEFAULT_DAYS)
    conds.append("i.reported_at >= :start")
    params["start"] = start
    if period.end is not None:
        conds.append("i.reported_at <= :end")
        params["end"] = period.end
    rows = conn.execute(
        text(
            f"{_REQUEST_SQL} AND {' AND '.join(conds)}"
            " ORDER BY i.reported_at DESC, i.id DESC LIMIT :limit"
        ),
        {**params, "limit": limit},
    )
    return [_request(r) for r in rows]


def _check_media_url(url: str | None) -> str | None:
    url = (url or "").strip() or None
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
        raise InvalidInput(f"{url[:80]!r} is not an http(s) URL", field="media_url")
    return url


def _reporter_name(first: str | None, last: str | None, email: str | None) -> str | None:
    name = " ".join(p.strip() for p in (first, last) if p and p.strip())
    email = (email or "").strip()
    if email:
        name = f"{name} <{email}>" if name else email
    return name or None


def create_request(
    conn: Conn,
    index: GridIndex,
    *,
    service_code: str | None,
    lat: Any,
    long: Any,
    description: str | None = None,
    address_string: str | None = None,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    media_url: str | None = None,
    holidays: Collection[date] = (),
) -> list[dict[str, Any]]:
    """Make an incident from an Open311 POST; returns GeoReport's answer list.

    The caller authenticates the sender (API key) before calling this. Errors name the
    Open311 field: ``service_code``, ``lat``, ``long``, ``description``, ``media_url``.
    """
    texts = {
        "description": description,
        "address_string": address_string,
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "media_url": media_url,
    }
    for field, value in texts.items():
        if value is not None and "\x00" in value:  # PostgreSQL text cannot hold NUL
            raise InvalidInput("contains a NUL character", field=field)
    code = check_service_code(conn, service_code)
    x, y = check_lonlat(long, lat, lon_field="long", lat_field="lat")
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"must have at most {MAX_DESCRIPTION} characters", field="description")
    url = _check_media_url(media_url)
    try:
        inc = workflow.report_public(
            conn,
            index,
            lon=x,
            lat=y,
            category=code,
            source=SOURCE,
            description=(description or "").strip() or None,
            address=(address_string or "").strip() or None,
            reporter_name=_reporter_name(first_name, last_name, email),
            photos=[url] if url else [],
            holidays=holidays,
        )
    except InvalidInput as exc:
        if exc.field in ("lon", "lat", "lon,lat", None):  # outside every grid
            raise InvalidInput(exc.reason, field="lat,long") from exc
        raise
    notice = f"due by {_iso(inc.due_at)}" if inc.due_at else None
    return [{"service_request_id": str(inc.id), "service_notice": notice, "account_id": None}]
