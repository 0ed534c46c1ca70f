"""The server's escalation sweeper: a running server escalates an overdue case (the event in
GET /incidents/{id}/events), a restarted server does not escalate it again, two servers at
once escalate each case once, 0 turns the sweeper off, and a failing sweep stops nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.sweeper import Sweeper
from gisgrid.assign.index import GridIndex
from gisgrid.incidents.escalation import EscalationPolicy
from gisgrid.incidents.workflow import report
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from gisgrid.store.engine import make_engine
from tests.city_support import bearer_header
from tests.incidents.support import CATEGORY, Beat, beat, caller

DB = "escalation_api_scratch"  # its own copy of the tiny city (the sweep commits)
T = TypeVar("T")


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    return {"escalation_sweep_s": 0.1}


@pytest.fixture(scope="module")
def index(store: Engine) -> GridIndex:
    return GridIndex.from_areas(store)


@pytest.fixture(scope="module")
def here(store: Engine) -> Beat:
    return beat(store)


def overdue_case(store: Engine, index: GridIndex, here: Beat) -> int:
    """A case reported a month ago: long past its due time, held by the street centre."""
    with store.begin() as conn:
        inc = report(
            conn,
            caller(conn, here.worker),
            index,
            lon=here.lon,
            lat=here.lat,
            category=CATEGORY,
            reported_at=datetime.now(UTC) - timedelta(days=30),
        )
    assert inc.escalation_level == "grid" and inc.due_at is not None
    return inc.id


def wait_for(check: Callable[[], T], timeout_s: float = 20.0) -> T:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s")


def escalations(client: TestClient, headers: dict[str, str], case: int) -> list[dict[str, Any]]:
    r = client.get(f"/incidents/{case}/events", headers=headers)
    assert r.status_code == 200, r.text
    return [e for e in r.json()["events"] if e["to_status"] == "escalated"]


def version(store: Engine, case: int) -> int:
    with store.connect() as conn:
        return int(
            conn.execute(text("SELECT version FROM incidents WHERE id = :id"), {"id": case}).one()[
                0
            ]
        )


def test_a_running_server_escalates_and_a_restarted_one_does_not_again(
    app_settings: Settings, store: Engine, index: GridIndex, here: Beat
) -> None:
    case = overdue_case(store, index, here)
    with TestClient(create_app(app_settings)) as client:
        admin = bearer_header(client, "admin")
        events = wait_for(lambda: escalations(client, admin, case))
        first = client.app.state.sweeper  # type: ignore[attr-defined]
    assert first.stopped  # shut down cleanly with the app
    assert len(events) == 1
    assert events[0]["actor_id"] is None and events[0]["from_status"] == "reported"
    assert events[0]["note"].startswith("automatic: ")
    assert events[0]["note"].endswith("escalated to the city centre")  # a month late: the top
    after = version(store, case)

    with TestClient(create_app(app_settings)) as client:
        sweeper = client.app.state.sweeper  # type: ignore[attr-defined]
        wait_for(lambda: sweeper.sweeps >= 3)
        assert escalations(client, bearer_header(client, "admin"), case) == events
        r = client.get(f"/incidents/{case}", headers=bearer_header(client, "admin"))
        assert (r.json()["status"], r.json()["escalation_level"]) == ("escalated", "city")
    assert version(store, case) == after


def test_two_servers_at_once_escalate_each_case_once(
    app_settings: Settings, store: Engine, index: GridIndex, here: Beat
) -> None:
    cases = [overdue_case(store, index, here) for _ in range(30)]
    fast = app_settings.model_copy(update={"escalation_sweep_s": 0.01})
    with TestClient(create_app(fast)) as one, TestClient(create_app(fast)) as two:
        sweepers = [c.app.state.sweeper for c in (one, two)]  # type: ignore[attr-defined]
        wait_for(lambda: all(s.sweeps >= 3 for s in sweepers))
    with store.connect() as conn:
        counts = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE to_status = 'escalated') FROM incident_events"
                " WHERE incident_id = ANY(:ids) GROUP BY incident_id"
            ),
            {"ids": cases},
        ).scalars()
        assert list(counts) == [1] * len(cases)


def test_zero_turns_the_sweeper_off(
    app_settings: Settings, store: Engine, index: GridIndex, here: Beat
) -> None:
    case = overdue_case(store, index, here)
    off = app_settings.model_copy(update={"escalation_sweep_s": 0})
    with TestClient(create_app(off)) as client:
        assert client.app.state.sweeper is None  # type: ignore[attr-defined]
        time.sleep(0.3)
        assert escalations(client, bearer_header(client, "admin"), case) == []


def test_a_failing_sweep_is_logged_and_the_sweeper_goes_on(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    # a database that is not there: every sweep fails, the server must not
    engine = make_engine(cluster.url(dbname="no_such_database"))

    async def run() -> Sweeper:
        sweeper = Sweeper(engine, EscalationPolicy(), every_s=0.02)
        sweeper.start()
        await asyncio.sleep(0.5)
        assert not sweeper.stopped  # still running after its failures
        await sweeper.stop()
        return sweeper

    try:
        with caplog.at_level(logging.ERROR, logger="gisgrid.api.sweeper"):
            sweeper = asyncio.run(run())
    finally:
        engine.dispose()
    assert sweeper.stopped and sweeper.sweeps == 0
    failures = [r for r in caplog.records if "escalation sweep failed" in r.getMessage()]
    assert len(failures) >= 2
