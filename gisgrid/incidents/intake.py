"""Field intake: a report with photos, sent once however often it is resent, optionally
resolved on the spot; and another report added to an existing case instead of a twin.

:func:`report` is :func:`gisgrid.incidents.workflow.report` (role, category, grid, scope,
due time, the ``reported`` event) plus three things a grid worker's phone needs:

- ``idempotency_key``: the same key from the same reporter returns the first case
  (``created`` is False), never a second one. A unique index on (reporter, key) decides a race
  between two sends of one key: the loser rolls back its own case and returns the winner's.
  The key names one report: a key sent again with other content still returns the first case.
- ``photos``: hashes of photos already stored (``POST /photos``, :mod:`.photos`); a hash no
  photo was stored under is InvalidInput naming ``photos``.
- ``resolved_on_spot`` (就地解决): a grid worker fixed the item at once. Only a grid worker, in
  their own grid (the report's scope check), with at least one photo as evidence. The case is
  recorded closed at once (events ``reported`` then ``reported -> closed``) and flagged, so
  the evaluation counts it apart (:mod:`gisgrid.analysis.evaluation`).

:func:`support` adds a report to a case the caller can see: an ``incident_events`` row of
kind ``support`` with the note and photos, from and to the current status; the case's
status and version do not change. ``supporters`` counts those events.

Examples
--------
>>> check_key("a1b2c3d4-0000-4000-8000-000000000001")
'a1b2c3d4-0000-4000-8000-000000000001'
>>> check_key("no spaces allowed")
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: idempotency_key: 'no spaces allowed' is not a key; expected 8 to \
64 characters of A-Z a-z 0-9 . _ : - (a UUID will do)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from gisgrid.access.auth import Caller
from gisgrid.assign.index import GridIndex
from gisgrid.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from gisgrid.incidents import workflow
from gisgrid.incidents.lifecycle import OPEN_STATUSES, REPORTER_ROLES
from gisgrid.incidents.photos import find_photo
from gisgrid.incidents.workflow import Conn, Incident, get_incident
from gisgrid.settings import Settings

_KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
MAX_PHOTOS = 6
ON_SPOT_ROLES = ("grid_worker",)
ON_SPOT_NOTE = "resolved on the spot (就地解决)"
_UNIQUE_KEY = "ux_incidents_reporter_idempotency"


@dataclass(frozen=True)
class Intake:
    """What :func:`report` did: the case, and whether this call opened it (False: the key
    had been sent before, and this is the first case)."""

    incident: Incident
    created: bool


@dataclass(frozen=True)
class Support:
    """The case a report was added to, the event id, and how many reports support it now."""

    incident: Incident
    event_id: int
    supporters: int


def check_key(key: str | None) -> str | None:
    """An idempotency key as given, None for none; InvalidInput naming ``idempotency_key``."""
    if key is None:
        return None
    if not _KEY_RE.match(key):
        shown = key if len(key) <= 80 else key[:80] + "..."
        raise InvalidInput(
            f"{shown!r} is not a key; expected 8 to 64 characters of A-Z a-z 0-9 . _ : - "
            "(a UUID will do)",
            field="idempotency_key",
        )
    return key


def check_photos(settings: Settings, photos: Sequence[str]) -> list[str]:
    """The hashes, each of a stored photo, without repeats; InvalidInput naming ``photos``."""
    if len(photos) > MAX_PHOTOS:
        raise InvalidInput(f"{len(photos)} photos; at most {MAX_PHOTOS}", field="photos")
    out: list[str] = []
    for sha in photos:
        try:
            find_photo(settings, sha)
        except NotFound:
            shown = sha if len(sha) <= 80 else sha[:80] + "..."
            raise InvalidInput(
                f"no stored photo {shown!r}; upload it first (POST /photos)", field="photos"
            ) from None
        if sha not in out:
            out.append(sha)
    return out


def report(
    conn: Conn,
    caller: Caller,
    index: GridIndex,
    settings: Settings,
    *,
    lon: float | str,
    lat: float | str,
    category: str,
    description: str | None = None,
    priority: str = "normal",
    max_distance_m: float | None = None,
    crs: str = "wgs84",
    photos: Sequence[str] = (),
    resolved_on_spot: bool = False,
    idempotency_key: str | None = None,
    reported_at: datetime | None = None,
) -> Intake:
    """Report an incident once per ``idempotency_key``; see the module's notes.

    Examples
    --------
    >>> report(None, None, None, None, lon=0, lat=0, category="0101",  # type: ignore[arg-type]
    ...        idempotency_key="x")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: idempotency_key: 'x' is not a key; expected 8 to 64 \
characters of A-Z a-z 0-9 . _ : - (a UUID will do)
    """
    key = check_key(idempotency_key)
    if key is not None:
        first = _by_key(conn, caller, key)
        if first is not None:
            return Intake(first, created=False)
    shas = check_photos(settings, photos)
    if resolved_on_spot:
        _check_on_spot(caller, shas)
    try:
        with conn.begin_nested():  # a lost race on the key undoes this case only
            inc = workflow.report(
                conn,
                caller,
                index,
                lon=lon,
                lat=lat,
                category=category,
                description=description,
                priority=priority,
                max_distance_m=max_distance_m,
                holidays=settings.holidays,
                reported_at=reported_at,
                crs=crs,
            )
            conn.execute(
                text(
                    "UPDATE incidents SET photos = CAST(:photos AS text[]),"
                    " idempotency_key = :key, resolved_on_spot = :on_spot WHERE id = :id"
                ),
                {"photos": shas, "key": key, "on_spot": resolved_on_spot, "id": inc.id},
            )
    except IntegrityError as exc:
        if key is None or _UNIQUE_KEY not in str(exc.orig):
            raise
        first = _by_key(conn, caller, key)
        if first is None:  # the winner rolled back after all: a plain conflict, try again
            raise Conflict(
                "a report with this key is being sent; send it again", field="idempotency_key"
            ) from None
        return Intake(first, created=False)
    if resolved_on_spot:
        _close_on_spot(conn, caller, inc)
    return Intake(get_incident(conn, caller, inc.id), created=True)


def _by_key(conn: Conn, caller: Caller, key: str) -> Incident | None:
    found = conn.execute(
        # incident_keys: the key is unique over every month there (migration 0011)
        text("SELECT id FROM incident_keys WHERE reporter_id = :r AND idempotency_key = :k"),
        {"r": caller.account_id, "k": key},
    ).scalar_one_or_none()
    return None if found is None else get_incident(conn, caller, int(found))


def _check_on_spot(caller: Caller, photos: list[str]) -> None:
    if caller.role not in ON_SPOT_ROLES:
        raise PermissionDenied(
            f"role {caller.role!r} may not resolve on the spot; only a grid worker in their grid",
            field="resolved_on_spot",
        )
    if not photos:
        raise InvalidInput("resolving on the spot needs a photo of the result", field="photos")


def _close_on_spot(conn: Conn, caller: Caller, inc: Incident) -> None:
    conn.execute(
        text(
            "UPDATE incidents SET status = 'closed', version = version + 1, updated_at = now(),"
            " closed_at = greatest(reported_at, clock_timestamp()) WHERE id = :id"
        ),
        {"id": inc.id},
    )
    workflow._write_event(conn, inc.id, caller.account_id, "reported", "closed", None, ON_SPOT_NOTE)


def support(
    conn: Conn,
    caller: Caller,
    settings: Settings,
    incident_id: int,
    *,
    note: str | None = None,
    photos: Sequence[str] = (),
) -> Support:
    """Add the caller's report (a note, photos) to an open case they can see.

    Only reporting roles; NotFound out of scope; Conflict when the case is closed or
    rejected (report anew); InvalidInput when neither a note nor a photo is given.
    """
    if caller.role not in REPORTER_ROLES:
        raise PermissionDenied(f"role {caller.role!r} may not report incidents", field="role")
    note = workflow._check_note("support", note)
    shas = check_photos(settings, photos)
    if note is None and not shas:
        raise InvalidInput("add a note or a photo to support a case", field="note")
    inc = get_incident(conn, caller, incident_id, for_update=True)
    if inc.status not in OPEN_STATUSES:
        raise Conflict(
            f"incident {incident_id} is {inc.status}; report a new case instead", field="id"
        )
    event_id = conn.execute(
        text(
            "INSERT INTO incident_events"
            " (incident_id, at, actor_id, from_status, to_status, note, photos, kind)"
            " VALUES (:i, clock_timestamp(), :actor, :s, :s, :note, CAST(:photos AS text[]),"
            " 'support') RETURNING id"
        ),
        {"i": inc.id, "actor": caller.account_id, "s": inc.status, "note": note, "photos": shas},
    ).scalar_one()
    return Support(inc, int(event_id), supporters(conn, inc.id))


def supporters(conn: Conn, incident_id: int) -> int:
    """How many reports were added to a case (its ``support`` events)."""
    n = conn.execute(
        text("SELECT count(*) FROM incident_events WHERE incident_id = :i AND kind = 'support'"),
        {"i": incident_id},
    ).scalar_one()
    return int(n)
