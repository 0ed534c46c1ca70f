"""POST /token throttling (issue 14): the audit's 30 wrong passwords then the right one got a
token; now the username is refused after a few failures, with Retry-After."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.city_support import PASSWORD, username_of

DB = "signin_scratch"


@pytest.fixture(scope="module")
def settings_overrides() -> dict[str, Any]:
    return {"signin_max_failures_per_user": 5, "signin_max_failures_per_client": 12}


def _sign_in(client: TestClient, username: str, password: str) -> Any:
    return client.post("/token", data={"username": username, "password": password})


def test_wrong_passwords_then_the_right_one_is_429(client: TestClient, store: Engine) -> None:
    username = username_of(store, "grid_worker")
    for _ in range(5):
        assert _sign_in(client, username, "wrong password").status_code == 401
    r = _sign_in(client, username, PASSWORD)
    assert r.status_code == 429, r.text
    assert r.json()["field"] == "username"
    assert 1 <= int(r.headers["Retry-After"]) <= 300
    # another username from the same client still signs in
    assert _sign_in(client, username_of(store, "city_centre"), PASSWORD).status_code == 200


def test_one_client_trying_many_usernames_is_429(client: TestClient) -> None:
    codes = [_sign_in(client, f"nobody{i}", "wrong password").status_code for i in range(12)]
    assert set(codes) <= {401, 429}
    r = _sign_in(client, "admin", PASSWORD)
    assert r.status_code == 429, r.text
    assert r.json()["field"] == "client" and int(r.headers["Retry-After"]) >= 1
