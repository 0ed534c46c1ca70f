"""The incident closed loop through the API, with real tokens, ETags and If-Match."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gisgrid.access.auth import set_password
from tests.city_support import PASSWORD
from tests.incidents.support import CATEGORY, Beat, beat

DB = "incidents_scratch"
Headers = dict[str, str]


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    b = beat(store)
    for u in (b.worker, b.street_centre, b.district_centre, b.city_centre, b.outsider):
        set_password(store, u, PASSWORD)
    with store.connect() as conn:
        units = conn.execute(text("SELECT username FROM accounts WHERE role = 'unit'")).scalars()
        for u in list(units):
            set_password(store, u, PASSWORD)
    return b


_tokens: dict[str, Headers] = {}


def auth(client: TestClient, username: str) -> Headers:
    if username not in _tokens:
        r = client.post("/token", data={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        _tokens[username] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return _tokens[username]


def unit_user(store: Engine, unit_id: int) -> str:
    with store.connect() as conn:
        return str(
            conn.execute(
                text("SELECT username FROM accounts WHERE unit_id = :u ORDER BY id LIMIT 1"),
                {"u": unit_id},
            ).scalar_one()
        )


def report(client: TestClient, here: Beat, **extra: Any) -> dict[str, Any]:
    body = {"lon": here.lon, "lat": here.lat, "category": CATEGORY, "description": "rubbish"}
    r = client.post("/incidents", json={**body, **extra}, headers=auth(client, here.worker))
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    assert r.headers["Location"] == f"/incidents/{out['id']}"
    assert r.headers["ETag"] == f'"{out["version"]}"'
    return out


def step(
    client: TestClient,
    who: str,
    inc: dict[str, Any],
    action: str,
    status: int = 200,
    **body: Any,
) -> dict[str, Any]:
    headers = {**auth(client, who), "If-Match": f'"{inc["version"]}"'}
    r = client.post(f"/incidents/{inc['id']}/{action}", json=body, headers=headers)
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    if status == 200:
        assert r.headers["ETag"] == f'"{out["version"]}"'
    return out


def test_the_whole_loop(client: TestClient, store: Engine, here: Beat) -> None:
    inc = report(client, here, priority="high")
    assert (inc["status"], inc["grid_id"], inc["street_id"]) == (
        "reported",
        here.grid_id,
        here.street_id,
    )
    assert inc["due_at"] > inc["reported_at"] and not inc["overdue"]
    centre = here.street_centre
    inc = step(client, centre, inc, "accept")
    r = client.get(f"/incidents/{inc['id']}/units?k=3", headers=auth(client, centre))
    assert r.status_code == 200, r.text
    suggested = r.json()["units"]
    assert suggested and [u["distance_m"] for u in suggested] == sorted(
        u["distance_m"] for u in suggested
    )
    unit_id = suggested[0]["id"]
    inc = step(client, centre, inc, "dispatch", unit_id=unit_id)
    assert (inc["status"], inc["assigned_unit_id"]) == ("dispatched", unit_id)
    unit = unit_user(store, unit_id)
    # the unit's queue holds it
    r = client.get("/incidents?status=dispatched", headers=auth(client, unit))
    assert inc["id"] in [i["id"] for i in r.json()["incidents"]]
    inc = step(client, unit, inc, "start")
    inc = step(client, unit, inc, "feedback", note="cleared")
    inc = step(client, centre, inc, "close")
    assert (inc["status"], inc["version"]) == ("closed", 6)
    assert inc["closed_at"] is not None
    r = client.get(f"/incidents/{inc['id']}", headers=auth(client, here.worker))
    assert r.status_code == 200 and r.headers["ETag"] == '"6"'
    r = client.get(f"/incidents/{inc['id']}/events", headers=auth(client, centre))
    evs = r.json()["events"]
    ids = _account_ids(store, [here.worker, centre, unit])
    assert [(e["from_status"], e["to_status"], e["actor_id"]) for e in evs] == [
        (None, "reported", ids[here.worker]),
        ("reported", "accepted", ids[centre]),
        ("accepted", "dispatched", ids[centre]),
        ("dispatched", "in_progress", ids[unit]),
        ("in_progress", "feedback", ids[unit]),
        ("feedback", "closed", ids[centre]),
    ]
    assert evs[2]["unit_id"] == unit_id and evs[4]["note"] == "cleared"
    assert [e["at"] for e in evs] == sorted(e["at"] for e in evs)


def _account_ids(store: Engine, usernames: list[str]) -> dict[str, int]:
    with store.connect() as conn:
        rows = conn.execute(
            text("SELECT username, id FROM accounts WHERE username = ANY(:u)"), {"u": usernames}
        )
        return {r.username: int(r.id) for r in rows}


def test_dispatch_without_unit_takes_the_nearest(client: TestClient, here: Beat) -> None:
    inc = report(client, here)
    inc = step(client, here.street_centre, inc, "accept")
    r = client.get(f"/incidents/{inc['id']}/units?k=1", headers=auth(client, here.street_centre))
    inc = step(client, here.street_centre, inc, "dispatch")
    assert inc["assigned_unit_id"] == r.json()["units"][0]["id"]


def test_reject(client: TestClient, here: Beat) -> None:
    inc = report(client, here)
    bad = step(client, here.street_centre, inc, "reject", status=400)
    assert bad["field"] == "note"
    inc = step(client, here.street_centre, inc, "reject", note="duplicate of an open case")
    assert inc["status"] == "rejected"
    bad = step(client, here.street_centre, inc, "accept", status=409)
    assert bad["field"] == "status"


def test_return_and_redispatch(client: TestClient, store: Engine, here: Beat) -> None:
    inc = report(client, here)
    inc = step(client, here.street_centre, inc, "accept")
    inc = step(client, here.street_centre, inc, "dispatch")
    unit = unit_user(store, inc["assigned_unit_id"])
    inc = step(client, unit, inc, "return", note="not our job")
    assert (inc["status"], inc["assigned_unit_id"]) == ("returned", None)
    inc = step(client, here.street_centre, inc, "dispatch")
    assert inc["status"] == "dispatched"
    r = client.get(f"/incidents/{inc['id']}/events", headers=auth(client, here.street_centre))
    assert [e["to_status"] for e in r.json()["events"]] == [
        "reported",
        "accepted",
        "dispatched",
        "returned",
        "dispatched",
    ]


def test_escalation_up_to_the_city_and_not_beyond(client: TestClient, here: Beat) -> None:
    inc = report(client, here)
    inc = step(client, here.street_centre, inc, "escalate", note="too big for the street")
    assert (inc["status"], inc["escalation_level"]) == ("escalated", "district")
    step(client, here.street_centre, inc, "accept", status=403)
    inc = step(client, here.district_centre, inc, "escalate", note="city-wide")
    assert inc["escalation_level"] == "city"
    step(client, here.district_centre, inc, "accept", status=403)
    bad = step(client, here.city_centre, inc, "escalate", status=409, note="higher")
    assert "cannot be escalated further" in bad["reason"]
    inc = step(client, here.city_centre, inc, "accept")
    assert (inc["status"], inc["escalation_level"]) == ("accepted", "city")


def test_roles_that_may_not_act_get_403(client: TestClient, here: Beat) -> None:
    inc = report(client, here)
    step(client, here.worker, inc, "accept", status=403)
    step(client, here.street_centre, inc, "start", status=403)
    r = client.post(
        "/incidents",
        json={"lon": here.lon, "lat": here.lat, "category": CATEGORY},
        headers=auth(client, here.street_centre),
    )
    assert r.status_code == 403, r.text


def test_outside_scope_is_404(client: TestClient, here: Beat) -> None:
    inc = report(client, here)
    other = auth(client, here.outsider)
    assert client.get(f"/incidents/{inc['id']}", headers=other).status_code == 404
    assert client.get(f"/incidents/{inc['id']}/events", headers=other).status_code == 404
    step(client, here.outsider, inc, "accept", status=404)
    r = client.get("/incidents?limit=1000", headers=other)
    assert inc["id"] not in [i["id"] for i in r.json()["incidents"]]
    assert client.get("/incidents/999999999", headers=auth(client, here.worker)).status_code == 404


def test_if_match_missing_is_428_and_the_race_is_412(client: TestClient, here: Beat) -> None:
    inc = report(client, here)
    r = client.post(f"/incidents/{inc['id']}/accept", headers=auth(client, here.street_centre))
    assert r.status_code == 428, r.text
    # two centres read the same ETag; the first to act wins, the second is told it is stale
    first = step(client, here.street_centre, inc, "accept")
    assert first["version"] == inc["version"] + 1
    lost = step(client, here.city_centre, inc, "reject", status=412, note="dup")
    assert lost["field"] == "version"
    r = client.get(f"/incidents/{inc['id']}", headers=auth(client, here.city_centre))
    assert (r.json()["status"], r.headers["ETag"]) == ("accepted", f'"{first["version"]}"')


def test_overdue_after_its_due_time(client: TestClient, store: Engine, here: Beat) -> None:
    fresh = report(client, here)
    left = report(client, here)
    with store.begin() as conn:  # reported a week ago and left alone
        conn.execute(
            text(
                "UPDATE incidents SET reported_at = reported_at - interval '8 days',"
                " due_at = due_at - interval '8 days' WHERE id = :i"
            ),
            {"i": left["id"]},
        )
    centre = auth(client, here.street_centre)
    r = client.get("/incidents?overdue=true&limit=1000", headers=centre)
    assert r.status_code == 200, r.text
    ids = {i["id"]: i for i in r.json()["incidents"]}
    assert left["id"] in ids and fresh["id"] not in ids
    assert ids[left["id"]]["overdue"] is True
    # closed or rejected cases are not overdue
    step(client, here.street_centre, {**left, "version": 1}, "reject", note="stale")
    r = client.get("/incidents?overdue=true&limit=1000", headers=centre)
    assert left["id"] not in {i["id"] for i in r.json()["incidents"]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lon": 0.0, "lat": 0.0}, "lon,lat"),
        ({"category": "9999"}, "category"),
        ({"priority": "asap"}, "priority"),
        ({"lon": "abc"}, "lon"),
        ({"allow_nearest": True}, "max_distance_m"),
    ],
    ids=["outside-grids", "category", "priority", "lon", "nearest-without-distance"],
)
def test_bad_reports_are_400(
    client: TestClient, here: Beat, body: dict[str, Any], field: str
) -> None:
    base = {"lon": here.lon, "lat": here.lat, "category": CATEGORY}
    r = client.post("/incidents", json={**base, **body}, headers=auth(client, here.worker))
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field


def test_gcj02_input_lands_in_the_same_grid(client: TestClient, here: Beat) -> None:
    from gisgrid.crs import convert_xy

    gx, gy = convert_xy([here.lon], [here.lat], "wgs84", "gcj02")
    inc = report(client, here, lon=float(gx[0]), lat=float(gy[0]), crs="gcj02")
    assert inc["grid_id"] == here.grid_id
    assert abs(inc["lon"] - here.lon) < 1e-5 and abs(inc["lat"] - here.lat) < 1e-5


def test_unauthenticated_is_401(client: TestClient) -> None:
    assert client.get("/incidents").status_code == 401


def race(client: TestClient, inc_id: int, *moves: tuple[Headers, str, dict[str, str]]) -> list[int]:
    """Send each (headers, action, body) from its own thread, released at the same moment,
    all with If-Match "1"; the status codes, sorted."""
    barrier = threading.Barrier(len(moves))
    codes: list[int] = []

    def go(headers: Headers, action: str, body: dict[str, str]) -> None:
        barrier.wait()
        r = client.post(
            f"/incidents/{inc_id}/{action}", json=body, headers={**headers, "If-Match": '"1"'}
        )
        codes.append(r.status_code)

    threads = [threading.Thread(target=go, args=m) for m in moves]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return sorted(codes)


def test_two_centres_at_once_one_wins(client: TestClient, here: Beat) -> None:
    """The same ETag sent by two threads at the same moment: whatever the interleaving, one
    200 and one 412, and one event."""
    street = auth(client, here.street_centre)
    city = auth(client, here.city_centre)
    for _ in range(5):
        inc = report(client, here)
        codes = race(client, inc["id"], (street, "accept", {}), (city, "reject", {"note": "dup"}))
        assert codes == [200, 412]
        r = client.get(f"/incidents/{inc['id']}/events", headers=city)
        assert len(r.json()["events"]) == 2


def test_nul_in_description_is_400_not_500(client: TestClient, here: Beat) -> None:
    body = {"lon": here.lon, "lat": here.lat, "category": CATEGORY, "description": "a\u0000b"}
    r = client.post("/incidents", json=body, headers=auth(client, here.worker))
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "description"
    inc = report(client, here)
    out = step(client, here.street_centre, inc, "reject", status=400, note="no\u0000")
    assert out["field"] == "note"


def test_a_stale_etag_is_412_even_where_the_role_would_be_403(
    client: TestClient, here: Beat
) -> None:
    """The audit's race: the city centre escalates, so the street centre no longer holds the
    case; the street centre's accept on the ETag it read is stale, and stale wins (412, not
    403): it must read the case again before anything else it is told means something."""
    inc = report(client, here)
    step(client, here.city_centre, inc, "escalate", note="city takes a look")
    lost = step(client, here.street_centre, inc, "accept", status=412)
    assert lost["field"] == "version"
    street = auth(client, here.street_centre)
    city = auth(client, here.city_centre)
    for _ in range(3):
        inc = report(client, here)
        codes = race(client, inc["id"], (street, "accept", {}), (city, "escalate", {"note": "up"}))
        assert codes == [200, 412]


@pytest.mark.parametrize(
    "tag",
    [b'"\xb2"', b'"' + b"9" * 5000 + b'"', b'"\xd9\xa3"', b"*", b'"-1"', b'W/"abc"'],
    ids=["superscript-two", "5000-digits", "arabic-indic-three", "star", "negative", "letters"],
)
def test_an_if_match_that_names_no_version_is_412(
    client: TestClient, here: Beat, tag: bytes
) -> None:
    inc = report(client, here)
    headers = {**auth(client, here.street_centre), "If-Match": tag}  # type: ignore[dict-item]
    r = client.post(f"/incidents/{inc['id']}/accept", headers=headers)
    assert r.status_code == 412, r.text
    assert r.json()["field"] == "If-Match"
    assert len(r.text) < 400  # a 5,000-digit tag is not echoed whole
