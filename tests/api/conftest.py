"""What the API test modules share: each module's own copy of the tiny city, the settings and
a TestClient for it, and signed-in callers.

``store`` (the module's own tiny city) comes from tests/conftest.py. A module changes the
settings by overriding ``settings_overrides`` (extra Settings fields).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from tests.city_support import bearer_header, signed_in_worker

Headers = dict[str, str]


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    """Extra Settings fields for this module's app (override in the module)."""
    return {}


@pytest.fixture(scope="module")
def app_settings(cluster: Cluster, store: Engine, settings_overrides: dict[str, Any]) -> Settings:
    fields: dict[str, Any] = {
        "secret_key": "api-test-key-" + "s" * 32,
        "escalation_sweep_s": 0,  # the sweeper off unless a module turns it on
        **settings_overrides,
    }
    return Settings(database_url=cluster.url(dbname=store.url.database), _env_file=None, **fields)


@pytest.fixture(scope="module")
def client(app_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(app_settings)) as c:
        yield c


@pytest.fixture(scope="module")
def admin(client: TestClient) -> Headers:
    """The admin's Authorization header (scope: everything)."""
    return bearer_header(client, "admin")


@pytest.fixture(scope="module")
def worker(client: TestClient, store: Engine) -> tuple[Headers, int]:
    """The first grid worker's Authorization header, and the id of their grid."""
    return signed_in_worker(client, store)
