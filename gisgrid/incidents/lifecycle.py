"""The incident lifecycle as data: statuses, actions, who may take them, which centre holds a
case.

Statuses and actions (``TRANSITIONS``: (from status, action) -> to status)::

    reported --accept--> accepted --dispatch--> dispatched --start--> in_progress
    in_progress --feedback--> feedback --close--> closed
    feedback --send_back--> in_progress         (the centre is not satisfied)
    reported/accepted/escalated --reject--> rejected
    dispatched --return--> returned --dispatch--> dispatched   (a unit gives the case back)
    reported/accepted/returned/escalated --escalate--> escalated --accept--> accepted

Who may act (``ROLES``): grid workers and community accounts report; command centres
(street, district, city; an admin counts as the city centre) accept, dispatch, reject,
escalate, close and send back; the unit a case is dispatched to starts it, feeds back or
returns it.

Which centre holds a case: ``escalation_level`` names it. A new case is at ``grid`` and is
held by its street centre (grid workers only report); each escalation moves the holder one
centre up, ``street`` -> ``district`` -> ``city``, so the first escalation of a ``grid`` case
lands at ``district``. A centre may take a centre action when its own level is at or above
the holder's (the city centre may step in anywhere); a centre below it gets
PermissionDenied. A city-level case cannot be escalated further.

Examples
--------
>>> TRANSITIONS[("feedback", "close")]
'closed'
>>> check_action("teleport")
Traceback (most recent call last):
...
gisgrid.errors.InvalidInput: action: action='teleport'; expected one of ['accept', \
'close', 'dispatch', 'escalate', 'feedback', 'reject', 'return', 'send_back', 'start']
"""

from __future__ import annotations

from gisgrid.errors import InvalidInput, PreconditionFailed, PreconditionRequired
from gisgrid.numbers import as_int, shown

CENTRE_ROLES = ("street_centre", "district_centre", "city_centre", "admin")
REPORTER_ROLES = ("grid_worker", "community")
UNIT_ROLES = ("unit",)


TRANSITIONS: dict[tuple[str, str], str] = {
    ("reported", "accept"): "accepted",
    ("escalated", "accept"): "accepted",
    ("accepted", "dispatch"): "dispatched",
    ("returned", "dispatch"): "dispatched",
    ("dispatched", "start"): "in_progress",
    ("dispatched", "return"): "returned",
    ("in_progress", "feedback"): "feedback",
    ("feedback", "close"): "closed",
    ("feedback", "send_back"): "in_progress",
    ("reported", "reject"): "rejected",
    ("accepted", "reject"): "rejected",
    ("escalated", "reject"): "rejected",
    ("reported", "escalate"): "escalated",
    ("accepted", "escalate"): "escalated",
    ("returned", "escalate"): "escalated",
    ("escalated", "escalate"): "escalated",
}


ROLES: dict[str, tuple[str, ...]] = {
    "accept": CENTRE_ROLES,
    "dispatch": CENTRE_ROLES,
    "reject": CENTRE_ROLES,
    "escalate": CENTRE_ROLES,
    "close": CENTRE_ROLES,
    "send_back": CENTRE_ROLES,
    "start": UNIT_ROLES,
    "feedback": UNIT_ROLES,
    "return": UNIT_ROLES,
}


ACTIONS = tuple(sorted(ROLES))


NOTE_REQUIRED = frozenset({"feedback", "reject", "return", "escalate"})


OPEN_STATUSES = (
    "reported",
    "accepted",
    "dispatched",
    "in_progress",
    "feedback",
    "returned",
    "escalated",
)


CENTRE_LEVEL = {"street_centre": 1, "district_centre": 2, "city_centre": 3, "admin": 3}


HOLDER_LEVEL = {"grid": 1, "street": 1, "district": 2, "city": 3}


LEVEL_OF_RANK = {1: "street", 2: "district", 3: "city"}


def levels_held_by(role: str) -> tuple[str, ...]:
    """The ``escalation_level`` values of the cases a centre role holds (its own level, not
    those below it it may also step into): the console's "escalated to me" filter. A role
    that is not a centre holds none.

    Examples
    --------
    >>> levels_held_by("street_centre"), levels_held_by("district_centre")
    (('grid', 'street'), ('district',))
    >>> levels_held_by("admin"), levels_held_by("unit")
    (('city',), ())
    """
    rank = CENTRE_LEVEL.get(role)
    return tuple(level for level, r in HOLDER_LEVEL.items() if r == rank)


def check_action(action: str) -> str:
    if action not in ROLES:
        raise InvalidInput(f"action={action!r}; expected one of {list(ACTIONS)}", field="action")
    return action


def etag(version: int) -> str:
    """The ETag of an incident at ``version`` (a strong tag: the version itself).

    Examples
    --------
    >>> etag(3)
    '"3"'
    """
    return f'"{version}"'


def version_of(if_match: str | None, what: str = "incident") -> int:
    """The version of an incident (or of ``what``: a plan) an ``If-Match`` header names:
    PreconditionRequired without one, PreconditionFailed for one that names no version (not
    one of our ETags: ``"²"``, a 5,000-digit tag, ``*``), since no current version can
    match it.

    Examples
    --------
    >>> version_of('"3"'), version_of('W/"4"'), version_of(" 5 ")
    (3, 4, 5)
    >>> version_of('"\xb2"')
    Traceback (most recent call last):
    ...
    gisgrid.errors.PreconditionFailed: If-Match: If-Match '"²"' names no version
    """
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(f"send If-Match with the {what}'s ETag", field="If-Match")
    tag = if_match.strip()
    tag = tag[2:] if tag.startswith("W/") else tag
    n = as_int(tag.strip('"'))
    if n is None or n < 0:
        raise PreconditionFailed(f"If-Match {shown(if_match)} names no version", field="If-Match")
    return n
