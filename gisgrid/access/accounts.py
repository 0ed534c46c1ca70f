"""Accounts at city scale: the rules a new account meets, creating many at once, one-time
activation codes, deactivation and rescoping.

Every rule for a new account is decided here, for one account or for a file of 48,626
(:func:`gisgrid.io.accounts.import_accounts` reads the file and reports every bad row):

| field      | rule                                                                      |
|------------|---------------------------------------------------------------------------|
| username   | 1-64 letters, digits or ``_ . @ + -``; not already an account             |
| role       | one of :data:`gisgrid.vocab.ROLES`                                        |
| scope_code | a current area whose level fits the role (:data:`ROLE_LEVELS`); blank only |
|            | for an admin, who sees everything                                         |
| unit_code  | a unit's code; required of unit accounts, refused for every other role    |

A new account gets no password but a one-time activation code: 80 random bits written as
``XXXX-XXXX-XXXX-XXXX`` (Crockford's base 32: no I, L, O or U to misread), valid for
:data:`ACTIVATION_VALID`. Only the code's SHA-256 is stored. A password needs argon2
because people choose guessable ones; a random 80-bit code cannot be guessed, so a fast
hash protects it as well, and an import of 48,626 accounts takes seconds instead of the
hours that many argon2 hashes would. The holder signs in once with :func:`activate`,
choosing a password; the code is then gone. A password set any other way, or a
deactivation, also voids a pending code (:data:`gisgrid.access.auth.REVOKE_SQL`).

Examples
--------
>>> code = new_activation_code()
>>> len(code), code.count("-"), code_hash(code) == code_hash(code.lower().replace("-", " "))
(19, 3, True)
>>> scope_problem("street_centre", "230102001001", "community")
"a street_centre's scope must be a street; '230102001001' is a community"
>>> scope_problem("grid_worker", None, None)
'is required for a grid_worker (the code of a grid)'
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from gisgrid.access.auth import (
    _ACCOUNT_SQL,
    REVOKE_SQL,
    AccountRow,
    _row,
    check_password,
    hash_password,
)
from gisgrid.errors import InvalidInput, NotAuthenticated, NotFound, translate_db_errors
from gisgrid.vocab import AREA_LEVELS, ROLES

# The area levels each role's scope may be. A role named after a level works at that level;
# a unit, an analyst or a planner may be confined to any area; an admin to none.
ROLE_LEVELS: dict[str, tuple[str, ...]] = {
    "grid_worker": ("grid",),
    "community": ("community",),
    "street_centre": ("street",),
    "district_centre": ("district",),
    "city_centre": ("city",),
    "unit": AREA_LEVELS,
    "analyst": AREA_LEVELS,
    "planner": AREA_LEVELS,
    "admin": (),
}
USERNAME_RE = re.compile(r"[\w.@+-]{1,64}")
ACTIVATION_VALID = timedelta(days=14)
BAD_ACTIVATION = "incorrect username or activation code"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MISREAD = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
_MAX_CODE_CHARS = 64  # a code is 19 characters; this only bounds the work per request


class AccountProblem(NamedTuple):
    """One broken rule: the account's position in the batch (0-based), field and reason."""

    pos: int
    field: str
    reason: str


@dataclass(frozen=True)
class NewAccount:
    """An account to create, as a file row or a command gives it (codes, not ids)."""

    username: str | None
    role: str | None
    scope_code: str | None = None
    unit_code: str | None = None
    display_name: str | None = None


@dataclass(frozen=True)
class Activation:
    """A one-time activation code to hand to the account's holder, and until when it works."""

    username: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class AccountEntry:
    """An account as an export lists it: codes rather than ids, and where its sign-in is."""

    username: str
    role: str
    scope_code: str | None
    scope_level: str | None
    unit_code: str | None
    display_name: str | None
    active: bool
    password_set: bool
    activation_pending: bool
    activation_expires_at: datetime | None


# -- activation codes --------------------------------------------------------------------------
def new_activation_code() -> str:
    """80 random bits as ``XXXX-XXXX-XXXX-XXXX`` in Crockford's base 32."""
    n = int.from_bytes(secrets.token_bytes(10), "big")
    chars = "".join(_CROCKFORD[(n >> (5 * i)) & 31] for i in range(15, -1, -1))
    return "-".join(chars[i : i + 4] for i in range(0, 16, 4))


def code_hash(code: str) -> str:
    """The stored form of a code: SHA-256 of it in capitals, without dashes or spaces, with
    the letters people misread as digits (O, I, L) read as those digits."""
    normal = code.upper().translate(_MISREAD)
    return hashlib.sha256(normal.encode()).hexdigest()


# -- the rules ---------------------------------------------------------------------------------
def _short(value: object, limit: int = 40) -> str:
    text_ = repr(value)
    return text_ if len(text_) <= limit else text_[: limit - 3] + "..."


def _a(word: str) -> str:
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


def scope_problem(role: str, code: str | None, level: str | None) -> str | None:
    """What is wrong with giving an account of ``role`` the area ``code`` (whose level is
    ``level``, None when no current area has the code), or None when nothing is."""
    levels = ROLE_LEVELS[role]
    if not levels:
        return None if code is None else f"{_a(role)} has no scope area: leave scope_code blank"
    if code is None:
        what = f"the code of {_a(levels[0])}" if len(levels) == 1 else "the code of an area"
        return f"is required for {_a(role)} ({what})"
    if level is None:
        return f"unknown scope code {_short(code)}: no current area has it"
    if level not in levels:
        must = _a(" or ".join(levels))
        return f"{_a(role)}'s scope must be {must}; {_short(code)} is {_a(level)}"
    return None


def _unit_problem(role: str | None, code: str | None, known: bool) -> str | None:
    if code is None:
        return "is required for a unit account" if role == "unit" else None
    if role is not None and role != "unit" and role in ROLE_LEVELS:
        return f"only unit accounts name a unit; this account's role is {role}"
    return None if known else f"unknown unit code {_short(code)}: no unit has it"


def check_new_accounts(
    conn: Connection | Session, rows: Sequence[NewAccount]
) -> tuple[list[AccountProblem], list[int | None], list[int | None]]:
    """Every broken rule among ``rows`` (three queries, whatever their number), and each
    row's scope area id and unit id as far as they could be found."""
    names = sorted({r.username for r in rows if r.username})
    scope_codes = sorted({r.scope_code for r in rows if r.scope_code})
    unit_codes = sorted({r.unit_code for r in rows if r.unit_code})
    taken = set(
        conn.execute(
            text("SELECT username FROM accounts WHERE username = ANY(:u)"), {"u": names}
        ).scalars()
    )
    areas = {
        str(code): (int(id_), str(level))
        for code, id_, level in conn.execute(
            text("SELECT code, id, level FROM areas WHERE valid_to IS NULL AND code = ANY(:c)"),
            {"c": scope_codes},
        )
    }
    units = {
        str(code): int(id_)
        for code, id_ in conn.execute(
            text("SELECT code, id FROM units WHERE code = ANY(:c)"), {"c": unit_codes}
        )
    }
    problems: list[AccountProblem] = []
    scope_ids: list[int | None] = []
    unit_ids: list[int | None] = []
    for pos, r in enumerate(rows):
        area = areas.get(r.scope_code) if r.scope_code else None
        scope_ids.append(area[0] if area else None)
        unit_ids.append(units.get(r.unit_code) if r.unit_code else None)
        found: list[tuple[str, str | None]] = [
            ("username", _username_problem(r.username, taken)),
            ("role", _role_problem(r.role)),
            ("unit_code", _unit_problem(r.role, r.unit_code, r.unit_code in units)),
        ]
        if r.role in ROLE_LEVELS:
            level = area[1] if area else None
            found.append(("scope_code", scope_problem(r.role, r.scope_code, level)))
        elif r.scope_code and area is None:
            found.append(("scope_code", f"unknown scope code {_short(r.scope_code)}"))
        problems += [AccountProblem(pos, f, why) for f, why in found if why is not None]
    return problems, scope_ids, unit_ids


def _username_problem(username: str | None, taken: set[str]) -> str | None:
    if username is None:
        return "is required (blank)"
    if not USERNAME_RE.fullmatch(username):
        return (
            f"{_short(username)} is not a username: 1-64 letters, digits or _ . @ + - (no spaces)"
        )
    if username in taken:
        return f"{_short(username)} is already an account in the store"
    return None


def _role_problem(role: str | None) -> str | None:
    if role is None:
        return "is required (blank)"
    if role not in ROLE_LEVELS:
        return f"unknown role {_short(role)}; expected one of {', '.join(ROLES)}"
    return None


# -- writing -----------------------------------------------------------------------------------
def insert_accounts(
    conn: Connection,
    rows: Sequence[NewAccount],
    scope_ids: Sequence[int | None],
    unit_ids: Sequence[int | None],
    *,
    valid_for: timedelta = ACTIVATION_VALID,
) -> list[Activation]:
    """Write checked accounts (:func:`check_new_accounts` found nothing) by COPY, each with a
    fresh activation code; returns the codes. The caller's transaction commits or not."""
    if valid_for <= timedelta(0):
        raise InvalidInput(f"valid_for={valid_for}; must be positive", field="valid_for")
    expires = datetime.now(UTC) + valid_for
    out: list[Activation] = []
    raw: Any = conn.connection.driver_connection
    columns = "username, display_name, role, scope_area_id, unit_id, activation_hash, "
    columns += "activation_expires_at"
    with raw.cursor() as cur, cur.copy(f"COPY accounts ({columns}) FROM STDIN") as copy:
        for r, scope_id, unit_id in zip(rows, scope_ids, unit_ids, strict=True):
            code = new_activation_code()
            copy.write_row(
                (r.username, r.display_name, r.role, scope_id, unit_id, code_hash(code), expires)
            )
            out.append(Activation(str(r.username), code, expires))
    return out


def create_accounts(
    engine: Engine, rows: Sequence[NewAccount], *, valid_for: timedelta = ACTIVATION_VALID
) -> list[Activation]:
    """Create accounts, all or none: raises InvalidInput for the first broken rule.

    Examples
    --------
    With a running store holding the demo city (``gisgrid demo``):

    >>> from gisgrid.store.engine import make_engine
    >>> from gisgrid.settings import get_settings
    >>> engine = make_engine(get_settings())
    >>> create_accounts(engine, [NewAccount("w1", "grid_worker", "230102")])  # doctest: +SKIP
    Traceback (most recent call last):
    ...
    gisgrid.errors.InvalidInput: accounts.scope_code: a grid_worker's scope must be a grid; \
'230102' is a district
    """
    with translate_db_errors(), engine.begin() as conn:
        problems, scope_ids, unit_ids = check_new_accounts(conn, rows)
        if problems:
            first = problems[0]
            raise InvalidInput(first.reason, field=first.field, table="accounts")
        return insert_accounts(conn, rows, scope_ids, unit_ids, valid_for=valid_for)


def issue_activation(
    engine: Engine, username: str, *, valid_for: timedelta = ACTIVATION_VALID
) -> Activation:
    """A new one-time code for an active account (a lost code, or a password to reset); it
    replaces any earlier code. The password, if any, keeps working until the code is used."""
    if valid_for <= timedelta(0):
        raise InvalidInput(f"valid_for={valid_for}; must be positive", field="valid_for")
    code = new_activation_code()
    expires = datetime.now(UTC) + valid_for
    with translate_db_errors(), engine.begin() as conn:
        active = conn.execute(
            text(
                "UPDATE accounts SET activation_hash = :h, activation_expires_at = :x"
                " WHERE username = :u AND active RETURNING id"
            ),
            {"h": code_hash(code), "x": expires, "u": username},
        ).first()
        if active is None:
            _require_account(conn, username)
            raise InvalidInput(
                f"{username!r} is deactivated; reactivate it first", field="username"
            )
    return Activation(username, code, expires)


def activate(
    conn: Connection | Session,
    username: str,
    code: str,
    password: str,
    *,
    now: datetime | None = None,
) -> AccountRow:
    """First sign-in: an activation code and a new password for it. Returns the account,
    whose earlier tokens (if any) no longer work; the code is spent. The caller commits.

    Unknown user and wrong code fail alike, as :func:`gisgrid.access.auth.authenticate`
    does; an inactive account or an expired code is named only to the code's holder.
    """
    check_password(password)
    at = now or datetime.now(UTC)
    given = code_hash(code[:_MAX_CODE_CHARS])
    r = conn.execute(
        text(
            "SELECT id, active, activation_hash, activation_expires_at FROM accounts"
            " WHERE username = :u FOR UPDATE"
        ),
        {"u": username},
    ).one_or_none()
    if r is None or r.activation_hash is None or len(code) > _MAX_CODE_CHARS:
        raise NotAuthenticated(BAD_ACTIVATION)
    if not hmac.compare_digest(r.activation_hash, given):
        raise NotAuthenticated(BAD_ACTIVATION)
    if not r.active:
        raise NotAuthenticated("account is inactive")
    if r.activation_expires_at <= at:
        raise NotAuthenticated("activation code expired: ask an admin for a new one", field="code")
    conn.execute(
        text(f"UPDATE accounts SET password_hash = :h, {REVOKE_SQL} WHERE id = :id"),
        {"h": hash_password(password), "id": r.id},
    )
    return _row(conn.execute(text(_ACCOUNT_SQL + " WHERE a.id = :id"), {"id": r.id}).one())


# -- changing accounts -------------------------------------------------------------------------
def _require_account(conn: Connection | Session, username: str) -> Any:
    r = conn.execute(
        text("SELECT id, role, active FROM accounts WHERE username = :u FOR UPDATE"),
        {"u": username},
    ).one_or_none()
    if r is None:
        raise NotFound(f"no account {username!r}", field="username")
    return r


def deactivate(engine: Engine, username: str) -> None:
    """The account can no longer sign in or activate, and its tokens stop working at once
    (its token version moves on, so reactivating it does not bring them back)."""
    with translate_db_errors(), engine.begin() as conn:
        r = _require_account(conn, username)
        conn.execute(
            text(f"UPDATE accounts SET active = false, {REVOKE_SQL} WHERE id = :id"), {"id": r.id}
        )


def reactivate(engine: Engine, username: str) -> None:
    """Undo :func:`deactivate`: the password (if any) works again; earlier tokens do not."""
    with translate_db_errors(), engine.begin() as conn:
        r = _require_account(conn, username)
        conn.execute(text("UPDATE accounts SET active = true WHERE id = :id"), {"id": r.id})


def rescope(engine: Engine, username: str, scope_code: str | None) -> None:
    """Give the account another scope area, by the area's code, under the role's rule. The
    account's next request sees the new scope (tokens hold no scope)."""
    with translate_db_errors(), engine.begin() as conn:
        r = _require_account(conn, username)
        area = None
        if scope_code is not None:
            area = conn.execute(
                text("SELECT id, level FROM areas WHERE code = :c AND valid_to IS NULL"),
                {"c": scope_code},
            ).one_or_none()
        why = scope_problem(r.role, scope_code, area.level if area is not None else None)
        if why is not None:
            raise InvalidInput(why, field="scope_code", table="accounts")
        conn.execute(
            text("UPDATE accounts SET scope_area_id = :a WHERE id = :id"),
            {"a": area.id if area is not None else None, "id": r.id},
        )


# -- listing -----------------------------------------------------------------------------------
_ENTRY_SQL = """
SELECT a.username, a.role, ar.code AS scope_code, ar.level AS scope_level,
       u.code AS unit_code, a.display_name, a.active,
       a.password_hash IS NOT NULL AS password_set,
       a.activation_hash IS NOT NULL AND a.activation_expires_at > now() AS activation_pending,
       a.activation_expires_at
FROM accounts a
LEFT JOIN areas ar ON ar.id = a.scope_area_id
LEFT JOIN units u ON u.id = a.unit_id
"""


def account_entries(engine: Engine, role: str | None = None) -> list[AccountEntry]:
    """Every account (of one role, when given) by id, with codes in place of ids: what an
    export writes and an import reads back."""
    if role is not None and role not in ROLE_LEVELS:
        raise InvalidInput(
            f"unknown role {_short(role)}; expected one of {', '.join(ROLES)}", field="role"
        )
    where = " WHERE a.role = :role" if role else ""
    with translate_db_errors(), engine.connect() as conn:
        rows = conn.execute(text(_ENTRY_SQL + where + " ORDER BY a.id"), {"role": role})
        return [AccountEntry(**r._mapping) for r in rows]
