"""Accounts and access tokens: argon2 password hashes, signed bearer tokens, callers.

A password is stored only as an argon2id hash (argon2-cffi's ``PasswordHasher``). A token is
a JWT signed with HS256 and ``Settings.secret_key``; it holds the account id (``sub``), the
role, the expiry and the account's token version (``ver``). Resolving a token reads the
account again, so a deactivated account or a changed scope takes effect at once, not when
the token expires; and a password change or a deactivation raises the account's
``token_version``, so every token issued before it is refused from then on.

Wrong password and unknown user fail with one message (and one amount of work: an unknown
user is checked against a dummy hash), so the answer does not tell which usernames exist.

Examples
--------
>>> h = hash_password("correct horse battery")
>>> h.startswith("$argon2id$"), verify_password(h, "correct horse battery")
(True, True)
>>> verify_password(h, "wrong"), verify_password(None, "wrong")
(False, False)
>>> from gisgrid.settings import Settings
>>> s = Settings(secret_key="k" * 32, _env_file=None)
>>> token = issue_token(7, "grid_worker", s, version=2)
>>> claims = decode_token(token.access_token, s)
>>> claims["sub"], claims["role"], claims["ver"], token.token_type, token.expires_in
('7', 'grid_worker', 2, 'bearer', 3600)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from gisgrid.access.scope import Scope
from gisgrid.errors import InvalidInput, NotAuthenticated, NotFound, translate_db_errors
from gisgrid.settings import Settings

ALGORITHM = "HS256"
BAD_CREDENTIALS = "incorrect username or password"
REVOKED = "token revoked: the password changed or the account was deactivated; sign in again"
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; this only bounds the work per request


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    # Verified against when the user is unknown, so that both failures cost the same.
    return _hasher().hash("gisgrid-no-such-user")


def hash_password(password: str) -> str:
    """An argon2id hash of a password that passes :func:`check_password`."""
    check_password(password)
    return _hasher().hash(password)


def check_password(password: str) -> None:
    """Refuse passwords that are too short or too long, naming the field.

    Examples
    --------
    >>> check_password("short")
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: password: must have at least 8 characters (5 given)
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"must have at least {MIN_PASSWORD_LENGTH} characters ({len(password)} given)",
            field="password",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"must have at most {MAX_PASSWORD_LENGTH} characters", field="password")


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches the hash; False for no hash or a malformed one."""
    if not password_hash:
        _verify_quietly(_dummy_hash(), password)
        return False
    return _verify_quietly(password_hash, password)


def _verify_quietly(password_hash: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return bool(_hasher().verify(password_hash, password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- accounts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountRow:
    """What the API and the CLI need to know of an account."""

    id: int
    username: str
    display_name: str | None
    role: str
    scope_area_id: int | None
    scope_level: str | None
    unit_id: int | None
    active: bool
    has_password: bool
    token_version: int = 0


_ACCOUNT_SQL = (
    "SELECT a.id, a.username, a.display_name, a.role, a.scope_area_id, ar.level AS scope_level,"
    " a.unit_id, a.active, a.password_hash IS NOT NULL AS has_password, a.token_version"
    " FROM accounts a LEFT JOIN areas ar ON ar.id = a.scope_area_id"
)
# What a new password (or a deactivation) does besides: earlier tokens and any pending
# activation code stop working.
REVOKE_SQL = (
    "token_version = token_version + 1, activation_hash = NULL, activation_expires_at = NULL"
)


def _row(r: Any) -> AccountRow:
    return AccountRow(**{k: getattr(r, k) for k in AccountRow.__dataclass_fields__})


def list_accounts(engine: Engine, role: str | None = None) -> list[AccountRow]:
    """Every account (of one role, when given), by id."""
    where = " WHERE a.role = :role" if role else ""
    with translate_db_errors(), engine.connect() as conn:
        rows = conn.execute(text(_ACCOUNT_SQL + where + " ORDER BY a.id"), {"role": role})
        return [_row(r) for r in rows]


def set_password(engine: Engine, username: str, password: str) -> None:
    """Store the argon2 hash of a new password for one account; the account's earlier tokens
    and any activation code it had stop working at once."""
    hashed = hash_password(password)
    with translate_db_errors(), engine.begin() as conn:
        done = conn.execute(
            text(f"UPDATE accounts SET password_hash = :h, {REVOKE_SQL} WHERE username = :u"),
            {"h": hashed, "u": username},
        ).rowcount
    if not done:
        raise NotFound(f"no account {username!r}", field="username")


def set_every_password(engine: Engine, password: str) -> int:
    """Give every account the same password: for the synthetic demo city only.

    One hash serves every row (argon2 salts per hash, so the rows share a salt; that is
    acceptable for a demo and never for real accounts). Returns the number of accounts.
    """
    hashed = hash_password(password)
    with translate_db_errors(), engine.begin() as conn:
        return int(
            conn.execute(
                text(f"UPDATE accounts SET password_hash = :h, {REVOKE_SQL}"), {"h": hashed}
            ).rowcount
        )


def authenticate(conn: Connection | Session, username: str, password: str) -> AccountRow:
    """The active account with this username and password, or :class:`NotAuthenticated`.

    Unknown user and wrong password give the same message; an inactive account is named
    as such only to a caller who knows its password.
    """
    r = conn.execute(
        text(
            _ACCOUNT_SQL.replace(" AS has_password", " AS has_password, a.password_hash")
            + " WHERE a.username = :u"
        ),
        {"u": username},
    ).one_or_none()
    if r is None or not verify_password(r.password_hash, password):
        raise NotAuthenticated(BAD_CREDENTIALS)
    if not r.active:
        raise NotAuthenticated("account is inactive")
    return _row(r)


# -- tokens ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """An OAuth2 bearer token response (RFC 6749 section 5.1)."""

    access_token: str
    token_type: str
    expires_in: int


def issue_token(
    account_id: int,
    role: str,
    settings: Settings,
    now: datetime | None = None,
    *,
    version: int = 0,
) -> Token:
    """A signed token for an account, valid for ``settings.token_ttl_s`` seconds, and only
    while the account's ``token_version`` is still ``version``."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(account_id),
        "role": role,
        "ver": version,
        "iat": issued,
        "exp": issued + timedelta(seconds=settings.token_ttl_s),
    }
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=ALGORITHM)
    return Token(access_token=token, token_type="bearer", expires_in=settings.token_ttl_s)


def decode_token(token: str, settings: Settings) -> dict[str, Any]:
    """The claims of a valid token; :class:`NotAuthenticated` if expired, tampered or odd."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp", "role"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("token expired", field="token") from exc
    except jwt.PyJWTError as exc:
        raise NotAuthenticated("invalid token", field="token") from exc
    if not str(claims["sub"]).isdigit():
        raise NotAuthenticated("invalid token", field="token")
    # a token from before token versions is version 0, as the account was then
    if type(claims.setdefault("ver", 0)) is not int:
        raise NotAuthenticated("invalid token", field="token")
    return claims


# -- callers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who is asking, and the area their queries are confined to."""

    account_id: int
    username: str
    display_name: str | None
    role: str
    unit_id: int | None
    scope: Scope

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def scope_of(account: AccountRow) -> Scope:
    """The account's scope: everything for admins, else its scope area's level and id.

    Examples
    --------
    >>> a = AccountRow(1, "g", None, "grid_worker", 42, "grid", None, True, True)
    >>> scope_of(a)
    Scope(level='grid', area_id=42)
    """
    if account.role == "admin":
        return Scope.everything()
    if account.scope_area_id is None or account.scope_level is None:
        # the accounts table forbids this; refuse rather than widen the scope
        raise NotAuthenticated("account has no scope area", field="scope_area_id")
    return Scope(level=account.scope_level, area_id=int(account.scope_area_id))


def caller_of(conn: Connection | Session, username: str) -> Caller:
    """The :class:`Caller` an active account acts as, by username: for a command line, whose
    operator holds the store and names the account to act as (no token). Unknown or
    inactive: NotFound naming ``username``."""
    row = conn.execute(text(_ACCOUNT_SQL + " WHERE a.username = :u"), {"u": username})
    found = row.one_or_none()
    if found is None or not found.active:
        raise NotFound(f"no active account {username!r}", field="username")
    account = _row(found)
    return Caller(
        account_id=account.id,
        username=account.username,
        display_name=account.display_name,
        role=account.role,
        unit_id=account.unit_id,
        scope=scope_of(account),
    )


def caller_from_token(conn: Connection | Session, token: str, settings: Settings) -> Caller:
    """Resolve a bearer token to a :class:`Caller`, reading the account as it is now."""
    claims = decode_token(token, settings)
    r = conn.execute(text(_ACCOUNT_SQL + " WHERE a.id = :id"), {"id": int(claims["sub"])})
    row = r.one_or_none()
    if row is None:
        raise NotAuthenticated("invalid token", field="token")
    account = _row(row)
    if not account.active:
        raise NotAuthenticated("account is inactive")
    if claims["ver"] != account.token_version:
        raise NotAuthenticated(REVOKED, field="token")
    return Caller(
        account_id=account.id,
        username=account.username,
        display_name=account.display_name,
        role=account.role,
        unit_id=account.unit_id,
        scope=scope_of(account),
    )
