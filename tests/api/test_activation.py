"""``POST /activate``: first sign-in with a one-time code; and tokens that stop working the
moment the password changes or the account is deactivated."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from gisgrid.access import accounts as acc
from gisgrid.access import auth
from tests.city_support import PASSWORD

NEW_PASSWORD = "my own long password"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _new_worker(store: Engine, username: str) -> acc.Activation:
    with store.connect() as conn:
        grid = conn.execute(
            text("SELECT code FROM areas WHERE level = 'grid' AND valid_to IS NULL LIMIT 1")
        ).scalar_one()
    (made,) = acc.create_accounts(store, [acc.NewAccount(username, "grid_worker", grid)])
    return made


def _activate(
    client: TestClient, username: str, code: str, password: str = NEW_PASSWORD
) -> httpx.Response:
    return client.post("/activate", data={"username": username, "code": code, "password": password})


def test_activation_signs_in_once_and_sets_the_password(client: TestClient, store: Engine) -> None:
    made = _new_worker(store, "api_act_1")
    r = _activate(client, "api_act_1", made.code)
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "bearer"
    me = client.get("/me", headers=bearer(r.json()["access_token"]))
    assert me.status_code == 200 and me.json()["username"] == "api_act_1"
    again = _activate(client, "api_act_1", made.code)
    assert again.status_code == 401
    assert again.json()["reason"] == acc.BAD_ACTIVATION
    login = client.post("/token", data={"username": "api_act_1", "password": NEW_PASSWORD})
    assert login.status_code == 200


@pytest.mark.parametrize(
    ("username", "code", "password", "status", "field"),
    [
        ("api_act_2", "ZZZZ-ZZZZ-ZZZZ-ZZZZ", NEW_PASSWORD, 401, None),
        ("nobody_here", None, NEW_PASSWORD, 401, None),
        ("api_act_2", None, "short", 400, "password"),
        ("api_act_2", "x" * 100_000, NEW_PASSWORD, 401, None),
    ],
    ids=["wrong-code", "unknown-user", "short-password", "huge-code"],
)
def test_activation_refusals(
    client: TestClient,
    store: Engine,
    username: str,
    code: str | None,
    password: str,
    status: int,
    field: str | None,
) -> None:
    with store.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM accounts WHERE username = 'api_act_2'")).first()
    made = acc.issue_activation(store, "api_act_2") if exists else _new_worker(store, "api_act_2")
    r = _activate(client, username, code or made.code, password)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    if status == 401:
        assert r.json()["reason"] == acc.BAD_ACTIVATION


def test_a_missing_form_field_is_400_naming_it(client: TestClient) -> None:
    r = client.post("/activate", data={"username": "x", "password": NEW_PASSWORD})
    assert r.status_code == 400
    assert r.json()["field"] == "code"


def test_a_password_change_or_deactivation_ends_earlier_tokens(
    client: TestClient, store: Engine
) -> None:
    made = _new_worker(store, "api_act_3")
    first = _activate(client, "api_act_3", made.code).json()["access_token"]
    second = client.post("/token", data={"username": "api_act_3", "password": NEW_PASSWORD}).json()[
        "access_token"
    ]
    assert client.get("/me", headers=bearer(first)).status_code == 200
    auth.set_password(store, "api_act_3", PASSWORD)
    for old in (first, second):
        r = client.get("/me", headers=bearer(old))
        assert r.status_code == 401
        assert r.json()["reason"] == auth.REVOKED
    third = client.post("/token", data={"username": "api_act_3", "password": PASSWORD}).json()[
        "access_token"
    ]
    assert client.get("/me", headers=bearer(third)).status_code == 200
    acc.deactivate(store, "api_act_3")
    assert client.get("/me", headers=bearer(third)).status_code == 401
    acc.reactivate(store, "api_act_3")
    r = client.get("/me", headers=bearer(third))
    assert r.status_code == 401 and r.json()["reason"] == auth.REVOKED


def test_openapi_lists_activate(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/activate"]["post"]
    assert {"200", "400", "401"} <= set(op["responses"])


def test_wrong_codes_then_the_right_one_is_429(client: TestClient, store: Engine) -> None:
    # guessing codes is throttled as guessing passwords is: per username, also the right one
    made = _new_worker(store, "api_act_guess")
    for i in range(5):
        wrong = _activate(client, "api_act_guess", f"ZZZZ-ZZZZ-ZZZZ-ZZZ{i}")
        assert wrong.status_code == 401, wrong.text
    r = _activate(client, "api_act_guess", made.code)
    assert r.status_code == 429, r.text
    assert r.json()["field"] == "username" and int(r.headers["Retry-After"]) >= 1
    # the code was never checked, so it still works once the window has passed
    with store.connect() as conn:
        stored = conn.execute(
            text("SELECT password_hash IS NULL FROM accounts WHERE username = 'api_act_guess'")
        ).scalar_one()
    assert stored
