"""GET /plans/{id}/checks, /stats and /diff: what the library answers, with the plan's ETag,
for a planner or an admin whose scope holds the plan's parent; 404 for anyone else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gisgrid.access.auth import set_password
from gisgrid.planning.checks import check_plan
from gisgrid.planning.diff import plan_diff
from gisgrid.planning.workload import plan_stats
from gisgrid.settings import Settings
from tests.city_support import PASSWORD, bearer_header, username_of
from tests.planning.tables import area_id, make_plan

DB = "plan_reports_scratch"
KINDS = ("checks", "stats", "diff")
NOW = "2026-11-01T00:00:00Z"


@pytest.fixture(scope="module")
def plans(store: Engine) -> dict[str, int]:
    """Two plans: one of the tiny city's first community, one of its second."""
    with store.begin() as conn:
        first = make_plan(conn, area_id(conn, "community", 0), "first")
        second = make_plan(conn, area_id(conn, "community", 1), "second")
        conn.execute(text("UPDATE plans SET version = 4 WHERE id = :p"), {"p": first})
    return {"first": first, "second": second}


def _planner_of(store: Engine, client: TestClient, level: str, nth: int) -> dict[str, str]:
    """A planner scoped to the nth area of a level, signed in."""
    name = f"planner_{level}_{nth}"
    with store.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO accounts (username, role, scope_area_id) VALUES (:u, 'planner', :a)"
                " ON CONFLICT (username) DO NOTHING"
            ),
            {"u": name, "a": area_id(conn, level, nth)},
        )
    set_password(store, name, PASSWORD)
    return bearer_header(client, name)


@pytest.mark.parametrize("kind", KINDS)
def test_the_route_answers_what_the_library_does(
    client: TestClient, store: Engine, plans: dict[str, int], app_settings: Settings, kind: str
) -> None:
    headers = bearer_header(client, username_of(store, "planner"))
    r = client.get(f"/plans/{plans['first']}/{kind}", params={"now": NOW}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == '"4"'
    now = datetime(2026, 11, 1, tzinfo=UTC)
    with store.connect() as conn:
        want = {
            "checks": lambda: check_plan(conn, plans["first"], settings=app_settings, now=now),
            "stats": lambda: plan_stats(conn, plans["first"], settings=app_settings, now=now),
            "diff": lambda: plan_diff(conn, plans["first"], now=now),
        }[kind]()
    assert r.json() == want


@pytest.mark.parametrize("kind", KINDS)
def test_who_may_read(client: TestClient, store: Engine, plans: dict[str, int], kind: str) -> None:
    first = f"/plans/{plans['first']}/{kind}"
    second = f"/plans/{plans['second']}/{kind}"
    in_first = _planner_of(store, client, "community", 0)
    above = _planner_of(store, client, "street", 0)
    assert client.get(first, headers=in_first).status_code == 200
    assert client.get(first, headers=above).status_code == 200
    assert client.get(second, headers=above).status_code == 200
    # a plan of another scope is as absent as one that does not exist
    r = client.get(second, headers=in_first)
    assert r.status_code == 404, r.text
    assert r.json() == client.get(f"/plans/999999/{kind}", headers=in_first).json() | {
        "reason": f"no plan {plans['second']}"
    }
    # roles that read no plans (the centres read them within their scope: the scope matrix)
    for role in ("grid_worker", "analyst"):
        r = client.get(first, headers=bearer_header(client, username_of(store, role)))
        assert r.status_code == 403, (role, r.text)
        assert r.json()["field"] == "role"
    assert client.get(first).status_code == 401


def test_a_bad_id_or_time_names_the_field(
    client: TestClient, store: Engine, plans: dict[str, int]
) -> None:
    headers = bearer_header(client, username_of(store, "admin"))
    r = client.get("/plans/x/checks", headers=headers)
    assert r.status_code == 400 and r.json()["field"] == "plan_id"
    r = client.get(f"/plans/{plans['first']}/stats", params={"now": "soon"}, headers=headers)
    assert r.status_code == 400 and r.json()["field"] == "now"
