"""A check constraint the database enforces answers with its field and reason in a served
process too, where nothing imports the models before the engine is made."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from gisgrid.store.cluster import Cluster
from tests.city_support import PASSWORD, tiny_city
from tests.incidents.support import beat

DB = "constraint_scratch"
ROOT = Path(__file__).resolve().parents[2]

# What `gisgrid serve` does: build the app from settings and take requests; the models are
# never imported by the routes. Urgent cases are due within min(4 h, SLA): with an SLA of a
# tenth of a nanohour the due time equals the report time, which only the database refuses
# (ck_incidents_due_at: due_at > reported_at).
SERVED = textwrap.dedent(
    """
    import json, sys
    from fastapi.testclient import TestClient
    from api.app import create_app
    from gisgrid.settings import Settings

    url, username, password, lon, lat = sys.argv[1:6]
    before = "gisgrid.store.models" in sys.modules
    settings = Settings(database_url=url, secret_key="k" * 40, _env_file=None)
    with TestClient(create_app(settings)) as client:
        token = client.post("/token", data={"username": username, "password": password})
        auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        body = {"lon": float(lon), "lat": float(lat), "category": "9901", "priority": "urgent"}
        r = client.post("/incidents", json=body, headers=auth)
    print(json.dumps({"models_imported_first": before, "status": r.status_code,
                      "body": r.json()}))
    """
)


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, DB) as engine:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO incident_categories (code, name_zh, name_en, sla_hours)"
                    " VALUES ('9901', '测试', 'test: an SLA too short to tell apart', 1e-10)"
                )
            )
        yield engine


def test_a_check_violation_names_its_field_in_a_served_process(
    store: Engine, cluster: Cluster
) -> None:
    here = beat(store)
    args = [cluster.url(dbname=DB), here.worker, PASSWORD, str(here.lon), str(here.lat)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", SERVED, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["models_imported_first"] is False  # the premise: a fresh, served process
    assert out["status"] == 400, out
    assert out["body"]["field"] == "due_at"
    assert out["body"]["reason"] == "must be after reported_at"
    with store.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM incidents WHERE category = '9901'")).scalar()
    assert n == 0
