"""Accounts and tokens: the password flow, bad and expired tokens, role and scope."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from gisgrid.access import auth
from gisgrid.access.scope import Scope
from gisgrid.cli.main import app as cli_app
from gisgrid.errors import InvalidInput, NotFound
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from tests.city_support import PASSWORD, tiny_city, username_of

DB = "auth_scratch"


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    r = client.post("/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_password_flow_gives_a_bearer_token(client: TestClient, store: Engine) -> None:
    r = client.post("/token", data={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    me = client.get("/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == "admin"
    assert me.json()["scope"] == {"level": None, "area_id": None}


def test_password_is_stored_as_argon2_only(store: Engine) -> None:
    with store.connect() as conn:
        h = conn.execute(text("SELECT password_hash FROM accounts WHERE username = 'admin'"))
        stored = h.scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("username", "password"),
    [("admin", "wrong password"), ("nobody_at_all", PASSWORD), ("ADMIN", PASSWORD)],
    ids=["bad-password", "unknown-user", "username-case"],
)
def test_bad_credentials_are_401_with_one_message(
    client: TestClient, username: str, password: str
) -> None:
    r = client.post("/token", data={"username": username, "password": password})
    assert r.status_code == 401
    assert r.json()["reason"] == auth.BAD_CREDENTIALS
    assert r.headers["www-authenticate"] == "Bearer"


def test_missing_form_field_is_400_naming_it(client: TestClient) -> None:
    r = client.post("/token", data={"username": "admin"})
    assert r.status_code == 400
    assert r.json()["field"] == "password"


def test_account_without_password_cannot_log_in(client: TestClient, store: Engine) -> None:
    with store.connect() as conn:
        nopw = conn.execute(
            text("SELECT username FROM accounts WHERE password_hash IS NULL LIMIT 1")
        ).scalar_one()
    r = client.post("/token", data={"username": nopw, "password": PASSWORD})
    assert r.status_code == 401
    assert r.json()["reason"] == auth.BAD_CREDENTIALS


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": "Basic eDp5"},
    ],
    ids=["missing", "empty", "garbage", "basic-scheme"],
)
def test_me_without_a_valid_token_is_401(client: TestClient, headers: dict[str, str]) -> None:
    r = client.get("/me", headers=headers)
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_expired_token_is_401(client: TestClient, app_settings: Settings) -> None:
    old = datetime.now(UTC) - timedelta(seconds=app_settings.token_ttl_s + 5)
    t = auth.issue_token(1, "city_centre", app_settings, now=old)
    r = client.get("/me", headers=bearer(t.access_token))
    assert r.status_code == 401
    assert r.json()["reason"] == "token expired"


def test_tampered_token_is_401(client: TestClient, app_settings: Settings) -> None:
    worker = auth.issue_token(5, "grid_worker", app_settings).access_token
    head, _payload, sig = worker.split(".")
    # same signature, claims raised to admin's account id and role
    forged_claims = jwt.encode(
        {"sub": "1", "role": "admin", "exp": datetime.now(UTC) + timedelta(hours=1)},
        "another key of at least thirty-two bytes",
        algorithm="HS256",
    ).split(".")[1]
    for forged in (
        f"{head}.{forged_claims}.{sig}",
        jwt.encode({"sub": "1", "role": "admin", "exp": 4102444800}, "k" * 40, "HS256"),
        jwt.encode({"sub": "1", "role": "admin", "exp": 4102444800}, None, "none"),
    ):
        r = client.get("/me", headers=bearer(forged))
        assert r.status_code == 401, forged
        assert r.json()["reason"] == "invalid token"


def test_token_from_another_process_key_is_refused(client: TestClient, store: Engine) -> None:
    other = Settings(secret_key="o" * 40, _env_file=None)
    t = auth.issue_token(1, "admin", other).access_token
    assert client.get("/me", headers=bearer(t)).status_code == 401


@pytest.mark.parametrize(
    ("role", "level"),
    [
        ("grid_worker", "grid"),
        ("community", "community"),
        ("street_centre", "street"),
        ("district_centre", "district"),
        ("city_centre", "city"),
        ("analyst", "city"),
        ("unit", None),
        ("admin", None),
    ],
)
def test_role_and_scope_come_from_the_account(
    client: TestClient, store: Engine, role: str, level: str | None
) -> None:
    username = username_of(store, role)
    me = client.get("/me", headers=bearer(login(client, username))).json()
    with store.connect() as conn:
        row = conn.execute(
            text(
                "SELECT a.id, a.unit_id, a.scope_area_id, ar.level FROM accounts a"
                " LEFT JOIN areas ar ON ar.id = a.scope_area_id WHERE a.username = :u"
            ),
            {"u": username},
        ).one()
    assert me["role"] == role
    assert me["account_id"] == row.id
    if role == "admin":
        assert me["scope"] == {"level": None, "area_id": None}
        return
    assert me["scope"] == {"level": row.level, "area_id": row.scope_area_id}
    if level is not None:
        assert row.level == level
    if role == "unit":
        assert me["unit_id"] == row.unit_id is not None
        assert Scope(row.level, row.scope_area_id).rows_sql("i")[0] != "TRUE"


def test_inactive_account_is_refused_and_its_token_stops_working(
    client: TestClient, store: Engine
) -> None:
    username = username_of(store, "planner")
    token = login(client, username)
    assert client.get("/me", headers=bearer(token)).status_code == 200
    with store.begin() as conn:
        conn.execute(
            text("UPDATE accounts SET active = false WHERE username = :u"), {"u": username}
        )
    try:
        r = client.post("/token", data={"username": username, "password": PASSWORD})
        assert r.status_code == 401
        assert r.json()["reason"] == "account is inactive"
        # without the password, an inactive account looks like any bad login
        r = client.post("/token", data={"username": username, "password": "wrong password"})
        assert r.json()["reason"] == auth.BAD_CREDENTIALS
        assert client.get("/me", headers=bearer(token)).status_code == 401
    finally:
        with store.begin() as conn:
            conn.execute(
                text("UPDATE accounts SET active = true WHERE username = :u"), {"u": username}
            )


def test_library_refuses_short_passwords_and_unknown_users(store: Engine) -> None:
    with pytest.raises(InvalidInput) as short:
        auth.set_password(store, "admin", "short")
    assert short.value.field == "password"
    with pytest.raises(NotFound) as missing:
        auth.set_password(store, "nobody_at_all", PASSWORD)
    assert missing.value.field == "username"


def test_cli_sets_a_password_and_lists_accounts(
    client: TestClient, store: Engine, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GISGRID_DATABASE_URL", cluster.url(dbname=DB))
    username = username_of(store, "grid_worker")
    # the second grid worker of the city has no password yet
    with store.connect() as conn:
        target = conn.execute(
            text(
                "SELECT username FROM accounts WHERE role = 'grid_worker'"
                " AND password_hash IS NULL ORDER BY id LIMIT 1"
            )
        ).scalar_one()
    assert target != username
    runner = CliRunner()
    r = runner.invoke(
        cli_app,
        ["accounts", "set-password", target, "--password-stdin"],
        input="a new long password\n",
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    assert login(client, target, "a new long password")
    listed = runner.invoke(cli_app, ["accounts", "list", "--json", "--role", "grid_worker"])
    assert listed.exit_code == 0, listed.output
    rows = {a["username"]: a for a in json.loads(listed.stdout)}
    assert rows[target]["has_password"] is True
    assert "password_hash" not in rows[target]
    assert all(a["role"] == "grid_worker" for a in rows.values())


def test_cli_demo_passwords_sets_every_account(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tiny_city(cluster, "auth_demo_pw", seed=6) as engine:
        monkeypatch.setenv("GISGRID_DATABASE_URL", cluster.url(dbname="auth_demo_pw"))
        r = CliRunner().invoke(
            cli_app, ["accounts", "demo-passwords", "--password", "demo demo demo", "--yes"]
        )
        assert r.exit_code == 0, r.output
        assert "demo only" in r.output
        rows = auth.list_accounts(engine)
        assert rows and all(a.has_password for a in rows)
        with engine.connect() as conn:
            assert auth.authenticate(conn, rows[-1].username, "demo demo demo").id == rows[-1].id


def test_an_invalid_token_is_401_even_where_anonymous_callers_are_welcome(
    client: TestClient,
) -> None:
    params = {"lon": 126.6, "lat": 45.7}
    r = client.get("/locate", params=params, headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_openapi_names_the_password_flow(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert any(
        s.get("flows", {}).get("password", {}).get("tokenUrl") == "token" for s in schemes.values()
    )
    assert {"/token", "/me", "/locate", "/units/nearest", "/query/within"} <= set(spec["paths"])


def test_cli_prompts_for_the_password_twice(
    client: TestClient, store: Engine, cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GISGRID_DATABASE_URL", cluster.url(dbname=DB))
    username = username_of(store, "community")
    runner = CliRunner()
    mismatch = runner.invoke(
        cli_app, ["accounts", "set-password", username], input="one password\nanother one\n"
    )
    assert mismatch.exit_code != 0
    assert login(client, username)  # unchanged
    r = runner.invoke(
        cli_app, ["accounts", "set-password", username], input="prompted pw 1\nprompted pw 1\n"
    )
    assert r.exit_code == 0, r.output
    assert login(client, username, "prompted pw 1")
    auth.set_password(store, username, PASSWORD)
