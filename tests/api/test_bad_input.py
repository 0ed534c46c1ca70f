"""The black-box audit's 500s on bad input (issue 14): each is a 4xx naming the field.

The shared causes are fixed where the library reads input: integers and ids through
gisgrid.numbers (``'³'.isdigit()`` is True and int() of it fails; a 400-digit JSON integer
overflows float()), dates through gisgrid.times (years that overflow in UTC), If-Match through
gisgrid.incidents.lifecycle.version_of.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

BIG = "1" + "0" * 400  # a 400-digit JSON integer


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/collections/units/items/%C2%B3", 404, "featureId"),
        ("/collections/units/items/" + "9" * 5000, 404, "featureId"),
        ("/collections/units/items/" + "9" * 30, 404, "featureId"),
        ("/collections/units/items?offset=" + "9" * 30, 400, "offset"),
        ("/collections/units/items?limit=%D9%A3", 400, "limit"),
        ("/collections/units/items?bbox=" + BIG + ",45,127,46", 400, "bbox"),
        ("/collections/areas_grid/items?parent_id=" + "9" * 30, 400, "parent_id"),
        ("/collections/units/items?datetime=0001-01-01T00:00:00%2B01:00", 400, "datetime"),
        ("/collections/units/items?datetime=9999-12-31T23:00:00-05:00/..", 400, "datetime"),
        ("/locate?lon=" + BIG + "&lat=45", 400, "lon"),
    ],
    ids=[
        "ogc-item-superscript",
        "ogc-item-5000-digits",
        "ogc-item-beyond-bigint",
        "ogc-offset-beyond-bigint",
        "ogc-limit-arabic-digit",
        "ogc-bbox-400-digits",
        "ogc-int-filter-beyond-bigint",
        "ogc-datetime-year-0",
        "ogc-datetime-year-10000",
        "locate-400-digits",
    ],
)
def test_public_reproducers(client: TestClient, path: str, status: int, field: str) -> None:
    r = client.get(path)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert len(r.text) < 600, "a huge value is echoed whole"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/open311/v2/requests/%C2%B2.json", "service_request_id"),
        ("/open311/v2/requests/" + "9" * 5000 + ".json", "service_request_id"),
    ],
    ids=["superscript", "5000-digits"],
)
def test_open311_ids(client: TestClient, path: str, field: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, r.text
    assert r.json()[0]["description"].startswith(f"{field}: ")


def test_open311_end_date_in_year_1_is_an_empty_answer(client: TestClient) -> None:
    r = client.get("/open311/v2/requests.json", params={"end_date": "0001-01-01T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json() == []


@pytest.mark.parametrize(
    ("until", "reason"),
    [("0001-01-01T00:00:00Z", "is not after since"), ("0.5", "is not an ISO 8601")],
    ids=["year-1", "a-number-is-not-a-unix-time"],
)
def test_stats_until(client: TestClient, admin: dict[str, str], until: str, reason: str) -> None:
    r = client.get("/stats/incidents", params={"until": until}, headers=admin)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "until"
    assert reason in r.json()["reason"]
    assert "(now)" not in r.json()["reason"]


def _json(client: TestClient, path: str, body: str, headers: dict[str, str]) -> Any:
    return client.post(path, content=body, headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/incidents", '{"lon": BIG, "lat": 45.7, "category": "0101"}', "lon"),
        ("/incidents", '{"lon": 126.6, "lat": -BIG, "category": "0101"}', "lat"),
        ("/query/within", '{"point": [BIG, 45.7], "radius_m": 10}', "point.lon"),
        ("/query/within", '{"point": [126.6, 45.7], "radius_m": BIG}', "radius_m"),
    ],
    ids=["report-lon", "report-lat", "within-point", "within-radius"],
)
def test_huge_json_numbers(
    client: TestClient, admin: dict[str, str], path: str, body: str, field: str
) -> None:
    r = _json(client, path, body.replace("BIG", BIG), admin)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert "not a finite number" in r.json()["reason"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"point": [126.6, 45.7], "radius_m": 10', "body"),
        ("[1, 2]", None),
        ('{"point": [126.6, 45.7], "radius_m": 10, "limit": "many"}', "limit"),
    ],
    ids=["broken-json", "not-an-object", "wrong-type"],
)
def test_body_parse_errors_name_the_field_not_a_byte_offset(
    client: TestClient, admin: dict[str, str], body: str, field: str | None
) -> None:
    r = _json(client, "/query/within", body, admin)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error", "field", "reason"}
    assert r.json()["error"] == "InvalidInput"
    if field is not None:
        assert r.json()["field"] == field


def test_framework_errors_have_the_same_shape(client: TestClient, admin: dict[str, str]) -> None:
    broken = client.post(
        "/incidents/1/photos",
        content=b"--x\r\n[1, 2]--x--\r\n",
        headers={**admin, "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert broken.status_code == 400, broken.text
    assert set(broken.json()) == {"error", "field", "reason"}
    missing = client.get("/no/such/path")
    assert missing.status_code == 404
    assert missing.json()["error"] == "NotFound"
