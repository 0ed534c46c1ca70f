"""Which actions a caller may take on a case now: what a console shows as buttons.

The answer comes from the same table and checks :func:`gisgrid.incidents.workflow.act` applies
(the status's transitions, the role, the holder level, the assigned unit, and no escalation
past the city centre), so a page never keeps its own copy of the lifecycle.

Examples
--------
>>> from gisgrid.access.scope import Scope
>>> from gisgrid.access.auth import Caller
>>> from dataclasses import replace
>>> from datetime import UTC, datetime
>>> street = Caller(1, "s", None, "street_centre", None, Scope("street", 3))
>>> case = Incident(7, "0101", None, "reported", "normal", "grid", None,
...     datetime.now(UTC), None, None, None, 1, 9, 5, 3, 2, 126.6, 45.7)
>>> allowed_actions(street, case)
['accept', 'escalate', 'reject']
>>> allowed_actions(street, replace(case, escalation_level="district"))
[]
"""

from __future__ import annotations

from gisgrid.access.auth import Caller
from gisgrid.errors import PermissionDenied
from gisgrid.incidents.lifecycle import HOLDER_LEVEL, TRANSITIONS
from gisgrid.incidents.workflow import Incident, _check_role


def allowed_actions(caller: Caller, incident: Incident) -> list[str]:
    """The actions ``caller`` may take on ``incident`` as it is, sorted."""
    allowed = []
    for (status, action), _to in TRANSITIONS.items():
        if status != incident.status:
            continue
        if action == "escalate" and HOLDER_LEVEL[incident.escalation_level] >= 3:
            continue  # the city centre holds it: nowhere higher to go
        try:
            _check_role(caller, incident, action)
        except PermissionDenied:
            continue
        allowed.append(action)
    return sorted(allowed)
