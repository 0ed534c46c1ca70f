"""Open311 GeoReport v2 through the API: services, sending with a key, reading, the loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gisgrid.incidents import workflow
from gisgrid.times import CITY_TZ
from tests.incidents.support import CATEGORY, Beat, beat, caller, unit_username

DB = "open311_scratch"
KEY = "open-sesame-311"
V2 = "/open311/v2"


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    return {"open311_api_keys": f"other-key, {KEY}"}


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    return beat(store)


def send(client: TestClient, here: Beat, status: int = 200, **extra: Any) -> Any:
    form = {
        "api_key": KEY,
        "service_code": CATEGORY,
        "lat": str(here.lat),
        "long": str(here.lon),
        "description": "bags of rubbish by the gate",
        "address_string": "1 Zhongyang Street",
        "first_name": "Li",
        "last_name": "Lei",
        "email": "li.lei@example.com",
        **extra,
    }
    r = client.post(f"{V2}/requests.json", data={k: v for k, v in form.items() if v is not None})
    assert r.status_code == status, r.text
    return r.json()


def assert_error(body: Any, code: int, field: str) -> None:
    assert isinstance(body, list) and len(body) == 1, body
    assert body[0]["code"] == code and body[0]["description"].startswith(f"{field}: "), body


def test_services(client: TestClient, store: Engine) -> None:
    r = client.get(f"{V2}/services.json")
    assert r.status_code == 200
    svc = r.json()
    with store.connect() as conn:
        leaves = conn.execute(
            text("SELECT count(*) FROM incident_categories WHERE parent_code IS NOT NULL")
        ).scalar_one()
    assert len(svc) == leaves
    first = next(s for s in svc if s["service_code"] == CATEGORY)
    assert first == {
        "service_code": CATEGORY,
        "service_name": "Exposed rubbish",
        "description": "暴露垃圾",
        "metadata": False,
        "type": "realtime",
        "keywords": "暴露垃圾,sanitation",
        "group": "City appearance",
    }
    one = client.get(f"{V2}/services/{CATEGORY}.json")
    assert one.status_code == 200 and one.json() == [first]
    missing = client.get(f"{V2}/services/9999.json")
    assert missing.status_code == 404
    assert_error(missing.json(), 404, "service_code")


def test_post_needs_a_key(client: TestClient, here: Beat) -> None:
    assert_error(send(client, here, 403, api_key=None), 403, "api_key")
    assert_error(send(client, here, 403, api_key="wrong"), 403, "api_key")


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"lat": "north"}, "lat"),
        ({"lat": "91"}, "lat"),
        ({"long": "nan"}, "long"),
        ({"long": None}, "long"),
        ({"service_code": "9999"}, "service_code"),
        ({"service_code": "01"}, "service_code"),
        ({"service_code": None}, "service_code"),
        ({"lat": "0", "long": "0"}, "lat,long"),
        ({"media_url": "file:///etc/passwd"}, "media_url"),
    ],
    ids=[
        "lat-text",
        "lat-range",
        "long-nan",
        "long-missing",
        "code-unknown",
        "code-top-level",
        "code-missing",
        "outside-every-grid",
        "media-not-http",
    ],
)
def test_bad_input_is_400_naming_the_field(
    client: TestClient, here: Beat, extra: dict[str, Any], field: str
) -> None:
    assert_error(send(client, here, 400, **extra), 400, field)


def test_send_read_and_close(client: TestClient, store: Engine, here: Beat) -> None:
    out = send(client, here, media_url="https://example.com/p/1.jpg")
    assert len(out) == 1 and out[0]["account_id"] is None
    rid = out[0]["service_request_id"]
    assert out[0]["service_notice"].startswith("due by ")
    with store.connect() as conn:
        row = conn.execute(
            text("SELECT source, reporter_id, reporter_name FROM incidents WHERE id = :i"),
            {"i": int(rid)},
        ).one()
    assert tuple(row) == ("open311", None, "Li Lei <li.lei@example.com>")

    listed = client.get(f"{V2}/requests.json").json()
    mine = next(r for r in listed if r["service_request_id"] == rid)
    assert mine["status"] == "open" and mine["agency_responsible"] is None
    assert mine["address"] == "1 Zhongyang Street"
    assert mine["media_url"] == "https://example.com/p/1.jpg"
    assert (mine["lat"], mine["long"]) == (round(here.lat, 7), round(here.lon, 7))
    for k in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert datetime.fromisoformat(mine[k]).tzinfo is not None
    # public fields only: nothing of the reporter
    assert "Li Lei" not in str(listed) and "example.com>" not in str(listed)
    one = client.get(f"{V2}/requests/{rid}.json")
    assert one.status_code == 200 and one.json() == [mine]

    # the centre and a unit take it round the loop
    with store.begin() as conn:
        centre = caller(conn, here.street_centre)
        inc = workflow.act(conn, centre, int(rid), "accept", 1)
        inc = workflow.act(conn, centre, int(rid), "dispatch", inc.version)
        assert inc.assigned_unit_id is not None
        unit = caller(conn, unit_username(conn, inc.assigned_unit_id))
        unit_name = conn.execute(
            text("SELECT name FROM units WHERE id = :u"), {"u": inc.assigned_unit_id}
        ).scalar_one()
        inc = workflow.act(conn, unit, int(rid), "start", inc.version)
    mid = client.get(f"{V2}/requests/{rid}.json").json()[0]
    assert (mid["status"], mid["status_notes"], mid["agency_responsible"]) == (
        "open",
        "in progress",
        unit_name,
    )
    with store.begin() as conn:
        inc = workflow.act(conn, unit, int(rid), "feedback", inc.version, note="cleared")
        workflow.act(conn, centre, int(rid), "close", inc.version)
    done = client.get(f"{V2}/requests/{rid}.json").json()[0]
    assert done["status"] == "closed" and "cleared" not in str(done)
    closed = client.get(f"{V2}/requests.json?status=closed").json()
    assert rid in [r["service_request_id"] for r in closed]
    still_open = client.get(f"{V2}/requests.json?status=open").json()
    assert rid not in [r["service_request_id"] for r in still_open]
    by_code = client.get(f"{V2}/requests.json?service_code={CATEGORY}").json()
    assert by_code and {r["service_code"] for r in by_code} == {CATEGORY}


def test_date_filters(client: TestClient, store: Engine, here: Beat) -> None:
    rid = send(client, here)[0]["service_request_id"]
    old = datetime.now(UTC) - timedelta(days=200)
    with store.begin() as conn:  # an older request: outside the default 90 days
        old_id = conn.execute(
            text(
                "INSERT INTO incidents (category, source, reported_at, status, geom)"
                " VALUES (:c, 'open311', :at, 'reported', ST_SetSRID(ST_MakePoint(:x, :y), 4326))"
                " RETURNING id"
            ),
            {"c": CATEGORY, "at": old, "x": here.lon, "y": here.lat},
        ).scalar_one()

    def ids(**params: str) -> list[str]:
        r = client.get(f"{V2}/requests.json", params={"status": "open", **params})
        assert r.status_code == 200, r.text
        return [x["service_request_id"] for x in r.json()]

    assert rid in ids() and str(old_id) not in ids()
    since = (old - timedelta(days=1)).isoformat()
    assert str(old_id) in ids(start_date=since) and rid in ids(start_date=since)
    until = (old + timedelta(days=1)).isoformat()
    assert str(old_id) in ids(end_date=until) and rid not in ids(end_date=until)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert ids(start_date=tomorrow) == []
    # a bare date is that whole day in the city, at either end (gisgrid.times)
    day = old.astimezone(CITY_TZ).date()
    assert str(old_id) in ids(start_date=day.isoformat(), end_date=day.isoformat())
    before = (day - timedelta(days=1)).isoformat()
    assert str(old_id) not in ids(start_date=before, end_date=before)
    for param, value in (
        ("start_date", "9999-12-31T23:00-05:00"),  # past year 9999 in UTC
        ("end_date", "yesterday"),
    ):
        r = client.get(f"{V2}/requests.json", params={param: value})
        assert r.status_code == 400
        assert_error(r.json(), 400, param)
    r = client.get(f"{V2}/requests.json", params={"status": "pending"})
    assert_error(r.json(), 400, "status")


def test_sensitive_groups_are_not_public(client: TestClient, here: Beat) -> None:
    rid = send(client, here, service_code="0301")[0]["service_request_id"]
    assert client.get(f"{V2}/requests/{rid}.json").status_code == 404
    assert rid not in [r["service_request_id"] for r in client.get(f"{V2}/requests.json").json()]
    assert client.get(f"{V2}/requests/abc.json").status_code == 404


def test_nul_in_description_is_400_not_500(client: TestClient, here: Beat) -> None:
    body = send(client, here, 400, description="a\x00b")
    assert_error(body, 400, "description")
