"""Accounts at city scale, the library: the rules of a new account, activation codes,
deactivation, rescoping, and tokens that stop working when the password or state changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from gisgrid import vocab
from gisgrid.access import accounts as acc
from gisgrid.access import auth
from gisgrid.errors import InvalidInput, NotAuthenticated, NotFound
from gisgrid.settings import Settings
from gisgrid.store.cluster import Cluster
from tests.city_support import tiny_city

PASSWORD = "a long enough password"
SETTINGS = Settings(secret_key="accounts-test-key-" + "k" * 32, _env_file=None)


@dataclass(frozen=True)
class Codes:
    """Codes of the tiny city: one area of each level, and a unit."""

    city: str
    district: str
    street: str
    community: str
    grid: str
    unit: str


@pytest.fixture(scope="module")
def store(cluster: Cluster) -> Iterator[Engine]:
    with tiny_city(cluster, "accounts_lib_scratch") as engine:
        yield engine


@pytest.fixture(scope="module")
def codes(store: Engine) -> Codes:
    with store.connect() as conn:
        by_level = dict(
            conn.execute(
                text(
                    "SELECT DISTINCT ON (level) level, code FROM areas"
                    " WHERE valid_to IS NULL ORDER BY level, id"
                )
            ).all()
        )
        unit = conn.execute(text("SELECT code FROM units ORDER BY id LIMIT 1")).scalar_one()
    return Codes(**by_level, unit=unit)


def _caller(store: Engine, token: str) -> auth.Caller:
    with store.connect() as conn:
        return auth.caller_from_token(conn, token, SETTINGS)


def _sign_in(store: Engine, username: str, password: str = PASSWORD) -> str:
    with store.connect() as conn:
        a = auth.authenticate(conn, username, password)
    return auth.issue_token(a.id, a.role, SETTINGS, version=a.token_version).access_token


def _activate(store: Engine, username: str, code: str, password: str = PASSWORD) -> None:
    with store.begin() as conn:
        acc.activate(conn, username, code, password)


def test_every_role_has_a_scope_rule() -> None:
    assert set(acc.ROLE_LEVELS) == set(vocab.ROLES)


def test_one_account_of_each_role_is_created_with_a_code_and_no_password(
    store: Engine, codes: Codes
) -> None:
    rows = [
        acc.NewAccount("mk_worker", "grid_worker", codes.grid),
        acc.NewAccount("mk_community", "community", codes.community),
        acc.NewAccount("mk_street", "street_centre", codes.street),
        acc.NewAccount("mk_district", "district_centre", codes.district),
        acc.NewAccount("mk_city", "city_centre", codes.city),
        acc.NewAccount("mk_unit", "unit", codes.street, codes.unit, "派出所"),
        acc.NewAccount("mk_analyst", "analyst", codes.district),
        acc.NewAccount("mk_planner", "planner", codes.city),
        acc.NewAccount("mk_admin", "admin"),
    ]
    made = acc.create_accounts(store, rows, valid_for=timedelta(days=3))
    assert [a.username for a in made] == [r.username for r in rows]
    assert len({a.code for a in made}) == len(made)
    in_3_days = datetime.now(UTC) + timedelta(days=3)
    assert all(abs(a.expires_at - in_3_days) < timedelta(minutes=1) for a in made)
    entries = {e.username: e for e in acc.account_entries(store) if e.username.startswith("mk_")}
    assert entries["mk_unit"].unit_code == codes.unit
    assert entries["mk_unit"].display_name == "派出所"
    assert entries["mk_admin"].scope_code is None
    assert entries["mk_worker"].scope_code == codes.grid
    assert all(e.activation_pending and not e.password_set for e in entries.values())
    with store.connect() as conn:
        stored = conn.execute(
            text("SELECT activation_hash FROM accounts WHERE username = 'mk_worker'")
        ).scalar_one()
    assert stored == acc.code_hash(made[0].code) and made[0].code not in stored
    with store.connect() as conn, pytest.raises(NotAuthenticated):
        auth.authenticate(conn, "mk_worker", "")


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        (("bad name", "grid_worker", "grid"), "username", "is not a username"),
        (("", "grid_worker", "grid"), "username", "is required"),
        (("admin", "admin", None), "username", "'admin' is already an account in the store"),
        (("r1", "boss", "grid"), "role", "unknown role 'boss'; expected one of grid_worker"),
        (("r2", "grid_worker", "nowhere"), "scope_code", "unknown scope code 'nowhere'"),
        (("r3", "grid_worker", "street"), "scope_code", "a grid_worker's scope must be a grid"),
        (("r4", "city_centre", "grid"), "scope_code", "a city_centre's scope must be a city"),
        (("r5", "grid_worker", None), "scope_code", "is required for a grid_worker"),
        (("r6", "admin", "city"), "scope_code", "an admin has no scope area"),
        (("r7", "unit", "street"), "unit_code", "is required for a unit account"),
        (("r8", "unit", "street", "U-nope"), "unit_code", "unknown unit code 'U-nope'"),
        (("r9", "grid_worker", "grid", "unit"), "unit_code", "only unit accounts name a unit"),
    ],
    ids=[
        "username-with-space",
        "username-blank",
        "username-taken",
        "unknown-role",
        "unknown-scope",
        "worker-on-a-street",
        "city-centre-on-a-grid",
        "worker-without-scope",
        "admin-with-scope",
        "unit-without-unit",
        "unknown-unit",
        "worker-with-unit",
    ],
)
def test_a_broken_rule_is_refused_naming_the_field(
    store: Engine, codes: Codes, row: tuple[str | None, ...], field: str, reason: str
) -> None:
    def code(v: str | None) -> str | None:
        return getattr(codes, v) if v in Codes.__dataclass_fields__ else v

    username, role, scope, unit = (*row, None)[:4]
    new = acc.NewAccount(username or None, role, code(scope), code(unit))
    before = len(acc.account_entries(store))
    with pytest.raises(InvalidInput) as info:
        acc.create_accounts(store, [new])
    assert info.value.field == field
    assert reason in info.value.reason
    assert len(acc.account_entries(store)) == before


def test_activation_sets_the_password_once(store: Engine, codes: Codes) -> None:
    (a,) = acc.create_accounts(store, [acc.NewAccount("act_once", "grid_worker", codes.grid)])
    with pytest.raises(InvalidInput) as short:
        _activate(store, "act_once", a.code, "short")
    assert short.value.field == "password"
    for user, code in (("act_once", "AAAA-BBBB-CCCC-DDDD"), ("nobody_here", a.code)):
        with pytest.raises(NotAuthenticated) as wrong:
            _activate(store, user, code)
        assert wrong.value.reason == acc.BAD_ACTIVATION
    # typed as read: lower case, no dashes, O for zero
    _activate(store, "act_once", a.code.lower().replace("-", "").replace("0", "o"))
    token = _sign_in(store, "act_once")
    assert _caller(store, token).scope.level == "grid"
    with pytest.raises(NotAuthenticated) as spent:
        _activate(store, "act_once", a.code, "another long password")
    assert spent.value.reason == acc.BAD_ACTIVATION
    assert _caller(store, token).username == "act_once"  # the failed try changed nothing


def test_an_expired_code_or_an_inactive_account_cannot_activate(
    store: Engine, codes: Codes
) -> None:
    old, off = acc.create_accounts(
        store,
        [
            acc.NewAccount("act_late", "grid_worker", codes.grid),
            acc.NewAccount("act_off", "grid_worker", codes.grid),
        ],
    )
    later = datetime.now(UTC) + acc.ACTIVATION_VALID + timedelta(seconds=1)
    with store.begin() as conn, pytest.raises(NotAuthenticated) as late:
        acc.activate(conn, "act_late", old.code, PASSWORD, now=later)
    assert "expired" in late.value.reason
    acc.deactivate(store, "act_off")
    with pytest.raises(NotAuthenticated) as inactive:
        _activate(store, "act_off", off.code)
    # deactivation voided the code too: nothing is left to match
    assert inactive.value.reason == acc.BAD_ACTIVATION
    with pytest.raises(InvalidInput, match="deactivated"):
        acc.issue_activation(store, "act_off")
    acc.reactivate(store, "act_off")
    _activate(store, "act_off", acc.issue_activation(store, "act_off").code)
    assert _sign_in(store, "act_off")


def test_a_new_code_replaces_the_old_one(store: Engine, codes: Codes) -> None:
    (first,) = acc.create_accounts(store, [acc.NewAccount("act_new", "community", codes.community)])
    second = acc.issue_activation(store, "act_new")
    with pytest.raises(NotAuthenticated):
        _activate(store, "act_new", first.code)
    _activate(store, "act_new", second.code)
    with pytest.raises(NotFound):
        acc.issue_activation(store, "nobody_here")


def test_a_password_change_revokes_earlier_tokens_at_once(store: Engine, codes: Codes) -> None:
    (a,) = acc.create_accounts(store, [acc.NewAccount("tok_pw", "street_centre", codes.street)])
    _activate(store, "tok_pw", a.code)
    before = _sign_in(store, "tok_pw")
    assert _caller(store, before).username == "tok_pw"
    auth.set_password(store, "tok_pw", "the next long password")
    with pytest.raises(NotAuthenticated) as revoked:
        _caller(store, before)
    assert revoked.value.reason == auth.REVOKED
    after = _sign_in(store, "tok_pw", "the next long password")
    assert _caller(store, after).username == "tok_pw"


def test_deactivation_revokes_tokens_for_good(store: Engine, codes: Codes) -> None:
    (a,) = acc.create_accounts(store, [acc.NewAccount("tok_off", "grid_worker", codes.grid)])
    _activate(store, "tok_off", a.code)
    token = _sign_in(store, "tok_off")
    acc.deactivate(store, "tok_off")
    with pytest.raises(NotAuthenticated, match="inactive"):
        _caller(store, token)
    with store.connect() as conn, pytest.raises(NotAuthenticated, match="inactive"):
        auth.authenticate(conn, "tok_off", PASSWORD)
    acc.reactivate(store, "tok_off")
    with pytest.raises(NotAuthenticated) as revoked:
        _caller(store, token)  # back, but the old token is not
    assert revoked.value.reason == auth.REVOKED
    assert _caller(store, _sign_in(store, "tok_off")).username == "tok_off"
    with pytest.raises(NotFound):
        acc.deactivate(store, "nobody_here")


def test_rescope_moves_the_scope_at_once_within_the_role_rule(store: Engine, codes: Codes) -> None:
    with store.connect() as conn:
        other_grid = conn.execute(
            text(
                "SELECT code FROM areas WHERE level = 'grid' AND valid_to IS NULL"
                " AND code <> :c ORDER BY id LIMIT 1"
            ),
            {"c": codes.grid},
        ).scalar_one()
    (a,) = acc.create_accounts(store, [acc.NewAccount("scope_mv", "grid_worker", codes.grid)])
    _activate(store, "scope_mv", a.code)
    token = _sign_in(store, "scope_mv")
    first = _caller(store, token).scope.area_id
    acc.rescope(store, "scope_mv", other_grid)
    moved = _caller(store, token).scope  # the same token: scope is read per request
    assert moved.level == "grid" and moved.area_id != first
    with pytest.raises(InvalidInput) as wrong:
        acc.rescope(store, "scope_mv", codes.district)
    assert wrong.value.field == "scope_code"
    assert "must be a grid" in wrong.value.reason
    with pytest.raises(InvalidInput, match="unknown scope code"):
        acc.rescope(store, "scope_mv", "nowhere")
    assert _caller(store, token).scope == moved
    with pytest.raises(NotFound):
        acc.rescope(store, "nobody_here", other_grid)
